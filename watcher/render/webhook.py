"""Digest -> the JSON document the webhook destination POSTs (pure).

The document is described by ``docs/webhook.schema.json`` (JSON Schema 2020-12), which the
tests validate every document against: change both together, and bump ``VERSION`` when a
field changes meaning or goes away (adding a field is not a change a receiver must follow).

Strings are as every format shows them (``shown_digest``: no control characters, each
field capped); links only when they are http(s) URLs.
"""

from __future__ import annotations

import json

from watcher.models import Digest, Match, is_arxiv_id
from watcher.render.formats import safe_href, shown_digest

VERSION = 1


def _links(match: Match) -> dict[str, str]:
    paper = match.paper
    links: dict[str, str] = {}
    if abstract := safe_href(paper.abs_url):
        links["abstract"] = abstract
    if is_arxiv_id(paper.id):
        links["pdf"] = f"https://arxiv.org/pdf/{paper.versioned_id}"
    if paper.doi:
        links["doi"] = f"https://doi.org/{paper.doi}"
    return links


def _paper(match: Match, update: bool) -> dict[str, object]:
    paper = match.paper
    return {
        "id": paper.id,
        "version": paper.version,
        "title": paper.title,
        "authors": list(paper.authors),
        "abstract": paper.abstract,
        "published": paper.published.isoformat() if paper.published else None,
        "links": _links(match),
        "categories": list(paper.categories),
        "topics": [hit.topic for hit in match.hits],
        "matched": [{"topic": hit.topic, "terms": list(hit.terms)} for hit in match.hits],
        "score": match.score,
        "update": update,
    }


def webhook_document(digest: Digest, delivery: str) -> bytes:
    """The UTF-8 JSON body for ``digest``; ``delivery`` names it for the receiver (the same
    on every attempt, so a receiver can drop a repeat after an "unknown" send)."""
    shown = shown_digest(digest)
    document = {
        "version": VERSION,
        "delivery": delivery,
        "subscription": shown.subscription,
        "period": shown.period,
        "omitted": shown.omitted,
        "papers": [_paper(m, False) for m in shown.matches]
        + [_paper(m, True) for m in shown.updated],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
