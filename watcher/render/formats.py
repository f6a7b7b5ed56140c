"""Turn a Digest into a Message: subject, Markdown, plain text and HTML (pure).

(About 590 lines: the cleaning, capping, escaping and highlighting every format shares live
here once, beside the views the templates see, so no format cleans a string its own way.)

The Markdown template reproduces the seed digest layout byte for byte; the annotated
Markdown template (``highlight=True``) is the same layout plus each paper's matched terms
and those terms in bold in the abstract. Text and HTML always show the matched terms; HTML
marks them in the abstract with ``<mark>``.

Every string from a feed is untrusted: control characters and bidi overrides are dropped
everywhere (a terminal or mail client must not see escape sequences or reordered text), each
field is capped in length (``shown_paper``, shared by every format, Slack and the mail too),
the subject is one line, the HTML template autoescapes and only links http(s) URLs, and the
Markdown templates backslash-escape what CommonMark would read as HTML, an autolink, an
entity or a link or image (``markdown_escape``). Highlighting never weakens this: the spans
are found on the raw (cleaned, unescaped) text, and each piece is then escaped on its own,
inside and outside the highlight.

TeX in titles, authors and abstracts (``Kr\\"uger``, ``$\\Delta$``) is shown as Unicode
(``render.tex``) in every format but the seed Markdown layout, which stays byte for byte as
arXiv gave it, http links included. The top of every other format counts the digest
(``watcher.digest.digest_counts``: matched, shown in full, listed by title, per topic).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Literal, get_args
from urllib.parse import urlsplit

import jinja2

from watcher.digest import OTHER_TOPIC, digest_counts, paper_count, tally
from watcher.match import highlight_spans
from watcher.models import Digest, DigestCounts, Match, Message, Paper, Term, TopicHit
from watcher.query import parse_term
from watcher.render.links import PaperLinks
from watcher.render.tex import tex_to_unicode

__all__ = [
    "ANNOTATED_MARKDOWN",
    "FORMATS",
    "TEMPLATES",
    "WHOLE",
    "Cut",
    "Format",
    "PaperView",
    "Piece",
    "TopicView",
    "block",
    "counts_line",
    "environment",
    "highlight_pieces",
    "link_runs",
    "markdown_escape",
    "markdown_highlight",
    "match_terms",
    "more_line",
    "one_line",
    "paper_date",
    "ranking_lines",
    "relevance_reason",
    "render",
    "render_format",
    "safe_href",
    "shown_digest",
    "shown_match",
    "shown_paper",
    "subject",
    "topics_line",
]

Format = Literal["markdown", "text", "html"]
FORMATS: tuple[Format, ...] = get_args(Format)

TEMPLATES: dict[Format, str] = {
    "markdown": "digest.md.j2",
    "text": "digest.txt.j2",
    "html": "digest.html.j2",
}

# The seed layout plus matched terms and bold terms in the abstract (``highlight=True``).
ANNOTATED_MARKDOWN = "digest-annotated.md.j2"

_TEMPLATE_BY_NAME: dict[str, str] = {fmt: name for fmt, name in TEMPLATES.items()}

SUBJECT_NAME_MAX = 120

_SPACE = re.compile(r"\s+")


@cache
def environment() -> jinja2.Environment:
    """The one template environment: strict, autoescaping only the HTML template."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("watcher.render", "templates"),
        # select_autoescape matches name endings, so "digest.html.j2" needs "html.j2".
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"),
            disabled_extensions=(),
            default_for_string=False,
            default=False,
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["md"] = markdown_escape
    env.filters["md_label"] = _markdown_label
    env.filters["md_highlight"] = markdown_highlight
    env.filters["md_code"] = _markdown_code
    return env


# --- cleaning untrusted strings ----------------------------------------------------------


