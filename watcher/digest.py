"""Group matches into digests: one per subscription, destination and period (pure).

Display order is the subscription's ``order``: ``newest`` (the default) puts the newest
publication first, ties broken by arXiv id descending, papers without a publication time
last; ``score`` puts the highest ``Match.score`` first, then the same newest-first order. A
subscription's ``max_papers`` keeps the first N in that order and records how many were left
out in ``Digest.omitted`` (the renderers say "+N more"). A paper appears once per digest, in
its newest version.

Updates (replacements of papers a subscription was sent before, for ``updates: true``) are
listed apart in ``Digest.updated``, newest version first; they are never capped.

Counts (``digest_counts``): one definition of "matched", "shown in full", "listed by title",
"left out" and "updated" for every line a person reads (subject, headers, footers, logs,
status). ``Digest.topics`` counts every matched paper, those over ``max_papers`` too, under
its first topic in the rule file's order (``Match.hits`` are in that order).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import get_args

from watcher.models import (
    LOCAL,
    Destination,
    Digest,
    DigestCounts,
    DigestOrder,
    Match,
    Subscription,
    TopicCount,
)

__all__ = [
    "ORDERS",
    "OTHER_TOPIC",
    "add_topic_counts",
    "digest_counts",
    "first_topic",
    "keep_only",
    "make_digest",
    "merge_digests",
    "order_matches",
    "order_updates",
    "plan_digests",
    "tally",
    "topic_counts",
    "topics_of",
]

# The heading of a paper without a topic hit (a hand-built match; never from the matcher).
OTHER_TOPIC = "Other"

ORDERS: tuple[DigestOrder, ...] = get_args(DigestOrder)


def _timestamp(moment: datetime) -> float:
    # A naive time from a feed is taken as UTC, so naive and aware times sort together.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _newest_key(moment: datetime | None, paper_id: str) -> tuple[bool, float, str]:
    if moment is None:
        return (False, 0.0, paper_id)
    return (True, _timestamp(moment), paper_id)


def _sort_key(match: Match) -> tuple[bool, float, str]:
    return _newest_key(match.paper.published, match.paper.id)


def _score_key(match: Match) -> tuple[float, bool, float, str]:
    return (match.score, *_sort_key(match))


def _update_key(match: Match) -> tuple[bool, float, str]:
    # An update is about the new version: its own time first, v1's when a feed lacks it.
    paper = match.paper
    return _newest_key(paper.updated or paper.published, paper.id)


def _dedupe(matches: Iterable[Match]) -> list[Match]:
    """One match per paper id: the highest version wins; on equal versions the later one."""
    best: dict[str, Match] = {}
    for match in matches:
        kept = best.get(match.paper.id)
        if kept is None or (match.paper.version or 0) >= (kept.paper.version or 0):
            best[match.paper.id] = match
    return list(best.values())


def order_matches(
    matches: Iterable[Match], order: DigestOrder | str = "newest"
) -> tuple[Match, ...]:
    """Deduplicate by paper id (keeping the highest version) and sort for display.

    ``newest``: newest ``published`` first; equal times by id descending; papers without
    ``published`` last (also by id descending). ``score``: highest ``score`` first, equal
    scores in the ``newest`` order.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown digest order {order!r}; expected one of {ORDERS}")
    unique = _dedupe(matches)
    if order == "score":
        return tuple(sorted(unique, key=_score_key, reverse=True))
    return tuple(sorted(unique, key=_sort_key, reverse=True))


def order_updates(updates: Iterable[Match], exclude: Iterable[str] = ()) -> tuple[Match, ...]:
    """Updates for display: one per paper id (highest version), newest version time first
    (``updated``, else ``published``), ties by id descending; ids in ``exclude`` (papers the
    same digest lists as new) left out."""
    skip = set(exclude)
    unique = [m for m in _dedupe(updates) if m.paper.id not in skip]
    return tuple(sorted(unique, key=_update_key, reverse=True))


def _subscription_list(
    subscriptions: Mapping[str, Subscription] | Sequence[Subscription],
) -> list[Subscription]:
    if isinstance(subscriptions, Mapping):
        return list(subscriptions.values())
    return list(subscriptions)


def _group(matches: Iterable[Match]) -> dict[str, list[Match]]:
    grouped: dict[str, list[Match]] = {}
    for match in matches:
        grouped.setdefault(match.subscription, []).append(match)
    return grouped


# --- counts ------------------------------------------------------------------------------


def first_topic(match: Match) -> str:
    """The topic a paper is counted and shown under: its first hit, in rule file order."""
    return match.hits[0].topic if match.hits else OTHER_TOPIC


def topic_counts(
    matches: Iterable[Match], order: Sequence[str] = (), base: Sequence[TopicCount] = ()
) -> tuple[TopicCount, ...]:
    """``base`` plus ``matches`` counted under their first topic: topics named in ``order``
    (the rule file's) first, in that order, then the others as they first appear."""
    counts: Counter[str] = Counter({c.topic: c.papers for c in base})
    seen = dict.fromkeys(c.topic for c in base)
    for match in matches:
        topic = first_topic(match)
        counts[topic] += 1
        seen.setdefault(topic, None)
    rank = {name: i for i, name in enumerate(order)}
    names = sorted(seen, key=lambda name: rank.get(name, len(rank)))
    return tuple(TopicCount(name, counts[name]) for name in names if counts[name] > 0)


def topics_of(digest: Digest) -> tuple[TopicCount, ...]:
    """``digest.topics``; for a digest stored before topic counts were kept, its own
    papers counted (all there is to count)."""
    return digest.topics or topic_counts(digest.matches)


