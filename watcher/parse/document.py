"""A fetched body made into an XML tree, after every check that refuses it: an empty body,
an HTML page, a DTD or entity declaration (entity expansion), bytes that are not XML, a
truncated document. Damaged items (a NUL, a control character, a byte that is not UTF-8)
are cut out whole so they cost only themselves."""

from __future__ import annotations

import codecs
import re
from bisect import bisect_left, bisect_right
from typing import cast
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLSyntaxError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from watcher.errors import ParseError
from watcher.models import RawFeed
from watcher.parse.text import collapse, local

__all__ = ["MAX_DAMAGED", "checked_root"]

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


def checked_root(raw: RawFeed) -> tuple[Element, bytes, tuple[str, ...]]:
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
    name = local(root.tag)
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
    text = collapse(value.decode("utf-8", "replace"))
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
