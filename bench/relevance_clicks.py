"""Relevance benchmark, the clicks run: the simulated reader votes where people read.

Run from the project root:  python bench/relevance_clicks.py  [--profiles rl-agents,medical]

The reader of bench/relevance.py (same profiles, same fortnight, same top 10 a day, same
likes and up to 3 dislikes) gives each vote in four ways, one run per way:

- ``memory``: bench/relevance.py's own run (votes kept in the process), the reference;
- ``cli``: ``watcher feedback like|dislike ID --subscription NAME`` (the command's ``main``,
  in this process) against a data directory and a rules directory of its own;
- ``slack``: a click on the button the Slack renderer put beside the paper, sent as a
  ``block_actions`` envelope by the Socket Mode stand-in (tests/slacksocket.py) to slack_sdk's
  real Socket Mode client (watcher.daemon.clicks), answered through the Web API stand-in;
- ``email``: the "More/Less like this" link of the mail the email renderer composed for the
  paper, opened (GET: the confirmation page) and confirmed (POST) on the daemon's web
  endpoint (waitress, watcher.daemon.web) on 127.0.0.1.

In the last three the model learns only from what reached ``feedback/``: after each vote
the reader's labels are read back from the store (``read_feedback``), and a vote that did not
arrive, or arrived as something else, stops the run. Both listeners record through the
daemon's FeedbackDesk, which counts a vote only for a paper the store matched for the
subscription: each day's matches are recorded in the store first, as a cycle does.

Printed per profile and day: precision@10 of the relevance order for each way, then whether
they are all equal (exit 1 when not), the votes each way and the time a vote takes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.relevance import (  # noqa: E402
    BROAD,
    DAYS,
    PROFILES,
    Profile,
    Reader,
    VoteSink,
    announcement_days,
    broad_subscription,
    simulate,
)
from tests.slackserver import SlackServer  # noqa: E402
from tests.slacksocket import SocketModeServer  # noqa: E402
from watcher import app  # noqa: E402
from watcher.cli import main as watcher_main  # noqa: E402
from watcher.daemon.clicks import SlackClicks  # noqa: E402
from watcher.daemon.votes import FeedbackDesk  # noqa: E402
from watcher.daemon.web import FeedbackApp, WebServer  # noqa: E402
from watcher.digest import make_digest  # noqa: E402
from watcher.feedback import Vote  # noqa: E402
from watcher.match import compile_matcher  # noqa: E402
from watcher.models import Destination, Match, Paper, Subscription  # noqa: E402
from watcher.render.email import build_message  # noqa: E402
from watcher.render.slack import build_messages  # noqa: E402
from watcher.settings import Settings  # noqa: E402
from watcher.store import Store, read_feedback  # noqa: E402
from watcher.store.secret import signing_key  # noqa: E402

WAYS = ("memory", "cli", "slack", "email")
READER = "reader@example.org"
Row = tuple[float, float, float, bool]  # simulate's: newest, score, relevance, relevance on
SinkFactory = Callable[[Reader, dict[str, Paper]], VoteSink]


def subscription_of(profile: Profile) -> Subscription:
    """The bench's broad subscription, delivered to a Slack channel of its name and by mail
    (a Slack click counts only from a channel the subscription posts to)."""
    sub = broad_subscription(profile.name)
    deliver = (Destination("slack", (f"#{profile.name}",)), Destination("email", (READER,)))
    return replace(sub, deliver=deliver)


def rule_file(sub: Subscription) -> str:
    """The same subscription as a rule file (``watcher feedback`` looks the name up)."""
    terms = ", ".join(f'"{t}"' for t in BROAD)
    return (
        f"name: {sub.name}\nfeeds: [{', '.join(sub.feeds)}]\ntopics:\n"
        f"  - name: ML\n    any: [{terms}]\norder: relevance\n"
    )


class Ballot:
    """One profile's votes through one channel into one data directory: each day's matches
    recorded as a cycle records them, each vote sent (``send``), then the reader's labels
    read back from ``feedback/``."""

    via = ""

    def __init__(self, root: Path, sub: Subscription) -> None:
        self.sub = sub
        self.data = root / "data"
        self.rules = root / "rules"
        self.rules.mkdir(parents=True)
        (self.rules / f"{sub.name}.yaml").write_text(rule_file(sub), encoding="utf-8")
        self.matcher = compile_matcher([sub])
        self.matches: dict[str, Match] = {}
        self.seen: dict[str, Paper] = {}
        self.votes = 0
        self.seconds = 0.0

    def factory(self, reader: Reader, papers: dict[str, Paper]) -> VoteSink:
        day = [m for p in papers.values() for m in self.matcher.match(p)]
        self.matches.update((m.paper.id, m) for m in day)
        self.seen.update(papers)
        now = datetime.now(UTC)
        with Store.open(self.data) as store:
            store.record_papers(
                [m.paper for m in day], now, matched_by={m.paper.id: [self.sub.name] for m in day}
            )
            store.commit(now)

        def vote(subscription: str, paper_id: str, liked: bool) -> None:
            started = time.perf_counter()
            self.send(self.matches[paper_id], liked)
            self.seconds += time.perf_counter() - started
            self.votes += 1
            self.relabel(reader, paper_id, Vote.LIKE if liked else Vote.DISLIKE)

        return vote

    def send(self, match: Match, liked: bool) -> None:
        raise NotImplementedError

    def relabel(self, reader: Reader, paper_id: str, expected: Vote) -> None:
        """The reader's labels as the store has them, in the order they were given."""
        votes = [v for v in read_feedback(self.data).votes if v.subscription == self.sub.name]
        arrived = next((v for v in votes if v.paper_id == paper_id), None)
        if arrived is None or arrived.vote is not expected or arrived.via != self.via:
            raise RuntimeError(
                f"{self.via}: the vote {expected.value} on {paper_id} did not arrive as given "
                f"(the store has {arrived})"
            )
        reader.likes.clear()
        reader.dislikes.clear()
        for v in votes:
            (reader.likes if v.vote is Vote.LIKE else reader.dislikes)[v.paper_id] = self.seen[
                v.paper_id
            ]

    def close(self) -> None:
        pass


