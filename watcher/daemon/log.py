"""The daemon's log lines, and the one-line outcome of each job for its heartbeat.

Every line goes to the ``watcher.daemon`` logger with an ``event`` (``started``, ``rules``,
``feed``, ``note``, ``delivery``, ``cycle``) and the fields a JSON log consumer filters on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from watcher.digest import tally
from watcher.models import CycleReport, DeliveryReport, JobOutcome, Subscription
from watcher.rules.watch import Reload
from watcher.settings import Settings
from watcher.status import count, feed_line

log = logging.getLogger("watcher.daemon")


def log_start(settings: Settings, subscriptions: int) -> None:
    s = settings
    rhythm = (
        f"poll every {s.poll_interval:g} s"
        if s.poll_interval
        else f"poll at '{s.poll_cron}', recheck at '{s.recheck_cron}' ({s.poll_timezone})"
    )
    log.info(
        "watcher daemon started (pid %d): data %s, rules %s, %s; %s; rule files checked every %g s",
        os.getpid(),
        s.data_dir,
        s.rules_dir,
        count(subscriptions, "subscription"),
        rhythm,
        s.rules_reload_interval,
        extra={"event": "started"},
    )


def log_rules(
    change: Reload, initial: bool, subscriptions: Sequence[Subscription], rules_dir: Path
) -> None:
    """What a look at the rules directory found: files loaded, edited, deleted, broken."""
    names = {p: f.subscription.name for p, f in change.state.files.items() if f.subscription}
    extra = {"event": "rules"}
    for path in change.added:
        verb = "loaded" if initial else "new rule file"
        log.info("%s %s: subscription %s", verb, path, names.get(path), extra=extra)
    for path in change.fixed:
        # The error was logged when the file broke; its end is worth a line too.
        log.info("%s: loaded again (fixed): subscription %s", path, names.get(path), extra=extra)
    for path in change.updated:
        if path not in change.fixed:
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
    if not subscriptions:
        log.warning(
            "no usable rule files in %s: nothing to watch until one is added",
            rules_dir,
            extra=extra,
        )


def log_report(name: str, report: CycleReport) -> None:
    """A cycle: a line per feed, per note and per delivery, then the totals."""
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
    log_deliveries(report.deliveries)
    delivered = sum(1 for d in report.deliveries if d.status == "delivered")
    log.info(
        "%s: %s, %s, %s delivered",
        name,
        count(report.new_papers, "new paper"),
        count(report.matches, "match"),
        count(delivered, "digest"),
        extra={
            "event": "cycle",
            "job": name,
            "new_papers": report.new_papers,
            "matches": report.matches,
            "delivered": delivered,
        },
    )


def log_deliveries(reports: Sequence[DeliveryReport]) -> None:
    for d in reports:
        level = logging.INFO if d.status == "delivered" else logging.WARNING
        log.log(
            level,
            "%s: %s %s (%s) -> %s%s",
            d.status,
            d.subscription,
            d.period,
            tally(d.papers, d.updated),
            d.destination,
            f": {d.detail}" if d.detail else "",
            extra={
                "event": "delivery",
                "status": d.status,
                "subscription": d.subscription,
                "destination": d.destination,
                "period": d.period,
                "papers": d.papers,
                "updated": d.updated,
            },
        )


def cycle_outcome(report: CycleReport) -> tuple[JobOutcome, str]:
    """A cycle's outcome and summary, for the heartbeat."""
    failed_feeds = sum(1 for f in report.feeds if f.status == "failed")
    undelivered = sum(1 for d in report.deliveries if d.status != "delivered")
    delivered = len(report.deliveries) - undelivered
    summary = (
        f"{count(len(report.feeds), 'feed')} ({failed_feeds} failed), "
        f"{count(report.new_papers, 'new paper')}, {count(report.matches, 'match')}, "
        f"{count(delivered, 'digest')} delivered, {undelivered} not delivered"
    )
    return ("attention" if failed_feeds or undelivered else "ok"), summary


def delivery_outcome(reports: Sequence[DeliveryReport]) -> tuple[JobOutcome, str]:
    """A delivery job's outcome and summary, for the heartbeat."""
    undelivered = sum(1 for d in reports if d.status != "delivered")
    summary = (
        f"{count(len(reports) - undelivered, 'digest')} delivered, {undelivered} not delivered"
    )
    return ("attention" if undelivered else "ok"), summary
