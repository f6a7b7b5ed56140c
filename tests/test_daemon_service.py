"""The daemon in process, with a real cycle on a local feed: it honours every setting, its
jobs wait for the data directory (and stop waiting on a stop request), `watcher status`
ignores feeds no rule reads, secrets stay out of daemon.json, the outbox and status, and a
rule file broken while it was down runs as it last loaded."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from tests.factories import paper, rule_yaml
from tests.fakes import DaemonSetup
from tests.feeds import Item, rss
from watcher import app
from watcher.cli import main
from watcher.daemon import Daemon, JobSpec, RedactingNotifier, secrets_of
from watcher.daemon.heartbeat import HEARTBEAT_FILE
from watcher.errors import DeliveryError, DeliveryUnknown, StoreError, WatcherError
from watcher.models import LOCAL, Destination, Digest, FeedState, Receipt
from watcher.status import render_status, summarize
from watcher.store import Store

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
SECRET = "https://hooks.example.org/services/T000/B000/very-secret-path"


class Setup(DaemonSetup):
    """``rules/a.yaml`` reads a local feed of one paper and posts to the webhook in HOOK_ML."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, now=NOW)
        self.data.mkdir()
        self.feed = tmp / "feed.xml"
        self.feed.write_bytes(rss(date(2026, 11, 10), [Item("2611.00001", "Quantized nets")]))
        deliver = ['slack: {channel: "#x", webhook_env: HOOK_ML}']
        self.write("a.yaml", rule_yaml("a", feeds=[str(self.feed)], deliver=deliver))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with Setup(tmp_path) as s:
        yield s


POLL = JobSpec("poll", "poll", IntervalTrigger(seconds=3600, timezone=UTC), "UTC")


# --- 1. the daemon's cycle honours WATCHER_ARCHIVE_DAYS -----------------------------------


def test_a_daemon_poll_keeps_text_for_the_configured_archive_days(setup: Setup) -> None:
    with Store.open(setup.data) as store:
        store.record_papers([paper("2607.00001")], NOW - timedelta(days=100))
        store.commit()
    daemon = setup.daemon(archive_days=365)
    daemon._job_runner(POLL)()
    assert daemon.last is not None and daemon.last.outcome != "error", daemon.last
    with Store.open(setup.data, read_only=True) as store:
        assert store.paper("2611.00001") is not None  # the poll did run
        assert store.paper("2607.00001") is not None  # 100 days < 365: text kept


# --- 2. a job waits for the data directory ------------------------------------------------


def test_store_open_waits_for_the_lock_then_gives_up(tmp_path: Path) -> None:
    with Store.open(tmp_path):
        started = time.monotonic()
        with pytest.raises(StoreError, match="another watcher is using"):
            Store.open(tmp_path, wait=0.3)
        assert 0.25 <= time.monotonic() - started < 2
        with pytest.raises(StoreError, match="another watcher is using"):
            Store.open(tmp_path)  # no wait: at once, as before


def test_a_daemon_job_runs_once_the_data_directory_is_released(setup: Setup) -> None:
    daemon = setup.daemon()
    holder = Store.open(setup.data)  # `watcher once` running right now
    job = threading.Thread(target=daemon._job_runner(POLL))
    try:
        job.start()
        time.sleep(0.4)
        assert job.is_alive()  # waiting, not skipped
    finally:
        holder.close()
    job.join(timeout=10)
    assert not job.is_alive()
    assert daemon.last is not None and daemon.last.outcome != "error", daemon.last
    with Store.open(setup.data, read_only=True) as store:
        assert store.paper("2611.00001") is not None


