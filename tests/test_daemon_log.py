"""The daemon's log as a person reads it: the product's own lines, counted in plain words."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from watcher import logs
from watcher.daemon.log import cycle_outcome, log_report
from watcher.models import CycleReport, DeliveryReport


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs.quiet_libraries()


def _overlapping_job_log(*, level: int) -> str:
    """Run a real APScheduler interval job that outlasts its interval (as a 4-feed poll at
    arXiv's 3 s pace does with WATCHER_POLL_INTERVAL=5) and return what was logged."""
    out = io.StringIO()
    logs.configure("text", stream=out, level=level)
    done = threading.Event()
    runs: list[float] = []

    def slow() -> None:
        runs.append(time.monotonic())
        done.wait(0.6)

    scheduler = BackgroundScheduler()
    scheduler.add_job(slow, "interval", seconds=0.2, max_instances=1, coalesce=True)
    scheduler.start()
    time.sleep(1.0)
    done.set()
    scheduler.shutdown(wait=True)
    assert runs, "the job never ran"
    return out.getvalue()


def test_a_job_still_running_at_its_next_tick_logs_no_library_warning(
    restore_logging: None,
) -> None:
    assert "maximum number of running instances" not in _overlapping_job_log(level=logging.INFO)
    # --verbose shows the libraries' own lines, this one included.
    assert "maximum number of running instances" in _overlapping_job_log(level=logging.DEBUG)


def test_cycle_lines_count_in_words(
    restore_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    delivered = DeliveryReport("s", "local", "2026-11-10", 1, "delivered", "d/s/2026-11-10.md")
    report = CycleReport(new_papers=1, matches=1, deliveries=(delivered,))
    with caplog.at_level(logging.INFO, logger="watcher.daemon"):
        log_report("poll", report)
    assert caplog.messages[-1] == "poll: 1 new paper, 1 match, 1 digest delivered"
    assert cycle_outcome(report)[1] == (
        "0 feeds (0 failed), 1 new paper, 1 match, 1 digest delivered, 0 not delivered"
    )