def digest_counts(
    digest: Digest,
    *,
    in_full: int | None = None,
    by_title: int = 0,
    updates: int | None = None,
) -> DigestCounts:
    """How many papers ``digest`` matched and how a message of it shows them: the first
    ``in_full`` (all, by default) in full, the next ``by_title`` by title only, and the first
    ``updates`` (all) of its updated papers; the rest, and those over ``max_papers``, are
    left out."""
    carried = len(digest.matches)
    full = carried if in_full is None else max(0, min(in_full, carried))
    titles = max(0, min(by_title, carried - full))
    listed_updates = len(digest.updated) if updates is None else max(0, updates)
    listed_updates = min(listed_updates, len(digest.updated))
    matched = carried + digest.omitted
    return DigestCounts(
        matched=matched,
        in_full=full,
        by_title=titles,
        left_out=matched - full - titles,
        capped=digest.omitted,
        updated=listed_updates,
        updated_left_out=len(digest.updated) - listed_updates,
        topics=topics_of(digest),
    )


def _papers(count: int) -> str:
    return f"{count} paper" if count == 1 else f"{count} papers"


def tally(matched: int, updated: int = 0) -> str:
    """``30 papers``, ``30 papers, 2 updated`` or ``2 updated``: the words of the subject,
    the log lines and ``watcher status`` for a digest of ``matched`` papers (those left out
    by ``max_papers`` too) and ``updated`` new versions (``DigestCounts``)."""
    if updated and not matched:
        return f"{updated} updated"
    return f"{_papers(matched)}, {updated} updated" if updated else _papers(matched)


def keep_only(digest: Digest, matches: Sequence[Match], updated: Sequence[Match]) -> Digest:
    """``digest`` carrying only ``matches`` and ``updated`` (papers the outbox already has
    elsewhere are dropped): its topic counts lose the papers it no longer carries."""
    kept = {id(m) for m in matches}
    dropped = Counter(first_topic(m) for m in digest.matches if id(m) not in kept)
    topics = tuple(
        TopicCount(c.topic, c.papers - dropped[c.topic])
        for c in topics_of(digest)
        if c.papers - dropped[c.topic] > 0
    )
    return dataclasses.replace(
        digest, matches=tuple(matches), updated=tuple(updated), topics=topics
    )


def make_digest(
    subscription: Subscription,
    period: str,
    matches: Iterable[Match],
    updates: Iterable[Match] = (),
) -> Digest:
    """The digest of one subscription: its order, its ``max_papers`` cap, its updates."""
    ordered = order_matches(matches, subscription.order)
    cap = subscription.max_papers
    kept = ordered if cap is None else ordered[: max(cap, 0)]
    updated = order_updates(updates, (m.paper.id for m in ordered)) if subscription.updates else ()
    topics = topic_counts(ordered, [topic.name for topic in subscription.topics])
    return Digest(
        subscription.name, period, kept, updated, omitted=len(ordered) - len(kept), topics=topics
    )


def plan_digests(
    matches: Iterable[Match],
    subscriptions: Mapping[str, Subscription] | Sequence[Subscription],
    period: str,
    *,
    updates: Iterable[Match] = (),
) -> list[tuple[Destination, Digest]]:
    """One digest per subscription that has matches or updates, paired with each destination.

    ``updates`` are matches of replaced papers the subscription was sent before; they reach
    only subscriptions with ``updates: true``, and a paper new in the same digest is not
    listed again as updated. Subscriptions keep their given order, destinations the order of
    ``deliver`` (``LOCAL`` when it is empty). Matches for subscriptions not in
    ``subscriptions`` (a rule file that was removed) are dropped.
    """
    by_subscription = _group(matches)
    updates_by_subscription = _group(updates)

    planned: list[tuple[Destination, Digest]] = []
    for subscription in _subscription_list(subscriptions):
        found = by_subscription.pop(subscription.name, [])
        changed = updates_by_subscription.pop(subscription.name, [])
        digest = make_digest(subscription, period, found, changed)
        if not digest.matches and not digest.updated:
            continue
        for destination in subscription.deliver or (LOCAL,):
            planned.append((destination, digest))
    return planned


def merge_digests(a: Digest, b: Digest, order: DigestOrder | str = "newest") -> Digest:
    """Union of two digests of the same subscription and period, by paper id, re-ordered.

    For a paper in both, the higher version wins; on equal versions ``b`` (the newer) wins.
    Updates are merged the same way (a paper listed as new is not also an update), and the
    omitted counts add up.
    """
    if (a.subscription, a.period) != (b.subscription, b.period):
        raise ValueError(
            f"cannot merge digests of {a.subscription!r}/{a.period} "
            f"and {b.subscription!r}/{b.period}"
        )
    matches = order_matches((*a.matches, *b.matches), order)
    updated = order_updates((*a.updated, *b.updated), (m.paper.id for m in matches))
    # A paper in both digests is counted once: b's topic counts without the papers of a.
    in_a = {m.paper.id for m in a.matches}
    b_only = keep_only(b, [m for m in b.matches if m.paper.id not in in_a], b.updated)
    topics = add_topic_counts(topics_of(a), topics_of(b_only))
    omitted = a.omitted + b.omitted
    return Digest(a.subscription, a.period, matches, updated, omitted=omitted, topics=topics)


def add_topic_counts(a: Sequence[TopicCount], b: Sequence[TopicCount]) -> tuple[TopicCount, ...]:
    """The counts of ``a`` and ``b`` summed per topic, ``a``'s topics first."""
    total: dict[str, int] = {}
    for count in (*a, *b):
        total[count.topic] = total.get(count.topic, 0) + count.papers
    return tuple(TopicCount(name, n) for name, n in total.items() if n > 0)
