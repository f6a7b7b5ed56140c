"""Values for tests: papers, topics, subscriptions, matches, digests, and rule files on disk.

Every builder has plain defaults; a test names only what it is about.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from watcher.models import Digest, Match, Paper, Subscription, Topic, TopicHit
from watcher.query import parse_term

QUANTIZATION = (TopicHit("Quantization", ("quantiz*", "low-bit")),)


def paper(
    id: str = "2409.00001",
    version: int | None = 1,
    *,
    title: str | None = None,
    authors: tuple[str, ...] = ("Ann Author",),
    abstract: str = "An abstract.",
    categories: tuple[str, ...] = ("cs.LG",),
    **fields: Any,
) -> Paper:
    """A Paper; the title defaults to ``Title of <id>``. ``fields``: the other Paper fields."""
    title = f"Title of {id}" if title is None else title
    return Paper(id, version, title, authors, abstract, categories, **fields)


def topic(name: str = "Q", *terms: str) -> Topic:
    """A topic matching any of ``terms`` (default ``quantiz*``)."""
    return Topic(name, any=tuple(parse_term(t) for t in terms or ("quantiz*",)))


def subscription(
    name: str = "s",
    *topics: Topic,
    path: str | None = None,
    feeds: tuple[str, ...] = ("cs.LG",),
    **options: Any,
) -> Subscription:
    """A Subscription read from ``path`` (default ``<name>.yaml``); ``options``: its other
    fields (deliver, schedule, timezone, backfill_days...)."""
    return Subscription(name, path or f"{name}.yaml", feeds, topics, **options)


def match(
    p: Paper,
    subscription: str = "efficient-ml",
    hits: tuple[TopicHit, ...] = QUANTIZATION,
    score: float = 0.0,
) -> Match:
    return Match(p, subscription, hits, score=score)


def digest(
    *papers: Paper,
    subscription: str = "efficient-ml",
    period: str = "2024-09-18",
    hits: tuple[TopicHit, ...] = QUANTIZATION,
    updated: Sequence[Paper] = (),
    omitted: int = 0,
) -> Digest:
    """A digest of ``papers`` (and ``updated``), every one matched with the same ``hits``."""
    return Digest(
        subscription=subscription,
        period=period,
        matches=tuple(match(p, subscription, hits) for p in papers),
        updated=tuple(match(p, subscription, hits) for p in updated),
        omitted=omitted,
    )


# --- rule files ------------------------------------------------------------------------------


def rule_yaml(
    name: str,
    topics: Mapping[str, Sequence[str]] | None = None,
    *,
    feeds: Sequence[str] = ("cs.LG",),
    deliver: Sequence[str] = (),
    **keys: str | bool | int,
) -> str:
    """A rule file's text: ``topics`` maps each topic name to its ``any`` terms (default
    ``{"Q": ["quantiz*"]}``); ``deliver`` holds list items (``'email: [a@example.org]'``);
    ``keys`` are more top-level keys (``schedule="weekly"``), their values written as JSON.

    The first topic's ``any:`` is on line 5, where error messages point.
    """
    lines = [f"name: {name}", f"feeds: [{', '.join(feeds)}]", "topics:"]
    for topic_name, terms in (topics or {"Q": ["quantiz*"]}).items():
        lines += [f"  - name: {topic_name}", f"    any: {json.dumps(list(terms))}"]
    if deliver:
        lines += ["deliver:", *(f"  - {item}" for item in deliver)]
    lines += [f"{key}: {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def write_rule(path: Path, text: str) -> Path:
    """Write a rule file so that a watcher sees the edit: its mtime moves on by 1 ms (a
    coarse-grained clock could give an edit the old one). Parent folders are made."""
    old = path.stat().st_mtime_ns if path.exists() else time.time_ns()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(old + 1_000_000, old + 1_000_000))
    return path
