"""Crash harness: SIGKILL `watcher once` at random moments while it posts multi-message Slack
threads and sends multi-recipient mail, do what `watcher status` says, and count what was
lost or sent twice.

Run from the project root:  python bench/crash.py [--kills N] [--seed S]

Each round is a new announcement day: a feed of 40 papers that every subscription matches,
so each digest is a Slack thread of several messages (paced one a second per channel, each
answer slowed) and a mail to two recipients (each DATA slowed). `watcher once` runs as a
real process against the local Slack Web API and SMTP servers; it is killed at a random
moment of its run. Then, as status advises for each entry of unknown fate, the harness
looks where a person would look (the channel's posts, the mailbox) and runs
`watcher retry KEY`, `watcher confirm KEY` or `watcher confirm KEY --ts TS`; then plain
`watcher once` runs until nothing is pending. At the end it counts, per destination, every
paper that should have arrived: missing, and arrived more than once. Both must be 0.

tests/test_crash_harness.py runs a few kills of this in CI.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.feeds import Item, rss  # noqa: E402
from tests.slackserver import SlackServer  # noqa: E402
from tests.smtpserver import Handler, SmtpServer, running_server  # noqa: E402
from watcher.models import ResumePoint  # noqa: E402
from watcher.store import Store  # noqa: E402

TOKEN = "xoxb-valid-test-token"
SUBSCRIPTIONS = 2
PAPERS_PER_DAY = 60
FIRST_DAY = date(2026, 11, 9)  # a Monday
RULE = """\
name: {name}
feeds: [cs.LG]
topics:
  - name: Quantization
    any: ["quantiz*"]
deliver:
  - slack: "#{name}"
  - email: [{name}-a@example.org, {name}-b@example.org]
