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


@dataclass(frozen=True)
class ApiEntry:
    id: str
    title: str
    published: str  # ISO time, e.g. "2024-12-23T15:00:00Z"
    abstract: str = "An abstract about nothing in particular."
    version: int = 1
    categories: tuple[str, ...] = ("cs.LG",)
    authors: tuple[str, ...] = ("Ann Author",)


def api_atom(entries: list[ApiEntry] | tuple[ApiEntry, ...], total: int | None = None) -> bytes:
    """An arXiv API (Atom) response holding ``entries``; ``total`` is opensearch's count."""
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">',
        "<id>https://arxiv.org/api/test</id><title>arXiv Query: test</title>",
        "<updated>2026-01-01T00:00:00Z</updated>",
        f"<opensearch:totalResults>{len(entries) if total is None else total}"
        "</opensearch:totalResults>",
        "<opensearch:startIndex>0</opensearch:startIndex>",
        f"<opensearch:itemsPerPage>{len(entries)}</opensearch:itemsPerPage>",
    ]
    for e in entries:
        cats = "".join(
            f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in e.categories
        )
        authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in e.authors)
        parts.append(
            f"<entry><id>http://arxiv.org/abs/{e.id}v{e.version}</id>"
            f"<title>{escape(e.title)}</title><updated>{e.published}</updated>"
            f"<summary>{escape(e.abstract)}</summary>{cats}<published>{e.published}</published>"
            f'<arxiv:primary_category term="{e.categories[0]}"/>{authors}</entry>'
        )
    parts.append("</feed>")
    return "\n".join(parts).encode()
