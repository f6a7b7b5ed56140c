"""One cycle: fetch -> parse -> new? -> match -> digest -> outbox -> notify -> mark delivered.

``gather`` reads (feeds, the store) and decides; ``record`` makes the decisions durable;
``deliver`` drains the outbox. ``run_cycle`` is the three in order; ``watcher preview`` runs
only ``gather``. Nothing here reads the clock or the environment: ``now`` and every edge are
passed in. A failing feed or destination becomes a value in the report, never an exception
that stops the cycle.
"""

from __future__ import annotations

import functools
import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Protocol

from watcher.digest import digest_counts, plan_digests
from watcher.errors import DeliveryError, DeliveryUnknown
from watcher.fetch import FetchResult
from watcher.match import PaperMatcher
from watcher.models import (
    ANNOUNCEABLE,
    LOCAL,
    CycleReport,
    DeliveryReport,
    Destination,
    Digest,
    FeedReport,
    FeedState,
    Match,
    Paper,
    PaperRecord,
    Ranking,
    Subscription,
)
from watcher.notify import Registry, Settles, is_repeatable, send_tracked
from watcher.polling import Polled, Poller, announcement_date, poll
from watcher.schedule import delivery_slot
from watcher.settings import DEFAULT_API_URL
from watcher.sources import FeedSource
from watcher.store import Store

# How long a paper another subscription's feed brought first stays news to a subscription
# whose own feed was failing or stale (the API fill of missed days covers longer outages).
LATE_WINDOW = timedelta(days=7)


class FeedFetcher(Protocol):
    def fetch(self, source: str, *, etag: str | None = None) -> FetchResult: ...


class Ranks(Protocol):
    """The relevance of ``order: relevance`` subscriptions (watcher.ranking.Ranker)."""

    def prepare(
        self, store: Store, subscriptions: Sequence[Subscription], now: datetime
    ) -> None: ...

    def rank_all(
        self, wanted: Mapping[str, tuple[Subscription, Sequence[Paper]]]
    ) -> dict[str, Ranking]: ...


@dataclass(frozen=True)
class Cycle:
    """Everything one cycle works with, wired by the composition root (watcher.app).

    ``sources`` maps each source to the names of the subscriptions that read it, so a feed
    shared by several subscriptions is fetched once. ``available`` names the configured
    notifier kinds; a subscription whose destinations are all unavailable goes local.
    """

    fetcher: FeedFetcher
    store: Store
    matcher: PaperMatcher
    subscriptions: Sequence[Subscription]
    sources: Mapping[FeedSource, Sequence[str]]
    available: frozenset[str] = frozenset({"local"})
    api_url: str = DEFAULT_API_URL
    api_page_size: int = 500  # the API allows up to 2,000 per request
    api_max_pages: int = 20
    stale_fill_after: int = 2
    archive_days: int = 90  # how long the archive keeps titles and abstracts
    # Orders ``order: relevance`` digests; None: they fall back to score order, saying so.
    ranker: Ranks | None = None


@dataclass(frozen=True)
class Plan:
    """What a cycle decided, before anything is written or sent."""

    feeds: tuple[FeedReport, ...]
    new_papers: tuple[Paper, ...]
    updated_papers: tuple[Paper, ...]
    matches: tuple[Match, ...]
    digests: tuple[tuple[Destination, Digest], ...]
    due_at: Mapping[tuple[str, str], datetime] = field(default_factory=dict)
    matched_by: Mapping[str, frozenset[str]] = field(default_factory=dict)
    read_from: Mapping[str, frozenset[str]] = field(default_factory=dict)
    late_papers: tuple[Paper, ...] = ()  # known papers read by another subscription now
    feed_states: Mapping[str, FeedState] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Arrivals:
    """Today's papers from every polled source, one per id (the newest version), with the
    feeds that brought each, the announcement date each came with (the first feed's), and
    which were announced today (not replacements)."""

    papers: Mapping[str, Paper]
    period_of: Mapping[str, str]
    announceable: frozenset[str]
    sources_of: Mapping[str, frozenset[str]]  # paper id -> the feeds (URLs) that brought it


@dataclass(frozen=True)
class Readers:
    """Who reads a paper: the subscriptions that read one of the feeds that brought it.
    Asked per paper and subscription, never built as a set per paper: ten thousand
    subscriptions on one feed would make ten thousand names for each of a day's papers."""

    of_feed: Mapping[str, frozenset[str]]  # source URL -> the subscriptions reading it
    feeds_of: Mapping[str, frozenset[str]]  # subscription -> the source URLs it reads

    @classmethod
    def of(cls, sources: Mapping[FeedSource, Sequence[str]]) -> Readers:
        feeds_of: dict[str, set[str]] = defaultdict(set)
        for source, names in sources.items():
            for name in names:
                feeds_of[name].add(source.url)
        return cls(
            {source.url: frozenset(names) for source, names in sources.items()},
            {name: frozenset(urls) for name, urls in feeds_of.items()},
        )

    def reads(self, subscription: str, feeds: frozenset[str]) -> bool:
        return not self.feeds_of.get(subscription, frozenset()).isdisjoint(feeds)

    def all_of(self, feeds: Iterable[str]) -> frozenset[str]:
        return frozenset().union(*(self.of_feed.get(f, frozenset()) for f in feeds))