# Format characters that reorder or hide text on a terminal or in a mail client: the bidi
# marks (LRM, RLM, ALM), embeddings and overrides (LRE..RLO) and isolates (LRI..PDI). ZWJ,
# ZWNJ and the soft hyphen stay: they shape scripts and emoji, and move nothing.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _drop_controls(value: str, keep_newlines: bool) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    lines = value.split("\n")
    if all(line.isprintable() for line in lines):
        # The common case, checked in C: nothing here is a control, a line separator or a
        # format character (bidi controls are format characters, so never printable).
        return value if keep_newlines else " ".join(lines)
    out = []
    for char in value:
        category = unicodedata.category(char)
        if char == "\n" and keep_newlines:
            out.append(char)
        elif char in "\t\n" or category in ("Zl", "Zp"):
            out.append(" ")
        elif category != "Cc" and char not in _BIDI_CONTROLS:
            out.append(char)
    return "".join(out)


def one_line(value: str) -> str:
    """A single line: control characters dropped, any run of whitespace one space."""
    return _SPACE.sub(" ", _drop_controls(value, keep_newlines=False)).strip()


def block(value: str) -> str:
    """Multi-line text as given (CR/LF normalised to LF), without control characters."""
    return _drop_controls(value, keep_newlines=True)


def _header_safe(value: str) -> str:
    # Mail headers also lose format characters (bidi overrides, zero-width tricks).
    value = one_line(value)
    return "".join(c for c in value if unicodedata.category(c) not in ("Cf", "Cs", "Co"))


def safe_href(url: str) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host, else None (never javascript:)."""
    if not url.startswith(("http://", "https://")):
        return None
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


# --- highlighting matched terms ------------------------------------------------------------

# A piece of text and whether it is a matched term occurrence; the pieces of a text joined
# are the text itself, so every format shows exactly the original words.
Piece = tuple[str, bool]


@cache
def _parse_term(text: str) -> Term | None:
    # A term that no longer parses (the rule language changed since it was queued)
    # highlights nothing rather than failing the digest.
    try:
        return parse_term(text)
    except ValueError:
        return None


def match_terms(match: Match) -> tuple[Term, ...]:
    """The terms that made ``match`` (every hit topic's terms, as written), parsed back."""
    terms: dict[Term, None] = {}
    for hit in match.hits:
        for text in hit.terms:
            term = _parse_term(text)
            if term is not None:
                terms[term] = None
    return tuple(terms)


def highlight_pieces(text: str, terms: Sequence[Term]) -> tuple[Piece, ...]:
    """``text`` cut into pieces at the occurrences of ``terms`` (``watcher.match``'s
    ``highlight_spans``), each piece flagged whether it is one; overlapping or touching
    occurrences are one piece. ``"".join`` of the piece texts is ``text``."""
    if not text:
        return ()
    if not terms:
        return ((text, False),)
    merged: list[list[int]] = []
    for start, end in sorted(highlight_spans(text, terms)):
        start, end = max(start, 0), min(end, len(text))
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces: list[Piece] = []
    at = 0
    for start, end in merged:
        if start > at:
            pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    if at < len(text):
        pieces.append((text[at:], False))
    return tuple(pieces)


# --- Markdown escaping -----------------------------------------------------------------------

# What CommonMark would read in feed text as live markup, each escaped with a backslash
# (rendered, ``\<`` is ``<``, ``\[`` is ``[``, ``\&`` is ``&``: the visible text is the
# feed's), and only there, so ordinary text ("x <1", "Q&A", "[1]") is written as it came:
# - ``<`` that can open an HTML tag, comment, declaration, processing instruction or HTML
#   block (a letter, ``/``, ``!`` or ``?`` follows) or an autolink (a run without spaces up
#   to a ``>``: ``<https://evil>``, ``<a@b.c>``);
# - ``&`` that spells an entity or numeric character reference (``&lt;`` would show ``<``);
# - ``[`` before a later ``](``, ``][`` or ``]:`` in the same string: an inline link or
#   image (``![x](y)`` is no image once its ``[`` is escaped), a reference link, a link
#   definition. A lone ``[label]`` links only to a definition, and every definition in feed
#   text is escaped (the templates write none).
# A backslash run right before an escaped character is doubled, so that it stays backslashes
# and cannot cancel the escape.
_MD_ANGLE = re.compile(r"<(?=[A-Za-z/!?]|[^\s<>]*>)")
_MD_ENTITY = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9A-Fa-f]{1,6};|[A-Za-z][A-Za-z0-9]{0,31};)")
_MD_LINK_ENDS = ("](", "][", "]:")


