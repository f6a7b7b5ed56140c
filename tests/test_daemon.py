"""``watcher run`` as a real process, against a local feed server and a real SMTP server,
on a one-second schedule set through the environment (WATCHER_POLL_INTERVAL).

One story, as an operator lives it: the first digest arrives; rule files edited, added (one
asking for ``backfill``) and broken while it runs; SIGTERM; a restart that sends nothing
twice; a second daemon on the same data directory refused. Waits poll with a deadline,
never a fixed sleep; every process started here is killed at teardown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.factories import rule_yaml, write_rule
from tests.feeds import Item, api_atom, rss
from tests.feedserver import FeedServer, Reply
from tests.smtpserver import Captured, SmtpServer, running_server
from watcher.store import Store

DAY = date(2026, 11, 10)  # a Tuesday: the next days are weekdays, no API fill in between
TOKEN = "xoxb-daemon-test-secret-token"
KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
A, F, H = "a@example.org", "fresh@example.org", "history@example.org"


def rule(name: str, term: str, to: str, **keys: str) -> str:
    return rule_yaml(name, {"Topic": [term]}, deliver=[f"email: [{to}]"], **keys)


BROKEN = rule("papers", "prun*", A).replace('any: ["prun*"]', "any: []")


class Harness:
    def __init__(self, tmp: Path, feeds: FeedServer, smtp: SmtpServer) -> None:
        self.tmp, self.feeds, self.smtp = tmp, feeds, smtp
        self.rules = tmp / "rules"
        self.data = tmp / "data"
        self.rules.mkdir()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.env = {k: v for k, v in os.environ.items() if k in KEEP}
        self.env.update(
            PYTHONPATH=str(PROJECT),
            WATCHER_DATA_DIR=str(self.data),
            WATCHER_RULES_DIR=str(self.rules),
            WATCHER_ARXIV_RSS_URL=feeds.url("/rss/"),
            WATCHER_ARXIV_API_URL=feeds.url("/api/query"),
            WATCHER_ARXIV_MIN_INTERVAL="0",
            WATCHER_POLL_INTERVAL="1",
            WATCHER_RULES_RELOAD_INTERVAL="0.3",
            SMTP_HOST=smtp.host,
            SMTP_PORT=str(smtp.port),
            SMTP_SECURITY="none",
            MAIL_FROM="watcher@example.org",
            # Configured but unused (no rule posts to Slack): it must never be logged.
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_API_URL=feeds.url("/slack/"),
        )
        feeds.route("/api/query", Reply.feed(api_atom([]), "application/atom+xml"))

    def write(self, name: str, text: str) -> None:
        write_rule(self.rules / name, text)

    def serve(self, day: date, *items: Item) -> None:
        self.feeds.route("/rss/cs.LG", Reply.feed(rss(day, list(items))))

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"daemon-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "watcher", "run", *args],
                cwd=self.tmp,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc

    def log(self, index: int = -1) -> str:
        return self.logs[index].read_text(encoding="utf-8", errors="replace")

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; log:\n{self.log()}")
            for proc in self.procs:
                if proc.poll() not in (None, 0, 1):
                    pytest.fail(f"a daemon died ({proc.returncode}) while waiting for {what}")
            time.sleep(0.05)

    def mail_to(self, address: str) -> list[str]:
        return [text(m) for m in self.smtp.messages if address in m.rcpt_tos]

    def status(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "watcher", "status"],
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def heartbeat(self) -> dict[str, object]:
        try:
            data = json.loads((self.data / "daemon.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def cycles_since(self, moment: str) -> bool:
        last = self.heartbeat().get("last_cycle")
        return isinstance(last, dict) and str(last.get("started", "")) > moment

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=30)

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def text(message: Captured) -> str:
    part = message.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with FeedServer() as feeds, running_server() as smtp:
        h = Harness(tmp_path, feeds, smtp)
        try:
            yield h
        finally:
            h.cleanup()


def test_the_daemon_follows_rule_edits_survives_a_restart_and_runs_alone(
    harness: Harness,
) -> None:
    h = harness
    h.write("papers.yaml", rule("papers", "quantiz*", A))
    h.serve(
        DAY,
        Item("2611.00001", "Quantization of day one"),
        Item("2611.00002", "Pruning of day one"),
    )

    # 1. The catch-up cycle at start delivers the first digest.
    daemon = h.start()
    h.wait("the first digest", lambda: len(h.mail_to(A)) == 1)
    [first] = h.mail_to(A)
    assert "Quantization of day one" in first and "Pruning of day one" not in first
    # The mail can arrive a moment before the daemon has logged its delivery.
    h.wait("the delivery log line", lambda: "delivered: papers 2026-11-10 (1 paper)" in h.log())
    assert "feed http" in h.log()

    # 2. Rule files edited and added while it runs. "history" asks for a backfill and gets
    # day one's pruning paper from the archive; "fresh" starts from now.
    # (history.yaml last: a look that sees it sees the other two as well.)
    h.write("papers.yaml", rule("papers", "prun*", A))
    h.write("fresh.yaml", rule("fresh", "prun*", F))
    h.write("history.yaml", rule("history", "prun*", H, backfill="7d"))
    h.wait("the backfill digest", lambda: len(h.mail_to(H)) == 1)
    assert "Pruning of day one" in h.mail_to(H)[0]
    assert "reloaded" in h.log() and "papers.yaml" in h.log()
    assert h.mail_to(F) == []  # no history for a subscription that did not ask

    # The next day's listing: every subscription gets it under its new rules.
    h.serve(
        DAY + timedelta(days=1),
        Item("2611.00003", "Quantization of day two"),
        Item("2611.00004", "Pruning of day two"),
    )
    h.wait("day two's digests", lambda: len(h.mail_to(A)) == 2 and len(h.mail_to(F)) == 1)
    h.wait("day two's history digest", lambda: len(h.mail_to(H)) == 2)
    for address in (A, F, H):
        latest = h.mail_to(address)[-1]
        assert "Pruning of day two" in latest and "Quantization of day two" not in latest
    assert "Pruning of day one" not in h.mail_to(F)[0]

    # 3. A broken edit: reported with file, line and field; the last good version runs on.
    h.write("papers.yaml", BROKEN)
    field = f"{h.rules / 'papers.yaml'}:5: topics[0].any: the term list is empty"
    h.wait("the rule error in the log", lambda: field in h.log())
    status = h.status()
    assert status.returncode == 1, status.stdout + status.stderr
    assert field in status.stdout
    assert "the daemon keeps running the last good version" in status.stdout
    assert f"Daemon: running (pid {daemon.pid})" in status.stdout
    h.serve(
        DAY + timedelta(days=2),
        Item("2611.00005", "Quantization of day three"),
        Item("2611.00006", "Pruning of day three"),
    )
    h.wait("day three's digest", lambda: len(h.mail_to(A)) == 3)
    assert "Pruning of day three" in h.mail_to(A)[-1]
    assert daemon.poll() is None

    # 4. Fixed again, then SIGTERM: exit 0, state intact, a clean stop on record.
    h.write("papers.yaml", rule("papers", "prun*", A))
    h.wait("the fix", lambda: h.status().returncode == 0)
    assert h.stop(daemon) == 0
    sent = len(h.smtp.messages)
    with Store.open(h.data, read_only=True) as store:
        assert store.delivery_log() and store.entries() == []
    assert h.heartbeat()["stopped"]
    assert "SIGTERM" in h.log() and "watcher daemon stopped" in h.log()
    assert "Daemon: no daemon running; the last one stopped" in h.status().stdout

    # 5. A restart (JSON logs this time) sends nothing twice, backfill included.
    started = str(h.heartbeat()["stopped"])
    again = h.start("--log-json")
    h.wait("two cycles after the restart", lambda: h.cycles_since(started))
    second_cycle = str(h.heartbeat()["last_cycle"]["started"])  # type: ignore[index]
    h.wait("another cycle", lambda: h.cycles_since(second_cycle))
    assert len(h.smtp.messages) == sent
    log_text = h.log()  # the daemon still runs: its last line may be half written
    complete = log_text.splitlines() if log_text.endswith("\n") else log_text.splitlines()[:-1]
    records = [json.loads(line) for line in complete if line.strip()]
    assert any(r.get("event") == "feed" for r in records)
    assert any(r.get("event") == "cycle" for r in records)

    # 6. A second daemon on the same data directory exits at once, naming the first.
    began = time.monotonic()
    second = h.start()
    assert second.wait(timeout=20) == 1
    assert time.monotonic() - began < 15
    assert f"already running on this data directory (pid {again.pid})" in h.log()
    assert again.poll() is None

    assert h.stop(again) == 0
    for log in h.logs:
        assert TOKEN not in log.read_text(encoding="utf-8")
    assert not h.feeds.errors


def test_sigterm_mid_cycle_finishes_the_cycle_then_exits_0(harness: Harness) -> None:
    h = harness
    h.write("papers.yaml", rule("papers", "quantiz*", A))
    slow = rss(DAY, [Item("2611.00001", "Quantization, served slowly")])
    h.feeds.route("/rss/cs.LG", Reply.feed(slow, delay=1.5))  # the catch-up cycle's fetch
    daemon = h.start()
    h.wait("the first fetch", lambda: bool(h.feeds.requests_for("/rss/cs.LG")))
    daemon.send_signal(signal.SIGTERM)  # while the fetch is still waiting for its answer
    assert daemon.wait(timeout=30) == 0
    # The cycle in progress was finished (its digest recorded), but no delivery is started
    # once a stop is asked for: the digest waits, pending, for the next start.
    assert h.mail_to(A) == []
    with Store.open(h.data, read_only=True) as store:
        assert [(e.digest.subscription, e.status) for e in store.entries()] == [
            ("papers", "pending")
        ]
    assert len(h.feeds.requests_for("/rss/cs.LG")) == 1  # and nothing new was started
    again = h.start()
    h.wait("the digest, after the restart", lambda: len(h.mail_to(A)) == 1)
    assert "Quantization, served slowly" in h.mail_to(A)[0]
    h.wait("the delivery log line", lambda: "delivered: papers" in h.log())
    assert h.stop(again) == 0
    with Store.open(h.data, read_only=True) as store:  # (delivery marks are journaled)
        assert [e.subscription for e in store.delivery_log()] == ["papers"]
        assert store.entries() == []
