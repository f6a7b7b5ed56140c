"""Bytes of one feed -> a Feed of Paper values. Pure: no network, no clock, no disk.

(About 600 lines: three feed kinds, arXiv's normalisation and the recovery of damaged items
share one XML reading; split, the exact-abstract reading would be done three times.)

arXiv feeds (daily RSS and API Atom) are read entirely with defusedxml, because feedparser
sanitises text as HTML and corrupts abstracts containing ``<`` (``p<s/d`` -> ``p<s>d``).
Generic RSS/Atom feeds use feedparser for structure (ids, links, authors, dates in any of
the formats found in the wild) and the XML tree for the exact title and summary text.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, cast
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLSyntaxError

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from watcher.errors import ParseError
from watcher.models import AnnounceType, Feed, FeedKind, Paper, RawFeed, is_arxiv_id

__all__ = ["parse_feed", "split_authors"]

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
ARXIV_NS = b"http://arxiv.org/schemas/atom"

ANNOUNCE_TYPES: frozenset[str] = frozenset({"new", "cross", "replace", "replace-cross"})

_RSS_GUID = re.compile(r"^oai:arXiv\.org:(?P<id>\S+?)v(?P<v>\d+)$", re.IGNORECASE)
_API_ID = re.compile(r"^https?://(?:export\.)?arxiv\.org/abs/(?P<id>\S+?)(?:v(?P<v>\d+))?$")
_API_ERROR_ID = re.compile(r"^https?://(?:export\.)?arxiv\.org/api/errors")
# "arXiv:2412.13235v1 Announce Type: new \nAbstract: ..." -- tolerant of spacing and case.
_RSS_PREFIX = re.compile(
    r"\A\s*arXiv:(?P<vid>\S+?)v(?P<v>\d+)\s+Announce\s+Type:\s*(?P<type>[\w-]+)\s*"
    r"Abstract:[ \t]*",
    re.IGNORECASE,
)
_WS = re.compile(r"\s+")
_HTTP_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_HTML_TAG = re.compile(rb"<html[\s>]", re.IGNORECASE)
_BOM = b"\xef\xbb\xbf"
# Characters XML 1.0 forbids: C0 controls but tab, LF and CR (the same bytes in every
# ASCII-compatible encoding), and U+FFFE, U+FFFF (as UTF-8).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NONCHAR = re.compile(rb"\xef\xbf[\xbe\xbf]")
_ITEM_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>]")
_ITEM_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")
_ENCODING = re.compile(rb"""\A<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_GUID_BYTES = re.compile(rb"oai:arXiv\.org:(\S+?v\d+)\s*<", re.IGNORECASE)
_TITLE_BYTES = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?title[^>]*>(.*?)</", re.DOTALL)
_ID_BYTES = re.compile(rb"<(?:guid|id)[^>]*>\s*([^<\s]+)\s*</")
# expat's codes for a document that ends too soon: a truncated body, not a damaged one.
_ENDED_EARLY = frozenset({3, 5, 6, 20})  # no element found, unclosed token, partial char, CDATA
MAX_DAMAGED = 10  # more damaged items than this: the feed as a whole is not to be trusted


# --- public API --------------------------------------------------------------------------


def parse_feed(raw: RawFeed) -> Feed:
    """Parse one fetched feed into a :class:`Feed` of papers.

    Raises :class:`ParseError` (with ``where=raw.source``) for anything that is not a usable
    feed: a non-2xx status, an empty body, an HTML page, truncated or malformed XML, a
    document declaring a DTD or entities, or an arXiv API error response. An arXiv feed with
    no items (weekends, holidays) is a valid feed with zero papers.

    One damaged item (a NUL, another control character XML forbids, or a byte that is not
    UTF-8) does not cost the others: that item alone is left out and named in
    ``Feed.skipped``. Damage outside any whole item, or in more than ``MAX_DAMAGED`` items,
    is still malformed XML; a body that ends too soon is still truncated.
    """
    if not 200 <= raw.status < 300:
        # arXiv answers a bad query with HTTP 400 and an error feed: its text says why.
        reason = _api_error_text(raw) or "not a usable feed response"
        raise ParseError(f"HTTP status {raw.status}: {reason}", where=raw.source)
    root, body, skipped = _checked_root(raw)
    kind = _detect_kind(root, body)
    items = _items(root)
    generic = _GenericEntries(raw, body, len(items))
    if kind == "arxiv-rss":
        feed = _arxiv_rss_feed(raw.source, root, items, generic)
    elif kind == "arxiv-api":
        if error := _api_error(root):
            raise ParseError(error, where=raw.source)
        feed = _arxiv_api_feed(raw.source, root, items, generic)
    else:
        papers = (generic.paper(i, item) for i, item in enumerate(items))
        feed = Feed(raw.source, kind, _feed_title(root), _unique(papers))
    return replace(feed, skipped=skipped) if skipped else feed


