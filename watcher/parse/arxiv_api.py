"""The arXiv API's Atom (``export.arxiv.org/api/query``) -> papers, and its error feed."""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from watcher.models import Feed, Paper, is_arxiv_id
from watcher.parse.arxiv_rss import Fallback
from watcher.parse.text import (
    ARXIV,
    ATOM,
    OPENSEARCH,
    collapse,
    dedupe,
    feed_title,
    int_or_none,
    iso,
    names,
    optional,
    text,
    unique,
)

API_ID = re.compile(r"^https?://(?:export\.)?arxiv\.org/abs/(?P<id>\S+?)(?:v(?P<v>\d+))?$")
API_ERROR_ID = re.compile(r"^https?://(?:export\.)?arxiv\.org/api/errors")


def arxiv_api_feed(source: str, root: Element, entries: list[Element], other: Fallback) -> Feed:
    papers = (api_paper(e) or other(i, e) for i, e in enumerate(entries))
    return Feed(
        source=source,
        kind="arxiv-api",
        title=feed_title(root),
        papers=unique(papers),
        total_results=int_or_none(text(root, f"{OPENSEARCH}totalResults")),
    )


def api_paper(entry: Element) -> Paper | None:
    """A Paper from one API entry, or None when its id is not a valid arXiv id."""
    match = API_ID.match(text(entry, f"{ATOM}id"))
    if match is None or not is_arxiv_id(match["id"]):
        return None
    primary = entry.find(f"{ARXIV}primary_category")
    terms = [primary.get("term", "")] if primary is not None else []
    terms += [c.get("term", "") for c in entry.iter(f"{ATOM}category")]
    return Paper(
        id=match["id"],
        version=int(match["v"]) if match["v"] else None,
        title=collapse(text(entry, f"{ATOM}title")),
        authors=names(text(a, f"{ATOM}name") for a in entry.iter(f"{ATOM}author")),
        # Older responses are hard-wrapped: keep the line breaks, trim only the ends.
        abstract=text(entry, f"{ATOM}summary").strip(),
        categories=dedupe(terms),
        published=iso(text(entry, f"{ATOM}published")),
        updated=iso(text(entry, f"{ATOM}updated")),
        comment=optional(text(entry, f"{ARXIV}comment")),
        journal_ref=optional(text(entry, f"{ARXIV}journal_ref")),
        doi=optional(text(entry, f"{ARXIV}doi")),
    )


def api_error(root: Element) -> str:
    """arXiv reports API errors as a feed whose one entry has an ``/api/errors`` id."""
    for entry in root.iter(f"{ATOM}entry"):
        if API_ERROR_ID.match(text(entry, f"{ATOM}id")):
            summary = collapse(text(entry, f"{ATOM}summary")) or "unknown error"
            return f"arXiv API error: {summary}"
    return ""
