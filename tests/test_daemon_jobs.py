"""The daemon's parts, in process and without waiting: the jobs it schedules and when they
fire across DST changes (read from the scheduler's own triggers at a fixed "now"), which
feeds a recheck polls, backfill, the heartbeat lock, status lines and log lines."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from tests import factories
from tests.factories import rule_yaml, topic
from tests.fakes import DaemonSetup
from watcher import logs
from watcher.daemon import Daemon, next_runs, recheck_sources
from watcher.daemon.backfill import run_backfill
from watcher.daemon.heartbeat import (
    DaemonLock,
    daemon_pid,
    heartbeat_from_dict,
    heartbeat_to_dict,
)
from watcher.errors import StoreError
from watcher.models import LOCAL, Destination, Paper, Subscription
from watcher.schedule import SafeCronTrigger
from watcher.sources import FeedSource
from watcher.status import Status, daemon_health, render_status
from watcher.store import Store


def rule(name: str, schedule: str = "daily", timezone: str = "UTC") -> str:
    return rule_yaml(name, schedule=schedule, timezone=timezone)


Setup = DaemonSetup


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with DaemonSetup(tmp_path, schedule=True) as s:
        yield s


def fires(daemon: Daemon, now: datetime) -> dict[str, datetime]:
    """The next fire time of every job after ``now``, from the triggers the scheduler holds."""
    result = {}
    for job in daemon.scheduler.get_jobs():
        fire = job.trigger.get_next_fire_time(None, now)
        assert fire is not None
        result[job.id] = fire.astimezone(UTC)
    return result


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- the jobs and their rhythm -------------------------------------------------------------


def test_default_jobs_use_safe_cron_triggers_and_run_a_catch_up_cycle(setup: Setup) -> None:
    setup.write("a.yaml", rule("a"))
    now = utc(2024, 3, 6, 17)
    daemon = setup.daemon(now)
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert set(jobs) == {"poll", "recheck", "rules"}  # daily: no delivery job
    assert isinstance(jobs["poll"].trigger, SafeCronTrigger)
    assert isinstance(jobs["recheck"].trigger, SafeCronTrigger)
    assert str(jobs["poll"].trigger.timezone) == "America/New_York"
    assert jobs["poll"].next_run_time == now  # the catch-up cycle, at once
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time is not None and job.misfire_grace_time > 0


@pytest.mark.parametrize(
    ("now", "poll", "recheck"),
    [
        # Friday noon before spring-forward: Monday 00:10 EDT (04:10 UTC), not Tuesday.
        (utc(2024, 3, 8, 17), utc(2024, 3, 11, 4, 10), utc(2024, 3, 11, 7)),
        # Monday after the poll: the 03:00 and 06:00 rechecks, then Tuesday's poll.
        (utc(2024, 3, 11, 4, 11), utc(2024, 3, 12, 4, 10), utc(2024, 3, 11, 7)),
        (utc(2024, 3, 11, 7, 1), utc(2024, 3, 12, 4, 10), utc(2024, 3, 11, 10)),
        # Friday before fall-back: Monday 00:10 EST is 05:10 UTC.
        (utc(2024, 11, 1, 16), utc(2024, 11, 4, 5, 10), utc(2024, 11, 4, 8)),
        # Saturday night of the fall-back weekend: still Monday.
        (utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 5, 10), utc(2024, 11, 4, 8)),
    ],
)
def test_poll_and_recheck_follow_new_york_across_dst(
    setup: Setup, now: datetime, poll: datetime, recheck: datetime
) -> None:
    setup.write("a.yaml", rule("a"))
    daemon = setup.daemon(now)
    assert fires(daemon, now)["poll"] == poll
    assert fires(daemon, now)["recheck"] == recheck


def test_delivery_jobs_run_in_each_subscriptions_timezone_across_dst(setup: Setup) -> None:
    setup.write("daily.yaml", rule("daily"))
    setup.write("berlin.yaml", rule("berlin", "weekly", "Europe/Berlin"))
    setup.write("sydney.yaml", rule("sydney", "0 7 * * *", "Australia/Sydney"))
    setup.write("ny.yaml", rule("ny", "30 8 * * mon-fri", "America/New_York"))
    daemon = setup.daemon(utc(2024, 3, 30, 12))
    ids = {job.id for job in daemon.scheduler.get_jobs()}
    assert ids == {"poll", "recheck", "rules", "deliver:berlin", "deliver:sydney", "deliver:ny"}
    # Berlin springs forward on Sunday 31 March: Monday 08:00 CEST is 06:00 UTC.
    assert fires(daemon, utc(2024, 3, 30, 12))["deliver:berlin"] == utc(2024, 4, 1, 6)
    # Sydney falls back on Sunday 7 April: 07:00 AEST (+10) instead of AEDT (+11).
    assert fires(daemon, utc(2024, 4, 6, 12))["deliver:sydney"] == utc(2024, 4, 6, 21)
    assert fires(daemon, utc(2024, 4, 5, 12))["deliver:sydney"] == utc(2024, 4, 5, 20)
    # New York springs forward on 10 March: Monday 08:30 EDT is 12:30 UTC.
    assert fires(daemon, utc(2024, 3, 8, 14))["deliver:ny"] == utc(2024, 3, 11, 12, 30)


def test_the_heartbeat_shows_the_same_next_runs_as_the_triggers(setup: Setup) -> None:
    setup.write("berlin.yaml", rule("berlin", "weekly", "Europe/Berlin"))
    now = utc(2024, 3, 30, 12)
    daemon = setup.daemon(now)
    runs = {run.id: run for run in next_runs(daemon.specs.values(), now)}
    assert set(runs) == {"poll", "recheck", "deliver:berlin"}  # the rules check is not shown
    berlin = runs["deliver:berlin"]
    assert berlin.next_run is not None and berlin.timezone == "Europe/Berlin"
    assert berlin.next_run.isoformat() == "2024-04-01T08:00:00+02:00"
    assert str(runs["poll"].next_run) == "2024-04-01 00:10:00-04:00"
    beat = heartbeat_to_dict(daemon.heartbeat())
    assert [j["id"] for j in beat["jobs"]] == ["deliver:berlin", "poll", "recheck"]
    assert beat["jobs"][0]["next_run"] == "2024-04-01T08:00:00+02:00"


def test_a_poll_interval_replaces_both_crons(setup: Setup) -> None:
    setup.write("a.yaml", rule("a"))
    daemon = setup.daemon(utc(2024, 3, 8, 17), poll_interval=2.0)
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert set(jobs) == {"poll", "rules"}
    assert isinstance(jobs["poll"].trigger, IntervalTrigger)
    assert jobs["poll"].trigger.interval == timedelta(seconds=2)


def test_delivery_jobs_follow_rule_edits(setup: Setup) -> None:
    setup.write("w.yaml", rule("w", "weekly", "Europe/Berlin"))
    now = utc(2024, 3, 30, 12)
    daemon = setup.daemon(now)
    assert fires(daemon, now)["deliver:w"] == utc(2024, 4, 1, 6)
    setup.write("w.yaml", rule("w", "0 18 * * fri", "America/New_York"))
    daemon.check_rules()
    assert fires(daemon, now)["deliver:w"] == utc(2024, 4, 5, 22)  # Friday 18:00 EDT
    setup.write("w.yaml", rule("w"))  # daily now: no job of its own
    daemon.check_rules()
    assert "deliver:w" not in fires(daemon, now)
    setup.write("w.yaml", rule("w", "weekly"))
    daemon.check_rules()
    (setup.rules / "w.yaml").unlink()
    daemon.check_rules()
    assert set(fires(daemon, now)) == {"poll", "recheck", "rules"}


def test_recheck_polls_stale_failed_and_never_polled_feeds() -> None:
    def rss(name: str) -> FeedSource:
        return FeedSource(f"http://x/rss/{name}", "arxiv-rss", categories=(name,))

    query = FeedSource("http://x/api?q", "arxiv-query", query="q")
    sources = {rss(n): ["s"] for n in ("new", "stale", "failed", "empty", "never")}
    sources[query] = ["s"]
    last_status: dict[str, str | None] = {
        f"http://x/rss/{status}": status for status in ("new", "stale", "failed", "empty")
    }
    picked = recheck_sources(sources, last_status)
    assert sorted(s.url.rsplit("/", 1)[1] for s in picked) == ["failed", "never", "stale"]


# --- backfill ----------------------------------------------------------------------------


def paper(paper_id: str, title: str, day: date) -> Paper:
    announced = datetime(day.year, day.month, day.day, 5, tzinfo=UTC)  # 00:00 New York
    return factories.paper(paper_id, title=title, announce_type="new", published=announced)


def subscription(name: str, backfill: int | None, **kw: Any) -> Subscription:
    return factories.subscription(name, topic(), backfill_days=backfill, **kw)


def test_backfill_queues_recent_matches_under_their_announcement_dates(tmp_path: Path) -> None:
    now = utc(2026, 11, 20, 12)
    with Store.open(tmp_path) as store:
        store.record_papers(
            [paper("2611.00001", "Quantization, old", date(2026, 11, 2))], now - timedelta(days=18)
        )
        store.record_papers(
            [paper("2611.00002", "Quantization A", date(2026, 11, 16))], now - timedelta(days=4)
        )
        store.record_papers(
            [paper("2611.00003", "Quantization B", date(2026, 11, 18))], now - timedelta(days=2)
        )
        store.record_papers(
            [paper("2611.00004", "Pruning", date(2026, 11, 18))], now - timedelta(days=2)
        )
        store.commit()
        email = Destination("email", ("a@example.org",))
        sub = subscription("new-sub", 7, deliver=(email,))
        assert run_backfill(store, sub, frozenset({"local", "email"}), now) == 2
        entries = {e.digest.period: e for e in store.entries()}
        assert set(entries) == {"2026-11-16", "2026-11-18"}
        assert [m.paper.id for m in entries["2026-11-18"].digest.matches] == ["2611.00003"]
        assert all(e.destination == email and e.due is None for e in entries.values())
        assert store.matched_by("2611.00003") == {"new-sub"}
        # Asked again (a restart that forgot): nothing is queued twice.
        assert run_backfill(store, sub, frozenset({"local", "email"}), now) == 0
        assert len(store.entries()) == 2


def test_backfill_of_a_weekly_subscription_goes_to_its_slots(tmp_path: Path) -> None:
    now = utc(2026, 11, 20, 12)
    with Store.open(tmp_path) as store:
        announced = utc(2026, 11, 16, 5)  # first seen as announced: 00:00 New York
        store.record_papers([paper("2611.00002", "Quantization A", date(2026, 11, 16))], announced)
        store.commit()
        sub = subscription("weekly", 7, schedule="weekly", timezone="Europe/Berlin")
        assert run_backfill(store, sub, frozenset({"local"}), now) == 1
        [entry] = store.entries()
        assert entry.destination == LOCAL  # email is not configured here: local, as a cycle does
        # Announced Monday 16 November at 00:00 New York (06:00 Berlin): that Monday's slot.
        assert entry.digest.period == "2026-11-16 08:00"
        assert entry.due == datetime(2026, 11, 16, 7, tzinfo=UTC)


def test_no_backfill_without_the_key(tmp_path: Path) -> None:
    now = utc(2026, 11, 20, 12)
    with Store.open(tmp_path) as store:
        store.record_papers([paper("2611.00002", "Quantization A", date(2026, 11, 16))], now)
        store.commit()
        assert run_backfill(store, subscription("plain", None), frozenset({"local"}), now) == 0
        assert store.entries() == []


# --- one daemon per data directory --------------------------------------------------------


def test_the_daemon_lock_names_the_pid_that_holds_it(tmp_path: Path) -> None:
    first = DaemonLock(tmp_path)
    first.acquire()
    try:
        assert daemon_pid(tmp_path) == os.getpid()
        with pytest.raises(StoreError, match=f"already running .*pid {os.getpid()}"):
            DaemonLock(tmp_path).acquire(patience=0)
    finally:
        first.release()
    assert daemon_pid(tmp_path) is None
    DaemonLock(tmp_path).acquire()  # free again (released at once when collected)


# --- status -----------------------------------------------------------------------------

CHECKED = utc(2026, 11, 10, 12)
HEARTBEAT: dict[str, Any] = {
    "pid": 4242,
    "started": "2026-11-10T05:00:00+00:00",
    "updated": "2026-11-10T05:10:03+00:00",
    "stopped": None,
    "jobs": [
        {
            "id": "poll",
            "name": "poll",
            "next_run": "2026-11-11T00:10:00-05:00",
            "timezone": "America/New_York",
        },
        {
            "id": "deliver:w",
            "name": "deliver w",
            "next_run": "2026-11-16T08:00:00+01:00",
            "timezone": "Europe/Berlin",
        },
    ],
    "last_cycle": {
        "job": "poll",
        "started": "2026-11-10T05:10:00+00:00",
        "finished": "2026-11-10T05:10:03+00:00",
        "outcome": "ok",
        "summary": "2 feeds (0 failed), 5 new papers",
    },
    "running": None,
    "rule_errors": [
        {
            "error": "rules/a.yaml:5: topics[0].any: the term list is empty",
            "path": "rules/a.yaml",
            "kept": True,
        }
    ],
}


def render(pid: int | None, beat: dict[str, Any] | None, **kw: Any) -> tuple[Status, str]:
    heartbeat = None if beat is None else heartbeat_from_dict(beat)
    status = Status(daemon=daemon_health(pid, heartbeat, CHECKED, **kw))
    return status, "\n".join(render_status(status))


def test_status_of_a_running_daemon_shows_its_next_runs() -> None:
    status, text = render(4242, {**HEARTBEAT, "rule_errors": []})
    assert "Daemon: running (pid 4242) since 2026-11-10 05:00:00 UTC" in text
    assert "last cycle: poll at 2026-11-10 05:10:03 UTC: ok (2 feeds" in text
    assert "poll       2026-11-11 00:10 America/New_York (in 17h 10m)" in text
    assert "deliver w  2026-11-16 08:00 Europe/Berlin (in 5d 19h)" in text
    assert not status.needs_attention


def test_status_says_when_no_daemon_runs() -> None:
    status, text = render(None, None)
    assert "no daemon running" in text and not status.needs_attention
    status, text = render(None, None, required=True)
    assert status.needs_attention and "Needs attention: no daemon running." in text
    stopped = {**HEARTBEAT, "stopped": "2026-11-10T06:00:00+00:00", "rule_errors": []}
    status, text = render(None, stopped)
    assert "the last one stopped at 2026-11-10 06:00:00 UTC" in text
    assert not status.needs_attention
    status, text = render(None, {**HEARTBEAT, "rule_errors": []})  # no clean stop: it died
    assert "NOT RUNNING" in text and "pid 4242" in text and status.needs_attention


def test_status_flags_a_job_long_overdue() -> None:
    late = {
        **HEARTBEAT,
        "jobs": [{**HEARTBEAT["jobs"][0], "next_run": "2026-11-10T00:10:00-05:00"}],
    }
    status, text = render(4242, late)
    assert "OVERDUE by 6h 50m" in text and "the poll job is overdue" in text
    assert status.needs_attention
    busy = {**late, "running": {"job": "poll", "since": "2026-11-10T11:59:00+00:00"}}
    assert not render(4242, busy)[0].daemon_problems  # working on it


def test_status_falls_back_to_the_daemons_rule_errors() -> None:
    status, text = render(4242, HEARTBEAT)
    assert status.rule_errors == ("rules/a.yaml:5: topics[0].any: the term list is empty",)
    assert "Needs attention: 1 rule file with errors." in text


# --- logs ---------------------------------------------------------------------------------


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    secret = "xoxb-very-secret-token"
    logs.configure("json", secrets=[secret, None, ""], stream=stream)
    try:
        yield logging.getLogger("watcher.test"), stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_json_logs_are_one_object_per_line_with_the_extras(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    log.info("feed %s: new", "cs.LG", extra={"event": "feed", "papers": 3})
    log.warning("two\nlines")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "feed cs.LG: new" and first["level"] == "info"
    assert first["event"] == "feed" and first["papers"] == 3 and first["logger"] == "watcher.test"
    assert second["message"] == "two\nlines"


def test_secrets_never_reach_a_log_line(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logger
    log.error(
        "posting with %s failed",
        "xoxb-very-secret-token",
        extra={"url": "x?t=xoxb-very-secret-token"},
    )
    try:
        raise RuntimeError("token xoxb-very-secret-token refused")
    except RuntimeError:
        log.exception("boom")
    text = stream.getvalue()
    assert "xoxb-very-secret-token" not in text
    assert text.count("***") >= 3
    assert logging.getLogger("httpx").level == logging.WARNING
