"""Done means: a reader clicks in a digest and sees the next digest change.

``watcher run`` as a real process with SLACK_APP_TOKEN and WATCHER_PUBLIC_URL set, against a
local feed server, the Slack Web API stand-in with its Socket Mode stand-in
(tests/slackserver.py, tests/slacksocket.py) and a real SMTP server. Day one's digest of an
``order: relevance`` subscription (too little feedback yet: score order) is posted to Slack
with buttons and mailed with links; the reader presses buttons (block_actions envelopes over
the socket) and confirms links (GET the page, POST its button) on the daemon's web endpoint;
``watcher status`` counts the votes and shows both channels on; day two's digest puts the
liked kind of paper first, where score order would put it last.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import rule_yaml
from tests.feeds import Item
from tests.feedserver import FeedServer
from tests.slackserver import Call, SlackServer
from tests.slacksocket import SocketModeServer
from tests.smtpserver import free_port, running_server
from tests.test_daemon import Harness
from watcher.render.slack import DISLIKE_ACTION, LIKE_ACTION
from watcher.store import read_feedback

DAY = date(2026, 11, 10)  # a Tuesday, and Wednesday next: no API fill in between
READER = "reader@example.org"
SECRET_KEY = "k" * 8 + "-links-signing-key-not-for-logs-0123"

# Rule term "model*": the protein papers have it in title and abstract (score 4), the
# sparse-attention ones in the abstract only (score 1). The reader wants the latter.
ATTENTION = "We fuse sparse attention into GPU kernels; the model keeps its accuracy."
PROTEIN = "Folding models predict protein structure from amino acid sequences."
DAY_ONE = (
    Item("2611.00001", "Sparse attention kernels for long sequences", ATTENTION),
    Item("2611.00002", "Block-sparse attention on GPUs", ATTENTION),
    Item("2611.00003", "Kernel fusion for sparse attention", ATTENTION),
    Item("2611.00004", "Protein folding models from sequence", PROTEIN),
    Item("2611.00005", "Models of protein binding sites", PROTEIN),
    Item("2611.00006", "Molecular models of protein folding", PROTEIN),
)
DAY_TWO = (
    Item("2611.00007", "Sparse attention kernels at scale", ATTENTION),
    Item("2611.00008", "Faster block-sparse attention kernels", ATTENTION),
    Item("2611.00009", "Protein folding models revisited", PROTEIN),
    Item("2611.00010", "Models of protein structure", PROTEIN),
)
KIND = {i.id: "attention" if "attention" in i.title.lower() else "protein"
        for i in DAY_ONE + DAY_TWO}  # fmt: skip


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[tuple[Harness, SlackServer, SocketModeServer]]:
    with (
        FeedServer() as feeds,
        running_server() as smtp,
        SlackServer() as slack,
        SocketModeServer() as sock,
    ):
        slack.socket_mode = sock
        h = Harness(tmp_path, feeds, smtp)
        port = free_port()
        h.env.update(
            SLACK_BOT_TOKEN=slack.token,
            SLACK_API_URL=slack.api_url,
            SLACK_APP_TOKEN=slack.app_token,
            WATCHER_PUBLIC_URL=f"http://127.0.0.1:{port}",
            WATCHER_HTTP_ADDRESS=f"127.0.0.1:{port}",
            WATCHER_SECRET_KEY=SECRET_KEY,
        )
        try:
            yield h, slack, sock
        finally:
            h.cleanup()


def slack_digests(slack: SlackServer) -> list[Call]:
    return [c for c in slack.posts() if c.method == "chat.postMessage"]


def buttons(post: Call) -> dict[tuple[str, str], dict[str, Any]]:
    """The post's buttons by (paper id, action id), in the digest's order."""
    found = {}
    for block in post.body.get("blocks") or []:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            found[(json.loads(element["value"])["paper"], element["action_id"])] = element
    return found


def order(post: Call) -> list[str]:
    return list(dict.fromkeys(paper for paper, _ in buttons(post)))


def click(slack: SlackServer, sock: SocketModeServer, button: dict[str, Any]) -> None:
    """Press ``button`` in #lab, as Slack sends it; wait for the daemon's ack and answer."""
    answered = len(slack.responses())
    envelope = sock.click(
        {
            "type": "block_actions",
            "user": {"id": "U0READER", "username": "reader", "team_id": "T0TEST"},
            "container": {"type": "message", "channel_id": "C0LAB", "is_ephemeral": False},
            "channel": {"id": "C0LAB", "name": "lab"},
            "team": {"id": "T0TEST", "domain": "test"},
            "response_url": slack.response_url(f"T0TEST/{answered}"),
            "actions": [{**button, "block_id": "b", "action_ts": "1762000000.000001"}],
        }
    )
    sock.wait_for_ack(envelope)
    wait_until(lambda: len(slack.responses()) > answered)


