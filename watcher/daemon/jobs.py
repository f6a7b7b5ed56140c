"""The daemon's jobs as values: what it schedules, when each runs next, what a recheck polls.

- ``poll``: every source, at ``WATCHER_POLL_CRON`` in ``WATCHER_POLL_TIMEZONE``, and once at
  start (the catch-up cycle);
- ``recheck``: only the sources whose last poll was stale or failed (or that were never
  polled), at ``WATCHER_RECHECK_CRON``;
- with ``WATCHER_POLL_INTERVAL`` one interval job replaces both;
- ``deliver:<subscription>``: for each subscription with a weekly or cron ``schedule``, at
  that schedule in the subscription's ``timezone``;
- ``rules``: every ``WATCHER_RULES_RELOAD_INTERVAL`` seconds, the rules directory.

Pure: no scheduler, no clock (``now`` is given).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.interval import IntervalTrigger

from watcher.models import NextJob, Subscription
from watcher.schedule import cron_trigger, schedule_cron
from watcher.settings import Settings
from watcher.sources import FeedSource

JobKind = Literal["poll", "recheck", "deliver", "rules"]
# Feeds a recheck polls again: stale, failed, or never polled (a rule file added since).
RECHECK = frozenset({"stale", "failed", None})


class Trigger(Protocol):
    """What the daemon needs of a trigger (SafeCronTrigger, IntervalTrigger)."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None: ...


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its id, what it does, when (a trigger with its time zone)."""

    id: str
    kind: JobKind
    trigger: Trigger
    timezone: str
    subscription: str | None = None

    @property
    def name(self) -> str:
        return f"deliver {self.subscription}" if self.subscription else self.kind


def poll_specs(settings: Settings) -> list[JobSpec]:
    """The poll and recheck jobs; with ``poll_interval`` a single interval poll."""
    if settings.poll_interval:
        every = IntervalTrigger(seconds=settings.poll_interval, timezone=UTC)
        return [JobSpec("poll", "poll", every, "UTC")]
    zone = settings.poll_timezone
    return [
        JobSpec("poll", "poll", cron_trigger(settings.poll_cron, zone), zone),
        JobSpec("recheck", "recheck", cron_trigger(settings.recheck_cron, zone), zone),
    ]


def delivery_specs(subscriptions: Sequence[Subscription]) -> list[JobSpec]:
    """One delivery job per subscription with a weekly or cron schedule, in its time zone.
    Daily subscriptions need none: their digests go out right after the poll."""
    return [spec for spec in map(delivery_spec, subscriptions) if spec is not None]


def delivery_spec(subscription: Subscription) -> JobSpec | None:
    """The delivery job of one subscription; None for a daily one."""
    cron = schedule_cron(subscription)
    if cron is None:
        return None
    trigger = cron_trigger(cron, subscription.timezone)
    name = subscription.name
    return JobSpec(f"deliver:{name}", "deliver", trigger, subscription.timezone, name)


def rules_spec(settings: Settings) -> JobSpec:
    every = IntervalTrigger(seconds=settings.rules_reload_interval, timezone=UTC)
    return JobSpec("rules", "rules", every, "UTC")


def next_runs(specs: Iterable[JobSpec], now: datetime) -> tuple[NextJob, ...]:
    """When each job (but the rules check) runs next after ``now``, read from its trigger
    (never from the scheduler, whose locks a job must not take: see Daemon._shutdown)."""
    runs = []
    for spec in sorted(specs, key=lambda s: s.id):
        if spec.kind == "rules":
            continue
        fire = spec.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
        local = fire.astimezone(ZoneInfo(spec.timezone)) if fire else None
        runs.append(NextJob(spec.id, spec.name, local, spec.timezone))
    return tuple(runs)


class NextRuns:
    """``next_runs`` for a heartbeat written again and again: a job's next run is worked
    out again only once it has passed, or when the job changed. (For 3,000 weekly
    subscriptions, working every one out took a second per heartbeat.)"""

    def __init__(self) -> None:
        self._known: dict[str, tuple[JobSpec, NextJob]] = {}

    def __call__(self, specs: Iterable[JobSpec], now: datetime) -> tuple[NextJob, ...]:
        known: dict[str, tuple[JobSpec, NextJob]] = {}
        for spec in specs:
            if spec.kind == "rules":
                continue
            cached = self._known.get(spec.id)
            if cached is not None and cached[0] is spec:
                fire = cached[1].next_run
                if fire is not None and fire > now:
                    known[spec.id] = cached
                    continue
            [run] = next_runs([spec], now)
            known[spec.id] = (spec, run)
        self._known = known
        return tuple(known[job_id][1] for job_id in sorted(known))


def recheck_sources(
    sources: Mapping[FeedSource, Sequence[str]], last_status: Mapping[str, str | None]
) -> dict[FeedSource, Sequence[str]]:
    """The sources a recheck polls: those whose last poll (``last_status`` by feed URL) was
    stale or failed, and feeds never polled. API queries keep no state and wait for the
    next poll."""
    return {
        source: readers
        for source, readers in sources.items()
        if last_status.get(source.url) in RECHECK
        and (source.kind != "arxiv-query" or source.url in last_status)
    }
