"""One cycle: fetch -> parse -> new? -> match -> digest -> outbox -> notify -> mark delivered.

``gather`` reads (feeds, the store) and decides; ``record`` makes the decisions durable;
``deliver`` drains the outbox. ``run_cycle`` is the three in order. ``watcher preview`` runs
only ``gather``. Nothing here reads the clock or the environment: ``now`` and every edge are
passed in. A failing feed or destination becomes a value in the report, never an exception
that stops the cycle.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from watcher.digest import plan_digests
from watcher.errors import DeliveryError, DeliveryUnknown, WatcherError
from watcher.fetch import FetchResult
from watcher.match import Matcher
from watcher.models import (
    LOCAL,
    CycleReport,
    DeliveryReport,
    Destination,
    Digest,
    Feed,
    FeedReport,
    FeedStatus,
    Match,
    Paper,
    Subscription,
)
from watcher.notify import Registry
from watcher.parse import parse_feed
from watcher.store import Store

# Announce types that mean "a paper announced today"; replacements are not new papers.
ANNOUNCEABLE = frozenset({"new", "cross", None})


class FeedFetcher(Protocol):
    def fetch(self, source: str, *, etag: str | None = None) -> FetchResult: ...


@dataclass(frozen=True)
class Plan:
    """What a cycle decided, before anything is written or sent."""

    feeds: tuple[FeedReport, ...]
    new_papers: tuple[Paper, ...]
    matches: tuple[Match, ...]
    digests: tuple[tuple[Destination, Digest], ...]
    feed_states: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Polled:
    report: FeedReport
    feed: Feed | None
    state: dict[str, Any] | None


def gather(
    fetcher: FeedFetcher,
    store: Store,
    matcher: Matcher,
    subscriptions: Sequence[Subscription],
    sources: Mapping[str, Sequence[str]],
    available: frozenset[str],
    now: datetime,
) -> Plan:
    """Poll every source once, find papers never seen, and plan the digests they make.

    ``sources`` maps each source to the names of the subscriptions that read it, so a feed
    shared by several subscriptions is fetched once. ``available`` names the notifier kinds
    that are configured; a subscription whose destinations are all unavailable goes local.
    """
    polled = {source: _poll(fetcher, store, source) for source in sources}

    # The same paper arrives from several feeds (cross-lists): one paper, newest version,
    # read by every subscription that reads any of those feeds, dated by the first feed.
    papers: dict[str, Paper] = {}
    readers: dict[str, set[str]] = defaultdict(set)
    period_of: dict[str, str] = {}
    announceable: set[str] = set()
    for source, result in polled.items():
        if result.feed is None or result.report.status != "new":
            continue
        period = (result.feed.announced or now.astimezone(UTC).date()).isoformat()
        for paper in result.feed.papers:
            kept = papers.get(paper.id)
            if kept is None or (paper.version or 0) > (kept.version or 0):
                papers[paper.id] = paper
            readers[paper.id].update(sources[source])
            period_of.setdefault(paper.id, period)
            if paper.announce_type in ANNOUNCEABLE:
                announceable.add(paper.id)

    new = store.unseen(papers.values())
    reports = tuple(_count_new(polled[s], new) for s in polled)

    matches: list[Match] = []
    for paper in new:
        if paper.id not in announceable:
            continue
        matches.extend(m for m in matcher.match(paper) if m.subscription in readers[paper.id])

    routed, notes = _route(subscriptions, available)
    digests: list[tuple[Destination, Digest]] = []
    for period in sorted({period_of[m.paper.id] for m in matches}):
        in_period = [m for m in matches if period_of[m.paper.id] == period]
        digests.extend(plan_digests(in_period, routed, period))

    states = {s: r.state for s, r in polled.items() if r.state is not None}
    return Plan(reports, tuple(new), tuple(matches), tuple(digests), states, notes)


def record(store: Store, plan: Plan, now: datetime) -> None:
    """Make the plan durable: outbox entries and feed state first, then the archive."""
    for destination, digest in plan.digests:
        store.enqueue(destination, digest)
    for source, state in plan.feed_states.items():
        store.set_feed_state(source, state)
    store.record_papers(plan.new_papers, now)
    store.commit(now=now)


def deliver(store: Store, notifiers: Registry) -> tuple[DeliveryReport, ...]:
    """Send every pending outbox entry; mark each delivered only with the receipt in hand."""
    reports = []
    for entry in store.pending():
        digest, destination = entry.digest, entry.destination
        notifier = notifiers.get(destination.kind)
        report_args = (digest.subscription, destination.key, digest.period, len(digest.matches))
        if notifier is None:
            error = f"no {destination.kind} destination is configured on this machine"
            store.mark_failed(entry.key, error, permanent=True)
            reports.append(DeliveryReport(*report_args, status="failed", detail=error))
            continue
        try:
            receipt = notifier.send(destination, digest)
        except DeliveryUnknown as exc:
            store.mark_unknown(entry.key, str(exc))
            reports.append(DeliveryReport(*report_args, status="unknown", detail=str(exc)))
        except DeliveryError as exc:
            store.mark_failed(entry.key, str(exc), permanent=exc.permanent)
            reports.append(DeliveryReport(*report_args, status="failed", detail=str(exc)))
        else:
            store.mark_delivered(entry.key, receipt)
            reports.append(
                DeliveryReport(*report_args, status="delivered", detail=receipt.reference)
            )
    return tuple(reports)


def run_cycle(
    fetcher: FeedFetcher,
    store: Store,
    matcher: Matcher,
    subscriptions: Sequence[Subscription],
    sources: Mapping[str, Sequence[str]],
    notifiers: Registry,
    now: datetime,
    rule_errors: Sequence[str] = (),
) -> CycleReport:
    """One whole cycle. Pending entries from earlier cycles are delivered too."""
    plan = gather(fetcher, store, matcher, subscriptions, sources, frozenset(notifiers), now)
    record(store, plan, now)
    deliveries = deliver(store, notifiers)
    return CycleReport(
        feeds=plan.feeds,
        new_papers=len(plan.new_papers),
        matches=len(plan.matches),
        deliveries=deliveries,
        rule_errors=tuple(rule_errors),
        notes=plan.notes,
        digests=plan.digests,
    )


# --- helpers -----------------------------------------------------------------------------


def _poll(fetcher: FeedFetcher, store: Store, source: str) -> _Polled:
    """Fetch and parse one source and classify the poll: new, empty, stale or failed."""
    previous = store.feed_state(source)
    try:
        fetched = fetcher.fetch(source, etag=previous.get("etag"))
        if fetched.not_modified or fetched.raw is None:
            return _Polled(FeedReport(source, "not-modified"), None, None)
        feed = parse_feed(fetched.raw)
    except WatcherError as exc:
        state = {**previous, "last_status": "failed", "last_error": exc.message}
        return _Polled(FeedReport(source, "failed", error=exc.message), None, state)

    fingerprint = _fingerprint(feed.papers)
    announced = feed.announced.isoformat() if feed.announced else None
    state = {
        **previous,
        "etag": fetched.etag,
        "last_status": "new",
        "last_error": None,
    }
    status: FeedStatus
    if not feed.papers:
        status = "empty"
    elif fingerprint == previous.get("fingerprint") and announced != previous.get("announced"):
        # arXiv sometimes re-serves the previous listing under a fresh date; those are not
        # the day's papers, and the day's real listing never appears in that feed.
        status = "stale"
    elif fingerprint == previous.get("fingerprint"):
        status = "not-modified"
    else:
        status = "new"
        state.update(fingerprint=fingerprint, announced=announced)
    state["last_status"] = status
    report = FeedReport(source, status, papers=len(feed.papers), announced=feed.announced)
    return _Polled(report, feed, state)


def _fingerprint(papers: Sequence[Paper]) -> str:
    """Identity of a listing by its unversioned ids (stale feeds may bump versions)."""
    digest = hashlib.sha256("\n".join(sorted(p.id for p in papers)).encode())
    return digest.hexdigest()


def _count_new(polled: _Polled, new: Sequence[Paper]) -> FeedReport:
    if polled.feed is None or polled.report.status != "new":
        return polled.report
    ids = {p.id for p in polled.feed.papers}
    return replace(polled.report, new=sum(1 for p in new if p.id in ids))


def _route(
    subscriptions: Sequence[Subscription], available: frozenset[str]
) -> tuple[list[Subscription], tuple[str, ...]]:
    """Keep the destinations that are configured; a subscription left with none goes local."""
    routed, notes = [], []
    for sub in subscriptions:
        usable = tuple(d for d in sub.deliver if d.kind in available)
        for missing in (d for d in sub.deliver if d.kind not in available):
            notes.append(f"{sub.name}: {missing.kind} is not configured, skipping {missing.key}")
        if not usable:
            usable = (LOCAL,)
        routed.append(replace(sub, deliver=usable))
    return routed, tuple(notes)
