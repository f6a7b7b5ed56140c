"""What a service manager needs from the command: ``watcher status --live`` says only whether
the daemon runs and does its rounds (a failing feed does not make it "dead"), and a
configuration error ends ``watcher run`` with its own exit code (78), so that systemd's
RestartPreventExitStatus= stops restarting a service that cannot start.

Real ``python -m watcher`` processes against a local feed server, real lock files."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.factories import rule_yaml, write_rule
from tests.fakes import DaemonSetup
from tests.feedserver import FeedServer, Reply
from tests.smtpserver import running_server
from tests.test_daemon import Harness, rule
from watcher.daemon import Daemon
from watcher.daemon.heartbeat import DaemonLock, heartbeat_to_dict, read_heartbeat, write_json
from watcher.errors import EXIT_CONFIG
from watcher.models import Heartbeat
from watcher.status import BEAT_EVERY, STALE_AFTER, liveness

KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with FeedServer() as feeds, running_server() as smtp:
        world = Harness(tmp_path, feeds, smtp)
        try:
            yield world
        finally:
            world.cleanup()


def watcher(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watcher", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_live_says_alive_while_status_says_attention_and_dead_once_stopped(
    harness: Harness,
) -> None:
    # arXiv is down: every poll fails. That needs a person's eyes, not a restart.
    harness.feeds.route("/rss/cs.LG", Reply(status=503, body=b"down"))
    harness.write("papers.yaml", rule("papers", "pruning", "a@example.org"))
    before = watcher("status", "--live", env=harness.env, cwd=harness.tmp)
    assert before.returncode == 1
    assert "not live: no watcher daemon holds this data directory" in before.stdout

    proc = harness.start()
    harness.wait("a failed poll", lambda: "FAILED" in harness.log())
    harness.wait("the heartbeat", lambda: bool(harness.heartbeat().get("last_cycle")))
    attention = watcher("status", "--require-daemon", env=harness.env, cwd=harness.tmp)
    assert attention.returncode == 1, attention.stdout
    live = watcher("status", "--live", env=harness.env, cwd=harness.tmp)
    assert live.returncode == 0, live.stdout + live.stderr
    assert live.stdout.startswith(f"live: pid {proc.pid}, heartbeat ")
    assert live.stdout.count("\n") == 1  # one line: a health check's log stays readable

    assert harness.stop(proc) == 0
    after = watcher("status", "--live", env=harness.env, cwd=harness.tmp)
    assert after.returncode == 1
    assert "not live: no watcher daemon" in after.stdout


def test_live_fails_when_the_daemon_holds_its_lock_but_stopped_beating(tmp_path: Path) -> None:
    # A daemon whose scheduler hangs: the process (here, this one) holds the lock, and the
    # last heartbeat it wrote is six minutes old.
    data = tmp_path / "data"
    lock = DaemonLock(data)
    lock.acquire()
    try:
        now = datetime.now(UTC)
        beat = Heartbeat(pid=os.getpid(), started=now - timedelta(hours=1), updated=now)
        old = replace(beat, updated=now - STALE_AFTER - timedelta(minutes=1))
        write_json(data / "daemon.json", heartbeat_to_dict(old))
        env = {k: v for k, v in os.environ.items() if k in KEEP}
        env.update(PYTHONPATH=str(PROJECT), WATCHER_DATA_DIR=str(data))
        stale = watcher("status", "--live", env=env, cwd=tmp_path)
        assert stale.returncode == 1
        found = re.match(rf"not live: pid {os.getpid()}'s heartbeat is (\d+) s old ", stale.stdout)
        assert found and 360 <= int(found[1]) < 420, stale.stdout  # 360 s, and the start-up

        write_json(data / "daemon.json", heartbeat_to_dict(beat))
        fresh = watcher("status", "--live", env=env, cwd=tmp_path)
        assert fresh.returncode == 0, fresh.stdout
    finally:
        lock.release()


def test_the_daemon_beats_between_jobs(tmp_path: Path) -> None:
    # No poll for hours (arXiv's schedule): the rules job, every few seconds, rewrites the
    # heartbeat once it is BEAT_EVERY old, and not more often.
    moment = [datetime(2026, 11, 10, 6, tzinfo=UTC)]
    with DaemonSetup(tmp_path) as setup:
        setup.write("papers.yaml", rule_yaml("papers", {"Topic": ["pruning"]}))
        daemon = Daemon(setup.settings, {}, clock=lambda: moment[0])
        setup.daemons.append(daemon)
        daemon.check_rules(initial=True)
        daemon.write_heartbeat()
        first = read_heartbeat(setup.data)
        assert first is not None and first.updated == moment[0]

        moment[0] += BEAT_EVERY - timedelta(seconds=1)
        daemon.check_rules()
        same = read_heartbeat(setup.data)
        assert same is not None and same.updated == first.updated
        moment[0] += timedelta(seconds=1)
        daemon.check_rules()
        beat = read_heartbeat(setup.data)
        assert beat is not None and beat.updated == moment[0]
        assert liveness(os.getpid(), beat, moment[0] + STALE_AFTER).alive
        assert not liveness(os.getpid(), beat, moment[0] + STALE_AFTER * 2).alive


def test_a_configuration_error_ends_run_with_its_own_exit_code(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k in KEEP}
    env.update(PYTHONPATH=str(PROJECT), WATCHER_DATA_DIR=str(tmp_path / "data"))
    missing = tmp_path / "no-such-rules"
    ran = watcher("run", "--rules", str(missing), env=env, cwd=tmp_path)
    assert ran.returncode == EXIT_CONFIG == 78, ran.stderr
    assert f"{missing}: the rules directory does not exist" in ran.stderr

    rules = tmp_path / "rules"
    write_rule(rules / "papers.yaml", rule_yaml("papers", {"Topic": ["pruning"]}))
    bad = watcher(
        "run", "--rules", str(rules), env={**env, "WATCHER_POLL_INTERVAL": "soon"}, cwd=tmp_path
    )
    assert bad.returncode == EXIT_CONFIG, bad.stderr
    assert "WATCHER_POLL_INTERVAL: expected a number, got 'soon'" in bad.stderr

    # Another daemon on the data directory is no configuration error: it may go away.
    lock = DaemonLock(tmp_path / "data")
    lock.acquire()
    try:
        busy = watcher("run", "--rules", str(rules), env=env, cwd=tmp_path)
    finally:
        lock.release()
    assert busy.returncode == 1 and "already running" in busy.stderr


def test_a_stop_while_the_command_is_still_starting_is_not_lost(harness: Harness) -> None:
    # `docker stop` right after `docker start`: the imports take well over half a second on
    # any machine (1.5 s on the CI machine), so the signal comes before the daemon is ready.
    harness.write("papers.yaml", rule("papers", "pruning", "a@example.org"))
    proc = harness.start()
    time.sleep(0.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0, harness.log()
    log = harness.log()
    assert "SIGTERM: finishing the job in progress, then stopping" in log
    assert "watcher daemon stopped" in log

    # Any other command still ends at once on a SIGTERM that came while it started.
    once = subprocess.Popen(
        [sys.executable, "-m", "watcher", "once"],
        cwd=harness.tmp,
        env=harness.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    once.send_signal(signal.SIGTERM)
    assert once.wait(timeout=10) == -signal.SIGTERM
    assert not (harness.data / "last-run.json").exists()  # it did not run a cycle
