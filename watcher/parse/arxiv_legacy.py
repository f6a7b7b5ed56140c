"""arXiv's RSS 1.0 of before 2024 (``export.arxiv.org/rss/<cat>``, and the archives people
kept of it) -> papers, read as the current feeds are.

Its items say in the title what the current feeds say in ``announce_type``:
``Title. (arXiv:2310.01234v1 [cs.LG])`` is new, ``… CROSS LISTED)`` a cross-list,
``… UPDATED)`` a replacement. Authors are HTML links (``<a href=…>Ann One</a>, …``) and the
abstract is HTML (``<p>…</p>``): both are read as text. The announcement date is the
channel's ``dc:date``, named as rss.arxiv.org names the same listing (``listing_date``).
"""

from __future__ import annotations

import re
from datetime import datetime
from xml.etree.ElementTree import Element

from watcher.models import AnnounceType, Feed, Paper, is_arxiv_id
from watcher.parse.arxiv_rss import Fallback
from watcher.parse.htmltext import html_to_text
from watcher.parse.text import (
    DC,
    channel,
    child,
    child_text,
    collapse,
    dedupe,
    feed_title,
    iso,
    listing_date,
    split_authors,
    text,
    unique,
)

# "Title. (arXiv:2310.01234v2 [stat.ML] UPDATED)" at the very end of the title.
LEGACY_TITLE = re.compile(
    r"\A(?P<title>.*?)\s*\(arXiv:(?P<id>\S+?)v(?P<v>\d+)\s+\[(?P<cat>[^\]\s]+)\]"
    r"(?:\s+(?P<flag>UPDATED|CROSS LISTED))?\)\s*\Z",
    re.DOTALL,
)
# "cs.LG updates on arXiv.org": the category the channel lists.
_CHANNEL_CATEGORY = re.compile(r"\A(?P<cat>\S+) updates on arXiv\.org", re.IGNORECASE)
_FLAGS: dict[str | None, AnnounceType] = {
    None: "new",
    "CROSS LISTED": "cross",
    "UPDATED": "replace",
}


def is_legacy_arxiv(root: Element, items: list[Element]) -> bool:
    """An RSS 1.0 document from arXiv: an item titled the legacy way, or (an empty
    listing) a channel titled ``<cat> updates on arXiv.org``."""
    if any(LEGACY_TITLE.match(child_text(item, ("title",))) for item in items):
        return True
    return not items and _CHANNEL_CATEGORY.match(feed_title(root)) is not None


def legacy_feed(source: str, root: Element, items: list[Element], other: Fallback) -> Feed:
    stamp = iso(child_text(channel(root), ("date",)))
    listed = _CHANNEL_CATEGORY.match(feed_title(root))
    category = listed["cat"] if listed else ""
    papers = (legacy_paper(item, stamp, category) or other(i, item) for i, item in enumerate(items))
    return Feed(
        source=source,
        kind="arxiv-rss1",
        title=feed_title(root),
        papers=unique(papers),
        announced=listing_date(stamp),
    )


def legacy_paper(item: Element, stamp: datetime | None, category: str) -> Paper | None:
    """A Paper from one legacy item, or None when its title names no valid arXiv id."""
    found = LEGACY_TITLE.match(child_text(item, ("title",)))
    if found is None or not is_arxiv_id(found["id"]):
        return None
    title = collapse(found["title"])
    # arXiv put ". " between the title and the id; a title's own "..." stays.
    if title.endswith(".") and not title.endswith(".."):
        title = title[:-1]
    creators = [html_to_text(text(c)) for c in item if c.tag == f"{DC}creator"]
    return Paper(
        id=found["id"],
        version=int(found["v"]),
        title=title,
        authors=tuple(name for c in creators for name in split_authors(collapse(c))),
        abstract=_abstract(child(item, ("description",))),
        # The bracket names the primary category; the channel's own comes second.
        categories=dedupe([found["cat"], category]),
        announce_type=_announce_type(found["flag"], found["cat"], category),
        published=stamp,  # no item has a date of its own: the listing's moment
    )


def _abstract(description: Element | None) -> str:
    """The abstract as text: arXiv escaped its HTML (``&lt;p&gt;``), but an RDF literal
    may hold the elements themselves, whose text is already what a reader sees."""
    if description is None:
        return ""
    if len(description):
        return "\n".join(collapse(part) for part in description.itertext() if part.strip())
    return html_to_text(description.text or "")


def _announce_type(flag: str | None, primary: str, listed: str) -> AnnounceType:
    """What the title's flag means in today's terms: an UPDATED paper whose primary
    category is not the one listed (nor in its archive) is a replaced cross-list."""
    announce = _FLAGS[flag]
    listed_here = not listed or primary == listed or primary.startswith(listed + ".")
    return "replace-cross" if announce == "replace" and not listed_here else announce