def split_authors(creator: str) -> tuple[str, ...]:
    """Split an arXiv RSS ``dc:creator`` string into author names.

    Splits on commas outside parentheses, because affiliations contain commas:
    ``"A. One (MIT, USA), B. Two"`` -> ``("A. One (MIT, USA)", "B. Two")``. Strips
    whitespace and drops empty names.
    """
    names: list[str] = []
    current: list[str] = []
    depth = 0
    for char in creator:
        if char == "," and depth == 0:
            names.append("".join(current))
            current = []
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            # An unbalanced ")" must not make every later comma look nested.
            depth = max(0, depth - 1)
        current.append(char)
    names.append("".join(current))
    return tuple(name for name in (n.strip() for n in names) if name)


# --- checks before and while parsing -----------------------------------------------------


def _checked_root(raw: RawFeed) -> tuple[Element, bytes, tuple[str, ...]]:
    """The XML root of a body that passed every refusal check (the status is not looked at),
    the body it was parsed from (without damaged items) and what was skipped."""
    body = raw.body
    if not body.strip():
        raise ParseError("empty body: not a feed", where=raw.source)
    start = _after_prolog(body)
    lowered = start[:20].lower()
    if lowered.startswith((b"<html", b"<!doctype html")):
        raise ParseError("not a feed: looks like an HTML page", where=raw.source)
    # Refuse before any parser sees the bytes: entity expansion ("billion laughs") and
    # external entities only work through a DTD, which may only sit in the prolog.
    if lowered.startswith(b"<!doctype") or b"<!ENTITY" in body:
        raise ParseError(
            "refusing a document that declares a DTD or entities (<!DOCTYPE/<!ENTITY)",
            where=raw.source,
        )
    if not start.startswith(b"<") and not body.startswith((b"\xff\xfe", b"\xfe\xff")):
        # arXiv throttles with a plain-text "Rate exceeded." and HTTP 200.
        snippet = start[:60].decode("utf-8", "replace").strip()
        raise ParseError(f"not a feed: the body is not XML ({snippet!r})", where=raw.source)
    body, skipped, note = _without_damaged_items(body)
    try:
        # forbid_dtd is the backstop for encodings (UTF-16) the byte checks cannot see.
        root = cast(Element, fromstring(body, forbid_dtd=True))
    except DefusedXmlException as exc:
        message = f"refusing a document that declares a DTD or entities: {exc!r}"
        raise ParseError(message, where=raw.source) from exc
    except XMLSyntaxError as exc:
        if _looks_like_html(raw):
            raise ParseError("not a feed: looks like an HTML page", where=raw.source) from exc
        if exc.code in _ENDED_EARLY:
            # ARXIV.md: a truncated body is a failed fetch, never the day's papers.
            message = f"truncated XML: the body ends before the feed does ({exc})"
        else:
            message = f"malformed XML: {exc}{note}"
        raise ParseError(message, where=raw.source) from exc
    name = _local(root.tag)
    if name == "html":
        raise ParseError("not a feed: looks like an HTML page", where=raw.source)
    if name not in ("rss", "RDF", "feed"):
        raise ParseError(f"not a feed: the root element is <{name}>", where=raw.source)
    return root, body, skipped


def _without_damaged_items(body: bytes) -> tuple[bytes, tuple[str, ...], str]:
    """``body`` without the items that hold a character XML forbids or a byte that is not
    UTF-8, a description of each item left out, and a note for the error message when the
    damage could not be cut out (outside any whole item, or in too many).

    Only the bytes of whole ``<item>...</item>`` (``<entry>``) elements are removed, so the
    rest parses exactly as it would have; a truncated body keeps its damage and fails as
    truncated. Bodies in encodings other than UTF-8 are only searched for control bytes.
    """
    damage = _damage(body)
    if not damage:
        return body, (), ""
    starts = [m.start() for m in _ITEM_START.finditer(body)]
    ends = [m.end() for m in _ITEM_END.finditer(body)]
    spans: dict[tuple[int, int], str] = {}
    for offset, what in damage:
        span = _enclosing_item(starts, ends, offset)
        if span is None:
            return body, (), f" ({what} at byte {offset:,}, outside any item)"
        spans.setdefault(span, what)
    if len(spans) > MAX_DAMAGED:
        return body, (), f" ({len(spans)} items damaged: too many to skip)"
    kept: list[bytes] = []
    skipped: list[str] = []
    previous = 0
    for (start, end), what in sorted(spans.items()):
        kept.append(body[previous:start])
        number = bisect_left(starts, start) + 1
        skipped.append(f"{_item_label(body[start:end], number)}: {what}")
        previous = end
    kept.append(body[previous:])
    return b"".join(kept), tuple(skipped), ""


