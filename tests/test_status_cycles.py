"""`watcher status` never says "All good" while every cycle fails: `watcher once` records
how it went where status reads it, and status checks the data directory can take a cycle."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from tests.factories import rule_yaml, write_rule
from tests.feeds import Item, rss
from watcher.cli import main
from watcher.status import LOW_DISK_BYTES, storage_problems


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("WATCHER_", "SLACK_", "SMTP_")):
            monkeypatch.delenv(name)


def test_status_reports_a_failing_cycle_until_one_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules, data = tmp_path / "rules", tmp_path / "data"
    write_rule(rules / "q.yaml", rule_yaml("q", {"Q": ["quantiz*"]}))
    feed = tmp_path / "lg.xml"
    feed.write_bytes(rss(date(2026, 11, 10), [Item("2611.00001", "Quantization first")]))
    dirs = ["--rules", str(rules), "--data", str(data)]
    assert main(["once", *dirs, "--feed", str(feed)]) == 0
    capsys.readouterr()
    # Something damages today's text file (a full disk's half write, a bad copy).
    [text] = (data / "text").glob("*.json")
    text.write_text('{"papers": {"2611.00001": {"tit', encoding="utf-8")
    feed.write_bytes(rss(date(2026, 11, 11), [Item("2611.00002", "Quantization second")]))
    assert main(["once", *dirs, "--feed", str(feed)]) == 1
    capsys.readouterr()

    assert main(["status", *dirs]) == 1
    out = capsys.readouterr().out
    assert "LAST CYCLE FAILED: watcher once at" in out and text.name in out
    assert "Needs attention: the last cycle failed." in out

    text.unlink()  # the user moves the damaged file aside, as the error said
    assert main(["once", *dirs, "--feed", str(feed)]) == 0
    capsys.readouterr()
    assert main(["status", *dirs]) == 0
    assert "All good" in capsys.readouterr().out


def test_a_read_only_or_full_data_directory_needs_attention() -> None:
    assert storage_problems(True, 10 * LOW_DISK_BYTES) == ()
    assert storage_problems(False, None) == (
        "the data directory is not writable (every cycle fails)",
    )
    [full] = storage_problems(True, 5 * 2**20)
    assert "nearly full (5 MB free)" in full