"""
LONG = "on a long title that fills the thread " * 6  # several messages per digest
ID = re.compile(r"arxiv\.org/abs/(\d{4}\.\d{5})")


@dataclass
class Tally:
    kills: int = 0
    killed_mid_thread: int = 0
    retried: int = 0
    confirmed: int = 0
    confirmed_summary: int = 0
    expected: dict[str, set[str]] = field(default_factory=dict)  # destination -> paper ids
    problems: list[tuple[str, str]] = field(default_factory=list)


class World:
    def __init__(self, work: Path, slack: SlackServer, smtp: SmtpServer) -> None:
        self.work, self.slack, self.smtp = work, slack, smtp
        self.data = work / "data"
        (work / "rules").mkdir()
        for n in range(SUBSCRIPTIONS):
            name = f"s{n}"
            (work / "rules" / f"{name}.yaml").write_text(RULE.format(name=name))
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WATCHER_", "SLACK_", "SMTP_", "MAIL_"))
        }
        self.env.update(
            PYTHONPATH=str(ROOT),
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_API_URL=slack.api_url,
            SMTP_HOST=smtp.host,
            SMTP_PORT=str(smtp.port),
            SMTP_SECURITY="none",
            MAIL_FROM="arxiv-watcher <watcher@example.org>",
        )

    def command(self, *argv: str) -> list[str]:
        args = [sys.executable, "-m", "watcher", *argv, "--data", str(self.data)]
        if argv[0] == "once":
            args += ["--rules", str(self.work / "rules"), "--feed", str(self.work / "lg.xml")]
        return args

    def run(self, *argv: str) -> tuple[int, str]:
        done = subprocess.run(
            self.command(*argv),
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr

    def killed_once(self, rng: random.Random) -> None:
        child = subprocess.Popen(
            self.command("once"),
            cwd=self.work,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, 7.0))  # a run takes about 7 s: mostly mid-delivery
        child.send_signal(signal.SIGKILL)
        child.wait()

    # --- where a person would look ---------------------------------------------------------

    def slack_posts(self, channel: str) -> list[dict[str, str]]:
        """What the channel shows: its summaries, and the replies in their threads (a reply
        is posted to the channel id Slack answered with, so it is found by its thread)."""
        return [p for p in self._all_posts() if p["channel"] == channel]

    def _all_posts(self) -> list[dict[str, str]]:
        calls = [c for c in self.slack.posts() if c.method == "chat.postMessage"]
        channel_of = {
            c.ts: str(c.body.get("channel")) for c in calls if not c.body.get("thread_ts")
        }
        posts = []
        for c in calls:
            thread = str(c.body.get("thread_ts") or "")
            channel = channel_of.get(thread, "?") if thread else str(c.body.get("channel"))
            blocks = str(c.body.get("blocks"))
            posts.append(
                {
                    "ts": c.ts,
                    "thread": thread,
                    "text": str(c.body),
                    "blocks": blocks,
                    "channel": channel,
                }
            )
        return posts

    def resolve(self, tally: Tally) -> None:
        """Do what status says for each digest of unknown fate."""
        with Store.open(self.data, read_only=True) as store:
            unknown = [e for e in store.entry_views() if e.status == "unknown"]
        for entry in unknown:
            key = entry.key
            if entry.destination.kind == "email":
                subject = f"{entry.subscription}, {entry.period}".replace("#", ", part ")
                arrived = any(subject in str(m.message["Subject"]) for m in self.smtp.messages)
                self._act(tally, key, arrived)
                continue
            channel = entry.destination.target[0]
            posts = self.slack_posts(channel)
            point = ResumePoint.parse(entry.resume)
            if point is None or not point.ts:
                # The summary is in doubt: is a summary of this digest in the channel? (Its
                # header reads "<subscription> · <period>".)
                marker = f"{entry.subscription} · {entry.period}"
                summary = [p for p in posts if not p["thread"] and marker in p["text"]]
                if summary:
                    tally.confirmed_summary += 1
                    code, out = self.run("confirm", key, "--ts", summary[-1]["ts"])
                    assert code == 0, out
                else:
                    self._act(tally, key, False)
                continue
            tally.killed_mid_thread += 1
            replies = [p for p in posts if p["thread"] == point.ts]
            self._act(tally, key, len(replies) >= point.next)

    def _act(self, tally: Tally, key: str, arrived: bool) -> None:
        if arrived:
            tally.confirmed += 1
            code, out = self.run("confirm", key)
        else:
            tally.retried += 1
            code, out = self.run("retry", key)
        assert code == 0, out

    def settle(self) -> None:
        """Plain cycles until nothing is pending (a cycle with nothing new sends the rest)."""
        for _ in range(5):
            self.run("once")
            with Store.open(self.data, read_only=True) as store:
                if not store.entry_views():
                    return
        raise AssertionError("the outbox never emptied")

    # --- what arrived -------------------------------------------------------------------

    def arrived(self) -> dict[str, Counter[str]]:
        seen: dict[str, Counter[str]] = {}
        for post in self._all_posts():
            seen.setdefault(f"slack:{post['channel']}", Counter()).update(
                ID.findall(post["blocks"])
            )
        for mail in self.smtp.messages:
            body = mail.message.get_body(preferencelist=("plain",))
            ids = set(ID.findall(body.get_content() if body else ""))
            for rcpt in mail.rcpt_tos:
                seen.setdefault(f"email:{rcpt}", Counter()).update(ids)
        return seen


def crash_run(kills: int, seed: int = 1, verbose: bool = True) -> tuple[Tally, int, int]:
    """Run ``kills`` killed cycles; return the tally, papers lost and papers sent twice."""
    rng = random.Random(seed)
    tally = Tally()
    with (
        tempfile.TemporaryDirectory(prefix="watcher-crash-") as tmp,
        SlackServer(token=TOKEN) as slack,
        running_server(Handler(delay=0.6)) as smtp,
    ):
        slack.answer_delay = 0.3
        world = World(Path(tmp), slack, smtp)
        day = FIRST_DAY
        for round_ in range(kills):
            while day.weekday() >= 5:
                day += timedelta(days=1)
            items = [
                Item(f"2611.{round_ * 100 + n:05d}", f"Quantization result {round_}.{n} {LONG}")
                for n in range(PAPERS_PER_DAY)
            ]
            (world.work / "lg.xml").write_bytes(rss(day, items))
            for n in range(SUBSCRIPTIONS):
                mailboxes = [f"email:s{n}-{box}@example.org" for box in "ab"]
                for where in (f"slack:#s{n}", *mailboxes):
                    tally.expected.setdefault(where, set()).update(i.id for i in items)
            world.killed_once(rng)
            tally.kills += 1
            world.resolve(tally)
            world.settle()
            if verbose and (round_ + 1) % 10 == 0:
                print(f"  {round_ + 1} kills ...", flush=True)
            day += timedelta(days=1)
        seen = world.arrived()
    lost = twice = 0
    for where, ids in tally.expected.items():
        got = seen.get(where, Counter())
        missing = sorted(i for i in ids if got[i] == 0)
        doubled = sorted(i for i in ids if got[i] > 1)
        lost += len(missing)
        twice += len(doubled)
        if missing or doubled:
            tally.problems.append((where, f"{len(missing)} lost, {len(doubled)} twice: "
                                   f"{(missing + doubled)[:3]}"))  # fmt: skip
    return tally, lost, twice


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    tally, lost, twice = crash_run(args.kills, args.seed)
    papers = sum(len(ids) for ids in tally.expected.values())
    print(
        f"{tally.kills} kills, {len(tally.expected)} destinations, {papers:,} paper deliveries "
        f"expected, in {time.perf_counter() - start:.0f} s"
    )
    print(
        f"entries of unknown fate resolved as status says: {tally.confirmed} confirmed, "
        f"{tally.confirmed_summary} confirmed by their summary's ts, {tally.retried} retried; "
        f"{tally.killed_mid_thread} were Slack threads cut between two posts"
    )
    print(f"papers lost: {lost}; papers sent twice: {twice} (target 0 and 0)")
    for where, problem in tally.problems:
        print(f"  {where}: {problem}")
    return 0 if lost == twice == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
