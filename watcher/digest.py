"""Group matches into digests: one per subscription, destination and period (pure).

Display order is newest publication first, ties broken by arXiv id descending, papers
without a publication time last. A paper appears once per digest, in its newest version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from watcher.models import LOCAL, Destination, Digest, Match, Subscription

__all__ = ["merge_digests", "order_matches", "plan_digests"]


def _timestamp(moment: datetime) -> float:
    # A naive time from a feed is taken as UTC, so naive and aware times sort together.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _sort_key(match: Match) -> tuple[bool, float, str]:
    published = match.paper.published
    if published is None:
        return (False, 0.0, match.paper.id)
    return (True, _timestamp(published), match.paper.id)


def _dedupe(matches: Iterable[Match]) -> list[Match]:
    """One match per paper id: the highest version wins; on equal versions the later one."""
    best: dict[str, Match] = {}
    for match in matches:
        kept = best.get(match.paper.id)
        if kept is None or (match.paper.version or 0) >= (kept.paper.version or 0):
            best[match.paper.id] = match
    return list(best.values())


def order_matches(matches: Iterable[Match]) -> tuple[Match, ...]:
    """Deduplicate by paper id (keeping the highest version) and sort for display.

    Newest ``published`` first; equal times by id descending; papers without ``published``
    last (also by id descending).
    """
    return tuple(sorted(_dedupe(matches), key=_sort_key, reverse=True))


def _subscription_list(
    subscriptions: Mapping[str, Subscription] | Sequence[Subscription],
) -> list[Subscription]:
    if isinstance(subscriptions, Mapping):
        return list(subscriptions.values())
    return list(subscriptions)


def plan_digests(
    matches: Iterable[Match],
    subscriptions: Mapping[str, Subscription] | Sequence[Subscription],
    period: str,
) -> list[tuple[Destination, Digest]]:
    """One digest per subscription that has matches, paired with each of its destinations.

    Subscriptions keep their given order, destinations the order of ``deliver`` (``LOCAL``
    when it is empty). Matches for subscriptions not in ``subscriptions`` (a rule file that
    was removed) are dropped.
    """
    by_subscription: dict[str, list[Match]] = {}
    for match in matches:
        by_subscription.setdefault(match.subscription, []).append(match)

    planned: list[tuple[Destination, Digest]] = []
    for subscription in _subscription_list(subscriptions):
        found = by_subscription.pop(subscription.name, None)
        if not found:
            continue
        digest = Digest(subscription.name, period, order_matches(found))
        for destination in subscription.deliver or (LOCAL,):
            planned.append((destination, digest))
    return planned


def merge_digests(a: Digest, b: Digest) -> Digest:
    """Union of two digests of the same subscription and period, by paper id, re-ordered.

    For a paper in both, the higher version wins; on equal versions ``b`` (the newer) wins.
    """
    if (a.subscription, a.period) != (b.subscription, b.period):
        raise ValueError(
            f"cannot merge digests of {a.subscription!r}/{a.period} "
            f"and {b.subscription!r}/{b.period}"
        )
    return Digest(a.subscription, a.period, order_matches((*a.matches, *b.matches)))
