"""Build small feeds in arXiv's daily RSS format for tests (our own data, not arXiv's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    abstract: str = "An abstract about nothing in particular."
    version: int = 1
    announce: str = "new"
    category: str = "cs.LG"
    authors: str = "Ann Author, Ben Writer"


def rss(day: date, items: list[Item] | tuple[Item, ...], category: str = "cs.LG") -> bytes:
    """An arXiv daily RSS document announced on ``day`` (midnight US-Eastern)."""
    stamp = f"{day:%a, %d %b %Y} 00:00:00 -0500"
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">',
        f"<channel><title>{category} updates on arXiv.org</title>",
        f"<link>http://rss.arxiv.org/rss/{category}</link>",
        f"<description>{category} test feed</description><pubDate>{stamp}</pubDate>",
    ]
    for item in items:
        prefix = f"arXiv:{item.id}v{item.version} Announce Type: {item.announce} "
        parts.append(
            "<item>"
            f"<title>{escape(item.title)}</title>"
            f"<link>https://arxiv.org/abs/{item.id}</link>"
            f"<description>{escape(prefix)}\n{escape('Abstract: ' + item.abstract)}</description>"
            f'<guid isPermaLink="false">oai:arXiv.org:{item.id}v{item.version}</guid>'
            f"<category>{item.category}</category><pubDate>{stamp}</pubDate>"
            f"<arxiv:announce_type>{item.announce}</arxiv:announce_type>"
            f"<dc:creator>{escape(item.authors)}</dc:creator>"
            "</item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()