def _markdown_specials(text: str, *, every_bracket: bool = False) -> list[int]:
    """Positions in ``text`` of the characters to backslash-escape (see above)."""
    if "<" not in text and "&" not in text and "[" not in text:
        return []  # the common case
    found = [m.start() for m in _MD_ANGLE.finditer(text)]
    found += [m.start() for m in _MD_ENTITY.finditer(text)]
    last = len(text) if every_bracket else max(text.rfind(end) for end in _MD_LINK_ENDS)
    if last > 0:
        found += [i for i, char in enumerate(text[:last]) if char == "["]
    return sorted(found)


def markdown_escape(text: str, *, every_bracket: bool = False) -> str:
    """``text`` for the seed Markdown layout: what CommonMark would read as HTML, an
    autolink, an entity, a link or an image is backslash-escaped, and nothing else (the
    seed digest renders byte for byte). ``every_bracket``: escape every ``[``, for text
    beside other strings on one line (topic names between code spans)."""
    positions = _markdown_specials(text, every_bracket=every_bracket)
    if not positions:
        return text
    out: list[str] = []
    at = 0
    for pos in positions:
        segment = text[at:pos]
        run = len(segment) - len(segment.rstrip("\\"))
        out.append(segment + "\\" * run + "\\" + text[pos])
        at = pos + 1
    out.append(text[at:])
    return "".join(out)


def _markdown_label(text: str) -> str:
    return markdown_escape(text, every_bracket=True)


# In the annotated Markdown, ``*`` and backquotes from the feed are backslash-escaped so they
# never pair with a bold marker, and every backslash that would escape what follows it (ASCII
# punctuation: another backslash, our markers) is doubled so it stays a backslash; what
# ``markdown_escape`` escapes is escaped too (found on the whole abstract, not piece by piece).
_MD_MARKUP = re.compile(r"[*`]")
_LINE_BREAK = re.compile(r"(\s*\n\s*)")


def _markdown_text(text: str) -> str:
    # Every backslash doubled (Markdown shows a pair as one), so no backslash from the
    # abstract can escape the character after it or one of our markers.
    return _MD_MARKUP.sub(lambda m: "\\" + m.group(), text.replace("\\", "\\\\"))


def _markdown_piece(text: str, offset: int, specials: Sequence[int]) -> str:
    """``_markdown_text`` of a piece starting at ``offset`` of the whole text, with a
    backslash before each of ``specials`` (positions in the whole text) that falls in it."""
    out: list[str] = []
    at = 0
    for pos in specials:
        if offset <= pos < offset + len(text):
            out.append(_markdown_text(text[at : pos - offset]) + "\\" + text[pos - offset])
            at = pos - offset + 1
    out.append(_markdown_text(text[at:]))
    return "".join(out)


def _boldable(piece: Piece) -> bool:
    # Letters or digits on both ends: the markers then always open and close (CommonMark's
    # flanking rules, inside words too).
    text, hit = piece
    return hit and text[:1].isalnum() and text[-1:].isalnum()


