"""The daemon's heartbeat (``daemon.json``) as a typed value: what the daemon writes is what
``watcher status`` reads back, and a damaged file reads as "no news", never as a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from watcher.daemon.heartbeat import (
    HEARTBEAT_FILE,
    heartbeat_to_dict,
    read_heartbeat,
    write_json,
)
from watcher.models import Heartbeat, JobRun, NextJob, RuleFileError, RunningJob
from watcher.status import Status, daemon_health, render_status

STARTED = datetime(2026, 11, 10, 5, tzinfo=UTC)
NEW_YORK = timezone(timedelta(hours=-5))

BEAT = Heartbeat(
    pid=4242,
    started=STARTED,
    updated=STARTED + timedelta(hours=1),
    data_dir="/var/lib/arxiv-watcher",
    rules_dir="/etc/arxiv-watcher/rules",
    subscriptions=("a", "b"),
    rule_errors=(RuleFileError("rules/a.yaml", "rules/a.yaml:5: topics[0].any: empty", True),),
    jobs=(
        NextJob("poll", "poll", datetime(2026, 11, 11, 0, 10, tzinfo=NEW_YORK), "America/New_York"),
    ),
    running=RunningJob("poll", STARTED + timedelta(minutes=59)),
    last_job=JobRun("deliver w", STARTED, STARTED + timedelta(seconds=2), "ok", "1 digest"),
    last_cycle=JobRun("poll", STARTED, STARTED + timedelta(seconds=3), "attention", "1 failed"),
)


def test_a_heartbeat_survives_the_trip_through_daemon_json(tmp_path: Path) -> None:
    write_json(tmp_path / HEARTBEAT_FILE, heartbeat_to_dict(BEAT))
    assert read_heartbeat(tmp_path) == BEAT
    raw = json.loads((tmp_path / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    # The file keeps its shape: scripts and older `watcher status` read these keys.
    assert raw["jobs"][0]["next_run"] == "2026-11-11T00:10:00-05:00"
    assert raw["last_cycle"]["outcome"] == "attention"
    assert raw["rule_errors"][0] == {
        "error": "rules/a.yaml:5: topics[0].any: empty",
        "path": "rules/a.yaml",
        "kept": True,
    }


def test_status_reads_the_typed_heartbeat() -> None:
    checked = STARTED + timedelta(hours=1)
    text = "\n".join(render_status(Status(daemon=daemon_health(4242, BEAT, checked))))
    assert "working: poll since 2026-11-10 05:59:00 UTC" in text
    assert "last cycle: poll at 2026-11-10 05:00:03 UTC: attention (1 failed)" in text
    assert "poll  2026-11-11 00:10 America/New_York (in 23h 10m)" in text


def test_a_damaged_heartbeat_reads_as_absent_fields(tmp_path: Path) -> None:
    (tmp_path / HEARTBEAT_FILE).write_text(
        json.dumps(
            {
                "pid": "4242",
                "started": "yesterday",
                "jobs": ["poll", {"name": "poll", "next_run": 7}],
                "running": {"job": "poll"},
                "last_cycle": {"job": "poll", "started": "2026-11-10T05:00:00", "outcome": "??"},
                "rule_errors": "none",
            }
        ),
        encoding="utf-8",
    )
    beat = read_heartbeat(tmp_path)
    assert beat is not None
    assert (beat.pid, beat.started, beat.running, beat.rule_errors) == (None, None, None, ())
    assert beat.jobs == (NextJob("poll", "poll", None, "UTC"),)
    assert beat.last_cycle is not None and beat.last_cycle.started == STARTED  # naive: UTC
    assert beat.last_cycle.outcome == "error"
    health = daemon_health(None, beat, STARTED)
    assert health.problems == ("the daemon is not running and did not stop cleanly",)
    (tmp_path / HEARTBEAT_FILE).write_text("[1, 2", encoding="utf-8")
    assert read_heartbeat(tmp_path) is None
