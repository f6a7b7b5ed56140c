"""Any other RSS (0.9x, 1.0, 2.0) or Atom feed -> papers, read as a person reads the feed:
HTML in titles, descriptions and author fields as text, only http(s) links, the dates the
feed gives (``published``, ``pubDate``, ``dc:date``, ``prism:publicationDate``), and the
DOI as the paper's identity when the item has one (bioRxiv, medRxiv, journals), so the same
preprint in two feeds is one paper and its ``v2`` a replacement, as on arXiv.

feedparser gives the structure (links, authors in RSS's ``email (Name)`` form, dates in
the odd formats found in the wild); the XML tree gives the exact text, because feedparser
sanitises it as HTML and loses a literal ``<``.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, tostring

import feedparser

from watcher.models import AnnounceType, Paper, RawFeed, is_arxiv_id
from watcher.parse.htmltext import html_to_text, looks_like_html
from watcher.parse.text import (
    any_date,
    child,
    child_text,
    children_text,
    collapse,
    dedupe,
    http_url,
    local,
    names,
    split_authors,
    struct_time,
    text,
)

__all__ = ["GenericEntries", "creator_names", "find_doi", "readable"]

_DOI = re.compile(r"\A(?P<doi>10\.\d{4,9}/\S+)\Z")
_NAMED_DOI = re.compile(
    r"\A(?:doi:\s*|info:doi/|https?://(?:dx\.)?doi\.org/)(?P<doi>10\.\d{4,9}/\S+)\Z",
    re.IGNORECASE,
)
# arXiv's own DOIs (DataCite): the paper is the arXiv paper, whatever feed brings it.
_ARXIV_DOI = re.compile(r"\A10\.48550/arxiv\.(?P<id>.+)\Z", re.IGNORECASE)
# "J.", "J. M.", "A.-B.", "Ch.": the given-name part of "Surname, J. M." author lists.
_INITIALS = re.compile(r"\A(?:[A-Z][a-z]?\.(?:\s*-\s*|\s+)?)+\Z")
_DATES = ("published", "pubDate", "date", "publicationDate", "issued", "created")
_ABSTRACTS = ("description", "summary", "encoded", "content")
_XHTML = "{http://www.w3.org/1999/xhtml}"


class GenericEntries:
    """feedparser's view of the same body, built only when a generic item needs it.

    XML items are matched to feedparser entries by position (both keep document order).
    If the two parsers disagree on the count, the pairing cannot be trusted, so items get
    no feedparser data rather than another item's.
    """

    def __init__(self, raw: RawFeed, body: bytes, count: int) -> None:
        self._raw = raw
        self._body = body  # without damaged items, so both parsers see the same items
        self._count = count
        self._entries: list[dict[str, Any]] | None = None

    def _parsed(self) -> list[dict[str, Any]]:
        if self._entries is None:
            headers = {"content-type": self._raw.content_type} if self._raw.content_type else {}
            parsed = feedparser.parse(io.BytesIO(self._body), response_headers=headers)
            entries = list(dict.get(parsed, "entries", []))
            self._entries = entries if len(entries) == self._count else []
        return self._entries

    def paper(self, index: int, item: Element) -> Paper:
        entries = self._parsed()
        return generic_paper(item, entries[index] if entries else {})


def generic_paper(item: Element, entry: dict[str, Any]) -> Paper:
    """A paper from one item of a feed that is not arXiv's."""
    title = collapse(readable(child(item, ("title",))))
    link = http_url(_entry_str(entry, "link") or child_text(item, ("link",)))
    doi = find_doi(item)
    version: int | None = None
    announce: AnnounceType | None = None
    arxiv = _ARXIV_DOI.match(doi or "")
    if arxiv and is_arxiv_id(arxiv["id"]):
        paper_id, link = arxiv["id"], None  # an arXiv paper's link is built from its id
    elif doi:
        paper_id = "doi:" + doi.lower()  # DOIs are case-insensitive
        version = _version(doi, _addresses(item, link))
        # A later version is a replacement, as arXiv's are: news only as an update.
        announce = "replace" if version and version > 1 else None
    else:
        key = _entry_str(entry, "id") or child_text(item, ("guid", "id")) or link or title
        paper_id = "feed:" + hashlib.sha1(key.encode("utf-8")).hexdigest()
    return Paper(
        id=paper_id,
        version=version,
        title=title,
        authors=_authors(item, entry),
        abstract=readable(child(item, _ABSTRACTS)).strip(),
        categories=_categories(item),
        announce_type=announce,
        published=_first_date(item) or struct_time(dict.get(entry, "published_parsed")),
        updated=any_date(child_text(item, ("updated", "modified"))),
        doi=doi,
        link=link,
    )