def markdown_highlight(pieces: Sequence[Piece]) -> str:
    """Markdown with the term pieces in ``**bold**`` and the text between escaped.

    A term across a line break is bolded line by line; a piece that does not begin and end
    with a letter or digit stays plain. ``*`` and backquotes are escaped, backslashes
    doubled, and HTML, entity and link syntax escaped as ``markdown_escape`` does, so
    nothing in the abstract pairs with or escapes a marker or becomes markup:
    rendered, the text is the original text.
    """
    flat: list[Piece] = []
    for text, hit in pieces:
        if hit and "\n" in text:
            parts = _LINE_BREAK.split(text)  # words, breaks, words, ...
            flat.extend((part, hit and i % 2 == 0) for i, part in enumerate(parts) if part)
        else:
            flat.append((text, hit))
    specials = _markdown_specials("".join(text for text, _ in flat))
    out: list[str] = []
    offset = 0
    for piece in flat:
        text = _markdown_piece(piece[0], offset, specials) if specials else _markdown_text(piece[0])
        offset += len(piece[0])
        out.append(f"**{text}**" if _boldable(piece) else text)
    return "".join(out)


def _markdown_code(value: str) -> str:
    """``value`` as an inline code span (backquotes dropped: they cannot be escaped in one)."""
    return "`" + value.replace("`", "") + "`"


# --- the values templates see ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicView:
    topic: str
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PaperView:
    """One paper as the templates see it: cleaned strings, no objects with behaviour."""

    title: str
    authors: tuple[str, ...]
    date: str
    url: str  # an http(s) URL with a host, or "" (never javascript: and the like)
    id: str  # versioned arXiv id, "" for items of other feeds
    version: int | None
    abstract: str
    categories: tuple[str, ...]
    updated: bool
    topics: tuple[TopicView, ...]
    abstract_parts: tuple[Piece, ...]  # ``abstract`` cut at the matched terms
    # ``order: relevance``: "0.83: low bit, quantization" (the value, and the terms that
    # pushed it up); "" when the digest is not ranked by relevance.
    why: str = ""
    # Signed "More like this" / "Less like this" URLs (render.links), or "" without them.
    more_url: str = ""
    less_url: str = ""
    # ``abstract_parts`` grouped into runs, each an http(s) link (its href) or plain ("").
    abstract_runs: tuple[tuple[str, tuple[Piece, ...]], ...] = ()


