"""``backfill: 7d``: a new subscription also gets the archive's recent papers, once.

Without it a new subscription starts from now: the pipeline only matches papers never seen
before. With it, when the daemon first sees the subscription, papers first seen within the
last N days that it would have been sent (announced as new or cross-listed, not replaced, in
its own feeds) are matched against that subscription alone and queued in its outbox under
the periods they were first seen in, so a weekly subscription gets them in the right slots and
nothing is queued twice (the outbox skips papers already queued for a period, and papers
this subscription already matched are left out). Other subscriptions are not touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from watcher.digest import digest_counts, plan_digests
from watcher.match import compile_matcher
from watcher.models import ANNOUNCEABLE, LOCAL, Match, Paper, Subscription
from watcher.polling import announcement_date
from watcher.schedule import delivery_slot
from watcher.sources import in_subscription_feeds
from watcher.store import Store


def backfill_matches(subscription: Subscription, papers: Iterable[Paper]) -> list[Match]:
    """The matches of ``papers`` for ``subscription`` only (pure)."""
    matcher = compile_matcher([subscription])
    return [m for paper in papers for m in matcher.match(paper)]


def run_backfill(
    store: Store, subscription: Subscription, available: frozenset[str], now: datetime
) -> int:
    """Queue the last ``backfill_days`` of archived matches for ``subscription``; stage and
    commit them. Returns how many papers matched (``DigestCounts.matched``, those over
    ``max_papers`` too) in the digests queued. Destinations that are not configured
    here go local, as in a cycle."""
    days = subscription.backfill_days
    if not days:
        return 0
    since = now - timedelta(days=days)
    # Only what the subscription would have been sent had it existed: papers announced as
    # new (not replacements, which a cycle sends only to earlier matchers) in its feeds.
    papers = [
        p
        for p in store.recent_papers(since)
        if p.announce_type in ANNOUNCEABLE
        and in_subscription_feeds(subscription, p)
        and subscription.name not in store.matched_by(p.id)  # sent to it already
    ]
    matches = backfill_matches(subscription, papers)
    if not matches:
        return 0
    usable = tuple(d for d in subscription.deliver if d.kind in available) or (LOCAL,)
    routed = [replace(subscription, deliver=usable)]
    by_period: dict[str, list[Match]] = {}
    due_at: dict[str, datetime | None] = {}
    for match in matches:
        # The day the watcher first saw it, not ``published``: for API papers that is the
        # v1 submission, which can be long before the announcement.
        seen = store.first_seen(match.paper.id)
        announced = announcement_date(seen if seen is not None else now)
        period, due = delivery_slot(subscription, announced)
        by_period.setdefault(period, []).append(match)
        due_at[period] = due
    # Counted as the digests count them: papers left out by max_papers are matched too.
    queued: dict[str, int] = {}
    for period, group in sorted(by_period.items()):
        for destination, digest in plan_digests(group, routed, period):
            entry = store.enqueue(destination, digest, due_at[period])
            if entry is not None:
                queued[period] = max(queued.get(period, 0), digest_counts(digest).matched)
    store.record_papers(
        [m.paper for m in matches], now, {m.paper.id: [subscription.name] for m in matches}
    )
    store.commit(now=now)
    return sum(queued.values())