def gather(cycle: Cycle, now: datetime) -> Plan:
    """Poll every source once, find papers never seen, and plan the digests they make.

    The edges are read first, each once: the feeds, then what the store knows about the
    papers that can matter today (one batched read of their identity shards). The rest is
    ``decide``, a function of those values."""
    today = announcement_date(now)
    poller = Poller(
        fetcher=cycle.fetcher,
        is_known=lambda paper_id: bool(cycle.store.known([paper_id])),
        api_url=cycle.api_url,
        api_page_size=cycle.api_page_size,
        api_max_pages=cycle.api_max_pages,
        stale_fill_after=cycle.stale_fill_after,
    )
    polled = {
        source: poll(poller, source, cycle.store.feed_state(source.url), today)
        for source in cycle.sources
    }
    arrivals = collect(polled)
    # Only papers that can be news are looked up: a day's replacements carry ids from many
    # old months, and reading those months' records every day would make a cycle's cost
    # grow with the history kept. (Replacements matter only to updates.)
    readers = Readers.of(cycle.sources)
    update_feeds = frozenset().union(
        *(readers.feeds_of.get(s.name, frozenset()) for s in cycle.subscriptions if s.updates)
    )
    ids = [
        pid
        for pid in arrivals.papers
        if pid in arrivals.announceable or not update_feeds.isdisjoint(arrivals.sources_of[pid])
    ]
    if cycle.ranker is not None:
        cycle.ranker.prepare(cycle.store, cycle.subscriptions, now)
    return decide(
        arrivals,
        polled,
        cycle.store.known(ids),
        cycle.matcher,
        cycle.subscriptions,
        cycle.available,
        now,
        cycle.sources,
        ranker=cycle.ranker,
    )


def collect(polled: Mapping[FeedSource, Polled]) -> Arrivals:
    """The same paper arrives from several feeds (cross-lists): one paper, newest version,
    read by every subscription that reads any of those feeds, dated by the first feed."""
    papers: dict[str, Paper] = {}
    sources_of: dict[str, set[str]] = defaultdict(set)
    period_of: dict[str, str] = {}
    announceable: set[str] = set()
    for source, result in polled.items():
        for batch in result.batches:
            for paper in batch.papers:
                kept = papers.get(paper.id)
                if kept is None or (paper.version or 0) > (kept.version or 0):
                    papers[paper.id] = paper
                sources_of[paper.id].add(source.url)
                period_of.setdefault(paper.id, batch.period.isoformat())
                if paper.announce_type in ANNOUNCEABLE:
                    announceable.add(paper.id)
    return Arrivals(
        papers,
        period_of,
        frozenset(announceable),
        {k: frozenset(v) for k, v in sources_of.items()},
    )


def decide(
    arrivals: Arrivals,
    polled: Mapping[FeedSource, Polled],
    known: Mapping[str, PaperRecord],
    matcher: PaperMatcher,
    subscriptions: Sequence[Subscription],
    available: frozenset[str],
    now: datetime,
    sources: Mapping[FeedSource, Sequence[str]],
    *,
    ranker: Ranks | None = None,
) -> Plan:
    """The plan, from values alone: which papers are new, which subscriptions they match,
    which known papers are still news to a subscription (late) or updates, and the digests
    all of that makes per destination and period."""
    papers, announceable, feeds = arrivals.papers, arrivals.announceable, arrivals.sources_of
    readers = Readers.of(sources)
    new = [p for pid, p in papers.items() if pid in announceable and pid not in known]
    new_ids = {p.id for p in new}
    matches = [
        m
        for paper in new
        for m in matcher.match(paper)
        if readers.reads(m.subscription, feeds[paper.id])
    ]
    # A known paper is still news to a subscription that has not read it yet: its feed
    # failed or was stale when another feed brought the paper (a cross-list, say).
    late = _late_readers(known, announceable, feeds, readers, now)
    matches += [
        m
        for pid, missing in late.items()
        for m in matcher.match(papers[pid])
        if m.subscription in missing
    ]
    updated, updates = _updates(subscriptions, matcher, papers, known, feeds, readers)

    routed, notes = _route(subscriptions, available)
    rankings = _rankings(ranker, subscriptions, matches)
    digests, due_at = _plan(matches, updates, routed, arrivals.period_of, rankings)
    matched_by: dict[str, set[str]] = defaultdict(set)
    for match in matches:
        matched_by[match.paper.id].add(match.subscription)
    reports = tuple(r for result in polled.values() for r in result.reports(new_ids))
    states = {s.url: r.state for s, r in polled.items() if r.state is not None}
    return Plan(
        feeds=reports,
        new_papers=tuple(new),
        updated_papers=tuple(updated),
        matches=tuple(matches),
        digests=tuple(digests),
        due_at=due_at,
        matched_by={k: frozenset(v) for k, v in matched_by.items()},
        read_from={pid: arrivals.sources_of[pid] for pid in [*new_ids, *late]},
        late_papers=tuple(papers[pid] for pid in late),
        feed_states=states,
        notes=notes,
    )