def test_a_stop_request_ends_a_job_s_wait_for_the_data_directory(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    # SIGTERM (systemctl stop) while a job waits for `watcher once`: the job must not keep
    # the daemon up for the two minutes it would wait.
    caplog.set_level(logging.INFO, logger="watcher.daemon")
    daemon = setup.daemon()
    daemon._job_runner(POLL)()  # a real cycle first: status shows how it went
    last_cycle = daemon.last_cycle
    assert last_cycle is not None and last_cycle.outcome != "error"
    holder = Store.open(setup.data)
    job = threading.Thread(target=daemon._job_runner(POLL))
    try:
        job.start()
        time.sleep(0.3)
        assert job.is_alive()
        asked = time.monotonic()
        daemon.stopping.set()
        job.join(timeout=5)
        assert not job.is_alive() and time.monotonic() - asked < 2
    finally:
        holder.close()
    assert "poll: not run, stopping (another watcher is using" in caplog.text
    assert "ERROR" not in caplog.text
    # The run that never began does not replace the last real one in the heartbeat.
    assert daemon.last_cycle == last_cycle and daemon.running is None


# --- 3. status ignores feeds no rule reads --------------------------------------------------


def failed_feeds(data: Path, *sources: str) -> None:
    with Store.open(data) as store:
        for source in sources:
            store.set_feed_state(source, FeedState(last_status="failed", last_error="HTTP 404"))
        store.commit()


def test_summarize_counts_only_failing_feeds_the_rules_read() -> None:
    states = {
        "old.xml": FeedState(last_status="failed", last_error="no such file"),
        "cur.xml": FeedState(last_status="new", announced=date(2026, 11, 10)),
    }
    status = summarize([], states, current_feeds={"cur.xml"})
    assert not status.needs_attention and status.failed_feeds == 0
    lines = render_status(status)
    gone = next(i for i, line in enumerate(lines) if "no rule reads any more" in line)
    assert lines[gone + 1 :] == [
        "  old.xml: FAILED",
        "    error: no such file",
        "All good: nothing needs attention.",
    ]
    assert any(line.startswith("  cur.xml: new announcement") for line in lines[:gone])
    # The same failure on a feed the rules read does need attention.
    status = summarize([], states, current_feeds={"cur.xml", "old.xml"})
    assert status.needs_attention and status.failed_feeds == 1
    # Without rules to compare with (no rules directory), every feed counts.
    assert summarize([], states).needs_attention


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_HOST", "SMTP_PASSWORD", "HOOK_ML"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def status(setup: Setup) -> int:
    return main(["status", "--data", str(setup.data), "--rules", str(setup.rules)])


def test_status_exits_0_when_only_a_feed_no_rule_reads_failed(
    setup: Setup, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failed_feeds(setup.data, "/tmp/one-off.xml")
    assert status(setup) == 0
    out = capsys.readouterr().out
    assert "Feeds no rule reads any more (ignored" in out and "/tmp/one-off.xml: FAILED" in out
    failed_feeds(setup.data, str(setup.feed))  # a feed of rules/a.yaml
    assert status(setup) == 1
    assert "Needs attention: 1 failing feed." in capsys.readouterr().out


# --- 4. no secret in daemon.json, state.json or status --------------------------------------


def test_secrets_of_includes_webhook_env_variables_named_by_rules(setup: Setup) -> None:
    daemon = setup.daemon(environ={"HOOK_ML": SECRET})
    assert SECRET in daemon.secrets  # HOOK_ML does not look like a secret's name
    assert secrets_of(setup.settings, {"HOOK_ML": SECRET}) == []


def test_the_heartbeat_never_holds_a_secret(setup: Setup) -> None:
    daemon = setup.daemon(environ={"HOOK_ML": SECRET, "SMTP_PASSWORD": "hunter2-password"})

    def failing(store: Store, now: datetime) -> tuple[str, str]:
        raise WatcherError(f"posting to {SECRET} with hunter2-password failed")

    daemon._with_store("poll", failing)
    text = (setup.data / HEARTBEAT_FILE).read_text(encoding="utf-8")
    assert SECRET not in text and "hunter2-password" not in text
    beat = json.loads(text)
    assert beat["last_job"]["summary"] == "posting to *** with *** failed"
    assert beat["last_cycle"]["summary"] == "posting to *** with *** failed"


class Failing:
    def __init__(self, error: DeliveryError) -> None:
        self.error = error

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        raise self.error


def test_delivery_errors_lose_their_secrets_before_the_outbox_records_them() -> None:
    digest = Digest("a", "2026-11-10", ())
    for error in (
        DeliveryError(f"rejected {SECRET}", where="slack:#x", permanent=True),
        DeliveryUnknown(f"dropped {SECRET}", where=f"webhook {SECRET}"),
    ):
        with pytest.raises(DeliveryError) as caught:
            RedactingNotifier(Failing(error), (SECRET,)).send(LOCAL, digest)
        assert type(caught.value) is type(error)
        assert caught.value.permanent == error.permanent
        assert SECRET not in str(caught.value) and "***" in str(caught.value)
    plain = DeliveryError("refused", where="slack:#x")
    with pytest.raises(DeliveryError) as caught:
        RedactingNotifier(Failing(plain), (SECRET,)).send(LOCAL, digest)
    assert caught.value is plain


def test_a_daemon_cycle_writes_no_secret_into_the_outbox(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Slack error quoting the SMTP password: the Slack notifier does not know that secret.
    def notifiers(*args: Any, **kwargs: Any) -> dict[str, Any]:
        error = DeliveryError("refused: hunter2-password", where="slack:#x", permanent=True)
        return {"local": Failing(error), "slack": Failing(error)}

    monkeypatch.setattr(app, "build_notifiers", notifiers)
    daemon = setup.daemon(environ={"HOOK_ML": SECRET, "SMTP_PASSWORD": "hunter2-password"})
    daemon._job_runner(POLL)()
    with Store.open(setup.data, read_only=True) as store:
        assert [e.last_error for e in store.entries()] == ["permanent: refused: ***"]
    for name in ("outbox/open.json", "outbox.log"):  # where the outbox and its marks are kept
        assert "hunter2-password" not in (setup.data / name).read_text(encoding="utf-8")
    assert "hunter2-password" not in (setup.data / HEARTBEAT_FILE).read_text(encoding="utf-8")


def test_status_prints_no_secret(
    setup: Setup, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("SMTP_PASSWORD", "hunter2-password")
    clean_env.setenv("HOOK_ML", SECRET)
    with Store.open(setup.data) as store:
        store.set_feed_state(
            str(setup.feed),
            FeedState(last_status="failed", last_error=f"{SECRET} and hunter2-password"),
        )
        store.commit()
    assert status(setup) == 1
    out = capsys.readouterr().out
    assert SECRET not in out and "hunter2-password" not in out
    assert "error: *** and ***" in out


# --- the last good version of a rule file survives a restart --------------------------------


def test_a_rule_file_broken_while_the_daemon_was_down_runs_as_it_last_loaded(
    setup: Setup,
) -> None:
    first = setup.daemon()
    assert [s.name for s in first.subscriptions] == ["a"]
    rule_file = setup.rules / "a.yaml"
    rule_file.write_text(rule_file.read_text().replace('["quantiz*"]', "[]"), encoding="utf-8")

    restarted = setup.daemon()  # a new process: nothing in memory
    assert [s.name for s in restarted.subscriptions] == ["a"]
    assert restarted.subscriptions[0].path == str(rule_file)
    assert [str(e) for e in restarted.rules.errors] == [
        f"{rule_file}:5: topics[0].any: the term list is empty"
    ]


# --- daemon-state.json: damaged is an error, never "nothing backfilled yet" ---------------


def test_a_damaged_daemon_state_pauses_backfill_instead_of_backfilling_again(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    rule_file = setup.rules / "a.yaml"
    rule_file.write_text(rule_file.read_text() + "backfill: 7d\n", encoding="utf-8")
    state = setup.data / "daemon-state.json"

    def start() -> Daemon:
        """As ``watcher run`` starts: the state first, then the rules (and their backfill)."""
        daemon = Daemon(setup.settings, {}, clock=lambda: NOW)
        setup.daemons.append(daemon)
        daemon.read_state()
        daemon.check_rules(initial=True)
        return daemon

    with caplog.at_level(logging.INFO, logger="watcher"):
        start()
    assert "backfill a:" in caplog.text  # no file yet: "a" is backfilled once
    assert set(json.loads(state.read_text())["backfilled"]) == {"a"}

    for damage in ("", '{"backfilled": {"a": ', '{"backfilled": ["a"]}'):
        state.write_text(damage, encoding="utf-8")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="watcher"):
            start()
        # Read as empty, the file would queue a week of papers for "a" once more.
        assert "backfill a:" not in caplog.text
        assert f"{state}: damaged daemon state" in caplog.text
        assert "backfill is paused" in caplog.text
        assert state.read_text() == damage  # left for the user to look at