def _damage(body: bytes) -> list[tuple[int, str]]:
    """Offsets of the bytes an XML parser would stop at, and what each is (at most a few
    more than MAX_DAMAGED items' worth: beyond that the feed fails anyway)."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or body.startswith((b"<\x00", b"\x00<")):
        return []  # UTF-16/32: not readable byte by byte
    limit = 10 * MAX_DAMAGED
    found: list[tuple[int, str]] = []
    for match in _CONTROL.finditer(body):
        char = match.group()
        what = "a NUL byte" if char == b"\x00" else f"a control character ({char!r})"
        found.append((match.start(), what))
        if len(found) > limit:
            return found
    declared = _ENCODING.match(body.removeprefix(_BOM))
    encoding = declared[1].decode("ascii").lower() if declared else "utf-8"
    if encoding.replace("_", "-") not in ("utf-8", "utf8"):
        return found
    found += [
        (m.start(), "a character XML forbids (U+FFFE/U+FFFF)") for m in _NONCHAR.finditer(body)
    ]
    view = memoryview(body)
    position = 0
    while len(found) <= limit:
        try:
            codecs.utf_8_decode(view[position:], "strict", True)
            break
        except UnicodeDecodeError as exc:
            found.append((position + exc.start, "a byte that is not UTF-8"))
            position += exc.end
    return sorted(found)


def _enclosing_item(starts: list[int], ends: list[int], offset: int) -> tuple[int, int] | None:
    """The (start, end) bytes of the whole item holding ``offset``, or None: the nearest
    item start before it must be closed after it, with no other start or end between."""
    i = bisect_right(starts, offset) - 1
    j = bisect_left(ends, offset + 1)
    if i < 0 or j >= len(ends):
        return None
    start, end = starts[i], ends[j]
    if j > 0 and ends[j - 1] > start:
        return None  # that item was closed before the damage: it is between items
    if i + 1 < len(starts) and starts[i + 1] < end:
        return None  # another item opens before this one closes
    return start, end


def _item_label(item: bytes, number: int) -> str:
    """How a warning names a damaged item: its arXiv id or guid and its title, if legible."""
    text = item.replace(b"\x00", b"")
    known = []
    if guid := _GUID_BYTES.search(text) or _ID_BYTES.search(text):
        known.append(_legible(guid[1], 80))
    if title := _TITLE_BYTES.search(text):
        known.append(f'"{_legible(title[1], 80)}"')
    return f"item {number} ({' '.join(known)})" if known else f"item {number}"


def _legible(value: bytes, limit: int) -> str:
    text = _collapse(value.decode("utf-8", "replace"))
    text = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _after_prolog(body: bytes) -> bytes:
    """The body from its first element or declaration after BOM, XML declaration, PIs,
    comments and whitespace (a loop, not a regex: no backtracking on hostile input)."""
    rest = body.removeprefix(_BOM).lstrip()
    while rest.startswith((b"<?", b"<!--")):
        closer = b"?>" if rest.startswith(b"<?") else b"-->"
        end = rest.find(closer)
        if end < 0:
            return rest
        rest = rest[end + len(closer) :].lstrip()
    return rest


def _looks_like_html(raw: RawFeed) -> bool:
    head = raw.body[:2048]
    return "html" in raw.content_type.lower() or _HTML_TAG.search(head) is not None


def _detect_kind(root: Element, body: bytes) -> FeedKind:
    if _local(root.tag) == "feed":
        # An empty API result has no entries to recognise, but always a totalResults.
        ids = (_text(entry, f"{ATOM}id") for entry in root.iter(f"{ATOM}entry"))
        api_like = root.find(f"{OPENSEARCH}totalResults") is not None and ARXIV_NS in body[:4096]
        if api_like or any(_API_ID.match(i) or _API_ERROR_ID.match(i) for i in ids):
            return "arxiv-api"
        return "atom"
    # An empty daily feed has no items to recognise, so its namespace declaration decides.
    guids = (_text(item, "guid") for item in root.iter("item"))
    if ARXIV_NS in body[:4096] or any(_RSS_GUID.match(g) for g in guids):
        return "arxiv-rss"
    return "rss"


def _api_error(root: Element) -> str:
    """arXiv reports API errors as a feed whose one entry has an ``/api/errors`` id."""
    for entry in root.iter(f"{ATOM}entry"):
        if _API_ERROR_ID.match(_text(entry, f"{ATOM}id")):
            summary = _collapse(_text(entry, f"{ATOM}summary")) or "unknown error"
            return f"arXiv API error: {summary}"
    return ""


def _api_error_text(raw: RawFeed) -> str:
    """The arXiv API error message in a non-2xx body, or "" when it holds none."""
    try:
        root = _checked_root(raw)[0]
    except ParseError:
        return ""
    return _api_error(root) if _local(root.tag) == "feed" else ""


# --- arXiv RSS ---------------------------------------------------------------------------


def _arxiv_rss_feed(
    source: str, root: Element, items: list[Element], generic: _GenericEntries
) -> Feed:
    channel_pub = _text(root, "channel/pubDate")
    papers = (
        _arxiv_rss_paper(item, channel_pub) or generic.paper(i, item)
        for i, item in enumerate(items)
    )
    return Feed(
        source=source,
        kind="arxiv-rss",
        title=_feed_title(root),
        papers=_unique(papers),
        announced=_announced(channel_pub),
    )


def _arxiv_rss_paper(item: Element, channel_pub: str) -> Paper | None:
    """A Paper from one arXiv RSS item, or None when it carries no valid arXiv id."""
    description = _text(item, "description")
    prefix = _RSS_PREFIX.match(description)
    identity = _rss_identity(_text(item, "guid"), prefix)
    if identity is None:
        return None
    announce = _text(item, f"{ARXIV}announce_type") or (prefix["type"] if prefix else "")
    abstract = description[prefix.end() :] if prefix else description
    return Paper(
        id=identity[0],
        version=identity[1],
        title=_collapse(_text(item, "title")),
        authors=split_authors(_text(item, f"{DC}creator")),
        abstract=abstract.strip(),
        categories=_dedupe(_text(c) for c in item.iter("category")),
        announce_type=_announce_type(announce),
        # Items carry pubDate only since August 2024; the channel date is the same moment.
        published=_rfc822(_text(item, "pubDate") or channel_pub),
        journal_ref=_optional(_text(item, f"{ARXIV}journal_reference")),
        doi=_optional(_text(item, f"{ARXIV}DOI")),
    )


def _rss_identity(guid: str, prefix: re.Match[str] | None) -> tuple[str, int] | None:
    """(id, version) from the guid, else from the description prefix; None if invalid."""
    if match := _RSS_GUID.match(guid.strip()):
        found = (match["id"], int(match["v"]))
    elif prefix is not None:
        found = (prefix["vid"], int(prefix["v"]))
    else:
        return None
    return found if is_arxiv_id(found[0]) else None


def _announce_type(value: str) -> AnnounceType | None:
    lowered = value.strip().lower()
    return cast(AnnounceType, lowered) if lowered in ANNOUNCE_TYPES else None


def _announced(channel_pub: str) -> date | None:
    """The announcement date as arXiv wrote it, in the feed's own offset.

    Not converted to UTC: the date is a US-Eastern calendar day, and any time after 19:00
    Eastern would land on the next UTC day.
    """
    try:
        return parsedate_to_datetime(channel_pub).date()
    except (TypeError, ValueError, IndexError):
        return None


# --- arXiv API ---------------------------------------------------------------------------


def _arxiv_api_feed(
    source: str, root: Element, entries: list[Element], generic: _GenericEntries
) -> Feed:
    papers = (_api_paper(e) or generic.paper(i, e) for i, e in enumerate(entries))
    return Feed(
        source=source,
        kind="arxiv-api",
        title=_feed_title(root),
        papers=_unique(papers),
        total_results=_int_or_none(_text(root, f"{OPENSEARCH}totalResults")),
    )


def _api_paper(entry: Element) -> Paper | None:
    """A Paper from one API entry, or None when its id is not a valid arXiv id."""
    match = _API_ID.match(_text(entry, f"{ATOM}id"))
    if match is None or not is_arxiv_id(match["id"]):
        return None
    primary = entry.find(f"{ARXIV}primary_category")
    terms = [primary.get("term", "")] if primary is not None else []
    terms += [c.get("term", "") for c in entry.iter(f"{ATOM}category")]
    return Paper(
        id=match["id"],
        version=int(match["v"]) if match["v"] else None,
        title=_collapse(_text(entry, f"{ATOM}title")),
        authors=_names(_text(a, f"{ATOM}name") for a in entry.iter(f"{ATOM}author")),
        # Older responses are hard-wrapped: keep the line breaks, trim only the ends.
        abstract=_text(entry, f"{ATOM}summary").strip(),
        categories=_dedupe(terms),
        published=_iso(_text(entry, f"{ATOM}published")),
        updated=_iso(_text(entry, f"{ATOM}updated")),
        comment=_optional(_text(entry, f"{ARXIV}comment")),
        journal_ref=_optional(_text(entry, f"{ARXIV}journal_ref")),
        doi=_optional(_text(entry, f"{ARXIV}doi")),
    )


# --- generic RSS / Atom ------------------------------------------------------------------


class _GenericEntries:
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
        return _generic_paper(item, entries[index] if entries else {})


def _items(root: Element) -> list[Element]:
    """The feed's items (RSS 0.9x/1.0/2.0) or entries (Atom), in document order."""
    if _local(root.tag) == "feed":
        return list(root.iter(f"{ATOM}entry"))
    return [el for el in root.iter() if _local(el.tag) == "item"]


