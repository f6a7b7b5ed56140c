"""``watcher run``: the foreground daemon that keeps arXiv's rhythm.

Jobs on an APScheduler 3 BlockingScheduler, every trigger with an explicit time zone:

- ``poll``: every source, at ``WATCHER_POLL_CRON`` in ``WATCHER_POLL_TIMEZONE`` (default ten
  minutes after arXiv's midnight US-Eastern rebuild, Monday to Friday), and once at start
  (the catch-up cycle);
- ``recheck``: only the sources whose last poll was stale or failed (or that were never
  polled), at ``WATCHER_RECHECK_CRON``;
- with ``WATCHER_POLL_INTERVAL`` one interval job replaces both;
- ``deliver:<subscription>``: for each subscription with a weekly or cron ``schedule``, at
  that schedule in the subscription's ``timezone``, sends the outbox entries now due;
- ``rules``: every ``WATCHER_RULES_RELOAD_INTERVAL`` seconds, looks for added, edited and
  deleted rule files (watcher.rules.watch) and runs ``backfill`` for new subscriptions.

Cron triggers are watcher.schedule's SafeCronTrigger (APScheduler's own skips a day across
spring-forward). Every job coalesces missed runs and never overlaps itself; the jobs that
touch the store take one lock, so they never overlap each other either (``watcher once``,
``retry`` and ``confirm`` can still run between them: the store is opened per job, and a job
that finds one of them holding it waits up to ``STORE_WAIT`` seconds for it).

SIGTERM or SIGINT stops the scheduler from starting anything new, lets the job in progress
finish (each network call has a timeout), writes the heartbeat and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watcher import app, logs
from watcher.daemon.backfill import run_backfill
from watcher.daemon.heartbeat import (
    HEARTBEAT_FILE,
    STATE_FILE,
    DaemonLock,
    read_json,
    write_json,
)
from watcher.errors import DeliveryError, RuleError, StoreBusy, WatcherError
from watcher.match import Matcher, compile_matcher
from watcher.models import (
    CycleReport,
    DeliveryReport,
    Destination,
    Digest,
    Receipt,
    Subscription,
)
from watcher.notify import Notifier, Registry
from watcher.pipeline import deliver, run_cycle
from watcher.rules import load_rule_file
from watcher.rules.watch import Reload, RuleState, reload, snapshot
from watcher.schedule import cron_trigger, schedule_cron
from watcher.settings import (
    Settings,
    add_dir_arguments,
    load_settings,
    read_environment,
    with_dirs,
)
from watcher.sources import FeedSource
from watcher.status import count, feed_line
from watcher.store import Store
from watcher.store.atomic import write_atomically

log = logging.getLogger("watcher.daemon")

JobKind = Literal["poll", "recheck", "deliver", "rules"]


class Trigger(Protocol):
    """What the daemon needs of a trigger (SafeCronTrigger, IntervalTrigger)."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None: ...


# A job may start this late (machine asleep, a long cycle before it) and still run; later
# than that it is skipped until its next slot (the next poll delivers what is due anyway).
MISFIRE_GRACE = 3600
# How long a job waits for the data directory while another command (`watcher once`,
# `retry`, `confirm`) holds it, before giving up until its next run.
STORE_WAIT = 120.0
# Where the daemon keeps the last version of each rule file that loaded.
LAST_GOOD_DIR = "rules-last-good"
# Feeds a recheck polls again: stale, failed, or never polled (a rule file added since).
RECHECK = frozenset({"stale", "failed", None})
_SECRET_NAME = re.compile(r"TOKEN|PASSW|SECRET|WEBHOOK|API_?KEY|CREDENTIAL", re.I)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- the jobs, as values ------------------------------------------------------------------


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
    specs = []
    for sub in subscriptions:
        cron = schedule_cron(sub)
        if cron is not None:
            trigger = cron_trigger(cron, sub.timezone)
            specs.append(JobSpec(f"deliver:{sub.name}", "deliver", trigger, sub.timezone, sub.name))
    return specs


def rules_spec(settings: Settings) -> JobSpec:
    every = IntervalTrigger(seconds=settings.rules_reload_interval, timezone=UTC)
    return JobSpec("rules", "rules", every, "UTC")


def job_specs(settings: Settings, subscriptions: Sequence[Subscription]) -> list[JobSpec]:
    """Every job the daemon schedules for these settings and subscriptions."""
    return [*poll_specs(settings), *delivery_specs(subscriptions), rules_spec(settings)]


