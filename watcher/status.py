"""What ``watcher status`` reports: the outbox per destination and the health of each feed.

(About 630 lines: one report, the values it is made of and the lines it prints; every part
says what needs attention with the others' words.)

Pure: it takes the store's undelivered entries, delivery tallies and feed states
(``Store.entry_views()``, ``Store.delivery_tallies()``, ``Store.feed_states()``: none of them
reads a paper's text or a past delivery) and returns a :class:`Status` value and the
lines to print. Nothing here opens files or reads the clock.

"Needs attention" means a person has to act or at least look: a failed delivery (with the
error saying what to fix), a delivery whose fate is unknown (sent, but the answer was lost or
the watcher stopped mid-send: check the destination, then ``watcher retry`` or
``watcher confirm``), a feed whose last poll failed, a rule file that does not load, or a
daemon (``watcher run``) that died without stopping cleanly, is not running when it is
required (``--require-daemon``), or has a job long overdue. Pending deliveries are not: the
next cycle sends them.

The daemon's part comes from its heartbeat (``data/daemon.json``, see watcher.daemon.heartbeat),
read by the caller and handed in as values with :func:`daemon_health`.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watcher.digest import tally
from watcher.feedback import SubscriptionFeedback
from watcher.logs import redact_urls
from watcher.models import (
    DestinationTally,
    EntryView,
    FeedbackChannel,
    FeedReport,
    FeedState,
    Heartbeat,
    JobRun,
    ModelState,
    Receipt,
    ResumePoint,
)
from watcher.store import PERMANENT

PERMANENT_PREFIX = PERMANENT  # how Store.mark_failed marks a failure only a person can fix

FEED_WORDS = {  # one wording for `watcher once`, the daemon's log and `watcher status`
    "new": "new announcement",
    "empty": "no announcement (weekend or holiday: empty feed)",
    "stale": "stale: yesterday's listing re-served, ignored",
    "not-modified": "unchanged since the last poll",
    "failed": "FAILED",
}


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    """The outbox of one destination (``slack:#papers``, ``email:a@x,b@y``)."""

    destination: str
    pending: tuple[EntryView, ...] = ()
    failed: tuple[EntryView, ...] = ()
    unknown: tuple[EntryView, ...] = ()
    delivered: int = 0
    last_receipt: Receipt | None = None

    @property
    def needs_attention(self) -> bool:
        return bool(self.failed or self.unknown)


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """The last poll of one feed, as the store remembers it."""

    source: str
    last_status: str | None
    last_error: str | None = None
    announced: str | None = None  # the last announcement date seen, YYYY-MM-DD
    # Read by a current rule file. False for a one-off `watcher once --feed` source, or a
    # feed since removed from the rules: its state stays in the store, but nothing polls it.
    read: bool = True

    @property
    def failed(self) -> bool:
        return self.last_status == "failed"


# A job whose next run lies this far in the past, while the daemon is not busy, is stuck.
OVERDUE_AFTER = timedelta(minutes=30)
# Liveness (``watcher status --live``): the daemon rewrites its heartbeat at least this often
# (its rules job does, every WATCHER_RULES_RELOAD_INTERVAL, when the last beat is this old)...
BEAT_EVERY = timedelta(seconds=60)
# ...so a heartbeat older than this, while the daemon holds its lock, means its scheduler no
# longer runs jobs: it hangs, and a restart is what helps.
STALE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class NextRun:
    name: str  # poll, recheck, deliver <subscription>
    at: datetime | None
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class DaemonHealth:
    """The daemon as its lock and heartbeat show it, at ``checked``."""

    checked: datetime
    pid: int | None = None  # the daemon holding the data directory; None: none does
    heartbeat: bool = False  # a daemon ever wrote daemon.json here
    required: bool = False  # watcher status --require-daemon
    last_pid: int | None = None
    started: datetime | None = None
    stopped: datetime | None = None  # recorded by a clean stop
    updated: datetime | None = None
    running: str | None = None  # "poll since <time>"
    last_cycle: str | None = None  # "poll at <time>: ok (...)"
    last_cycle_error: bool = False
    last_cycle_at: datetime | None = None
    next_runs: tuple[NextRun, ...] = ()
    rule_errors: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # rule files running their last good version
    rules_dir_error: str | None = None
    # How Slack buttons and email links stand in this daemon (its heartbeat).
    feedback: tuple[FeedbackChannel, ...] = ()

    @property
    def overdue(self) -> tuple[NextRun, ...]:
        if self.pid is None or self.running is not None:
            return ()
        late = self.checked - OVERDUE_AFTER
        return tuple(r for r in self.next_runs if r.at is not None and r.at < late)

    @property
    def problems(self) -> tuple[str, ...]:
        found: list[str] = []
        if self.pid is None:
            if self.heartbeat and self.stopped is None:
                found.append("the daemon is not running and did not stop cleanly")
            elif self.required:
                found.append("no daemon running")
            return tuple(found)
        found += [f"the {r.name} job is overdue" for r in self.overdue]
        if self.last_cycle_error:
            found.append("the last cycle failed")
        if self.rules_dir_error:
            found.append("the daemon cannot read its rules directory")
        return tuple(found)


@dataclass(frozen=True, slots=True)
class RulesHealth:
    """The rules directory, validated now (files unchanged since the last cycle as that
    cycle found them: watcher.rules.index)."""

    directory: str
    files: int = 0
    subscriptions: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # file:line: field: message
    missing: bool = False
    # What the good files name, for the caller to resolve (not printed): their feeds, as
    # written, and the variables their Slack webhooks come from.
    feeds: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    webhook_env: frozenset[str] = field(default=frozenset(), repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Status:
    destinations: tuple[DestinationStatus, ...] = ()
    feeds: tuple[FeedHealth, ...] = ()
    daemon: DaemonHealth | None = None
    rules: RulesHealth | None = None
    # The last cycle when it failed: a `watcher once`, or the daemon's (already in daemon).
    last_run_error: str | None = None
    storage: tuple[str, ...] = ()  # the data directory cannot take a cycle's writes
    # The votes per subscription (watcher feedback), or why they cannot be read.
    feedback: tuple[SubscriptionFeedback, ...] = ()
    feedback_error: str | None = None
    # ``order: relevance`` subscriptions as the last cycle left them (relevance/status.json).
    relevance: tuple[ModelState, ...] = ()
    # Slack buttons and email links: on or off, and how they stand.
    feedback_channels: tuple[FeedbackChannel, ...] = ()

    @property
    def failed(self) -> int:
        return sum(len(d.failed) for d in self.destinations)

    @property
    def unknown(self) -> int:
        return sum(len(d.unknown) for d in self.destinations)

    @property
    def failed_feeds(self) -> int:
        """Failing feeds that a current rule file reads (the others are only listed)."""
        return sum(1 for f in self.feeds if f.failed and f.read)

    @property
    def rule_errors(self) -> tuple[str, ...]:
        """Rule files that do not load: as validated now, else as the daemon last saw them."""
        if self.rules is not None and not self.rules.missing:
            return self.rules.errors
        return self.daemon.rule_errors if self.daemon is not None else ()

    @property
    def daemon_problems(self) -> tuple[str, ...]:
        return self.daemon.problems if self.daemon is not None else ()

    @property
    def needs_attention(self) -> bool:
        """True when a delivery failed or has an unknown fate, a feed's last poll failed, a
        rule file does not load, or the daemon has a problem."""
        return bool(
            self.failed
            or self.unknown
            or self.failed_feeds
            or self.rule_errors
            or self.daemon_problems
            or self.last_run_error
            or self.storage
            or self.feedback_error
        )


def is_permanent(entry: EntryView) -> bool:
    return entry.status == "failed" and (entry.last_error or "").startswith(PERMANENT_PREFIX)


def daemon_health(
    pid: int | None,
    heartbeat: Heartbeat | None,
    checked: datetime,
    *,
    required: bool = False,
) -> DaemonHealth:
    """Read a heartbeat (``daemon.json``, or None) beside the pid holding the daemon lock."""
    if heartbeat is None:
        return DaemonHealth(checked, pid=pid, required=required)
    runs = tuple(
        NextRun(job.name, _utc(job.next_run) if job.next_run else None, job.timezone)
        for job in heartbeat.jobs
    )
    last = heartbeat.last_cycle
    last_text = None
    if last is not None:
        at = f" at {_when(last.finished or last.started)}"
        summary = f" ({last.summary})" if last.summary else ""
        last_text = f"{last.job}{at}: {last.outcome}{summary}"
    running = heartbeat.running
    return DaemonHealth(
        checked,
        pid=pid,
        heartbeat=True,
        required=required,
        last_pid=heartbeat.pid,
        started=heartbeat.started,
        stopped=heartbeat.stopped,
        updated=heartbeat.updated,
        running=f"{running.job} since {_when(running.since)}" if running else None,
        last_cycle=last_text,
        last_cycle_error=last is not None and last.outcome == "error",
        last_cycle_at=(last.finished or last.started) if last is not None else None,
        next_runs=runs,
        rule_errors=tuple(e.error for e in heartbeat.rule_errors),
        kept=tuple(e.path for e in heartbeat.rule_errors if e.kept),
        rules_dir_error=heartbeat.rules_dir_error,
        feedback=heartbeat.feedback,
    )


@dataclass(frozen=True, slots=True)
class Liveness:
    """``watcher status --live``: is a daemon running here and doing its rounds? Nothing
    else counts (a failing feed or delivery, a broken rule file need a person, not a
    restart: that is ``watcher status``)."""

    alive: bool
    line: str  # what to print: why it is live, or why not


def liveness(
    pid: int | None,
    heartbeat: Heartbeat | None,
    checked: datetime,
    *,
    stale_after: timedelta = STALE_AFTER,
) -> Liveness:
    """Live: a daemon holds the lock (``pid``, -1 when its pid is unreadable) and the
    heartbeat it wrote is no older than ``stale_after``."""
    if pid is None:
        return Liveness(False, "not live: no watcher daemon holds this data directory")
    who = f"pid {pid}" if pid > 0 else "a daemon"
    if heartbeat is None or heartbeat.updated is None:
        return Liveness(False, f"not live: {who} holds the data directory, no heartbeat yet")
    if pid > 0 and heartbeat.pid is not None and heartbeat.pid != pid:
        return Liveness(
            False, f"not live: {who} holds the data directory, no heartbeat of its own yet"
        )
    age = _utc(checked) - _utc(heartbeat.updated)
    seconds = max(0, round(age.total_seconds()))
    if age > stale_after:
        limit = round(stale_after.total_seconds())
        return Liveness(
            False,
            f"not live: {who}'s heartbeat is {seconds} s old (more than {limit} s): "
            "its jobs no longer run",
        )
    return Liveness(True, f"live: {who}, heartbeat {seconds} s ago")


def summarize(
    entries: Iterable[EntryView],
    feed_states: Mapping[str, FeedState],
    *,
    tallies: Iterable[DestinationTally] = (),
    daemon: DaemonHealth | None = None,
    rules: RulesHealth | None = None,
    current_feeds: Collection[str] | None = None,
) -> Status:
    """Group undelivered entries by destination (in first-queued order) beside each
    destination's tally of deliveries, and read each feed state. ``current_feeds`` are the
    sources (URLs, paths) the current rule files read; a feed state of any other source is
    reported apart and never needs attention. None: all count."""
    grouped: dict[str, list[EntryView]] = {}
    for entry in entries:
        grouped.setdefault(entry.destination.key, []).append(entry)
    counted = {tally.destination: tally for tally in tallies}
    for key in counted:
        grouped.setdefault(key, [])
    destinations = []
    for key, group in grouped.items():
        tally = counted.get(key)
        destinations.append(
            DestinationStatus(
                destination=key,
                pending=tuple(e for e in group if e.status == "pending"),
                failed=tuple(e for e in group if e.status == "failed"),
                unknown=tuple(e for e in group if e.status == "unknown"),
                delivered=tally.delivered if tally else 0,
                last_receipt=tally.last_receipt if tally else None,
            )
        )
    feeds = tuple(
        FeedHealth(
            source=source,
            last_status=state.last_status,
            last_error=state.last_error,
            announced=state.announced.isoformat() if state.announced else None,
            read=current_feeds is None or source in current_feeds,
        )
        for source, state in sorted(feed_states.items())
    )
    return Status(tuple(destinations), feeds, daemon, rules)


def render_status(
    status: Status, *, program: str = "watcher", options: Sequence[str] = ()
) -> list[str]:
    """The lines ``watcher status`` prints. The hints suggest ``<program> retry <options>
    KEY``: ``options`` is what the user gave status (``--data DIR``), to repeat there."""
    extra = "".join(f" {shlex.quote(option)}" for option in options)
    lines: list[str] = []
    if status.daemon is not None:
        lines += _daemon_lines(status.daemon)
    if status.rules is not None:
        lines += _rules_lines(status.rules, status.daemon)
    if status.last_run_error:
        lines.append(f"LAST CYCLE FAILED: {status.last_run_error}")
    lines += [f"DATA DIRECTORY: {problem}" for problem in status.storage]
    lines += _feedback_lines(status)
    lines += _relevance_lines(status.relevance)
    if not status.destinations:
        lines.append("Deliveries: none yet.")
    else:
        lines.append("Deliveries:")
    for dest in status.destinations:
        lines.append(f"  {dest.destination}")
        if dest.delivered:
            lines.append(f"    delivered: {dest.delivered}{_receipt(dest.last_receipt)}")
        for entry in dest.pending:
            lines.append(f"    pending: {_what(entry)}: sent by the next cycle")
        for entry in dest.failed:
            kind = "FAILED (permanent)" if is_permanent(entry) else "FAILED (temporary)"
            error = (entry.last_error or "no error recorded").removeprefix(PERMANENT_PREFIX)
            lines.append(f"    {kind}: {_what(entry)}, {_attempts(entry)}")
            lines.append(f"      error: {error}")
            if is_permanent(entry):
                key = shlex.quote(entry.key)
                lines.append("      not retried on its own: fix what the error names, then")
                lines.append(f"        {program} retry{extra} {key}   (sent next cycle)")
                lines.append(f"        or give up on it: {program} drop{extra} {key}")
            else:
                lines.append("      the next cycle retries it")
        for entry in dest.unknown:
            key = shlex.quote(entry.key)
            lines.append(f"    UNKNOWN: {_what(entry)}, {_attempts(entry)}")
            lines.append(f"      why: {entry.last_error or 'no detail recorded'}")
            doubt = in_doubt(entry)
            where = _where(entry)
            if doubt is None:
                lines.append(f"      not resent on its own: look in {where}, then")
                lines.append(
                    f"        not there: {program} retry{extra} {key}   (resent next cycle)"
                )
                lines.append(f"        it is there: {program} confirm{extra} {key}")
                if entry.destination.kind == "slack":
                    lines.append(
                        f"        only its summary is there: {program} confirm{extra} {key} "
                        "--ts TS   (TS: the summary's; the replies follow)"
                    )
            else:
                done, message = doubt
                lines.append(f"      {done}; {message} unknown")
                lines.append(f"      not resent on its own: look for {message} in {where}, then")
                lines.append(
                    f"        not there: {program} retry{extra} {key}   (from it on, next cycle)"
                )
                lines.append(
                    f"        it is there: {program} confirm{extra} {key}   (the rest, next cycle)"
                )
    current = [f for f in status.feeds if f.read]
    gone = [f for f in status.feeds if not f.read]
    lines.append("Feeds:" if current else "Feeds: none polled yet.")
    lines += _feed_lines(current)
    if gone:
        lines.append("Feeds no rule reads any more (ignored; a one-off --feed, or removed):")
        lines += _feed_lines(gone)
    lines.append(_verdict(status))
    return lines


_CHANNEL_NAMES = {"slack": "Slack buttons", "email": "email links"}


def _feedback_lines(status: Status) -> list[str]:
    channels = [
        f"{_CHANNEL_NAMES.get(c.name, c.name)} {c.detail}" for c in status.feedback_channels
    ]
    head = [f"Feedback from digests: {'; '.join(channels)}."] if channels else []
    if status.feedback_error:
        return [*head, f"FEEDBACK: {status.feedback_error}"]
    if not status.feedback:
        return head
    known = None if status.rules is None or status.rules.missing else status.rules.subscriptions
    lines = [*head, "Feedback (watcher feedback list):"]
    for book in status.feedback:
        counts = f"{count(len(book.likes), 'like')}, {count(len(book.dislikes), 'dislike')}"
        gone = known is not None and book.subscription not in known
        lines.append(f"  {book.subscription}: {counts}{' (no rule file has it)' if gone else ''}")
    return lines


def _relevance_lines(states: Iterable[ModelState]) -> list[str]:
    lines = []
    for state in states:
        how = (
            f"relevance active, {state.detail}"
            if state.active
            else f"score order (relevance fell back: {state.detail})"
        )
        if state.missing:
            how += f"; {count(state.missing, 'labelled paper')} without text in the archive yet"
        if state.problem:
            how += f"; {state.problem}"
        lines.append(f"  {state.subscription}: {how}")
    return ["Relevance (order: relevance):", *lines] if lines else []


def _feed_lines(feeds: Iterable[FeedHealth]) -> list[str]:
    lines = []
    for feed in feeds:
        word = FEED_WORDS.get(feed.last_status or "", feed.last_status or "never polled")
        day = f", last announcement {feed.announced}" if feed.announced else ""
        lines.append(f"  {feed.source}: {word}{day}")
        if feed.failed:
            lines.append(f"    error: {feed.last_error or 'no error recorded'}")
    return lines


def _verdict(status: Status) -> str:
    if not status.needs_attention:
        return "All good: nothing needs attention."
    parts = []
    if status.failed:
        parts.append(f"{status.failed} failed {_deliveries(status.failed)}")
    if status.unknown:
        parts.append(f"{status.unknown} {_deliveries(status.unknown)} of unknown fate")
    if status.failed_feeds:
        parts.append(f"{status.failed_feeds} failing feed{'s' if status.failed_feeds > 1 else ''}")
    if status.rule_errors:
        count = len(status.rule_errors)
        parts.append(f"{count} rule file{'s' if count > 1 else ''} with errors")
    parts += status.daemon_problems
    if status.last_run_error:
        parts.append("the last cycle failed")
    parts += status.storage
    if status.feedback_error:
        parts.append("a feedback file cannot be read")
    return "Needs attention: " + ", ".join(parts) + "."


def _daemon_lines(daemon: DaemonHealth) -> list[str]:
    if daemon.pid is None:
        if not daemon.heartbeat:
            return ["Daemon: no daemon running (`watcher run` has not used this data directory)."]
        if daemon.stopped is not None:
            return [f"Daemon: no daemon running; the last one stopped at {_when(daemon.stopped)}."]
        pid = f", pid {daemon.last_pid}" if daemon.last_pid else ""
        seen = _when(daemon.updated) if daemon.updated else "never"
        return [
            "Daemon: NOT RUNNING, and it did not stop cleanly (killed, crashed, or the "
            f"machine went down); last heartbeat {seen}{pid}. Start it again: the catch-up "
            "cycle sends whatever is due."
        ]
    pid = f"pid {daemon.pid}" if daemon.pid > 0 else "pid unknown"
    since = f" since {_when(daemon.started)}" if daemon.started else ""
    lines = [f"Daemon: running ({pid}){since}"]
    if daemon.running:
        lines.append(f"  working: {daemon.running}")
    lines.append(f"  last cycle: {daemon.last_cycle or 'none yet'}")
    if daemon.rules_dir_error:
        lines.append(f"  RULES DIRECTORY: {daemon.rules_dir_error} (keeping the rules in use)")
    if daemon.next_runs:
        lines.append("  next runs:")
        overdue = set(daemon.overdue)
        width = max(len(r.name) for r in daemon.next_runs)
        for run in daemon.next_runs:
            lines.append(f"    {run.name:<{width}}  {_next(run, daemon.checked, run in overdue)}")
    return lines


def _rules_lines(rules: RulesHealth, daemon: DaemonHealth | None) -> list[str]:
    if rules.missing:
        lines = [
            f"Rule files: no rules directory at {rules.directory} (WATCHER_RULES_DIR, --rules)"
        ]
        if daemon is not None and daemon.rule_errors:
            lines += [f"  ERROR {error}" for error in daemon.rule_errors]
        return lines
    subs = ", ".join(rules.subscriptions) or "none"
    files = f"{rules.files} file{'' if rules.files == 1 else 's'}"
    lines = [f"Rule files: {rules.directory}: {files}, subscriptions: {subs}"]
    kept = set(daemon.kept) if daemon is not None and daemon.pid is not None else set()
    for error in rules.errors:
        lines.append(f"  ERROR {error}")
        if any(error.startswith(f"{path}:") or error == path for path in kept):
            lines.append("    the daemon keeps running the last good version of this file")
        else:
            lines.append("    this file is not in use until it is fixed")
    return lines


def _next(run: NextRun, now: datetime, overdue: bool) -> str:
    if run.at is None:
        return "not scheduled"
    try:
        zone = ZoneInfo(run.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = run.at.astimezone(zone)
    delta = run.at - now
    if overdue:
        relative = f"OVERDUE by {_span(-delta)}"
    elif delta.total_seconds() >= 0:
        relative = f"in {_span(delta)}"
    else:
        relative = "due now"
    return f"{local:%Y-%m-%d %H:%M} {run.timezone} ({relative})"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


def _when(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def _deliveries(count: int) -> str:
    return "delivery" if count == 1 else "deliveries"


def in_doubt(entry: EntryView) -> tuple[str, str] | None:
    """For a digest of several messages cut short: what was posted, and which message is in
    doubt ("summary and 3 of 5 replies posted", "reply 4"); None for a digest of one
    message, or one that stopped before its first."""
    point = ResumePoint.parse(entry.resume)
    if point is None or point.next < 1:
        return None
    if not point.ts:  # a webhook: messages one after another, no thread
        total = f" of {point.total}" if point.total else ""
        return f"{point.next}{total} messages posted", f"message {point.next + 1}"
    replies = f" of {point.total - 1}" if point.total else ""
    posted = "summary" if point.next == 1 else f"summary and {point.next - 1}{replies} replies"
    return f"{posted} posted", f"reply {point.next}"


def _what(entry: EntryView) -> str:
    papers = tally(entry.papers, entry.updated)
    return f"{entry.subscription} {entry.period} ({papers}) [key {entry.key}]"


def _attempts(entry: EntryView) -> str:
    return f"{entry.attempts} attempt{'' if entry.attempts == 1 else 's'}"


def _where(entry: EntryView) -> str:
    kind, targets = entry.destination.kind, ", ".join(entry.destination.target)
    if kind == "slack":
        return f"the Slack channel {targets}" if targets else "the Slack channel"
    if kind == "email":
        return f"the mailbox of {targets}" if targets else "the mailboxes"
    if kind == "apprise":
        return f"the chat service whose Apprise URL is in {targets}"
    if kind == "webhook":
        return f"what the webhook in {targets} received"
    if kind == "atom":
        return f"the Atom feed {targets}"
    return f"the {kind} destination"


def _receipt(receipt: Receipt | None) -> str:
    if receipt is None:
        return ""
    when = _utc(receipt.delivered_at).strftime("%Y-%m-%d %H:%M UTC")
    return f" (last {when}, receipt {receipt.reference})"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def count(n: int, noun: str) -> str:
    """``1 paper``, ``2 papers``, ``3 matches``: for the lines people read."""
    plural = noun + ("es" if noun.endswith(("ch", "sh", "s", "x")) else "s")
    return f"{n} {noun if n == 1 else plural}"


def feed_line(feed: FeedReport) -> str:
    """One line for one poll, as `watcher once` prints it and the daemon logs it; a
    credential in the feed's URL (a one-off ``--feed https://…?token=…``) shows as ``***``."""
    return redact_urls(_feed_line(feed))


def _feed_line(feed: FeedReport) -> str:
    if feed.origin == "api-fill":
        return _fill_line(feed)
    if feed.origin == "api-query":
        return _query_line(feed)
    word = FEED_WORDS[feed.status]
    if feed.status == "failed":
        return f"feed {feed.source}: {word}: {feed.error}"
    day = f" {feed.announced.isoformat()}" if feed.announced else ""
    counts = f", {feed.papers} papers, {feed.new} new" if feed.status == "new" else ""
    if feed.skipped:
        items = "item" if len(feed.skipped) == 1 else "items"
        counts += f", {len(feed.skipped)} damaged {items} skipped"
    if feed.capped:
        counts += ", cut at arXiv's 2,000-item cap: the day's other new papers from the API"
    return f"feed {feed.source}: {word}{day}{counts}"


def _fill_line(feed: FeedReport) -> str:
    """Days the feed never showed, read from the API: a day it stayed stale on, or the days
    missed while the watcher was down or the feed failed. Never "no announcement": the
    API's answer says nothing about whether arXiv announced."""
    day = feed.announced.isoformat() if feed.announced else "?"
    since = feed.fill_since.isoformat() if feed.fill_since else day
    if feed.capped and (feed.fill_since is None or feed.fill_since == feed.announced):
        what, why = f"for {day}", "the feed stopped at arXiv's 2,000-item cap"
    elif feed.fill_since is None or feed.fill_since == feed.announced:
        what, why = f"for {day}", "the feed stayed stale"
    else:
        what, why = f"for the days since {since}", "missed: the watcher was down or the feed failed"
    if feed.status == "failed":
        return f"feed {feed.source}: FAILED to fill from the arXiv API {what} ({why}): {feed.error}"
    counts = count(feed.papers, "paper") + (f", {feed.new} new" if feed.papers else "")
    return f"feed {feed.source}: filled from the arXiv API: {counts} {what} ({why})"


def _query_line(feed: FeedReport) -> str:
    """A standing API query: papers, or nothing new (an empty answer, or only papers seen
    before or older than the query looks back)."""
    if feed.status == "failed":
        return f"feed {feed.source}: FAILED: {feed.error}"
    if not feed.new:
        seen = f" ({count(feed.papers, 'paper')}, all seen before)" if feed.papers else ""
        return f"feed {feed.source}: query: nothing new since the last poll{seen}"
    return f"feed {feed.source}: query: {count(feed.papers, 'paper')}, {feed.new} new"


# Below this a cycle may fail halfway (a busy day writes several MB: digests, archive, outbox).
LOW_DISK_BYTES = 64 * 1024 * 1024


def storage_problems(writable: bool, free_bytes: int | None) -> tuple[str, ...]:
    """What keeps the data directory from taking a cycle's writes (checked by the caller:
    ``os.access`` and ``shutil.disk_usage``), whether or not a cycle tried yet."""
    found = []
    if not writable:
        found.append("the data directory is not writable (every cycle fails)")
    if free_bytes is not None and free_bytes < LOW_DISK_BYTES:
        found.append(
            f"the disk of the data directory is nearly full ({free_bytes // 2**20} MB free)"
        )
    return tuple(found)


def last_run_error(last: JobRun | None, daemon: DaemonHealth | None) -> str | None:
    """The error of the last ``watcher once``, unless it succeeded or a daemon's cycle came
    after it (the daemon's own last cycle is in its part of status)."""
    if last is None or last.outcome != "error":
        return None
    daemon_at = daemon.last_cycle_at if daemon is not None else None
    if daemon_at is not None and daemon_at > (last.finished or last.started):
        return None
    at = _when(last.finished or last.started)
    return f"watcher once at {at}: {last.summary or 'failed'}"
