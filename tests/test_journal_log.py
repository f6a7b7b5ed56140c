"""Under systemd the log goes to the journal, which stores every line at "info" unless the
line says otherwise: ``watcher run`` starts each line with its syslog priority (``<4>`` for a
warning, sd-daemon(3)) when stderr is the stream systemd names in JOURNAL_STREAM, so
``journalctl -p warning`` finds the failed feeds and the broken rule files. Anywhere else the
lines stay as they were."""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.feedserver import FeedServer, Reply
from tests.smtpserver import running_server
from tests.test_daemon import BROKEN, Harness, rule
from watcher import logs


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with FeedServer() as feeds, running_server() as smtp:
        world = Harness(tmp_path, feeds, smtp)
        try:
            yield world
        finally:
            world.cleanup()


def journal_stream_of(path: Path) -> str:
    info = path.stat()
    return f"{info.st_dev}:{info.st_ino}"


def run_until_logged(harness: Harness, env: dict[str, str]) -> str:
    """Start ``watcher run`` with ``env`` added, wait for its failed poll and rule error,
    stop it; its log."""
    harness.env.update(env)
    proc = harness.start()
    harness.wait("a failed poll", lambda: "FAILED" in harness.log())
    harness.wait("the rule error", lambda: "rule error" in harness.log())
    assert harness.stop(proc) == 0
    return harness.log()


def test_lines_carry_their_priority_when_stderr_is_the_journal(harness: Harness) -> None:
    harness.feeds.route("/rss/cs.LG", Reply(status=503, body=b"down"))
    harness.write("papers.yaml", rule("papers", "pruning", "a@example.org"))
    harness.write("broken.yaml", BROKEN)
    # systemd connects stderr to the journal and names that stream: the log file plays it.
    log_file = harness.tmp / "daemon-0.log"
    log_file.touch()
    text = run_until_logged(harness, {"JOURNAL_STREAM": journal_stream_of(log_file)})

    lines = text.splitlines()
    assert lines and all(re.match(r"<[2-7]>", line) for line in lines), text
    warnings = [line for line in lines if line.startswith("<4>")]
    errors = [line for line in lines if line.startswith("<3>")]
    assert any("FAILED" in line for line in warnings), text
    assert any("rule error" in line and "broken.yaml" in line for line in errors), text
    assert any(line.startswith("<6>INFO watcher") and "stopped" in line for line in lines)
    # The journal stamps each line itself: no second time stamp in the text.
    assert not any(re.match(r"<\d>\d{4}-\d\d-\d\d", line) for line in lines), text


def test_lines_stay_plain_when_stderr_is_not_the_journal(harness: Harness) -> None:
    harness.feeds.route("/rss/cs.LG", Reply(status=503, body=b"down"))
    harness.write("papers.yaml", rule("papers", "pruning", "a@example.org"))
    harness.write("broken.yaml", BROKEN)
    # The service's stderr was sent to a file: JOURNAL_STREAM names another stream.
    elsewhere = harness.tmp / "journal"
    elsewhere.touch()
    text = run_until_logged(harness, {"JOURNAL_STREAM": journal_stream_of(elsewhere)})
    assert "FAILED" in text
    assert not re.search(r"^<\d>", text, re.M), text
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ WARNING ", text, re.M), text


def test_every_line_of_a_traceback_and_of_a_json_record_is_prefixed(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    with path.open("w", encoding="utf-8") as stream:
        for fmt in ("text", "json"):
            handler = logs.configure(fmt, stream=stream, journal_stream=journal_stream_of(path))
            try:
                raise RuntimeError("the disk went away\nsecond line")
            except RuntimeError:
                logging.getLogger("watcher.test").exception("a job failed")
            logging.getLogger("watcher.test").warning("a feed failed")
            logging.getLogger().removeHandler(handler)
    lines = path.read_text(encoding="utf-8").splitlines()
    text_lines = lines[: lines.index(next(line for line in lines if line.startswith("<3>{")))]
    assert text_lines[0] == "<3>ERROR watcher.test: a job failed"
    assert "<3>Traceback (most recent call last):" in text_lines
    assert "<3>second line" in text_lines
    assert all(line.startswith("<3>") for line in text_lines[:-1])
    assert text_lines[-1] == "<4>WARNING watcher.test: a feed failed"
    assert lines[-1].startswith('<4>{"time": ') and '"level": "warning"' in lines[-1]


def test_a_stream_that_is_no_file_is_not_the_journal() -> None:
    assert not logs.is_journal(io.StringIO(), "1:2")
    with open(os.devnull, "w", encoding="utf-8") as null:
        assert logs.is_journal(
            null, f"{os.fstat(null.fileno()).st_dev}:{os.fstat(null.fileno()).st_ino}"
        )
        assert not logs.is_journal(null, None)
    assert logs.syslog_priority(logging.INFO + 5) == 4  # a level between: the next one up
