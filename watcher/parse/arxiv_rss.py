"""arXiv's daily RSS 2.0 (``rss.arxiv.org/rss/<cat>``, since 2024) -> papers with their
announce types. What the Atom flavour shares with it (the description's prefix, the
identity in the guid, the announce types) lives here too."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from email.utils import parsedate_to_datetime
from typing import cast
from xml.etree.ElementTree import Element

from watcher.models import AnnounceType, Feed, Paper, is_arxiv_id
from watcher.parse.text import (
    ARXIV,
    DC,
    collapse,
    dedupe,
    feed_title,
    optional,
    rfc822,
    split_authors,
    text,
    unique,
)

ANNOUNCE_TYPES: frozenset[str] = frozenset({"new", "cross", "replace", "replace-cross"})

ARXIV_GUID = re.compile(r"^oai:arXiv\.org:(?P<id>\S+?)v(?P<v>\d+)$", re.IGNORECASE)
# "arXiv:2412.13235v1 Announce Type: new \nAbstract: ..." -- tolerant of spacing and case.
ARXIV_PREFIX = re.compile(
    r"\A\s*arXiv:(?P<vid>\S+?)v(?P<v>\d+)\s+Announce\s+Type:\s*(?P<type>[\w-]+)\s*"
    r"Abstract:[ \t]*",
    re.IGNORECASE,
)

Fallback = Callable[[int, Element], Paper]


def arxiv_rss_feed(source: str, root: Element, items: list[Element], other: Fallback) -> Feed:
    """The feed; an item without a valid arXiv id is read by ``other`` (a generic item)."""
    channel_pub = text(root, "channel/pubDate")
    papers = (arxiv_rss_paper(item, channel_pub) or other(i, item) for i, item in enumerate(items))
    return Feed(
        source=source,
        kind="arxiv-rss",
        title=feed_title(root),
        papers=unique(papers),
        announced=announced(channel_pub),
    )


def arxiv_rss_paper(item: Element, channel_pub: str) -> Paper | None:
    """A Paper from one arXiv RSS item, or None when it carries no valid arXiv id."""
    description = text(item, "description")
    prefix = ARXIV_PREFIX.match(description)
    identity = arxiv_identity(text(item, "guid"), prefix)
    if identity is None:
        return None
    announce = text(item, f"{ARXIV}announce_type") or (prefix["type"] if prefix else "")
    abstract = description[prefix.end() :] if prefix else description
    return Paper(
        id=identity[0],
        version=identity[1],
        title=collapse(text(item, "title")),
        authors=split_authors(text(item, f"{DC}creator")),
        abstract=abstract.strip(),
        categories=dedupe(text(c) for c in item.iter("category")),
        announce_type=announce_type(announce),
        # Items carry pubDate only since August 2024; the channel date is the same moment.
        published=rfc822(text(item, "pubDate") or channel_pub),
        journal_ref=optional(text(item, f"{ARXIV}journal_reference")),
        doi=optional(text(item, f"{ARXIV}DOI")),
    )


def arxiv_identity(guid: str, prefix: re.Match[str] | None) -> tuple[str, int] | None:
    """(id, version) from the guid, else from the description prefix; None if invalid."""
    if match := ARXIV_GUID.match(guid.strip()):
        found = (match["id"], int(match["v"]))
    elif prefix is not None:
        found = (prefix["vid"], int(prefix["v"]))
    else:
        return None
    return found if is_arxiv_id(found[0]) else None


def announce_type(value: str) -> AnnounceType | None:
    lowered = value.strip().lower()
    return cast(AnnounceType, lowered) if lowered in ANNOUNCE_TYPES else None


def announced(channel_pub: str) -> date | None:
    """The announcement date as arXiv wrote it, in the feed's own offset.

    Not converted to UTC: the date is a US-Eastern calendar day, and any time after 19:00
    Eastern would land on the next UTC day.
    """
    try:
        return parsedate_to_datetime(channel_pub).date()
    except (TypeError, ValueError, IndexError):
        return None
