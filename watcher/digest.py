"""Group matches into digests: one per subscription, destination and period (pure).

Display order is the subscription's ``order``: ``newest`` (the default) puts the newest
publication first, ties broken by arXiv id descending, papers without a publication time
last; ``score`` puts the highest ``Match.score`` first, then the same newest-first order;
``relevance`` puts the highest ``Match.relevance`` first (the subscription's model, see
watcher.relevance), then the score order. A relevance digest whose model could not be used
(``Ranking.fallback``) is in score order and carries the reason in ``Digest.fallback``; one
with a ``min_relevance`` drops the papers below it (``Digest.below_threshold``), but never so
many that fewer than ``keep_at_least`` remain. A subscription's ``max_papers`` then keeps the
first N in that order and records how many were left out in ``Digest.omitted`` (the
renderers say "+N more"). Every cut keeps the first papers of the order, never others. A
paper appears once per digest, in its newest version.

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
from dataclasses import replace
from datetime import UTC, datetime
from typing import get_args

from watcher.models import (
    LOCAL,
    Destination,
    Digest,
    DigestCounts,
    DigestOrder,
    Match,
    Ranking,
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
    "paper_count",
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


def _relevance_key(match: Match) -> tuple[bool, float, float, bool, float, str]:
    rated = match.relevance is not None
    value = match.relevance.value if match.relevance is not None else 0.0
    return (rated, value, *_score_key(match))


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
    scores in the ``newest`` order. ``relevance``: highest ``relevance`` first (papers
    without one after those with one), equal ones in the ``score`` order.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown digest order {order!r}; expected one of {ORDERS}")
    unique = _dedupe(matches)
    if order == "relevance":
        return tuple(sorted(unique, key=_relevance_key, reverse=True))
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


def topic_counts(matches: Iterable[Match], order: Sequence[str] = ()) -> tuple[TopicCount, ...]:
    """``matches`` counted under their first topic: topics named in ``order`` (the rule
    file's) first, in that order, then the others as they first appear."""
    counts: Counter[str] = Counter()
    seen: dict[str, None] = {}
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
    matched = carried + digest.omitted + digest.below_threshold
    return DigestCounts(
        matched=matched,
        in_full=full,
        by_title=titles,
        left_out=matched - full - titles,
        capped=digest.omitted,
        below_threshold=digest.below_threshold,
        updated=listed_updates,
        updated_left_out=len(digest.updated) - listed_updates,
        topics=topics_of(digest),
    )


def paper_count(count: int) -> str:
    """``1 paper``, ``2 papers``."""
    return f"{count} paper" if count == 1 else f"{count} papers"


def tally(matched: int, updated: int = 0) -> str:
    """``30 papers``, ``30 papers, 2 updated`` or ``2 updated``: the words of the subject,
    the log lines and ``watcher status`` for a digest of ``matched`` papers (those left out
    by ``max_papers`` too) and ``updated`` new versions (``DigestCounts``)."""
    if updated and not matched:
        return f"{updated} updated"
    return f"{paper_count(matched)}, {updated} updated" if updated else paper_count(matched)


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


NO_RANKING = "no relevance model was prepared for it"


def _ranked(
    subscription: Subscription, matches: Iterable[Match], ranking: Ranking | None
) -> tuple[tuple[Match, ...], int, str | None]:
    """Matches in the subscription's order, cut by its relevance threshold: the kept
    ones, how many fell below the threshold, and why relevance was not used (if so)."""
    if subscription.order != "relevance":
        return order_matches(matches, subscription.order), 0, None
    if ranking is None or ranking.fallback is not None:
        reason = NO_RANKING if ranking is None else ranking.fallback
        return order_matches(matches, "score"), 0, reason
    rated = [replace(m, relevance=ranking.relevance.get(m.paper.id, m.relevance)) for m in matches]
    ordered = order_matches(rated, "relevance")
    threshold = subscription.min_relevance
    if threshold is None:
        return ordered, 0, None
    above = sum(m.relevance is not None and m.relevance.value >= threshold for m in ordered)
    kept = max(above, min(subscription.keep_at_least or 0, len(ordered)))
    return ordered[:kept], len(ordered) - kept, None


def make_digest(
    subscription: Subscription,
    period: str,
    matches: Iterable[Match],
    updates: Iterable[Match] = (),
    ranking: Ranking | None = None,
) -> Digest:
    """The digest of one subscription: its order (``ranking``: the relevance of its papers,
    for ``order: relevance``), its relevance threshold, its ``max_papers`` cap, its updates."""
    matches = list(matches)
    ordered, below, fallback = _ranked(subscription, matches, ranking)
    order = subscription.order if fallback is None else "score"
    note = ranking.note if ranking is not None and fallback is None else None
    cap = subscription.max_papers
    kept = ordered if cap is None else ordered[: max(cap, 0)]
    listed = (m.paper.id for m in matches)
    updated = order_updates(updates, listed) if subscription.updates else ()
    # Every matched paper, those below the relevance threshold or over max_papers too.
    topics = topic_counts(_dedupe(matches), [topic.name for topic in subscription.topics])
    return Digest(
        subscription.name,
        period,
        kept,
        updated,
        omitted=len(ordered) - len(kept),
        below_threshold=below,
        fallback=fallback,
        topics=topics,
        order=order,
        ranking_note=note,
    )


def plan_digests(
    matches: Iterable[Match],
    subscriptions: Mapping[str, Subscription] | Sequence[Subscription],
    period: str,
    *,
    updates: Iterable[Match] = (),
    rankings: Mapping[str, Ranking] | None = None,
) -> list[tuple[Destination, Digest]]:
    """One digest per subscription that has matches or updates, paired with each destination.

    ``updates`` are matches of replaced papers the subscription was sent before; they reach
    only subscriptions with ``updates: true``, and a paper new in the same digest is not
    listed again as updated. Subscriptions keep their given order, destinations the order of
    ``deliver`` (``LOCAL`` when it is empty). Matches for subscriptions not in
    ``subscriptions`` (a rule file that was removed) are dropped. ``rankings``: the
    relevance of the papers of each ``order: relevance`` subscription, by name.
    """
    by_subscription = _group(matches)
    updates_by_subscription = _group(updates)

    planned: list[tuple[Destination, Digest]] = []
    for subscription in _subscription_list(subscriptions):
        found = by_subscription.pop(subscription.name, [])
        changed = updates_by_subscription.pop(subscription.name, [])
        ranking = None if rankings is None else rankings.get(subscription.name)
        digest = make_digest(subscription, period, found, changed, ranking)
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
    return Digest(
        a.subscription,
        a.period,
        matches,
        updated,
        omitted=a.omitted + b.omitted,
        below_threshold=a.below_threshold + b.below_threshold,
        fallback=b.fallback if b.fallback is not None else a.fallback,
        topics=add_topic_counts(topics_of(a), topics_of(b_only)),
    )


def add_topic_counts(a: Sequence[TopicCount], b: Sequence[TopicCount]) -> tuple[TopicCount, ...]:
    """The counts of ``a`` and ``b`` summed per topic, ``a``'s topics first."""
    total: dict[str, int] = {}
    for count in (*a, *b):
        total[count.topic] = total.get(count.topic, 0) + count.papers
    return tuple(TopicCount(name, n) for name, n in total.items() if n > 0)