def _generic_paper(item: Element, entry: dict[str, Any]) -> Paper:
    """A non-arXiv item: stable id from guid/id/link/title, exact title and summary text."""
    title = _collapse(_child_text(item, ("title",)))
    link = _http_url(_entry_str(entry, "link") or _child_text(item, ("link",)))
    key = _entry_str(entry, "id") or _child_text(item, ("guid", "id")) or link or title
    return Paper(
        id="feed:" + hashlib.sha1(key.encode("utf-8")).hexdigest(),
        version=None,
        title=title,
        authors=_entry_authors(entry),
        abstract=_child_text(item, ("description", "summary", "encoded", "content")).strip(),
        published=_struct_time(dict.get(entry, "published_parsed")),
        # dict.get: feedparser maps a missing "updated" to "published" with a warning.
        updated=_struct_time(dict.get(entry, "updated_parsed")),
        link=link,
    )


def _entry_authors(entry: dict[str, Any]) -> tuple[str, ...]:
    authors: Iterable[dict[str, Any]] = dict.get(entry, "authors") or []
    return _names(str(a.get("name") or a.get("email") or "") for a in authors)


def _entry_str(entry: dict[str, Any], key: str) -> str:
    value = dict.get(entry, key)
    return value.strip() if isinstance(value, str) else ""


