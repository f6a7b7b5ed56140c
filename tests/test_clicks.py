"""Clicks on the buttons of a Slack digest reach the feedback store over Socket Mode: slack_sdk's
real Socket Mode client against a local stand-in (tests/slacksocket.py) and the Web API
stand-in (tests/slackserver.py) for apps.connections.open and the answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.factories import paper, subscription, topic
from tests.slackserver import SlackServer
from tests.slacksocket import SocketModeServer
from watcher.daemon.clicks import SlackClicks, read_clicks
from watcher.daemon.votes import FeedbackDesk
from watcher.models import Destination
from watcher.render.slack import DISLIKE_ACTION, LIKE_ACTION, button_value
from watcher.store import Store, read_feedback

NOW = datetime(2024, 9, 18, 12, tzinfo=UTC)
SUB = subscription("efficient-ml", topic(), deliver=(Destination("slack", ("#efficient-ml",)),))
OTHER = subscription("vision", topic(), deliver=(Destination("slack", ("#vision",)),))
PAPERS = ("2409.00001", "2409.00002", "2409.00003", "2409.00004")


class Votes:
    """The votes recorded in the data directory (watcher.store.read_feedback), in order."""

    def __init__(self, data: Path) -> None:
        self.data = data

    @property
    def recorded(self) -> list[tuple[str, str, str, str]]:
        return [
            (v.subscription, v.paper_id, str(v.vote), v.via) for v in read_feedback(self.data).votes
        ]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    with Store.open(tmp_path) as store:
        store.record_papers(
            [paper(p) for p in PAPERS],
            NOW,
            matched_by={p: ["efficient-ml"] for p in PAPERS},
        )
        store.commit(NOW)
    return tmp_path


def payload(
    slack: SlackServer,
    paper_id: str,
    action: str = LIKE_ACTION,
    *,
    channel: tuple[str, str] = ("C0EFF", "efficient-ml"),
    sub: str = "efficient-ml",
) -> dict[str, Any]:
    """A block_actions payload as Slack sends it for a click on one of our buttons."""
    return {
        "type": "block_actions",
        "user": {"id": "U0ADA", "username": "ada", "team_id": "T0TEST"},
        "api_app_id": "A0TEST",
        "container": {"type": "message", "message_ts": "1726000001.000001",
                      "channel_id": channel[0], "is_ephemeral": False},
        "channel": {"id": channel[0], "name": channel[1]},
        "team": {"id": "T0TEST", "domain": "test"},
        "response_url": slack.response_url(f"T0TEST/{paper_id}/{action}"),
        "actions": [
            {"type": "button", "action_id": action, "block_id": "b1",
             "text": {"type": "plain_text", "text": "More like this"},
             "value": button_value(sub, paper_id), "action_ts": "1726000002.000002"}
        ],
    }  # fmt: skip


@pytest.fixture
def peers() -> Iterator[tuple[SlackServer, SocketModeServer]]:
    with SlackServer() as slack, SocketModeServer() as sock:
        slack.socket_mode = sock
        yield slack, sock


def listen(slack: SlackServer, data: Path, votes: Votes) -> tuple[SlackClicks, threading.Event]:
    desk = FeedbackDesk(data, lambda: (SUB, OTHER), lambda: NOW)
    stop = threading.Event()
    clicks = SlackClicks(
        slack.app_token, desk, api_url=slack.api_url, stop=stop, ping_interval=0.5
    ).start()
    return clicks, stop


def wait_until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def answers(slack: SlackServer) -> list[str]:
    return [str(c.body.get("text")) for c in slack.responses()]


def test_a_click_becomes_feedback_and_the_clicker_is_answered(
    peers: tuple[SlackServer, SocketModeServer], data: Path
) -> None:
    slack, sock = peers
    votes = Votes(data)
    clicks, stop = listen(slack, data, votes)
    try:
        sock.wait_connected(1)
        envelope = sock.click(payload(slack, "2409.00001"))
        sock.wait_for_ack(envelope)
        wait_until(lambda: slack.responses())
    finally:
        stop.set()
        clicks.close()
    assert votes.recorded == [("efficient-ml", "2409.00001", "like", "slack")]
    (answer,) = slack.responses()
    assert answer.body["text"] == "Noted: more like this in efficient-ml."
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["replace_original"] is False


def test_a_reconnect_loses_no_click(
    peers: tuple[SlackServer, SocketModeServer], data: Path
) -> None:
    slack, sock = peers
    votes = Votes(data)
    clicks, stop = listen(slack, data, votes)
    try:
        sock.wait_connected(1)
        first = sock.click(payload(slack, "2409.00001"))
        sock.wait_for_ack(first)
        # Slack asks for a refresh; a click arrives just before, its ack never reaches
        # Slack: it is delivered again on the new connection.
        sock.hold_acks = True
        second = sock.click(payload(slack, "2409.00002", DISLIKE_ACTION))
        wait_until(lambda: len(votes.recorded) == 2)
        sock.hold_acks = False
        sock.disconnect()
        sock.wait_connected(2)
        sock.wait_for_ack(second)
        third = sock.click(payload(slack, "2409.00003"))
        sock.wait_for_ack(third)
        # The network drops the connection outright: the client notices and reconnects.
        sock.disconnect(drop=True)
        sock.wait_connected(3)
        fourth = sock.click(payload(slack, "2409.00004", DISLIKE_ACTION))
        sock.wait_for_ack(fourth)
        wait_until(lambda: len(slack.responses()) == 4)
    finally:
        stop.set()
        clicks.close()
    assert sock.delivered.count(second) == 2  # delivered twice, counted once
    assert [(p, v) for _, p, v, _ in votes.recorded] == [
        ("2409.00001", "like"),
        ("2409.00002", "dislike"),
        ("2409.00003", "like"),
        ("2409.00004", "dislike"),
    ]
    assert answers(slack).count("Noted: less like this in efficient-ml.") == 2


def test_a_click_from_another_channel_is_refused(
    peers: tuple[SlackServer, SocketModeServer], data: Path
) -> None:
    slack, sock = peers
    votes = Votes(data)
    clicks, stop = listen(slack, data, votes)
    try:
        sock.wait_connected(1)
        sock.wait_for_ack(sock.click(payload(slack, "2409.00001", channel=("C0VIS", "vision"))))
        wait_until(lambda: slack.responses())
    finally:
        stop.set()
        clicks.close()
    assert votes.recorded == []
    assert answers(slack) == [
        "Feedback for efficient-ml counts only in the channel its digest goes to "
        "(#efficient-ml); nothing was recorded."
    ]


def test_unknown_subscription_or_paper_is_answered_politely_and_not_recorded(
    peers: tuple[SlackServer, SocketModeServer], data: Path
) -> None:
    slack, sock = peers
    votes = Votes(data)
    clicks, stop = listen(slack, data, votes)
    try:
        sock.wait_connected(1)
        sock.wait_for_ack(sock.click(payload(slack, "2409.00001", sub="gone")))
        sock.wait_for_ack(sock.click(payload(slack, "2409.99999")))
        wait_until(lambda: len(slack.responses()) == 2)
    finally:
        stop.set()
        clicks.close()
    assert votes.recorded == []
    assert sorted(answers(slack)) == [
        "Paper 2409.99999 is not one efficient-ml was sent, so this was not recorded.",
        "There is no subscription gone any more, so this was not recorded.",
    ]


def test_a_wrong_app_token_is_reported_and_retried(
    peers: tuple[SlackServer, SocketModeServer], data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slack, sock = peers
    slack.app_token = "xapp-1-the-right-one"
    desk = FeedbackDesk(data, lambda: (SUB,), lambda: NOW)
    stop = threading.Event()
    clicks = SlackClicks("xapp-1-a-wrong-one", desk, api_url=slack.api_url, stop=stop).start()
    try:
        wait_until(lambda: clicks.error is not None)
    finally:
        stop.set()
        clicks.close()
    assert clicks.error is not None and "invalid_auth" in clicks.error
    assert "SLACK_APP_TOKEN" in caplog.text and "xapp-1-a-wrong-one" not in caplog.text
    assert sock.connections == 0


def test_only_our_buttons_are_read() -> None:
    with SlackServer() as slack:
        ours = payload(slack, "2409.00001")
    foreign = json.loads(json.dumps(ours))
    foreign["actions"][0]["action_id"] = "someone_elses_button"
    garbled = json.loads(json.dumps(ours))
    garbled["actions"][0]["value"] = "not json"
    assert [c.paper_id for c in read_clicks(ours)] == ["2409.00001"]
    assert read_clicks(foreign) == [] and read_clicks(garbled) == []
    assert read_clicks({**ours, "type": "view_submission"}) == []