class CliBallot(Ballot):
    via = "cli"

    def send(self, match: Match, liked: bool) -> None:
        verb = "like" if liked else "dislike"
        argv = ["feedback", verb, match.paper.id, "--subscription", self.sub.name,
                "--data", str(self.data), "--rules", str(self.rules)]  # fmt: skip
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = watcher_main(argv)
        if code != 0 or f"{verb}d for {self.sub.name}" not in out.getvalue():
            raise RuntimeError(f"watcher {' '.join(argv)}: exit {code}: {out.getvalue()}")


class SlackBallot(Ballot):
    """Clicks on the rendered buttons, over the Socket Mode stand-in to the real client."""

    via = "slack"

    def __init__(self, root: Path, sub: Subscription) -> None:
        super().__init__(root, sub)
        self._peers = contextlib.ExitStack()
        self.slack = self._peers.enter_context(SlackServer())
        self.socket = self._peers.enter_context(SocketModeServer())
        self.slack.socket_mode = self.socket
        desk = FeedbackDesk(self.data, lambda: (sub,), lambda: datetime.now(UTC))
        self.stop = threading.Event()
        self.clicks = SlackClicks(
            self.slack.app_token, desk, api_url=self.slack.api_url, stop=self.stop
        ).start()
        self.socket.wait_connected(1)

    def send(self, match: Match, liked: bool) -> None:
        digest = make_digest(self.sub, "day", [match])
        (message,) = build_messages(digest, feedback=True)
        buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
        button = buttons[0 if liked else 1]  # "More like this", "Less like this"
        answered = len(self.slack.responses())
        envelope = self.socket.click(self.payload(button))
        self.socket.wait_for_ack(envelope)
        wait_until(lambda: len(self.slack.responses()) > answered)
        answer = str(self.slack.responses()[-1].body.get("text"))
        if not answer.startswith("Noted:"):
            raise RuntimeError(f"slack: the click on {match.paper.id} was answered {answer!r}")

    def payload(self, button: dict[str, Any]) -> dict[str, Any]:
        """A ``block_actions`` payload as Slack sends it for a click on ``button``."""
        channel = {"id": "C0BENCH", "name": self.sub.name}
        return {
            "type": "block_actions",
            "user": {"id": "U0READER", "username": "reader", "team_id": "T0BENCH"},
            "api_app_id": "A0TEST",
            "container": {"type": "message", "message_ts": "1726000001.000001",
                          "channel_id": channel["id"], "is_ephemeral": False},
            "channel": channel,
            "team": {"id": "T0BENCH", "domain": "bench"},
            "response_url": self.slack.response_url(f"T0BENCH/{self.votes}"),
            "actions": [{**button, "block_id": "b1", "action_ts": "1726000002.000002"}],
        }  # fmt: skip

    def close(self) -> None:
        self.stop.set()
        self.clicks.close()
        self._peers.close()


