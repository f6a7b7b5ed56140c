"""A subscription's library: papers the reader already knows, named by ``library:`` in the
rule file, that the relevance model takes as liked from the start.

Two kinds of file: a BibTeX export (``.bib``, ``.bibtex``: what Zotero, Mendeley and JabRef
write), read with bibtexparser, its LaTeX turned to text by pylatexenc; or any other file as
a plain list of arXiv ids or abs URLs, one a line (``#`` starts a comment). A BibTeX entry
gives its arXiv id from ``eprint``, ``arxivid``/``arxiv``, ``url``, a ``doi`` of arXiv's
(10.48550/arXiv.2409.12121) or an ``arXiv:2409.12121`` in ``journal``/``note``/
``howpublished`` (Google Scholar's way); an entry without one is kept by its title and
abstract when it has them, and skipped (counted) otherwise.

Reads only the file it is given (as rule loading does), so it sits with the pure core. An
unreadable file is a LibraryError naming the file and the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from watcher.errors import WatcherError
from watcher.feedback import PaperRefError, parse_paper_ref

BIBTEX_SUFFIXES = (".bib", ".bibtex")
# Where exports put an arXiv id, most telling first.
_ID_FIELDS = ("eprint", "arxivid", "arxiv_id", "arxiv", "url", "doi")
_TEXT_FIELDS = ("journal", "note", "howpublished", "publisher")
_ARXIV_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/)?10\.48550/arxiv\.(?P<id>.+)$", re.I)
_ARXIV_MENTION = re.compile(
    r"arxiv:\s*(?P<id>\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?/\d{7})", re.I
)
_URL_IN_TEXT = re.compile(r"arxiv\.org/(?:abs|pdf)/(?P<id>\S+?)(?:\.pdf)?(?=[\s,;}]|$)", re.I)
_SPACE = re.compile(r"\s+")


class LibraryError(WatcherError):
    """A library file that cannot be read; ``where`` is ``path`` or ``path:line``."""

    def __init__(self, message: str, *, path: Path, line: int | None = None) -> None:
        self.path = path
        self.line = line
        super().__init__(message, where=f"{path}:{line}" if line is not None else str(path))


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    """One known paper: its arXiv id (None: known by its text only), title and abstract
    ("" when the file does not give them)."""

    paper_id: str | None
    title: str = ""
    abstract: str = ""


@dataclass(frozen=True, slots=True)
class Library:
    """What a library file gave: its entries (one per arXiv id, in file order) and how many
    it held that could not be used (no arXiv id, no title or abstract)."""

    path: Path
    entries: tuple[LibraryEntry, ...] = ()
    skipped: int = 0

    @property
    def paper_ids(self) -> frozenset[str]:
        return frozenset(e.paper_id for e in self.entries if e.paper_id is not None)


def read_library(path: Path) -> Library:
    """The library in ``path``: BibTeX by its suffix, otherwise a list of ids. Raises
    LibraryError naming the file (and line) when it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise LibraryError(f"cannot read the library ({e.strerror or e})", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise LibraryError(f"not UTF-8 text ({e.reason})", path=path, line=line) from None
    if path.suffix.lower() in BIBTEX_SUFFIXES:
        entries, skipped = _bibtex(text, path)
    else:
        entries, skipped = list(_id_list(text, path)), 0
    return Library(path, tuple(_unique(entries)), skipped)


def _id_list(text: str, path: Path) -> Iterator[LibraryEntry]:
    for number, line in enumerate(text.splitlines(), start=1):
        ref = line.split("#", 1)[0].strip()
        if not ref:
            continue
        try:
            yield LibraryEntry(parse_paper_ref(ref))
        except PaperRefError as e:
            raise LibraryError(
                f"{e.where}: not an arXiv id or abs URL (one a line; a .bib file is read as "
                "BibTeX)",
                path=path,
                line=number,
            ) from None


def _bibtex(text: str, path: Path) -> tuple[list[LibraryEntry], int]:
    # Imported here: 40 ms (pylatexenc's tables) that only a BibTeX library needs.
    from bibtexparser.entrypoint import parse_string
    from bibtexparser.middlewares import LatexDecodingMiddleware

    parsed = parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    if parsed.failed_blocks:
        block = parsed.failed_blocks[0]
        why = _SPACE.sub(" ", str(getattr(block, "error", "") or "")).strip()
        raise LibraryError(
            f"not valid BibTeX{': ' + why if why else ''} (an entry cut short, or a brace "
            "not closed)",
            path=path,
            line=None if block.start_line is None else block.start_line + 1,
        )
    entries: list[LibraryEntry] = []
    skipped = 0
    for entry in parsed.entries:
        fields = {f.key.lower(): _clean(f.value) for f in entry.fields}
        found = LibraryEntry(_arxiv_id(fields), fields.get("title", ""), fields.get("abstract", ""))
        if found.paper_id is None and not (found.title or found.abstract):
            skipped += 1
            continue
        entries.append(found)
    return entries, skipped


def _arxiv_id(fields: Mapping[str, str]) -> str | None:
    eprint_type = (fields.get("archiveprefix") or fields.get("eprinttype") or "arxiv").lower()
    for key in _ID_FIELDS:
        value = fields.get(key, "")
        if not value or (key == "eprint" and eprint_type != "arxiv"):
            continue
        if key == "doi":
            doi = _ARXIV_DOI.match(value)
            value = doi["id"] if doi else ""
        elif key == "url":
            url = _URL_IN_TEXT.search(value)
            value = url["id"] if url else ""
        found = _ref(value)
        if found:
            return found
    for key in _TEXT_FIELDS:
        mention = _ARXIV_MENTION.search(fields.get(key, "")) or _URL_IN_TEXT.search(
            fields.get(key, "")
        )
        if mention and (found := _ref(mention["id"])):
            return found
    return None


def _ref(value: str) -> str | None:
    try:
        return parse_paper_ref(value) if value else None
    except PaperRefError:
        return None


def _clean(value: object) -> str:
    return _SPACE.sub(" ", str(value)).strip()


def _unique(entries: Iterable[LibraryEntry]) -> Iterator[LibraryEntry]:
    """One entry per arXiv id (the first; an export may list a paper twice)."""
    seen: set[str] = set()
    for entry in entries:
        if entry.paper_id is not None:
            if entry.paper_id in seen:
                continue
            seen.add(entry.paper_id)
        yield entry
