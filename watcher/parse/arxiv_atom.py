"""arXiv's daily listing in Atom (``rss.arxiv.org/atom/<cat>``) -> papers with announce
types: the RSS feed's fields in Atom elements (arXiv's atom_specifications). The entry id is
the RSS guid (``oai:arXiv.org:<id>v<N>``), the summary the RSS description with its
``arXiv:<id>v<N> Announce Type: <type> Abstract:`` prefix."""

from __future__ import annotations

from collections import Counter
from datetime import date
from xml.etree.ElementTree import Element

from watcher.models import Feed, Paper
from watcher.parse.arxiv_rss import ARXIV_PREFIX, Fallback, announce_type, arxiv_identity
from watcher.parse.text import (
    ARXIV,
    ATOM,
    DC,
    collapse,
    dedupe,
    feed_title,
    iso,
    listing_date,
    names,
    optional,
    split_authors,
    text,
    unique,
)


def arxiv_atom_feed(source: str, root: Element, entries: list[Element], other: Fallback) -> Feed:
    papers = unique(atom_paper(e) or other(i, e) for i, e in enumerate(entries))
    return Feed(
        source=source,
        kind="arxiv-atom",
        title=feed_title(root),
        papers=papers,
        announced=_announced(root, papers),
    )


def atom_paper(entry: Element) -> Paper | None:
    """A Paper from one entry, or None when it carries no valid arXiv id."""
    summary = text(entry, f"{ATOM}summary")
    prefix = ARXIV_PREFIX.match(summary)
    identity = arxiv_identity(text(entry, f"{ATOM}id"), prefix)
    if identity is None:
        return None
    announce = text(entry, f"{ARXIV}announce_type") or (prefix["type"] if prefix else "")
    abstract = summary[prefix.end() :] if prefix else summary
    published = iso(text(entry, f"{ATOM}published"))
    return Paper(
        id=identity[0],
        version=identity[1],
        title=collapse(text(entry, f"{ATOM}title")),
        authors=_authors(entry),
        abstract=abstract.strip(),
        categories=dedupe(c.get("term", "") for c in entry.iter(f"{ATOM}category")),
        announce_type=announce_type(announce),
        published=published,
        journal_ref=optional(text(entry, f"{ARXIV}journal_reference")),
        doi=optional(text(entry, f"{ARXIV}DOI")),
    )


def _authors(entry: Element) -> tuple[str, ...]:
    """One ``<author>`` per author, or (as the RSS ``dc:creator``) one holding them all,
    joined by commas outside the affiliations' parentheses."""
    given = names(text(a, f"{ATOM}name") for a in entry.iter(f"{ATOM}author"))
    if len(given) == 1:
        return split_authors(given[0])
    return given or split_authors(text(entry, f"{DC}creator"))


def _announced(root: Element, papers: tuple[Paper, ...]) -> date | None:
    """The listing's day: the one its entries were published on (every entry carries the
    announcement's moment), else the feed's own ``updated`` stamp (an empty listing)."""
    days = Counter(d for d in (listing_date(p.published) for p in papers if p.is_arxiv) if d)
    if days:
        return days.most_common(1)[0][0]
    return listing_date(iso(text(root, f"{ATOM}updated")))