def wait_until(ready: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def links(mail_text: str) -> dict[tuple[str, str], str]:
    """The mail's feedback links by (paper id, More|Less), read off the text part: each
    paper's abs link comes before its two links."""
    found, paper = {}, ""
    for line in mail_text.splitlines():
        if (abs_link := re.search(r"arxiv\.org/abs/(\d{4}\.\d{5})", line)) is not None:
            paper = abs_link.group(1)
        if (link := re.search(r"(More|Less) like this: (\S+)", line)) is not None:
            found[(paper, link.group(1))] = link.group(2)
    return found


def votes(h: Harness) -> list[tuple[str, str, str]]:
    return [(v.paper_id, str(v.vote), v.via) for v in read_feedback(h.data).votes]


def test_clicks_in_slack_and_email_change_the_next_digest(
    harness: tuple[Harness, SlackServer, SocketModeServer],
) -> None:
    h, slack, sock = harness
    deliver = ['slack: "#lab"', f"email: [{READER}]"]
    h.write("lab.yaml", rule_yaml("lab", {"ML": ["model*"]}, deliver=deliver, order="relevance"))
    h.serve(DAY, *DAY_ONE)
    daemon = h.start()

    # 1. Day one: too little feedback for a model, so score order, protein papers first;
    # a Slack post with two buttons per paper and a mail with two links per paper.
    h.wait("day one's digests", lambda: len(slack_digests(slack)) == 1 == len(h.mail_to(READER)))
    sock.wait_connected(1)
    (first,) = slack_digests(slack)
    assert [KIND[p] for p in order(first)] == ["protein"] * 3 + ["attention"] * 3
    assert len(buttons(first)) == 12
    (mail,) = h.mail_to(READER)
    mailed = links(mail)
    assert len(mailed) == 12

    # 2. The reader: in Slack, more like two attention papers, less like a protein one...
    click(slack, sock, buttons(first)[("2611.00001", LIKE_ACTION)])
    click(slack, sock, buttons(first)[("2611.00002", LIKE_ACTION)])
    click(slack, sock, buttons(first)[("2611.00004", DISLIKE_ACTION)])
    assert [str(r.body["text"]) for r in slack.responses()] == [
        "Noted: more like this in lab.",
        "Noted: more like this in lab.",
        "Noted: less like this in lab.",
    ]
    # ... and in the mail the same for one more each: the GET shows the page and records
    # nothing (a mail scanner opens links too), the button's POST records the vote.
    for recorded, key in enumerate((("2611.00003", "More"), ("2611.00005", "Less")), 3):
        page = httpx.get(mailed[key], timeout=10)
        assert page.status_code == 200 and '<form method="post"' in page.text
        assert len(votes(h)) == recorded
        done = httpx.post(mailed[key], timeout=10)
        assert done.status_code == 200 and "Noted:" in done.text
    assert sorted(votes(h)) == [
        ("2611.00001", "like", "slack"),
        ("2611.00002", "like", "slack"),
        ("2611.00003", "like", "email"),
        ("2611.00004", "dislike", "slack"),
        ("2611.00005", "dislike", "email"),
    ]

    # 3. Status counts the votes and shows both channels on.
    status = h.status()
    assert "  lab: 3 likes, 2 dislikes" in status.stdout, status.stdout
    assert "Slack buttons on: connected over Socket Mode" in status.stdout
    assert f"email links on: links to {h.env['WATCHER_PUBLIC_URL']}" in status.stdout

    # 4. Day two: the model learnt from those five votes; the attention papers come first,
    # though score order would still put the protein papers (title matches) on top.
    h.serve(DAY.replace(day=11), *DAY_TWO)
    h.wait("day two's digests", lambda: len(slack_digests(slack)) == 2 and
           len(h.mail_to(READER)) == 2)  # fmt: skip
    second = slack_digests(slack)[1]
    assert [KIND[p] for p in order(second)] == ["attention"] * 2 + ["protein"] * 2
    day_two_mail = h.mail_to(READER)[1]
    assert day_two_mail.index("Sparse attention kernels at scale") < day_two_mail.index(
        "Protein folding models revisited"
    )
    assert re.search(r"Why: +relevance 0\.\d+: \w+", day_two_mail), day_two_mail
    assert "relevance active, fitted on 3 liked, 2 disliked" in h.status().stdout

    assert h.stop(daemon) == 0
    log = h.log()
    assert "feedback: more papers like 2611.00001 in lab (slack" in log
    for secret in (slack.token, slack.app_token, SECRET_KEY):
        assert secret not in log
        assert secret not in mail + day_two_mail