class EmailBallot(Ballot):
    """The links of the rendered mail, opened and confirmed on the daemon's web endpoint."""

    via = "email"

    def __init__(self, root: Path, sub: Subscription) -> None:
        super().__init__(root, sub)
        desk = FeedbackDesk(self.data, lambda: (sub,), lambda: datetime.now(UTC))
        key = signing_key(self.data)
        self.server = WebServer(
            FeedbackApp(key, desk, lambda: datetime.now(UTC)), "127.0.0.1", 0
        ).start()
        host, port = self.server.address
        links = app.link_factory(Settings(data_dir=self.data, public_url=f"http://{host}:{port}"))
        assert links is not None
        self.links = links
        self.http = httpx.Client(timeout=10)

    def send(self, match: Match, liked: bool) -> None:
        digest = make_digest(self.sub, "day", [match])
        now = datetime.now(UTC)
        mail = build_message(
            digest, mail_from="watcher@example.org", to=[READER], now=now,
            message_id="<bench@example.org>", links=self.links(self.sub.name, READER, now),
        ).message  # fmt: skip
        text = mail.get_body(("plain",))
        assert text is not None
        found = dict(re.findall(r"(More|Less) like this: (\S+)", str(text.get_content())))
        url = found["More" if liked else "Less"]
        page = self.http.get(url)
        if page.status_code != 200 or '<form method="post"' not in page.text:
            raise RuntimeError(f"email: GET {match.paper.id}'s link: {page.status_code}")
        done = self.http.post(url)
        if done.status_code != 200 or "Noted:" not in done.text:
            raise RuntimeError(f"email: POST {match.paper.id}'s link: {done.status_code}")

    def close(self) -> None:
        self.http.close()
        self.server.close()


BALLOTS: dict[str, type[Ballot]] = {"cli": CliBallot, "slack": SlackBallot, "email": EmailBallot}


def wait_until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the answer to a click")
        time.sleep(0.002)


@contextlib.contextmanager
def ballot(way: str, root: Path, profile: Profile) -> Iterator[Ballot]:
    made = BALLOTS[way](root / way / profile.name, subscription_of(profile))
    try:
        yield made
    finally:
        made.close()


@dataclass
class Tally:
    votes: int = 0
    seconds: float = 0.0


def run(profiles: Sequence[Profile], days: list[list[Paper]], root: Path) -> bool:
    """Print the per-day figures of every way; True when all ways agree everywhere."""
    tallies = {way: Tally() for way in WAYS[1:]}
    equal = True
    for profile in profiles:
        rows: dict[str, list[Row]] = {"memory": simulate(profile, days)}
        for way in WAYS[1:]:
            with ballot(way, root, profile) as b:
                rows[way] = simulate(profile, days, vote_sink=b.factory)
            tallies[way].votes += b.votes
            tallies[way].seconds += b.seconds
        print(f"\n{profile.name}: relevance p@10 per day (* = fallback to score order)")
        for way in WAYS:
            cells = "  ".join(f"{r:.1f}{'' if on else '*'}" for _, _, r, on in rows[way])
            print(f"  {way:<6}  {cells}")
        same = all(rows[way] == rows["memory"] for way in WAYS)
        equal = equal and same
        if not same:
            differ = [w for w in WAYS if rows[w] != rows["memory"]]
            print(f"  DIFFERENT from memory: {', '.join(differ)}")
    print()
    for way, tally in tallies.items():
        each = tally.seconds / tally.votes * 1000 if tally.votes else 0.0
        print(f"votes through {way}: {tally.votes:,}, {each:.1f} ms each (sent to recorded)")
    days_count = len(days) * len(profiles)
    if equal:
        print(f"precision@10 equal across memory / cli / slack / email: all {days_count} "
              f"profile-days, fallbacks included")  # fmt: skip
    else:
        print("precision@10 NOT equal across the ways (see DIFFERENT above)")
    return equal


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profiles", help="comma-separated profile names (default: all of bench/relevance.py)"
    )
    args = parser.parse_args()
    if not DAYS.exists():
        print(f"skipped: needs the recorded feeds in {DAYS}")
        return 0
    profiles = list(PROFILES)
    if args.profiles:
        wanted = args.profiles.split(",")
        unknown = set(wanted) - {p.name for p in PROFILES}
        if unknown:
            parser.error(f"no such profile: {', '.join(sorted(unknown))}")
        profiles = [p for p in PROFILES if p.name in wanted]
    # The listeners log each vote at INFO (and `watcher feedback` would set that up): only
    # warnings here, so that the figures stay readable.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    days = announcement_days()
    print(f"{len(days)} announcement days, {sum(map(len, days)):,} papers")
    with tempfile.TemporaryDirectory(prefix="relevance-clicks-") as tmp:
        return 0 if run(profiles, days, Path(tmp)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
