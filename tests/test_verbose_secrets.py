"""``--verbose`` lets the libraries' DEBUG lines through, and they split a URL apart: urllib3
logs ``http://host:port "POST /hooks/<token> HTTP/1.1"`` for Apprise's Mattermost plugin
(``mmost://host/<token>`` becomes ``/hooks/<token>``), so hiding the whole URL is not enough.
Real sends to a local server, real library lines: the token is in none of them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT, run_watcher
from tests.factories import digest, paper, rule_yaml, write_rule
from tests.feedserver import FeedServer, Reply
from watcher import logs
from watcher.models import Destination
from watcher.notify.apprise import AppriseNotifier
from watcher.notify.webhook import WebhookNotifier

MM_TOKEN = "3ccdd113474722377935511fc85d3dd4"
HOOK_TOKEN = "Zq8vYw2LmN4pR7sT1uV3xK9a"
OK = Reply(200, b"{}", headers={"Content-Type": "application/json"})
EXAMPLE_FEED = PROJECT / "watcher" / "examples" / "arxiv-rss-sample.xml"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.route(f"/hooks/{MM_TOKEN}", OK)
        running.route(f"/in/{HOOK_TOKEN}", OK)
        yield running


def urls(server: FeedServer) -> dict[str, str]:
    base = f"127.0.0.1:{server.port}"
    return {
        "TEAM_CHAT": f"mmost://{base}/{MM_TOKEN}",
        "PAPER_HOOK": f"http://{base}/in/{HOOK_TOKEN}",
    }


def test_the_daemon_log_at_debug_hides_a_token_the_libraries_log_apart(
    server: FeedServer,
) -> None:
    environ = urls(server)
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        # As `watcher run --verbose` configures it, told the URLs (secrets_of does that).
        logs.configure("text", secrets=environ.values(), stream=stream, level=logging.DEBUG)
        AppriseNotifier(environ, min_interval=0).send(
            Destination("apprise", ("TEAM_CHAT",)), digest(paper("2409.00001"))
        )
        WebhookNotifier(environ).send(
            Destination("webhook", ("PAPER_HOOK",)), digest(paper("2409.00001"))
        )
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logs.quiet_libraries()
    text = stream.getvalue()
    assert "DEBUG urllib3.connectionpool" in text and '"POST /hooks' in text  # the lines came
    assert "INFO httpx: HTTP Request: POST" in text
    assert MM_TOKEN not in text and HOOK_TOKEN not in text
    assert f"127.0.0.1:{server.port}" in text  # host and port stay readable


def test_url_pieces_hides_tokens_and_paths_but_not_words_or_hosts() -> None:
    pieces = logs.url_pieces("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX")
    assert "services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX" in pieces  # urllib3's path
    assert "XXXXXXXXXXXXXXXXXXXXXXXX" in pieces
    assert not {"services", "T000", "hooks.slack.com"} & set(pieces)
    assert "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" in logs.url_pieces(
        "tgram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234"
    )
    assert "hunter2-password" in logs.url_pieces("ntfys://me:hunter2-password@ntfy.sh/alerts")
    assert logs.url_pieces("not a url") == []
    line = 'http://mm.example.org:443 "POST /hooks/3ccdd113474722377935511fc85d3dd4 HTTP/1.1"'
    assert logs.redact(line, ["mmosts://mm.example.org/3ccdd113474722377935511fc85d3dd4"]) == (
        'http://mm.example.org:443 "POST /hooks/*** HTTP/1.1"'
    )


def test_watcher_once_verbose_shows_the_requests_not_the_tokens(
    server: FeedServer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    deliver = ["apprise: TEAM_CHAT", "webhook: PAPER_HOOK"]
    write_rule(rules / "p.yaml", rule_yaml("p", {"P": ["prun*"]}, deliver=deliver))
    argv = ["once", "--verbose", "--feed", str(EXAMPLE_FEED), "--rules", str(rules)]
    run = run_watcher(tmp_path, urls(server), *argv, "--data", "data")
    terminal = run.stdout + run.stderr
    assert run.returncode == 0, terminal
    assert server.requests_for(f"/hooks/{MM_TOKEN}") and server.requests_for(f"/in/{HOOK_TOKEN}")
    assert "urllib3.connectionpool" in terminal and "HTTP Request: POST" in terminal
    assert MM_TOKEN not in terminal and HOOK_TOKEN not in terminal