def _http_url(value: str) -> str | None:
    # Only http(s) links may reach a digest: "javascript:" and friends must not.
    value = value.strip()
    return value if _HTTP_URL.match(value) else None


# --- small helpers -----------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: Element | None, path: str | None = None) -> str:
    """All text inside ``element`` (or its first ``path`` child), "" when absent."""
    target = element if path is None or element is None else element.find(path)
    return "".join(target.itertext()) if target is not None else ""


def _child_text(item: Element, names: tuple[str, ...]) -> str:
    """Text of the first direct child whose local name is in ``names`` (in that order)."""
    for name in names:
        for child in item:
            if _local(child.tag) == name:
                return _text(child)
    return ""


def _feed_title(root: Element) -> str:
    # RSS keeps its title in <channel> (namespaced in RSS 1.0); Atom on the root.
    channels = [child for child in root if _local(child.tag) == "channel"]
    return _collapse(_child_text(channels[0] if channels else root, ("title",)))


def _collapse(value: str) -> str:
    return _WS.sub(" ", value).strip()


def _optional(value: str) -> str | None:
    return _collapse(value) or None


def _names(values: Iterable[str]) -> tuple[str, ...]:
    # Not deduplicated: two co-authors can share a name.
    return tuple(name for name in (_collapse(v) for v in values) if name)


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


def _unique(papers: Iterable[Paper]) -> tuple[Paper, ...]:
    """Each paper once per feed; the first occurrence wins."""
    seen: dict[str, Paper] = {}
    for paper in papers:
        seen.setdefault(paper.id, paper)
    return tuple(seen.values())


def _int_or_none(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def _rfc822(value: str) -> datetime | None:
    return _aware_utc(value, parsedate_to_datetime)


def _iso(value: str) -> datetime | None:
    return _aware_utc(value, datetime.fromisoformat)


def _aware_utc(value: str, parse: Callable[[str], datetime]) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = parse(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    # A date without an offset is taken as UTC, the convention of both arXiv formats.
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _struct_time(value: object) -> datetime | None:
    # feedparser normalises every date it understands to a UTC struct_time.
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except ValueError:
        return None