def _utc_date(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def paper_date(paper: Paper, period: str) -> str:
    """The date shown for a paper: published (v1), else this version's, else the period."""
    if paper.published is not None:
        return _utc_date(paper.published)
    if paper.updated is not None:
        return _utc_date(paper.updated)
    return period


# --- what every format shows: cleaned, each field capped -------------------------------------

# Caps on every field a feed or a rule gives, the same in every format (Markdown, text, HTML,
# Slack, the mail), so that one absurd field cannot crowd the other papers out of a mail
# (the size budget in render/email.py then cuts only for real volume: a paper at every cap,
# with three topics, and seven ordinary papers still fit one mail in full, about 82 KB).
# Far above real data: the longest in 77 days of arXiv RSS (cs.AI, cs.CL, cs.CV, cs.LG,
# December 2024) and the API fixtures are a title of 203 characters, an abstract of 1,920
# (arXiv's own limit), an author of 278 (with affiliations), 266 authors or 3,860 characters
# of them, a comment of 414, a journal ref of 236, 7 categories of at most 18 characters.
# Only the author lists of big physics collaborations (thousands of names) are cut.
TITLE_MAX = 1_000
ABSTRACT_MAX = 5_000
AUTHOR_MAX = 500
AUTHORS_CHARS_MAX = 10_000  # all names joined by ", "; more: the list ends in "... (+N more)"
COMMENT_MAX = 1_000
JOURNAL_REF_MAX = 1_000
CATEGORY_MAX = 50
CATEGORIES_MAX = 20
TOPIC_MAX = 100  # a topic's name, from a rule file (as Slack's TOPIC_MAX)
TERM_MAX = 100  # each matched term as written in a rule file
TERMS_MAX = 20  # matched terms shown per topic
ELLIPSIS = "\u2026"


def capped(value: str, limit: int, size: Callable[[str], int] = len) -> str:
    """``value`` if it fits ``limit`` (as ``size`` counts: characters, or a chat service's
    UTF-16 code units), else cut (at a space near the end if there is one) and ended with an
    ellipsis, ``limit`` at most. Every renderer cuts text here, so none ends mid-word where
    another would not."""
    if size(value) <= limit:
        return value
    if limit < 1:
        return ""
    cut = value[: limit - 1]
    while cut and size(cut) > limit - 1:
        cut = cut[:-1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= len(cut) * 3 // 4:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def clip(text: str, limit: int, size: Callable[[str], int] = len) -> str:
    """``text`` on one line (whitespace runs as one space), :func:`capped` to ``limit``
    without a dangling comma or dash before the ellipsis."""
    text = _SPACE.sub(" ", text).strip()
    out = capped(text, limit, size)
    if out == text or not out:
        return out
    return out.removesuffix(ELLIPSIS).rstrip(" ,;:.-") + ELLIPSIS


def _capped_authors(authors: tuple[str, ...]) -> tuple[str, ...]:
    names = [capped(one_line(a), AUTHOR_MAX) for a in authors]
    used = 0
    for i, name in enumerate(names):
        used += len(name) + 2
        if used > AUTHORS_CHARS_MAX:
            return (*names[:i], f"{ELLIPSIS} (+{len(names) - i} more)")
    return tuple(names)


def _capped_list(values: tuple[str, ...], limit: int, count: int) -> tuple[str, ...]:
    shown = tuple(capped(one_line(v), limit) for v in values[:count])
    return (*shown, ELLIPSIS) if len(values) > count else shown


def _optional(value: str | None, limit: int) -> str | None:
    return None if value is None else capped(one_line(value), limit)


def _line(value: str, tex: bool) -> str:
    # Cleaned before decoding (pylatexenc sees no control characters) and after it (what
    # it writes is shown too).
    return one_line(tex_to_unicode(one_line(value))) if tex else one_line(value)


@lru_cache(maxsize=4096)
def _cleaned(paper: Paper, tex: bool = True) -> tuple[Paper, str]:
    """A paper's strings made safe to show and capped (``shown_paper``), and its link.
    Cached: one paper often appears in several subscriptions' digests of a cycle."""
    abstract = block(tex_to_unicode(block(paper.abstract))) if tex else block(paper.abstract)
    shown = dataclasses.replace(
        paper,
        title=capped(_line(paper.title, tex), TITLE_MAX),
        authors=_capped_authors(tuple(_line(a, tex) for a in paper.authors)),
        abstract=capped(abstract, ABSTRACT_MAX),
        categories=_capped_list(paper.categories, CATEGORY_MAX, CATEGORIES_MAX),
        comment=_optional(paper.comment, COMMENT_MAX),
        journal_ref=_optional(paper.journal_ref, JOURNAL_REF_MAX),
    )
    url = paper.abs_url if tex or not paper.is_arxiv else _classic_url(paper)
    return shown, safe_href(url) or ""


def _classic_url(paper: Paper) -> str:
    # The seed layout shows the abstract link as arXiv's API writes it (its <id>): http.
    return "http://arxiv.org/abs/" + paper.versioned_id


def shown_paper(paper: Paper) -> Paper:
    """``paper`` as every renderer shows it: its title, authors, abstract, categories,
    comment and journal ref without control characters or bidi overrides, TeX shown as
    Unicode (``render.tex``), each capped (``TITLE_MAX``...) with an ellipsis. Identity,
    dates and the link are left as they are."""
    return _cleaned(paper, True)[0]  # the same cache key as `_view`'s


def _shown_hit(hit: TopicHit) -> TopicHit:
    return TopicHit(
        capped(one_line(hit.topic), TOPIC_MAX), _capped_list(hit.terms, TERM_MAX, TERMS_MAX)
    )


def shown_match(match: Match) -> Match:
    """``match`` with its paper as shown (``shown_paper``) and its topic names and terms
    cleaned and capped."""
    return dataclasses.replace(
        match, paper=shown_paper(match.paper), hits=tuple(_shown_hit(h) for h in match.hits)
    )


def shown_digest(digest: Digest) -> Digest:
    """``digest`` with every match as shown (``shown_match``) and a one-line name."""
    return dataclasses.replace(
        digest,
        subscription=one_line(digest.subscription),
        matches=tuple(shown_match(m) for m in digest.matches),
        updated=tuple(shown_match(m) for m in digest.updated),
    )


def forget_papers() -> None:
    """Drop the papers cached for rendering (a long-running daemon calls it after a cycle,
    so no paper of a cycle stays referenced until the next one)."""
    _cleaned.cache_clear()


def _view(
    match: Match, period: str, tex: bool = True, links: PaperLinks | None = None
) -> PaperView:
    paper = match.paper
    shown, url = _cleaned(paper, tex)
    parts = highlight_pieces(shown.abstract, match_terms(match))
    # Feedback is given by arXiv id: items of other feeds get no links.
    more_url, less_url = links(paper.id) if links is not None and paper.is_arxiv else ("", "")
    return PaperView(
        title=shown.title,
        authors=shown.authors,
        date=paper_date(paper, period),
        url=url,
        id=paper.versioned_id if paper.is_arxiv else "",
        version=paper.version,
        abstract=shown.abstract,
        categories=shown.categories,
        updated=paper.announce_type in ("replace", "replace-cross"),
        topics=tuple(TopicView(hit.topic, hit.terms) for hit in map(_shown_hit, match.hits)),
        # The terms as the rule wrote them (uncapped), found in the capped abstract.
        abstract_parts=parts,
        abstract_runs=link_runs(parts),
        why=relevance_reason(match),
        more_url=more_url,
        less_url=less_url,
    )


# A URL in an abstract, up to a space, a quote or an angle bracket; punctuation that ends a
# sentence or closes a parenthesis around it is not part of it.
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`]+")
_URL_TRAILING = ".,;:!?)]}"


def _url_spans(text: str) -> list[tuple[int, int, str]]:
    spans = []
    for found in _URL_IN_TEXT.finditer(text):
        url = found.group()
        while url and url[-1] in _URL_TRAILING:
            # A closing bracket that the URL itself opened stays (Wikipedia-style links).
            if url[-1] in ")]}" and url.count("([{"[")]}".index(url[-1])]) >= url.count(url[-1]):
                break
            url = url[:-1]
        href = safe_href(url)
        if href is not None and len(url) > len("https://"):
            spans.append((found.start(), found.start() + len(url), href))
    return spans


def link_runs(pieces: Sequence[Piece]) -> tuple[tuple[str, tuple[Piece, ...]], ...]:
    """``pieces`` grouped into runs: each http(s) URL in the text one run with its href
    (validated by ``safe_href``; the template escapes it), the text between with "". The
    pieces of the runs joined are the pieces given (a term inside a URL stays marked)."""
    text = "".join(piece for piece, _ in pieces)
    spans = _url_spans(text) if "://" in text else []
    if not spans:
        return (("", tuple(pieces)),) if pieces else ()
    cuts = sorted({0, len(text), *(at for start, end, _ in spans for at in (start, end))})
    href_at = {start: href for start, _, href in spans}
    runs: list[tuple[str, list[Piece]]] = []
    offset = 0
    for piece, hit in pieces:
        end = offset + len(piece)
        inner = [c for c in cuts if offset < c < end]
        for a, b in zip([offset, *inner], [*inner, end], strict=True):
            if a in cuts or not runs:
                runs.append((href_at.get(a, ""), []))
            runs[-1][1].append((text[a:b], hit))
        offset = end
    return tuple((href, tuple(run)) for href, run in runs if run)


def relevance_reason(match: Match) -> str:
    """``relevance 0.83: low bit, quantization`` for a paper ranked by relevance, else ""."""
    relevance = match.relevance
    if relevance is None:
        return ""
    terms = ", ".join(capped(one_line(t), TERM_MAX) for t in relevance.terms[:TERMS_MAX])
    return f"relevance {relevance.value:.2f}" + (f": {terms}" if terms else "")


def ranking_lines(digest: Digest) -> tuple[str, ...]:
    """What a digest's footer says of its relevance order: papers below the threshold, and
    why it is in score order when the model could not be used."""
    lines = []
    if digest.below_threshold:
        lines.append(f"+{digest.below_threshold} below your relevance threshold (min_relevance).")
    if digest.fallback:
        lines.append(f"Ranked by score, not relevance: {one_line(digest.fallback)}.")
    if digest.ranking_note:
        lines.append(f"Ranked by relevance from {one_line(digest.ranking_note)}.")
    return tuple(lines)


def counts_line(counts: DigestCounts, *, mail: bool = False) -> str:
    """The first line of a digest: ``30 papers matched: 15 shown in full, 3 listed by
    title, 12 not shown (max_papers); 2 updated``. ``mail``: papers left out beyond the
    cap were cut to keep a mail short (the size budget), and it says so."""
    updates = counts.updated + counts.updated_left_out
    if not counts.matched:
        head = "0 papers matched" if updates else "No new papers matched"
    else:
        shown = f"{counts.in_full} shown in full"
        if counts.in_full == counts.matched:
            shown = "all shown in full" if counts.matched > 1 else "shown in full"
        parts = [shown]
        if counts.by_title:
            parts.append(f"{counts.by_title} listed by title")
        cut = counts.left_out - counts.capped - counts.below_threshold
        if cut:
            parts.append(f"{cut} not listed" + (" (mail size)" if mail else ""))
        if counts.capped:
            parts.append(f"{counts.capped} not shown (max_papers)")
        if counts.below_threshold:
            parts.append(f"{counts.below_threshold} below your relevance threshold")
        head = f"{paper_count(counts.matched)} matched: {', '.join(parts)}"
    if updates:
        head += f"; {updates} updated"
        if counts.updated_left_out:
            head += f" ({counts.updated_left_out} not listed)"
    return head + "."


def topics_line(counts: DigestCounts) -> str:
    """``By topic: quantization 20, pruning 10`` (every matched paper under its first
    topic, in the rule file's order), or "" for a digest without new papers."""
    if not counts.topics:
        return ""
    # A digest queued before topic counts were kept counts only the papers it carries.
    counted = sum(c.papers for c in counts.topics)
    label = "By topic" if counted >= counts.matched else f"By topic, of the {counted} shown"
    return f"{label}: " + ", ".join(
        f"{capped(one_line(c.topic), TOPIC_MAX)} {c.papers}" for c in counts.topics
    )


def subject(digest: Digest) -> str:
    """One line for a mail Subject or a Slack header: no CR/LF or other control characters.

    Counts the papers matched (``DigestCounts.matched``: those over ``max_papers`` too)
    and the updated ones: ``(30 papers, 2 updated)``, or only ``(2 updated)`` when there
    is nothing new.
    """
    name = _header_safe(digest.subscription) or "digest"
    if len(name) > SUBJECT_NAME_MAX:
        name = name[: SUBJECT_NAME_MAX - 1].rstrip() + "\u2026"
    # "2026-11-16#2" is the outbox's name for a second digest of a period: say it in words.
    base, _, part = digest.period.partition("#")
    period = _header_safe(f"{base}, part {part}" if part else base)
    counts = digest_counts(digest)
    return f"arXiv digest: {name}, {period} ({tally(counts.matched, counts.updated)})"


def more_line(omitted: int) -> str:
    """The closing line of a capped digest ("+N more"), or "" when nothing was left out."""
    if omitted <= 0:
        return ""
    if omitted == 1:
        return "+1 more paper matched but is not shown (max_papers)."
    return f"+{omitted} more papers matched but are not shown (max_papers)."


@dataclass(frozen=True, slots=True)
class Cut:
    """How a message shows a digest that does not fit whole (the mail's size budget): the
    first ``in_full`` papers with their abstract, the next ``by_title`` by title and link,
    and the first ``updates`` updated papers. None of a field: all of them."""

    in_full: int | None = None
    by_title: int = 0
    updates: int | None = None


WHOLE = Cut()


def _context(
    digest: Digest, cut: Cut, tex: bool, links: PaperLinks | None = None
) -> dict[str, object]:
    counts = digest_counts(digest, in_full=cut.in_full, by_title=cut.by_title, updates=cut.updates)
    full = counts.in_full
    listed = [_view(m, digest.period, tex) for m in digest.matches[full:][: counts.by_title]]
    papers = [_view(m, digest.period, tex, links) for m in digest.matches[:full]]
    return {
        "subject": subject(digest),
        "subscription": one_line(digest.subscription),
        "period": one_line(digest.period),
        "counts": counts_line(counts, mail=cut != WHOLE),
        "topics": topics_line(counts),
        "papers": papers,
        "listed": listed,
        "listed_groups": _by_topic(listed, counts),
        "unlisted": counts.left_out - counts.capped - counts.below_threshold,
        "updated": [_view(m, digest.period, tex) for m in digest.updated[: counts.updated]],
        "updated_unlisted": counts.updated_left_out,
        "more": more_line(digest.omitted),
        "ranking": ranking_lines(digest),
    }


def _by_topic(views: list[PaperView], counts: DigestCounts) -> list[tuple[str, list[PaperView]]]:
    """``views`` under their first topic, topics in the digest's (the rule file's) order."""
    groups: dict[str, list[PaperView]] = {
        capped(one_line(c.topic), TOPIC_MAX): [] for c in counts.topics
    }
    for view in views:
        groups.setdefault(view.topics[0].topic if view.topics else OTHER_TOPIC, []).append(view)
    return [(topic, group) for topic, group in groups.items() if group]


def _template(fmt: Format | str, highlight: bool) -> str:
    name = _TEMPLATE_BY_NAME.get(fmt)
    if name is None:
        raise ValueError(f"unknown digest format {fmt!r}; expected one of {FORMATS}")
    return ANNOTATED_MARKDOWN if highlight and fmt == "markdown" else name


def _classic(fmt: Format | str, highlight: bool) -> bool:
    """The seed Markdown layout: TeX and links as arXiv gave them, no header."""
    return fmt == "markdown" and not highlight


def render_format(
    digest: Digest, fmt: Format | str, *, highlight: bool = False, cut: Cut = WHOLE
) -> str:
    """Render one format of ``digest``: ``markdown``, ``text`` or ``html``.

    ``highlight`` only changes Markdown: the seed layout (default) or the annotated one,
    with the matched terms of each paper and those terms in bold in its abstract.
    ``cut``: how much of a digest too long for one message is shown (see ``Cut``).
    """
    name = _template(fmt, highlight)
    context = _context(digest, cut, tex=not _classic(fmt, highlight))
    return environment().get_template(name).render(context)


def render(
    digest: Digest,
    *,
    highlight: bool = False,
    cut: Cut = WHOLE,
    links: PaperLinks | None = None,
) -> Message:
    """Render every format of ``digest`` into a Message (``highlight``, ``cut``: see
    render_format). ``links`` gives each arXiv paper its signed feedback URLs (email
    digests, when WATCHER_PUBLIC_URL is set); text and HTML show them under the paper."""
    env = environment()
    contexts = {tex: _context(digest, cut, tex, links) for tex in (True, False)}
    bodies = {
        fmt: env.get_template(_template(fmt, highlight)).render(
            contexts[not _classic(fmt, highlight)]
        )
        for fmt in FORMATS
    }
    return Message(
        subject=str(contexts[True]["subject"]),
        markdown=bodies["markdown"],
        text=bodies["text"],
        html=bodies["html"],
    )