def record(store: Store, plan: Plan, now: datetime, archive_days: int | None = None) -> None:
    """Make the plan durable: outbox entries and feed state first, then the archive (whose
    text older than ``archive_days`` is dropped once a day)."""
    if archive_days is not None:
        store.prune_archive_daily(now, archive_days)
    # Papers first (staged, like the rest): an entry refers to the text they archive.
    # What reaches the disk first is the store's commit order, not this one.
    store.record_papers(
        plan.new_papers + plan.updated_papers + plan.late_papers,
        now,
        plan.matched_by,
        plan.read_from,
    )
    for destination, digest in plan.digests:
        store.enqueue(destination, digest, plan.due_at.get((digest.subscription, digest.period)))
    for source, state in plan.feed_states.items():
        store.set_feed_state(source, state)
    store.commit(now=now)


def _never() -> bool:
    return False


def deliver(
    store: Store, notifiers: Registry, now: datetime, stopping: Callable[[], bool] = _never
) -> tuple[DeliveryReport, ...]:
    """Send every pending outbox entry that is due; mark each delivered only with the
    receipt in hand. Once ``stopping()`` says so, no further entry is started: those stay
    pending, untouched, and the report says nothing of them."""
    reports = []
    for entry in store.pending(now):
        if stopping():
            break
        digest, destination = entry.digest, entry.destination
        notifier = notifiers.get(destination.kind)
        counts = digest_counts(digest)
        report_args = (digest.subscription, destination.key, digest.period, counts.matched)
        if notifier is None:
            error = f"no {destination.kind} destination is configured on this machine"
            store.mark_failed(entry.key, error, permanent=True)
            reports.append(
                DeliveryReport(*report_args, updated=counts.updated, status="failed", detail=error)
            )
            continue
        # A local digest or an Atom feed cut off by a crash is simply written again (the
        # file write is atomic); anything sent elsewhere might have arrived.
        if destination.kind != "local" and not is_repeatable(notifier):
            # Durable before the send: if the process dies after the destination accepted
            # it, the rerun finds the entry "unknown" and does not send it again on its own.
            store.mark_sending(entry.key)
        try:
            # resume: where the last attempt stopped (a partly sent Slack thread), if anywhere.
            # Each message accepted is on disk before the next goes out: a crash leaves the
            # entry knowing which one message is in doubt.
            progress = functools.partial(store.mark_progress, entry.key)
            receipt = send_tracked(notifier, destination, digest, entry.resume, progress)
        except DeliveryUnknown as exc:
            # The report and the entry already name the destination: keep only the message.
            store.mark_unknown(entry.key, exc.message, resume=exc.resume)
            reports.append(
                DeliveryReport(
                    *report_args, updated=counts.updated, status="unknown", detail=exc.message
                )
            )
        except DeliveryError as exc:
            store.mark_failed(entry.key, exc.message, permanent=exc.permanent, resume=exc.resume)
            reports.append(
                DeliveryReport(
                    *report_args, updated=counts.updated, status="failed", detail=exc.message
                )
            )
        else:
            # A local digest is simply written again after a crash: no fsync per file.
            store.mark_delivered(entry.key, receipt, sync=destination.kind != "local")
            reports.append(
                DeliveryReport(
                    *report_args,
                    updated=counts.updated,
                    status="delivered",
                    detail=receipt.reference,
                )
            )
    # Each mark is already durable in the store's journal; the checkpoint moves what was
    # delivered out of the open entries (one write for the batch, not one per send).
    if reports:
        for notifier in notifiers.values():
            if isinstance(notifier, Settles):
                notifier.settle()  # the local files, durable before their marks are
        store.checkpoint()
    return tuple(reports)


