"""``backfill: 7d``: a new subscription also gets the archive's recent papers, once.

Without it a new subscription starts from now: the pipeline only matches papers never seen
before. With it, when the daemon first sees the subscription, papers first seen within the
last N days are matched against that subscription alone and queued in its outbox under the
periods they were announced in, so a weekly subscription gets them in the right slots and
nothing is queued twice (the outbox skips papers already queued for a period, and papers
this subscription already matched are left out). Other subscriptions are not touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from watcher.digest import plan_digests
from watcher.match import compile_matcher
from watcher.models import LOCAL, Match, Paper, Subscription
from watcher.polling import announcement_date
from watcher.schedule import delivery_slot
from watcher.store import Store


def backfill_matches(subscription: Subscription, papers: Iterable[Paper]) -> list[Match]:
    """The matches of ``papers`` for ``subscription`` only (pure)."""
    matcher = compile_matcher([subscription])
    return [m for paper in papers for m in matcher.match(paper)]


def run_backfill(
    store: Store, subscription: Subscription, available: frozenset[str], now: datetime
) -> int:
    """Queue the last ``backfill_days`` of archived matches for ``subscription``; stage and
    commit them. Returns how many papers were queued. Destinations that are not configured
    here go local, as in a cycle."""
    days = subscription.backfill_days
    if not days:
        return 0
    since = now - timedelta(days=days)
    papers = [
        p
        for p in store.recent_papers(since)
        if subscription.name not in store.matched_by(p.id)  # sent to it already
    ]
    matches = backfill_matches(subscription, papers)
    if not matches:
        return 0
    usable = tuple(d for d in subscription.deliver if d.kind in available) or (LOCAL,)
    routed = [replace(subscription, deliver=usable)]
    by_period: dict[str, list[Match]] = {}
    due_at: dict[str, datetime | None] = {}
    for match in matches:
        published = match.paper.published
        announced = announcement_date(published if published is not None else now)
        period, due = delivery_slot(subscription, announced)
        by_period.setdefault(period, []).append(match)
        due_at[period] = due
    queued: set[str] = set()
    for period, group in sorted(by_period.items()):
        for destination, digest in plan_digests(group, routed, period):
            entry = store.enqueue(destination, digest, due_at[period])
            if entry is not None:
                queued.update(m.paper.id for m in digest.matches)
    store.record_papers(
        [m.paper for m in matches], now, {m.paper.id: [subscription.name] for m in matches}
    )
    store.commit(now=now)
    return len(queued)
