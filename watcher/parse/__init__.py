"""Bytes of one feed -> a Feed of Paper values. Pure: no network, no clock, no disk.

One module per shape of feed, each reading the XML tree that ``document`` checked:

- ``arxiv_rss``: arXiv's daily RSS 2.0 (``rss.arxiv.org/rss/<cat>``);
- ``arxiv_atom``: the same listing in Atom (``rss.arxiv.org/atom/<cat>``);
- ``arxiv_legacy``: arXiv's RSS 1.0 of before 2024 (``export.arxiv.org/rss/<cat>``);
- ``arxiv_api``: the API's Atom (``export.arxiv.org/api/query``);
- ``generic``: any other RSS or Atom feed (bioRxiv, medRxiv, journals, blogs).

arXiv feeds are read entirely with defusedxml, because feedparser sanitises text as HTML and
corrupts abstracts containing ``<`` (``p<s/d`` -> ``p<s>d``). Generic feeds use feedparser
for structure and the XML tree for the exact text. An arXiv item without a valid arXiv id
(a notice) is read as a generic item.
"""

from __future__ import annotations

from dataclasses import replace
from xml.etree.ElementTree import Element

from watcher.errors import ParseError
from watcher.models import Feed, FeedKind, RawFeed
from watcher.parse.arxiv_api import API_ERROR_ID, API_ID, api_error, arxiv_api_feed
from watcher.parse.arxiv_atom import arxiv_atom_feed
from watcher.parse.arxiv_legacy import is_legacy_arxiv, legacy_feed
from watcher.parse.arxiv_rss import ARXIV_GUID, arxiv_rss_feed
from watcher.parse.document import checked_root
from watcher.parse.generic import GenericEntries
from watcher.parse.text import (
    ARXIV_NS,
    ATOM,
    OPENSEARCH,
    feed_title,
    items,
    local,
    split_authors,
    text,
    unique,
)

__all__ = ["parse_feed", "split_authors"]


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
    root, body, skipped = checked_root(raw)
    found = items(root)
    kind = _detect_kind(root, body, found)
    other = GenericEntries(raw, body, len(found)).paper
    if kind == "arxiv-rss":
        feed = arxiv_rss_feed(raw.source, root, found, other)
    elif kind == "arxiv-atom":
        feed = arxiv_atom_feed(raw.source, root, found, other)
    elif kind == "arxiv-rss1":
        feed = legacy_feed(raw.source, root, found, other)
    elif kind == "arxiv-api":
        if error := api_error(root):
            raise ParseError(error, where=raw.source)
        feed = arxiv_api_feed(raw.source, root, found, other)
    else:
        papers = unique(other(i, item) for i, item in enumerate(found))
        feed = Feed(raw.source, kind, feed_title(root), papers)
    return replace(feed, skipped=skipped) if skipped else feed


def _detect_kind(root: Element, body: bytes, found: list[Element]) -> FeedKind:
    # An empty arXiv listing has no items to recognise, so its namespace declaration decides.
    arxiv_namespace = ARXIV_NS in body[:4096]
    if local(root.tag) == "feed":
        # An empty API result has no entries to recognise, but always a totalResults.
        ids = [text(entry, f"{ATOM}id") for entry in found]
        api_like = root.find(f"{OPENSEARCH}totalResults") is not None and arxiv_namespace
        if api_like or any(API_ID.match(i) or API_ERROR_ID.match(i) for i in ids):
            return "arxiv-api"
        if arxiv_namespace or any(ARXIV_GUID.match(i.strip()) for i in ids):
            return "arxiv-atom"
        return "atom"
    if local(root.tag) == "RDF" and is_legacy_arxiv(root, found):
        return "arxiv-rss1"
    guids = (text(item, "guid") for item in root.iter("item"))
    if arxiv_namespace or any(ARXIV_GUID.match(g) for g in guids):
        return "arxiv-rss"
    return "rss"


def _api_error_text(raw: RawFeed) -> str:
    """The arXiv API error message in a non-2xx body, or "" when it holds none."""
    try:
        root = checked_root(raw)[0]
    except ParseError:
        return ""
    return api_error(root) if local(root.tag) == "feed" else ""