def run_cycle(
    cycle: Cycle,
    notifiers: Registry,
    now: datetime,
    rule_errors: Sequence[str] = (),
    stopping: Callable[[], bool] = _never,
) -> CycleReport:
    """One whole cycle. Pending entries from earlier cycles are delivered too; none is
    started once ``stopping()`` says so."""
    with collector_paused():
        plan = gather(replace(cycle, available=frozenset(notifiers)), now)
        record(cycle.store, plan, now, cycle.archive_days)
        deliveries = deliver(cycle.store, notifiers, now, stopping)
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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold Python's cycle collector for the length of one cycle.

    A cycle allocates hundreds of thousands of short-lived objects (papers, matches, the
    JSON of the store), and reference counting frees nearly all of them. Yet every few
    hundred allocations the collector would walk the young ones, and now and then everything
    alive, the loaded archive included: a fifth of a cycle on an empty store and more with a
    year of history (bench/cycle.py). What little cyclic garbage a cycle leaves is collected
    as usual once it ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _late_readers(
    known: Mapping[str, PaperRecord],
    announceable: frozenset[str],
    feeds: Mapping[str, frozenset[str]],
    readers: Readers,
    now: datetime,
) -> dict[str, frozenset[str]]:
    """Known, recently first seen, announceable papers with subscriptions that read them
    now for the first time (none of their feeds brought the paper before): paper id ->
    those subscriptions."""
    late: dict[str, frozenset[str]] = {}
    for pid, record in known.items():
        if pid not in announceable or record.first_seen < now - LATE_WINDOW:
            continue
        missing = (
            readers.all_of(feeds[pid])
            - readers.all_of(record.read_from)
            - record.read_by
            - record.matched_by
        )
        if missing:
            late[pid] = missing
    return late


def _updates(
    subscriptions: Sequence[Subscription],
    matcher: PaperMatcher,
    papers: Mapping[str, Paper],
    known: Mapping[str, PaperRecord],
    feeds: Mapping[str, frozenset[str]],
    readers: Readers,
) -> tuple[list[Paper], list[Match]]:
    """Known papers seen in a newer version, and the update matches for subscriptions that
    asked for updates (``updates: true``) and were sent the paper before."""
    wants_updates = {s.name for s in subscriptions if s.updates}
    if not wants_updates:
        return [], []
    newer = [
        papers[pid]
        for pid, record in known.items()
        if (papers[pid].version or 0) > (record.version or 0)
        and any(readers.reads(name, feeds[pid]) for name in wants_updates)
    ]
    updates: list[Match] = []
    for paper in newer:
        eligible = {
            name
            for name in known[paper.id].matched_by & wants_updates
            if readers.reads(name, feeds[paper.id])
        }
        if not eligible:
            continue
        current = {m.subscription: m for m in matcher.match(paper)}
        for name in sorted(eligible):
            updates.append(current.get(name, Match(paper, name, ())))
    return newer, updates


def _rankings(
    ranker: Ranks | None, subscriptions: Sequence[Subscription], matches: Sequence[Match]
) -> dict[str, Ranking]:
    """The relevance of each ``order: relevance`` subscription's matched papers."""
    wanted = {s.name: s for s in subscriptions if s.order == "relevance"}
    if not wanted:
        return {}
    if ranker is None:
        return {name: Ranking(fallback="relevance ranking is off here") for name in wanted}
    papers: dict[str, list[Paper]] = defaultdict(list)
    for match in matches:
        if match.subscription in wanted:
            papers[match.subscription].append(match.paper)
    return ranker.rank_all({name: (wanted[name], found) for name, found in papers.items()})


def _plan(
    matches: Sequence[Match],
    updates: Sequence[Match],
    routed: Sequence[Subscription],
    announced_on: Mapping[str, str],
    rankings: Mapping[str, Ranking] | None = None,
) -> tuple[list[tuple[Destination, Digest]], dict[tuple[str, str], datetime]]:
    """Digests per subscription and period, updates attached, and when each is due.

    Linear in matches + subscriptions: matches are grouped by subscription once. A paper's
    period comes from the announcement date it arrived with and the subscription's
    schedule (watcher.schedule), never from the clock at send time.
    """
    by_subscription: dict[str, tuple[list[Match], list[Match]]] = {}
    for kind, group in ((0, matches), (1, updates)):
        for m in group:
            by_subscription.setdefault(m.subscription, ([], []))[kind].append(m)
    planned: list[tuple[Destination, Digest]] = []
    due_at: dict[tuple[str, str], datetime] = {}
    for sub in routed:
        found = by_subscription.get(sub.name)
        if found is None:
            continue
        slots: dict[str, tuple[list[Match], list[Match]]] = {}
        for kind, group in enumerate(found):
            for m in group:
                period, due = delivery_slot(sub, date.fromisoformat(announced_on[m.paper.id]))
                slots.setdefault(period, ([], []))[kind].append(m)
                if due is not None:
                    due_at[(sub.name, period)] = due
        for period, (new, updated) in sorted(slots.items()):
            planned.extend(plan_digests(new, [sub], period, updates=updated, rankings=rankings))
    return planned, due_at


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
