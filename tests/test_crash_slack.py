"""A Slack thread cut by a crash is finished cleanly: each post is on disk as Slack accepts
it, so a SIGKILL between two posts leaves an entry that knows which one post is in doubt;
status says so, and doing what it says posts every paper exactly once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.feeds import Item, rss
from tests.slackserver import SlackServer

TOKEN = "xoxb-valid-test-token"
DAY = date(2026, 11, 10)
RULE = """\
name: papers
feeds: [cs.LG]
topics:
  - name: Quantization
    any: ["quantiz*"]
deliver:
  - slack: "#papers"
"""
PAPERS = [
    Item(f"2611.{n:05d}", f"Quantization study number {n} " + "with a long title " * 8)
    for n in range(1, 61)
]


def watcher(tmp: Path, server: SlackServer, *argv: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHER_", "SLACK_", "SMTP_"))}
    env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_API_URL=server.api_url, PYTHONPATH=str(PROJECT))
    args = [*argv, "--data", str(tmp / "data")]
    if argv[0] == "once":
        args += ["--rules", str(tmp / "rules"), "--feed", str(tmp / "lg.xml")]
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(tmp: Path, server: SlackServer, *argv: str) -> tuple[int, str]:
    child = watcher(tmp, server, *argv)
    out, _ = child.communicate(timeout=120)
    return child.returncode, out


def posted_ids(server: SlackServer) -> list[str]:
    """Every paper id the channel shows, once per time it was posted."""
    found = []
    for call in server.posts():
        if call.method == "chat.postMessage":
            found += re.findall(r"arxiv\.org/abs/(\d{4}\.\d{5})", str(call.body.get("blocks")))
    return found


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "papers.yaml").write_text(RULE, encoding="utf-8")
    (tmp_path / "lg.xml").write_bytes(rss(DAY, PAPERS))
    return tmp_path


@pytest.mark.parametrize("killed_at", [1, 3])  # the summary in doubt; the second reply
def test_a_thread_cut_by_sigkill_is_finished_with_every_paper_posted_once(
    setup: Path, killed_at: int
) -> None:
    with SlackServer(token=TOKEN) as server:
        server.hold_answer(killed_at)
        child = watcher(setup, server, "once")
        assert server.reached.wait(timeout=60), "the post to kill at never came"
        child.send_signal(signal.SIGKILL)  # Slack has the post; the watcher never heard back
        child.communicate(timeout=30)
        server.release.set()

        code, status = run(setup, server, "status")
        assert code == 1 and "UNKNOWN" in status
        held = [c for c in server.posts() if c.method == "chat.postMessage"][-1]
        key = re.search(r"\[key (\S+)\]", status)
        assert key is not None
        if killed_at == 1:
            # The crash came before the summary's ts was recorded: status says how to go on.
            assert "only its summary is there" in status
            code, out = run(setup, server, "confirm", key.group(1), "--ts", held.ts)
        else:
            assert "summary and 1 of" in status and "reply 2 unknown" in status
            code, out = run(setup, server, "confirm", key.group(1))
        assert code == 0, out

        code, out = run(setup, server, "once")  # the next cycle sends the rest
        assert code == 0, out
        code, status = run(setup, server, "status")
        assert code == 0, status

        ids = posted_ids(server)
        assert sorted(ids) == sorted(p.id for p in PAPERS)  # none lost, none twice
        threads = {c.body.get("thread_ts") for c in server.posts() if c.body.get("thread_ts")}
        assert threads == {held.ts if killed_at == 1 else server.posts()[0].ts}  # one thread


def test_a_reply_in_doubt_that_never_arrived_is_sent_by_retry(setup: Path) -> None:
    with SlackServer(token=TOKEN) as server:
        server.hold_answer(2)  # the first reply: accepted, the answer held...
        child = watcher(setup, server, "once")
        assert server.reached.wait(timeout=60)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        server.release.set()
        # ...and say it never showed in the channel (Slack lost it): forget it here.
        lost = [c for c in server.calls if c.method == "chat.postMessage"][-1]
        server.calls.remove(lost)

        code, status = run(setup, server, "status")
        assert code == 1 and "summary posted; reply 1 unknown" in status
        key = re.search(r"\[key (\S+)\]", status)
        assert key is not None
        assert run(setup, server, "retry", key.group(1))[0] == 0
        assert run(setup, server, "once")[0] == 0
        assert sorted(posted_ids(server)) == sorted(p.id for p in PAPERS)
        assert sum(1 for c in server.posts() if not c.body.get("thread_ts")) == 1  # one summary