def recheck_sources(
    sources: Mapping[FeedSource, Sequence[str]], states: Mapping[str, Mapping[str, Any]]
) -> dict[FeedSource, Sequence[str]]:
    """The sources a recheck polls: those whose last poll was stale or failed, and feeds
    never polled. API queries keep no state and wait for the next poll."""
    return {
        source: readers
        for source, readers in sources.items()
        if (states.get(source.url) or {}).get("last_status") in RECHECK
        and (source.kind != "arxiv-query" or source.url in states)
    }


# --- the daemon ---------------------------------------------------------------------------


class Daemon:
    """Owns the scheduler, the rules in use and the heartbeat of one data directory."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.environ = environ
        self.clock = clock
        self.data_dir = settings.data_dir
        self.started = clock()
        self.rules = RuleState()
        self.rules_dir_error: str | None = None
        self.subscriptions: tuple[Subscription, ...] = ()
        self.matcher: Matcher = compile_matcher(())
        self.sources: dict[FeedSource, list[str]] = {}
        self.notifiers: Registry = {}
        self.backfilled: dict[str, str] = {}  # subscription name -> when
        self.last: dict[str, Any] | None = None
        self.last_cycle: dict[str, Any] | None = None
        self.running: dict[str, str] | None = None
        self.secrets = secrets_of(settings, environ)  # kept out of the heartbeat
        self.fetcher = app.build_fetcher(settings)
        self.store_lock = threading.Lock()  # one job at a time touches the store
        self.state_lock = threading.RLock()  # rules in use, heartbeat
        self.stopping = threading.Event()
        self.main_done = threading.Event()
        self.specs: dict[str, JobSpec] = {}  # job id -> what the scheduler was given
        self.delivery_jobs: dict[str, tuple[str, str]] = {}  # job id -> (cron, timezone)
        self._active = 0  # jobs of ours running now (see _shutdown)
        self._idle = threading.Condition()
        self.scheduler = BlockingScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=4)}
        )

    # -- lifecycle --

    def run(self) -> int:
        """Take the data directory, load the rules, run the scheduler until a signal."""
        lock = DaemonLock(self.data_dir)
        lock.acquire()  # StoreError naming the pid when another daemon has it
        try:
            self._install_signal_handlers()
            state = read_json(self.data_dir / STATE_FILE) or {}
            backfilled = state.get("backfilled")
            if isinstance(backfilled, dict):
                self.backfilled = {str(k): str(v) for k, v in backfilled.items()}
            self.check_rules(initial=True)
            self.schedule()
            self._log_start()
            self.write_heartbeat()
            if not self.stopping.is_set():
                self.scheduler.start()  # blocks until shutdown
            return 0
        finally:
            self.main_done.set()
            self.fetcher.close()
            self.write_heartbeat(stopped=True)
            lock.release()
            log.info("watcher daemon stopped", extra={"event": "stopped"})

    def schedule(self) -> None:
        """Add the jobs. The first poll runs at once: the catch-up cycle."""
        now = self.clock()
        for spec in poll_specs(self.settings):
            self._add(spec, first_run=now if spec.kind == "poll" else None)
        self._sync_delivery_jobs()
        rules = rules_spec(self.settings)
        self._add(rules, grace=max(1, int(self.settings.rules_reload_interval * 5)))

    def _add(
        self, spec: JobSpec, first_run: datetime | None = None, grace: int | None = None
    ) -> None:
        work = self.check_rules if spec.kind == "rules" else self._job_runner(spec)
        action = self._tracked(work)
        self.specs[spec.id] = spec
        options: dict[str, Any] = {
            "id": spec.id,
            "name": spec.name,
            "replace_existing": True,
            "coalesce": True,  # missed runs (asleep, busy) become one run
            "max_instances": 1,  # a run never overlaps itself
            "misfire_grace_time": MISFIRE_GRACE if grace is None else grace,
        }
        if first_run is not None:
            options["next_run_time"] = first_run
        self.scheduler.add_job(action, spec.trigger, **options)

    def _install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stopping.is_set():
            log.info("%s again: still finishing the job in progress", name)
            return
        self.stopping.set()
        log.info(
            "%s: finishing the job in progress, then stopping", name, extra={"event": "stopping"}
        )
        # Never stop the scheduler from inside a signal handler (it may hold the scheduler's
        # locks right now): a thread waits for the running job and shuts it down.
        threading.Thread(target=self._shutdown, name="watcher-stop", daemon=True).start()

    def _shutdown(self) -> None:
        while not self.scheduler.running:
            if self.main_done.wait(0.05):
                return  # stopped before the scheduler started
        self.scheduler.pause()  # nothing new is started from here on
        # Wait for our jobs here, not in shutdown(wait=True): that holds the scheduler's
        # locks while it waits, and a job that asks the scheduler anything would deadlock.
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0)
        self.scheduler.shutdown(wait=True)  # anything submitted since returns at once

    def _tracked(self, work: Callable[[], None]) -> Callable[[], None]:
        """Count the job as running, and do nothing once a stop was asked for."""

        def run() -> None:
            with self._idle:
                self._active += 1
            try:
                if not self.stopping.is_set():
                    work()
            finally:
                with self._idle:
                    self._active -= 1
                    self._idle.notify_all()

        return run

    # -- rules --

    def check_rules(self, initial: bool = False) -> None:
        """Look at the rules directory; apply what changed. Raises only when ``initial``."""
        try:
            current = snapshot(self.settings.rules_dir)
        except RuleError as error:
            if initial:
                raise
            if self.rules_dir_error != str(error):
                log.error("%s; keeping the rules in use", error, extra={"event": "rules"})
                self.rules_dir_error = str(error)
                self.write_heartbeat()
            return
        fixed_dir = self.rules_dir_error is not None
        self.rules_dir_error = None
        with self.state_lock:
            change = reload(self.rules, current, last_good=self._last_good)
            if change.touched or initial:
                self._apply(change)
                self._remember_good(change)
        if change.touched or initial or fixed_dir:
            self._log_rules(change, initial)
            self.write_heartbeat()
        # New subscriptions that asked for history: queue and send it now if the store is
        # free, else the next job that opens the store does it first.
        if self._pending_backfills() and self.store_lock.acquire(blocking=False):
            try:
                self._with_store("backfill", self._backfill_and_deliver)
            finally:
                self.store_lock.release()

    def _last_good(self, path: Path) -> Subscription | None:
        """The version of ``path`` that last loaded, kept in the data directory, so a file
        broken while the daemon was down still runs as it was (and is reported)."""
        saved = self.settings.data_dir / LAST_GOOD_DIR / path.name
        try:
            return replace(load_rule_file(saved), path=str(path))
        except (RuleError, OSError):
            return None

    def _remember_good(self, change: Reload) -> None:
        """Keep a copy of every rule file that just loaded (see ``_last_good``)."""
        directory = self.settings.data_dir / LAST_GOOD_DIR
        for path in (*change.added, *change.updated, *change.fixed):
            try:
                write_atomically(directory / path.name, path.read_bytes())
            except OSError as error:
                log.warning("cannot keep a copy of %s: %s", path, error, extra={"event": "rules"})

    def _apply(self, change: Reload) -> None:
        self.rules = change.state
        if change.changed or not self.notifiers:
            subs = change.state.subscriptions
            self.subscriptions = subs
            self.matcher = compile_matcher(subs)  # once per change, not per cycle
            self.sources = app.source_map(subs, self.settings)
            self.secrets = secrets_of(self.settings, self.environ, subs)
            logs.add_secrets(self.secrets)  # a webhook_env variable named by a new rule
            built = app.build_notifiers(self.settings, None, self.clock, self.environ, subs)
            # Their errors become the outbox's last_error in state.json: no secret in them.
            self.notifiers = {
                kind: RedactingNotifier(notifier, tuple(self.secrets))
                for kind, notifier in built.items()
            }
            if "poll" in self.specs:  # scheduled already: follow the change
                self._sync_delivery_jobs()

    def _sync_delivery_jobs(self) -> None:
        """Add, move and remove the delivery jobs to match the subscriptions in use."""
        wanted = {spec.id: spec for spec in delivery_specs(self.subscriptions)}
        for job_id in [j for j in self.delivery_jobs if j not in wanted]:
            self.scheduler.remove_job(job_id)
            del self.delivery_jobs[job_id]
            del self.specs[job_id]
        for job_id, spec in wanted.items():
            sub = next(s for s in self.subscriptions if s.name == spec.subscription)
            key = (schedule_cron(sub) or "", spec.timezone)
            if job_id not in self.delivery_jobs:
                self._add(spec)
            elif self.delivery_jobs[job_id] != key:
                self.scheduler.reschedule_job(job_id, trigger=spec.trigger)
                self.specs[job_id] = spec
            self.delivery_jobs[job_id] = key

    def _log_rules(self, change: Reload, initial: bool) -> None:
        names = {p: f.subscription.name for p, f in change.state.files.items() if f.subscription}
        extra = {"event": "rules"}
        for path in change.added:
            verb = "loaded" if initial else "new rule file"
            log.info("%s %s: subscription %s", verb, path, names.get(path), extra=extra)
        for path in change.updated:
            log.info("reloaded %s: subscription %s", path, names.get(path), extra=extra)
        for path in change.removed:
            log.info("rule file %s deleted: its subscription is dropped", path, extra=extra)
        for error in change.rejected:
            kept = change.state.files.get(Path(error.path))
            what = (
                "keeping the last good version of the file"
                if kept is not None and kept.kept
                else "file skipped"
            )
            log.error("rule error: %s (%s)", error, what, extra=extra)
        if not self.subscriptions:
            log.warning(
                "no usable rule files in %s: nothing to watch until one is added",
                self.settings.rules_dir,
                extra=extra,
            )

    # -- backfill --

    def _pending_backfills(self) -> list[Subscription]:
        with self.state_lock:
            return [
                s for s in self.subscriptions if s.backfill_days and s.name not in self.backfilled
            ]

    def _backfill(self, store: Store, now: datetime) -> None:
        for sub in self._pending_backfills():
            queued = run_backfill(store, sub, frozenset(self.notifiers), now)
            log.info(
                "backfill %s: %d papers from the last %d days queued",
                sub.name,
                queued,
                sub.backfill_days,
                extra={"event": "backfill", "subscription": sub.name, "papers": queued},
            )
            self.backfilled[sub.name] = now.isoformat()
            write_json(self.data_dir / STATE_FILE, {"backfilled": self.backfilled})

    def _backfill_and_deliver(self, store: Store, now: datetime) -> tuple[str, str]:
        self._backfill(store, now)
        reports = deliver(store, self.notifiers, now)
        self._log_deliveries(reports)
        return _delivery_outcome(reports)

    # -- the jobs that touch the store --

    def _job_runner(self, spec: JobSpec) -> Callable[[], None]:
        def run() -> None:
            with self.store_lock:
                if self.stopping.is_set():
                    return  # queued behind the job that was running when the signal came
                if spec.kind == "deliver":
                    self._with_store(spec.name, self._backfill_and_deliver)
                else:
                    self._with_store(spec.name, lambda store, now: self._cycle(spec, store, now))

        return run

    def _with_store(self, name: str, work: Callable[[Store, datetime], tuple[str, str]]) -> None:
        """Run one job's work with the store open; record how it went in the heartbeat.
        The caller holds ``store_lock``."""
        now = self.clock()
        with self.state_lock:
            self.running = {"job": name, "since": now.isoformat()}
        self.write_heartbeat()
        outcome, summary = "error", ""
        skipped = False
        try:
            # `watcher once`, `retry` or `confirm` may hold the data directory right now:
            # wait for it (they take seconds) rather than skip this run; but a stop request
            # ends the wait, or a stop would take as long as that wait.
            with Store.open(self.data_dir, wait=STORE_WAIT, give_up=self.stopping.is_set) as store:
                outcome, summary = work(store, now)
        except WatcherError as error:
            summary = str(error)
            skipped = isinstance(error, StoreBusy) and self.stopping.is_set()
            if skipped:
                log.info("%s: not run, stopping (%s)", name, error, extra={"event": "job"})
            else:
                log.error(
                    "%s: %s; trying again at the next run", name, error, extra={"event": "job"}
                )
        except Exception as error:  # a bug must not stop the daemon: log it and go on
            summary = f"{type(error).__name__}: {error}"
            log.exception("%s failed unexpectedly", name, extra={"event": "job"})
        finally:
            record = {
                "job": name,
                "started": now.isoformat(),
                "finished": self.clock().isoformat(),
                "outcome": outcome,
                "summary": summary,
            }
            with self.state_lock:
                self.running = None
                if not skipped:  # a run that never began must not hide how the last one went
                    self.last = record
                    if name in ("poll", "recheck"):
                        self.last_cycle = record
            self.write_heartbeat()

    def _cycle(self, spec: JobSpec, store: Store, now: datetime) -> tuple[str, str]:
        self._backfill(store, now)
        sources: Mapping[FeedSource, Sequence[str]]
        with self.state_lock:
            subs, matcher, sources = self.subscriptions, self.matcher, self.sources
            notifiers = self.notifiers
            errors = tuple(str(e) for e in self.rules.errors)
        if spec.kind == "recheck":
            sources = recheck_sources(sources, store.feed_states())
        # Built by the composition root, so every setting (WATCHER_ARCHIVE_DAYS, the API URL)
        # applies; run_cycle's record() prunes the archive, once a day.
        cycle = app.build_cycle(
            self.settings, store, self.fetcher, subs, matcher=matcher, sources=sources
        )
        if not sources:
            log.info("%s: no feed to poll", spec.name, extra={"event": "cycle"})
        report = run_cycle(cycle, notifiers, now, rule_errors=errors)
        self._log_report(spec.name, report)
        return _cycle_outcome(report)

    # -- logs and heartbeat --

    def _log_start(self) -> None:
        s = self.settings
        rhythm = (
            f"poll every {s.poll_interval:g} s"
            if s.poll_interval
            else f"poll at '{s.poll_cron}', recheck at '{s.recheck_cron}' ({s.poll_timezone})"
        )
        log.info(
            "watcher daemon started (pid %d): data %s, rules %s, %d subscriptions; %s; "
            "rule files checked every %g s",
            os.getpid(),
            s.data_dir,
            s.rules_dir,
            len(self.subscriptions),
            rhythm,
            s.rules_reload_interval,
            extra={"event": "started"},
        )

    def _log_report(self, name: str, report: CycleReport) -> None:
        for feed in report.feeds:
            level = logging.WARNING if feed.status == "failed" else logging.INFO
            log.log(
                level,
                "%s",
                feed_line(feed),
                extra={
                    "event": "feed",
                    "feed": feed.source,
                    "status": feed.status,
                    "papers": feed.papers,
                    "new": feed.new,
                },
            )
        for note in report.notes:
            log.info("note: %s", note, extra={"event": "note"})
        self._log_deliveries(report.deliveries)
        delivered = sum(1 for d in report.deliveries if d.status == "delivered")
        log.info(
            "%s: %d new papers, %d matches, %d digests delivered",
            name,
            report.new_papers,
            report.matches,
            delivered,
            extra={
                "event": "cycle",
                "job": name,
                "new_papers": report.new_papers,
                "matches": report.matches,
                "delivered": delivered,
            },
        )

    def _log_deliveries(self, reports: Sequence[DeliveryReport]) -> None:
        for d in reports:
            level = logging.INFO if d.status == "delivered" else logging.WARNING
            log.log(
                level,
                "%s: %s %s (%s) -> %s%s",
                d.status,
                d.subscription,
                d.period,
                count(d.papers, "paper"),
                d.destination,
                f": {d.detail}" if d.detail else "",
                extra={
                    "event": "delivery",
                    "status": d.status,
                    "subscription": d.subscription,
                    "destination": d.destination,
                    "period": d.period,
                    "papers": d.papers,
                },
            )

    def heartbeat(self, stopped: bool = False) -> dict[str, Any]:
        """What ``daemon.json`` says: who runs, how the last job went, what runs next."""
        with self.state_lock:
            jobs = [] if stopped else next_runs(self.specs.values(), self.clock())
            errors = [
                {"error": str(f.error), "path": str(path), "kept": f.kept}
                for path, f in sorted(self.rules.files.items())
                if f.error is not None
            ]
            return {
                "pid": os.getpid(),
                "started": self.started.isoformat(),
                "updated": self.clock().isoformat(),
                "stopped": self.clock().isoformat() if stopped else None,
                "data_dir": str(self.data_dir),
                "rules_dir": str(self.settings.rules_dir),
                "rules_dir_error": self.rules_dir_error,
                "subscriptions": [s.name for s in self.subscriptions],
                "rule_errors": errors,
                "jobs": jobs,
                "running": self.running,
                "last_job": self.last,
                "last_cycle": self.last_cycle,
            }

    def write_heartbeat(self, stopped: bool = False) -> None:
        with self.state_lock:
            try:
                # Error texts (a job's summary, rule errors) may quote a secret: hidden as
                # the log hides it.
                beat = _redacted(self.heartbeat(stopped), self.secrets)
                write_json(self.data_dir / HEARTBEAT_FILE, beat)
            except OSError as error:
                log.error("cannot write the heartbeat %s: %s", HEARTBEAT_FILE, error)


def next_runs(specs: Iterable[JobSpec], now: datetime) -> list[dict[str, Any]]:
    """When each job (but the rules check) runs next after ``now``, read from its trigger
    (never from the scheduler, whose locks a job must not take: see Daemon._shutdown)."""
    runs = []
    for spec in sorted(specs, key=lambda s: s.id):
        if spec.kind == "rules":
            continue
        fire = spec.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
        runs.append(
            {
                "id": spec.id,
                "name": spec.name,
                "next_run": fire.astimezone(ZoneInfo(spec.timezone)).isoformat() if fire else None,
                "timezone": spec.timezone,
            }
        )
    return runs


def _cycle_outcome(report: CycleReport) -> tuple[str, str]:
    failed_feeds = sum(1 for f in report.feeds if f.status == "failed")
    undelivered = sum(1 for d in report.deliveries if d.status != "delivered")
    delivered = len(report.deliveries) - undelivered
    summary = (
        f"{len(report.feeds)} feeds ({failed_feeds} failed), {report.new_papers} new papers, "
        f"{report.matches} matches, {delivered} digests delivered, {undelivered} not delivered"
    )
    return ("attention" if failed_feeds or undelivered else "ok"), summary


def _delivery_outcome(reports: Sequence[DeliveryReport]) -> tuple[str, str]:
    undelivered = sum(1 for d in reports if d.status != "delivered")
    summary = f"{len(reports) - undelivered} digests delivered, {undelivered} not delivered"
    return ("attention" if undelivered else "ok"), summary


# --- the command --------------------------------------------------------------------------


def secrets_of(
    settings: Settings, environ: Mapping[str, str], subscriptions: Sequence[Subscription] = ()
) -> list[str]:
    """Values that must never reach a log line, the heartbeat or ``watcher status``: the
    settings' secrets, every variable whose name says it holds one, and the variables the
    subscriptions' Slack destinations name with ``webhook_env`` (whatever their names)."""
    found = [settings.slack_bot_token, settings.slack_webhook_url, settings.smtp_password]
    found += [value for name, value in environ.items() if _SECRET_NAME.search(name)]
    found += [
        environ.get(value, "")
        for sub in subscriptions
        for dest in sub.deliver
        for key, value in dest.options
        if dest.kind == "slack" and key == "webhook_env"
    ]
    return [value for value in found if value]


