"""``watcher run``: the foreground daemon that keeps arXiv's rhythm — its lifecycle, the
rules in use, and the wiring of each job (the jobs themselves are values in
watcher.daemon.jobs; its log lines are in watcher.daemon.log).

Jobs run on an APScheduler 3 BlockingScheduler, every trigger with an explicit time zone.
Cron triggers are watcher.schedule's SafeCronTrigger (APScheduler's own skips a day across
spring-forward). Every job coalesces missed runs and never overlaps itself; the jobs that
touch the store take one lock, so they never overlap each other either (``watcher once``,
``retry`` and ``confirm`` can still run between them: the store is opened per job, and a job
that finds one of them holding it waits up to ``STORE_WAIT`` seconds for it).

SIGTERM or SIGINT stops the scheduler from starting anything new, lets the job in progress
finish (each network call has a timeout), writes the heartbeat and exits 0.

(About 500 lines: one class, the daemon's state, shared by its jobs under one lock.)
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from watcher import app, logs, stopsignal
from watcher.daemon.backfill import run_backfill
from watcher.daemon.heartbeat import (
    HEARTBEAT_FILE,
    STATE_FILE,
    DaemonLock,
    heartbeat_to_dict,
    read_backfilled,
    write_json,
)
from watcher.daemon.jobs import (
    JobSpec,
    NextRuns,
    delivery_spec,
    poll_specs,
    recheck_sources,
    rules_spec,
)
from watcher.daemon.listeners import FeedbackListeners
from watcher.daemon.log import (
    cycle_outcome,
    delivery_outcome,
    log,
    log_deliveries,
    log_report,
    log_rules,
    log_start,
)
from watcher.daemon.memory import release_memory
from watcher.errors import ConfigError, RuleError, StoreBusy, StoreError, WatcherError
from watcher.models import (
    Heartbeat,
    JobOutcome,
    JobRun,
    RuleFileError,
    RunningJob,
    Subscription,
)
from watcher.notify import RedactingNotifier, Registry, redacted, secrets_of
from watcher.pipeline import Ranks, deliver, run_cycle
from watcher.rules import load_rule_file
from watcher.rules.watch import Reload, RuleState, Snapshot, reload, snapshot
from watcher.schedule import schedule_cron
from watcher.settings import Settings
from watcher.sources import FeedSource
from watcher.status import BEAT_EVERY
from watcher.store import Store
from watcher.store.atomic import write_atomically

# A job may start this late (machine asleep, a long cycle before it) and still run; later
# than that it is skipped until its next slot (the next poll delivers what is due anyway).
MISFIRE_GRACE = 3600
# How long a job waits for the data directory while another command (`watcher once`,
# `retry`, `confirm`) holds it, before giving up until its next run.
STORE_WAIT = 120.0
# Where the daemon keeps the last version of each rule file that loaded.
LAST_GOOD_DIR = "rules-last-good"
Outcome = tuple[JobOutcome, str]  # how a job went, and its summary line
RULES_EXECUTOR = "rules"
InUse = tuple[tuple[Subscription, ...], dict[FeedSource, list[str]]]


def utcnow() -> datetime:
    return datetime.now(UTC)


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
        self._beat_at: datetime | None = None  # when the heartbeat was last written
        self.rules = RuleState()
        self._looked: Snapshot = {}  # the rules directory as the last look saw it
        self.rules_dir_error: str | None = None
        self.subscriptions: tuple[Subscription, ...] = ()
        # The sources ``subscriptions`` read, worked out by the first cycle that needs them
        # (see ``in_use``).
        self._in_use: InUse | None = None
        self.notifiers: Registry = {}
        self.backfilled: dict[str, str] = {}  # subscription name -> when
        self.backfill_paused = ""  # why, when daemon-state.json could not be read
        self.ranker: Ranks | None = None  # fitted relevance models, kept between cycles
        self.last: JobRun | None = None
        self.last_cycle: JobRun | None = None
        self.running: RunningJob | None = None
        self.secrets = secrets_of(settings, environ)  # kept out of the heartbeat
        self.stopping = threading.Event()
        # A stop request ends the fetcher's waits (spacing, back-off, Retry-After) at once.
        self.fetcher = app.build_fetcher(settings, stop=self.stopping)
        self.store_lock = threading.Lock()  # one job at a time touches the store
        self.state_lock = threading.RLock()  # rules in use, heartbeat
        self.main_done = threading.Event()
        self.specs: dict[str, JobSpec] = {}  # job id -> what the scheduler was given
        self._next_runs = NextRuns()
        self.delivery_jobs: dict[str, tuple[str, str]] = {}  # job id -> (cron, timezone)
        self._active = 0  # jobs of ours running now (see _shutdown)
        self._idle = threading.Condition()
        # Slack clicks and email links; they see the subscriptions in use at each vote.
        self.listeners = FeedbackListeners(
            settings,
            lambda: self.subscriptions,
            clock,
            self.stopping,
            changed=self.write_heartbeat,
        )
        self.scheduler = BlockingScheduler(
            timezone=UTC,
            executors={
                "default": ThreadPoolExecutor(max_workers=4),
                # The rules check has a thread of its own: in the shared pool it queued
                # behind delivery jobs that wait for the store a long cycle holds, and a
                # rule edit waited for the cycle to end.
                RULES_EXECUTOR: ThreadPoolExecutor(max_workers=1),
            },
        )

    # -- lifecycle --

    def run(self) -> int:
        """Take the data directory, load the rules, run the scheduler until a signal."""
        lock = DaemonLock(self.data_dir)
        lock.acquire()  # StoreError naming the pid when another daemon has it
        try:
            self._install_signal_handlers()
            self.read_state()
            self.check_rules(initial=True)
            self.listeners.start()
            self._learn_secrets(self.subscriptions)  # the links' key, generated or not
            self.schedule()
            log_start(self.settings, len(self.subscriptions))
            self.write_heartbeat()
            if not self.stopping.is_set():
                self.scheduler.start()  # blocks until shutdown
            return 0
        finally:
            self.main_done.set()
            self.listeners.close()
            self.fetcher.close()
            self.write_heartbeat(stopped=True)
            lock.release()
            log.info("watcher daemon stopped", extra={"event": "stopped"})

    def read_state(self) -> None:
        """What must survive restarts: the subscriptions already backfilled."""
        try:
            self.backfilled = read_backfilled(self.data_dir)
        except StoreError as e:
            # Everything else keeps running; only backfill waits, so that nothing is
            # queued twice on the word of a file we cannot read.
            self.backfill_paused = str(e)
            log.error(
                "%s: backfill is paused until the file is repaired or removed "
                "(removing it backfills every subscription with backfill: again)",
                e,
                extra={"event": "state_damaged"},
            )

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
        if spec.kind == "rules":
            options["executor"] = RULES_EXECUTOR
        self.scheduler.add_job(action, spec.trigger, **options)

    def _install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        early = stopsignal.take()  # a stop while the command was still starting
        if early is not None:
            self._on_signal(early, None)

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
        """Look at the rules directory; apply what changed. Raises only when ``initial``.

        Also keeps the heartbeat fresh between jobs (``watcher status --live``): this job
        runs every few seconds on its own thread, so a fresh beat says the scheduler runs."""
        if not initial and (self._beat_at is None or self.clock() - self._beat_at >= BEAT_EVERY):
            self.write_heartbeat()
        try:
            current = snapshot(self.settings.rules_dir)
        except RuleError as error:
            if initial:
                # No rules directory at start: a restart would find none either.
                raise ConfigError(error.message, where=error.where) from error
            if self.rules_dir_error != str(error):
                log.error("%s; keeping the rules in use", error, extra={"event": "rules"})
                self.rules_dir_error = str(error)
                self.write_heartbeat()
            return
        fixed_dir = self.rules_dir_error is not None
        self.rules_dir_error = None
        # Most looks find nothing changed: one comparison of the stamps, not a reload's
        # walk over every file (10,000 of them every WATCHER_RULES_RELOAD_INTERVAL).
        if initial or fixed_dir or current != self._looked:
            with self.state_lock:
                change = reload(self.rules, current, last_good=self._last_good)
                if change.touched or initial:
                    self._apply(change)
                    self._remember_good(change)
            self._looked = current
            if change.touched or initial or fixed_dir:
                log_rules(change, initial, self.subscriptions, self.settings.rules_dir)
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
            return replace(load_rule_file(saved, folder=path.parent), path=str(path))
        except (RuleError, OSError):
            return None

    def _remember_good(self, change: Reload) -> None:
        """Keep a copy of every rule file that just loaded (see ``_last_good``); a copy
        that already holds the same bytes is left alone (a start rewrote them all)."""
        directory = self.settings.data_dir / LAST_GOOD_DIR
        for path in (*change.added, *change.updated, *change.fixed):
            copy = directory / path.name
            try:
                data = path.read_bytes()
                if _same_bytes(copy, data):
                    continue
                write_atomically(copy, data)
            except OSError as error:
                log.warning("cannot keep a copy of %s: %s", path, error, extra={"event": "rules"})

    def _learn_secrets(self, subscriptions: Sequence[Subscription]) -> None:
        """Every value kept out of logs, the heartbeat and delivery errors: the settings'
        secrets, the variables the rules' destinations name, the links' signing key (a
        generated one too, once the web endpoint read it); the log filter learns them."""
        self.secrets = secrets_of(self.settings, self.environ, subscriptions)
        if self.listeners.key is not None:
            self.secrets.append(self.listeners.key.decode("utf-8", "replace"))
        logs.add_secrets(self.secrets)

    def _apply(self, change: Reload) -> None:
        self.rules = change.state
        if change.changed or not self.notifiers:
            subs = change.state.subscriptions
            self.subscriptions = subs
            self._learn_secrets(subs)  # a variable named by a new rule
            built = app.build_notifiers(
                self.settings, None, self.clock, self.environ, subs, stop=self.stopping
            )
            # Their errors become the outbox entry's last_error: no secret in them.
            self.notifiers = {
                kind: RedactingNotifier(notifier, tuple(self.secrets))
                for kind, notifier in built.items()
            }
            if "poll" in self.specs:  # scheduled already: follow the change
                self._sync_delivery_jobs()

    def in_use(self) -> InUse:
        """The subscriptions in use and the sources they read: worked out once per change
        of the rules, by the job that needs them first. Not by the rules check: for 10,000
        subscriptions that takes a while, and the next edit would wait for it."""
        with self.state_lock:
            subs, done = self.subscriptions, self._in_use
        if done is not None and done[0] is subs:
            return done
        in_use = (subs, app.source_map(subs, self.settings))
        with self.state_lock:
            if self.subscriptions is subs:
                self._in_use = in_use
        return in_use

    def _sync_delivery_jobs(self) -> None:
        """Add, move and remove the delivery jobs to match the subscriptions in use."""
        wanted: dict[str, tuple[Subscription, tuple[str, str]]] = {}
        for sub in self.subscriptions:
            cron = schedule_cron(sub)
            if cron is not None:
                wanted[f"deliver:{sub.name}"] = (sub, (cron, sub.timezone))
        for job_id in [j for j in self.delivery_jobs if j not in wanted]:
            self.scheduler.remove_job(job_id)
            del self.delivery_jobs[job_id]
            del self.specs[job_id]
        for job_id, (sub, key) in wanted.items():
            if self.delivery_jobs.get(job_id) == key:
                continue  # unchanged: no trigger is built (thousands of them take seconds)
            spec = delivery_spec(sub)
            assert spec is not None and spec.id == job_id
            if job_id not in self.delivery_jobs:
                self._add(spec)
            else:
                self.scheduler.reschedule_job(job_id, trigger=spec.trigger)
                self.specs[job_id] = spec
            self.delivery_jobs[job_id] = key

    # -- backfill --

    def _pending_backfills(self) -> list[Subscription]:
        if self.backfill_paused:
            return []
        with self.state_lock:
            return [
                s for s in self.subscriptions if s.backfill_days and s.name not in self.backfilled
            ]

    def _backfill(self, store: Store, now: datetime) -> None:
        for sub in self._pending_backfills():
            queued = run_backfill(store, sub, frozenset(self.notifiers), now)
            log.info(
                "backfill %s: %d matched papers from the last %d days queued",
                sub.name,
                queued,
                sub.backfill_days,
                extra={"event": "backfill", "subscription": sub.name, "papers": queued},
            )
            self.backfilled[sub.name] = now.isoformat()
            write_json(self.data_dir / STATE_FILE, {"backfilled": self.backfilled})

    def _backfill_and_deliver(self, store: Store, now: datetime) -> Outcome:
        self._backfill(store, now)
        reports = deliver(store, self.notifiers, now, self.stopping.is_set)
        log_deliveries(reports)
        return delivery_outcome(reports)

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
                    # Idle until the next poll with the memory of a quiet day, not the peak
                    # of this one (the many light delivery jobs skip it: it costs a full
                    # collection).
                    release_memory()

        return run

    def _with_store(self, name: str, work: Callable[[Store, datetime], Outcome]) -> None:
        """Run one job's work with the store open; record how it went in the heartbeat.
        The caller holds ``store_lock``."""
        now = self.clock()
        with self.state_lock:
            self.running = RunningJob(name, now)
        self.write_heartbeat()
        outcome: JobOutcome = "error"
        summary = ""
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
            record = JobRun(name, now, self.clock(), outcome, summary)
            with self.state_lock:
                self.running = None
                if not skipped:  # a run that never began must not hide how the last one went
                    self.last = record
                    if name in ("poll", "recheck"):
                        self.last_cycle = record
            self.write_heartbeat()

    def _cycle(self, spec: JobSpec, store: Store, now: datetime) -> Outcome:
        self._backfill(store, now)
        sources: Mapping[FeedSource, Sequence[str]]
        with self.state_lock:
            notifiers = self.notifiers
            errors = tuple(str(e) for e in self.rules.errors)
        subs, sources = self.in_use()
        if spec.kind == "recheck":
            states = store.feed_states()
            last = {url: state.last_status for url, state in states.items()}
            sources = recheck_sources(sources, last)
        # Built by the composition root, so every setting (WATCHER_ARCHIVE_DAYS, the API URL)
        # applies; run_cycle's record() prunes the archive, once a day.
        # The matcher is the cycle's own (compiled at its first paper): the words it learns
        # to look up in a day's papers die with the cycle instead of piling up in a daemon
        # that runs for months. Indexing 10,000 subscriptions takes seconds once a day.
        if self.ranker is None and any(s.order == "relevance" for s in subs):
            self.ranker = app.build_ranker(self.settings)  # its models outlive the cycle
        cycle = app.build_cycle(
            self.settings, store, self.fetcher, subs, sources=sources, ranker=self.ranker
        )
        if not sources:
            log.info("%s: no feed to poll", spec.name, extra={"event": "cycle"})
        # A stop request: no delivery is started, and the one in flight is cut short.
        report = run_cycle(cycle, notifiers, now, rule_errors=errors, stopping=self.stopping.is_set)
        log_report(spec.name, report)
        return cycle_outcome(report)

    # -- logs and heartbeat --

    def heartbeat(self, stopped: bool = False) -> Heartbeat:
        """What ``daemon.json`` says: who runs, how the last job went, what runs next."""
        with self.state_lock:
            now = self.clock()
            return Heartbeat(
                pid=os.getpid(),
                started=self.started,
                updated=now,
                stopped=now if stopped else None,
                data_dir=str(self.data_dir),
                rules_dir=str(self.settings.rules_dir),
                rules_dir_error=self.rules_dir_error,
                subscriptions=tuple(s.name for s in self.subscriptions),
                rule_errors=tuple(
                    RuleFileError(str(path), str(f.error), f.kept)
                    for path, f in sorted(
                        (path, f) for path, f in self.rules.files.items() if f.error is not None
                    )
                ),
                jobs=() if stopped else self._next_runs(self.specs.values(), now),
                running=self.running,
                last_job=self.last,
                last_cycle=self.last_cycle,
                feedback=() if stopped else self.listeners.channels(),
            )

    def write_heartbeat(self, stopped: bool = False) -> None:
        with self.state_lock:
            try:
                # Error texts (a job's summary, rule errors) may quote a secret: hidden as
                # the log hides it.
                beat = self.heartbeat(stopped)
                data = redacted(heartbeat_to_dict(beat), self.secrets)
                write_json(self.data_dir / HEARTBEAT_FILE, data)
                self._beat_at = beat.updated
            except OSError as error:
                log.error("cannot write the heartbeat %s: %s", HEARTBEAT_FILE, error)


def _same_bytes(path: Path, data: bytes) -> bool:
    """Does ``path`` hold exactly ``data``? (A size that differs answers without reading.)"""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False
