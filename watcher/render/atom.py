"""A subscription's Atom 1.0 feed (RFC 4287): the last N papers it was sent, newest first
(pure: bytes in, bytes out).

Each digest's papers become entries put in front of the entries the feed held already (read
back from its previous bytes, kept as they were), at most ``limit`` in all. An entry's id is
the paper's (``tag:arxiv-watcher,2024:paper/2409.12121``), the same in every feed and on
every rewrite, so a feed reader never shows a paper twice; a new version (an update) takes
its old entry's place with a later ``updated``. Categories are the topics that matched; the
content is the abstract as HTML with the matched terms in ``<strong>``, escaped piece by
piece (feed text never becomes markup); the only link is the paper's http(s) URL.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import quote

import defusedxml.ElementTree as SafeET

from watcher import __version__
from watcher.models import Digest, Match
from watcher.render.formats import highlight_pieces, match_terms, safe_href, shown_digest

ATOM = "http://www.w3.org/2005/Atom"
TAG = "tag:arxiv-watcher,2024:"
DEFAULT_ENTRIES = 200
_A = f"{{{ATOM}}}"


class AtomFeedError(ValueError):
    """The bytes of an existing feed file are not an Atom feed this watcher can extend."""


def entry_id(paper_id: str) -> str:
    return f"{TAG}paper/{quote(paper_id, safe=':/@!$&()*+,;=-._~')}"


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(parent: ET.Element, tag: str, text: str, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, _A + tag, attrib)
    element.text = text
    return element


def _content(match: Match) -> str:
    """The entry's HTML: authors, what matched, and the abstract with the terms in bold."""
    paper = match.paper
    pieces = highlight_pieces(paper.abstract, match_terms(match))
    abstract = "".join(
        f"<strong>{html.escape(text)}</strong>" if hit else html.escape(text)
        for text, hit in pieces
    )
    matched = "; ".join(
        f"{hit.topic} ({', '.join(hit.terms)})" if hit.terms else hit.topic for hit in match.hits
    )
    parts = []
    if paper.authors:
        parts.append(f"<p>{html.escape(', '.join(paper.authors))}</p>")
    if matched:
        parts.append(f"<p><em>Matched: {html.escape(matched)}</em></p>")
    parts.append(f"<p>{abstract}</p>")
    return "".join(parts)


def _entry(match: Match, update: bool, now: datetime) -> ET.Element:
    paper = match.paper
    entry = ET.Element(_A + "entry")
    _text(entry, "id", entry_id(paper.id))
    title = paper.title or paper.id
    if update and paper.version:
        title = f"{title} (v{paper.version})"
    _text(entry, "title", title, type="text")
    _text(entry, "updated", _timestamp(now))
    if paper.published is not None:
        _text(entry, "published", _timestamp(paper.published))
    for name in paper.authors:
        author = ET.SubElement(entry, _A + "author")
        _text(author, "name", name)
    if url := safe_href(paper.abs_url):
        ET.SubElement(entry, _A + "link", {"rel": "alternate", "type": "text/html", "href": url})
    for hit in match.hits:
        ET.SubElement(entry, _A + "category", {"term": hit.topic, "label": hit.topic})
    _text(entry, "content", _content(match), type="html")
    return entry


def existing_entries(previous: bytes | None) -> list[ET.Element]:
    """The entries of a feed this watcher wrote, in order; none for no file. Raises
    AtomFeedError for bytes that are no Atom feed (never read as an empty feed: the papers
    it held would be lost)."""
    if previous is None:
        return []
    try:
        root = SafeET.fromstring(previous)
    except (ET.ParseError, ValueError) as error:
        raise AtomFeedError(f"not readable XML ({error})") from None
    if root.tag != _A + "feed":
        raise AtomFeedError(f"not an Atom feed (its root element is {root.tag!r})")
    return list(root.iterfind(_A + "entry"))


def atom_feed(
    digest: Digest,
    previous: bytes | None,
    now: datetime,
    *,
    limit: int = DEFAULT_ENTRIES,
    title: str | None = None,
) -> bytes:
    """The feed after ``digest``: its papers first (new, then updated), then the entries of
    ``previous`` that are not among them, ``limit`` at most."""
    shown = shown_digest(digest)
    fresh = [_entry(m, False, now) for m in shown.matches]
    fresh += [_entry(m, True, now) for m in shown.updated]
    ids = {e.findtext(_A + "id") for e in fresh}
    kept = [e for e in existing_entries(previous) if e.findtext(_A + "id") not in ids]
    return _feed(shown.subscription, title, [*_unique(fresh), *kept][:limit], now)


def _unique(entries: Sequence[ET.Element]) -> list[ET.Element]:
    seen: set[str | None] = set()
    out = []
    for entry in entries:
        key = entry.findtext(_A + "id")
        if key not in seen:
            seen.add(key)
            out.append(entry)
    return out


def _feed(subscription: str, title: str | None, entries: list[ET.Element], now: datetime) -> bytes:
    feed = ET.Element(_A + "feed")
    _text(feed, "id", f"{TAG}feed/{quote(subscription, safe='-._~')}")
    _text(feed, "title", title or f"arXiv watcher: {subscription}", type="text")
    _text(feed, "subtitle", f"Papers matched by the subscription {subscription}", type="text")
    _text(feed, "updated", _timestamp(now))
    author = ET.SubElement(feed, _A + "author")
    _text(author, "name", "arxiv-watcher")
    _text(feed, "generator", "arxiv-watcher", version=__version__)
    feed.extend(entries)
    ET.register_namespace("", ATOM)
    ET.indent(feed)
    text: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return text + b"\n"