@dataclass(frozen=True)
class RedactingNotifier:
    """A notifier whose errors have every secret replaced by ``***`` before the pipeline
    records them (each notifier scrubs its own secrets; this catches the others too)."""

    inner: Notifier
    secrets: tuple[str, ...]

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        try:
            return self.inner.send(destination, digest, resume=resume)
        except DeliveryError as error:
            message = logs.redact(error.message, self.secrets)
            where = logs.redact(error.where, self.secrets)
            if (message, where) == (error.message, error.where):
                raise
            raise type(error)(
                message, where=where, permanent=error.permanent, resume=error.resume
            ) from None


def _redacted(value: Any, secrets: Sequence[str]) -> Any:
    """A JSON-able value with every secret in its strings replaced by ``***``."""
    if isinstance(value, str):
        return logs.redact(value, secrets)
    if isinstance(value, Mapping):
        return {key: _redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item, secrets) for item in value]
    return value


def run_daemon(settings: Settings, environ: Mapping[str, str]) -> int:
    """Configure logging and run the daemon until SIGTERM/SIGINT; the exit code."""
    logs.configure(settings.log_format, secrets=secrets_of(settings, environ))
    return Daemon(settings, environ).run()


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``watcher run``: registered by watcher.cli."""
    run = sub.add_parser(
        "run",
        help="run as a service: poll on arXiv's schedule, reload rule edits, deliver",
        description="Run in the foreground until SIGTERM or Ctrl-C: poll the feeds on "
        "arXiv's schedule (WATCHER_POLL_CRON, WATCHER_RECHECK_CRON in WATCHER_POLL_TIMEZONE, "
        "or every WATCHER_POLL_INTERVAL seconds), starting with a catch-up cycle; deliver "
        "each subscription's digest on its schedule; pick up added, edited and deleted rule "
        "files within seconds. One daemon per data directory. `watcher status` shows its "
        "health.",
    )
    add_dir_arguments(run)
    run.add_argument(
        "--log-json",
        action="store_true",
        help="log one JSON object per line (also WATCHER_LOG_FORMAT=json)",
    )
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    environ = read_environment()
    settings = with_dirs(load_settings(environ), args.rules, args.data)
    if args.log_json:
        settings = replace(settings, log_format="json")
    return run_daemon(settings, environ)
