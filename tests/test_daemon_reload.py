"""The daemon's rules at scale and beside a long cycle, in process with the real scheduler:
a rule edit applies while a cycle runs (which keeps the rules it started with), a start
rewrites no unchanged ``rules-last-good/`` copy, and nothing of a cycle stays referenced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.factories import rule_yaml
from tests.fakes import DaemonSetup
from watcher.daemon import Daemon
from watcher.daemon.jobs import NextRuns
from watcher.fetch import FetchResult
from watcher.models import RawFeed

DAY = date(2026, 11, 10)
HOUR = timedelta(hours=1)


class BlockedFetcher:
    """Serves a feed only once ``release`` is set: a cycle that takes as long as a test
    wants."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.entered = threading.Event()
        self.release = threading.Event()

    def fetch(self, source: str, *, etag: str | None = None) -> FetchResult:
        self.entered.set()
        assert self.release.wait(30), "the test never released the fetch"
        return FetchResult(RawFeed(source, self.body, "application/rss+xml"), False, None)

    def close(self) -> None:
        self.release.set()


def wait_until(what: str, ready: Callable[[], bool], timeout: float) -> float:
    began = time.monotonic()
    while not ready():
        if time.monotonic() - began > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - began


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[DaemonSetup]:
    with DaemonSetup(tmp_path) as s:
        yield s


def terms(daemon: Daemon, name: str) -> list[str]:
    sub = next(s for s in daemon.subscriptions if s.name == name)
    return [term.text for topic in sub.topics for term in topic.any]


def test_the_heartbeat_s_next_runs_move_on_once_they_pass(setup: DaemonSetup) -> None:
    # Worked out once per job and kept until it passes: never a time already gone.
    setup.write("w.yaml", rule_yaml("w", schedule="0 8 * * mon", timezone="Europe/Berlin"))
    runs = NextRuns()
    daemon = setup.daemon()
    daemon.schedule()
    monday = datetime(2024, 4, 1, 6, tzinfo=UTC)  # 08:00 in Berlin
    first = {job.id: job.next_run for job in runs(daemon.specs.values(), monday - HOUR)}
    assert first["deliver:w"] == monday
    later = {job.id: job.next_run for job in runs(daemon.specs.values(), monday + HOUR)}
    assert later["deliver:w"] == monday + timedelta(days=7)
    setup.write("w.yaml", rule_yaml("w", schedule="0 8 * * tue", timezone="Europe/Berlin"))
    daemon.check_rules()
    moved = {job.id: job.next_run for job in runs(daemon.specs.values(), monday + HOUR)}
    assert moved["deliver:w"] == monday + timedelta(days=1)
    assert set(moved) == {"poll", "recheck", "deliver:w"}