def readable(element: Element | None) -> str:
    """An element's text as a reader sees it. Atom says what it holds (``type="html"``,
    ``"xhtml"``, ``"text"``); RSS does not, so its text is HTML when it looks like HTML
    (``content:encoded`` always is)."""
    if element is None:
        return ""
    kind = element.get("type", "").lower()
    if kind in ("xhtml", "application/xhtml+xml") or any(
        found.tag.startswith(_XHTML) for found in element
    ):
        return html_to_text(tostring(element, encoding="unicode"))
    value = text(element)
    if kind in ("html", "text/html") or local(element.tag) == "encoded":
        return html_to_text(value)
    if kind in ("text", "text/plain") or not looks_like_html(value):
        return value
    return html_to_text(value)


def find_doi(item: Element) -> str | None:
    """The item's DOI: ``prism:doi`` or ``dc:identifier`` (bare or ``doi:…``), else a
    guid, id or link that is a DOI (``doi:…``, ``info:doi/…``, ``https://doi.org/…``)."""
    for value in [*children_text(item, "doi"), *children_text(item, "identifier")]:
        if found := _DOI.match(value.strip()) or _NAMED_DOI.match(value.strip()):
            return found["doi"].rstrip(".,;")
    for value in _addresses(item, None):
        if found := _NAMED_DOI.match(value):
            return found["doi"].rstrip(".,;")
    return None


def creator_names(value: str) -> tuple[str, ...]:
    """Authors from one author string: ``"A. One (MIT, USA), B. Two"`` as arXiv writes
    them, or ``"One, A., Two, B. C."`` as bioRxiv and medRxiv do (read as "A. One",
    "B. C. Two")."""
    parts = split_authors(value)
    given = parts[1::2]
    if len(parts) >= 2 and len(parts) % 2 == 0 and all(_INITIALS.match(g) for g in given):
        return tuple(f"{first} {last}" for last, first in zip(parts[::2], given, strict=True))
    return parts


def _authors(item: Element, entry: dict[str, Any]) -> tuple[str, ...]:
    creators = [collapse(readable(c)) for c in item if local(c.tag) == "creator"]
    if len(creators) == 1:
        return creator_names(creators[0])
    if creators:
        return names(creators)
    given: Iterable[dict[str, Any]] = dict.get(entry, "authors") or []
    found = (str(a.get("name") or a.get("email") or "") for a in given)
    return names(html_to_text(name) if looks_like_html(name) else name for name in found)


def _categories(item: Element) -> tuple[str, ...]:
    """RSS ``<category>``, Atom ``<category term>``, ``dc:subject``: what the feed files
    the item under (rules may match them)."""
    found: list[str] = []
    for element in item:
        name = local(element.tag)
        if name == "category":
            found.append(element.get("term") or text(element))
        elif name == "subject":
            found.append(text(element))
    return dedupe(collapse(value) for value in found)


def _first_date(item: Element) -> datetime | None:
    for name in _DATES:
        if moment := any_date(child_text(item, (name,))):
            return moment
    return None


def _addresses(item: Element, link: str | None) -> Iterator[str]:
    """What names the item: its link, guid or id, Atom link hrefs, RSS 1.0's rdf:about."""
    if link:
        yield link
    for element in item:
        name = local(element.tag)
        if name in ("guid", "id", "link"):
            if value := text(element).strip():
                yield value
            if href := element.get("href"):
                yield href.strip()
    for key, value in item.attrib.items():
        if local(key) == "about":
            yield value.strip()


def _version(doi: str, addresses: Iterable[str]) -> int | None:
    """bioRxiv's ``…/2024.01.05.574123v2``: the version right after the DOI's suffix."""
    suffix = re.escape(doi.partition("/")[2])
    pattern = re.compile(suffix + r"v(?P<v>\d{1,3})(?!\d)", re.IGNORECASE)
    for address in addresses:
        if found := pattern.search(address):
            return int(found["v"])
    return None


def _entry_str(entry: dict[str, Any], key: str) -> str:
    value = dict.get(entry, key)
    return value.strip() if isinstance(value, str) else ""
