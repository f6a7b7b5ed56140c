"""The daemon's rules at scale and beside a long cycle, in process with the real scheduler:
a rule edit applies while a cycle runs (which keeps the rules it started with), a start
rewrites no unchanged ``rules-last-good/`` copy, and nothing of a cycle stays referenced."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.factories import rule_yaml
from tests.fakes import DaemonSetup
from tests.feeds import Item, rss
from watcher.daemon import Daemon
from watcher.daemon.jobs import NextRuns
from watcher.daemon.service import LAST_GOOD_DIR
from watcher.fetch import FetchResult
from watcher.match import Matcher
from watcher.models import Paper, RawFeed

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


def test_a_rule_edit_applies_while_a_cycle_runs_and_the_cycle_keeps_its_rules(
    setup: DaemonSetup,
) -> None:
    feed = str(setup.rules.parent / "feed.xml")
    setup.write("a.yaml", rule_yaml("a", {"Q": ["quantiz*"]}, feeds=[feed]))
    # Weekly subscriptions whose delivery slot comes while the cycle runs: each delivery job
    # waits for the store the cycle holds.
    for i in range(6):
        setup.write(f"w{i}.yaml", rule_yaml(f"w{i}", feeds=[feed], schedule="0 8 * * mon"))
    daemon = setup.daemon(poll_interval=3600.0, rules_reload_interval=0.1)
    body = rss(DAY, [Item("2611.00001", "Quantized nets"), Item("2611.00002", "Pruned nets")])
    fetcher = BlockedFetcher(body)
    daemon.fetcher.close()
    daemon.fetcher = fetcher  # type: ignore[assignment]
    daemon.schedule()
    runner = threading.Thread(target=daemon.scheduler.start, daemon=True)
    runner.start()
    try:
        assert fetcher.entered.wait(10), "the catch-up cycle never started"
        now = datetime.now(UTC)
        for i in range(6):
            daemon.scheduler.modify_job(f"deliver:w{i}", next_run_time=now)
        time.sleep(0.3)  # the delivery jobs have started and wait for the store

        setup.write("a.yaml", rule_yaml("a", {"Q": ["prun*"]}, feeds=[feed]))
        took = wait_until("the edit to apply", lambda: terms(daemon, "a") == ["prun*"], 3.0)
        assert took < 2.0
        assert daemon.running is not None and daemon.running.job == "poll"  # still running
    finally:
        fetcher.release.set()
    wait_until("the cycle to end", lambda: daemon.last_cycle is not None, 10.0)
    daemon.scheduler.shutdown(wait=True)
    runner.join(10)
    assert daemon.last_cycle is not None and daemon.last_cycle.outcome == "ok"
    # The cycle that was running matched with the rules it started with.
    [digest] = (setup.data / "digests" / "a").glob("*.md")
    text = digest.read_text(encoding="utf-8")
    assert "Quantized nets" in text and "Pruned nets" not in text


def test_a_start_rewrites_no_unchanged_last_good_copy(
    setup: DaemonSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(30):
        setup.write(f"r{i:02d}.yaml", rule_yaml(f"r{i:02d}"))
    setup.daemon()
    copies = setup.data / LAST_GOOD_DIR
    assert len(list(copies.glob("*.yaml"))) == 30

    from watcher.daemon import service

    written: list[Path] = []
    real = service.write_atomically

    def counting(path: Path, data: bytes, *args: Any, **kwargs: Any) -> None:
        written.append(path)
        real(path, data, *args, **kwargs)

    monkeypatch.setattr(service, "write_atomically", counting)
    setup.daemon()  # a restart: nothing changed
    assert written == []
    setup.write("r07.yaml", rule_yaml("r07", {"Q": ["prun*"]}))
    setup.daemon()  # edited while the daemon was down: that copy only
    assert written == [copies / "r07.yaml"]
    assert "prun*" in (copies / "r07.yaml").read_text(encoding="utf-8")


def test_nothing_of_a_cycle_stays_referenced_after_it(setup: DaemonSetup) -> None:
    feed = setup.rules.parent / "feed.xml"
    feed.write_bytes(rss(DAY, [Item(f"2611.{i:05d}", f"Quantized net {i}") for i in range(50)]))
    setup.write("a.yaml", rule_yaml("a", feeds=[str(feed)]))
    daemon = setup.daemon(poll_interval=3600.0)
    daemon.schedule()
    [poll] = [job for job in daemon.scheduler.get_jobs() if job.id == "poll"]
    poll.func()
    assert daemon.last_cycle is not None and daemon.last_cycle.outcome == "ok"
    gc.collect()
    papers = [
        o for o in gc.get_objects() if isinstance(o, Paper) and o.title.startswith("Quantized net ")
    ]
    assert papers == [], f"{len(papers)} papers of the cycle are still referenced"
    # Nor the matcher, whose caches hold every word of the day's papers.
    ours = set(daemon.subscriptions)
    matchers = [o for o in gc.get_objects() if isinstance(o, Matcher)]
    assert not [m for m in matchers if ours & set(m.subscriptions)]
