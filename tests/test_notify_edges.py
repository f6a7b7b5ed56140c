"""Delivery at the edges, against real local servers: an SMTP server that never greets, one
that stalls during AUTH, and slack_sdk's own error lines kept out of the terminal and log.
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT, run_watcher
from tests.factories import rule_yaml, write_rule
from tests.slackserver import Reply, SlackServer
from tests.smtpserver import HOST, PASSWORD, USER, Handler, running_server
from tests.test_email import FROM, digest, notifier, paper, to
from watcher import logs
from watcher.errors import DeliveryError, DeliveryUnknown
from watcher.models import Destination
from watcher.notify.email import SmtpConfig
from watcher.notify.slack import SlackConfig, SlackNotifier

EXAMPLE_FEED = PROJECT / "watcher" / "examples" / "arxiv-rss-sample.xml"
TOKEN = "xoxb-edges-test-secret-token"


@pytest.fixture
def silent_smtp() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (no SMTP greeting)."""
    listener = socket.create_server((HOST, 0))
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not done.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(timeout=5)
        for sock in held:
            sock.close()
        listener.close()


def test_a_server_that_never_greets_is_a_timeout_and_temporary(silent_smtp: int) -> None:
    config = SmtpConfig(host=HOST, port=silent_smtp, security="none", mail_from=FROM, timeout=1)
    with pytest.raises(DeliveryError) as caught:
        notifier(config).send(to("team@example.org"), digest(paper(1)))
    error = caught.value
    assert not error.permanent and not isinstance(error, DeliveryUnknown)
    assert f"timed out after 1s waiting for SMTP server {HOST}:{silent_smtp} to greet" in str(error)
    assert "closed the connection" not in str(error)


class StallingAuth(Handler):
    """Answers AUTH only after ``stall`` seconds (longer than the client's timeout)."""

    stall: float = 5.0

    async def handle_AUTH(
        self, server: object, session: object, envelope: object, args: object
    ) -> str:
        await asyncio.sleep(self.stall)
        return "535 5.7.8 Authentication credentials invalid"


def test_a_timeout_during_login_is_temporary() -> None:
    with running_server(StallingAuth(), tls=True) as server:
        config = SmtpConfig(
            host=server.host,
            port=server.port,
            user=USER,
            password=PASSWORD,
            security="starttls",
            mail_from=FROM,
            timeout=1,
            ssl_context_factory=server.client_context,
        )
        with pytest.raises(DeliveryError) as caught:
            notifier(config).send(to("team@example.org"), digest(paper(1)))
    error = caught.value
    assert not error.permanent, str(error)  # retried next cycle, not waiting for the user
    assert not isinstance(error, DeliveryUnknown)
    assert "timed out after 1s during login" in str(error)
    assert "check SMTP_USER" not in str(error)
    assert PASSWORD not in str(error)
    assert server.messages == []


# --- slack_sdk's own error lines ----------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(token=TOKEN) as server:
        yield server


def test_sdk_errors_stay_out_of_the_daemon_log(slack: SlackServer) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure("text", secrets=[TOKEN], stream=stream)
        config = SlackConfig(bot_token=TOKEN, api_url=slack.api_url, timeout=5)
        slack.script(Reply.dropped())
        with pytest.raises(DeliveryError) as caught:
            SlackNotifier(config).send(Destination("slack", ("#papers",)), digest(paper(1)))
        logging.getLogger("watcher.test").warning("delivery failed: %s", caught.value)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    text = stream.getvalue()
    assert "delivery failed:" in text  # the product's own line
    assert "watcher.notify.slack.sdk" not in text
    assert "Failed to send a request" not in text


def test_sdk_records_are_still_there_at_debug(
    slack: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = SlackConfig(bot_token=TOKEN, api_url=slack.api_url, timeout=5)
    slack.script(Reply.dropped())
    with pytest.raises(DeliveryError):
        SlackNotifier(config).send(Destination("slack", ("#papers",)), digest(paper(1)))
    sdk = [r for r in caplog.records if r.name == "watcher.notify.slack.sdk"]
    assert any("Failed to send a request" in r.getMessage() for r in sdk)
    assert {r.levelname for r in sdk} == {"DEBUG"}


def test_watcher_once_prints_its_own_message_and_not_the_sdks(
    slack: SlackServer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    write_rule(rules / "p.yaml", rule_yaml("p", {"P": ["prun*"]}, deliver=['slack: "#papers"']))
    slack.script(*[Reply.dropped()] * 5)
    argv = ["once", "--feed", str(EXAMPLE_FEED), "--rules", str(rules), "--data", "data"]
    run = run_watcher(tmp_path, {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.api_url}, *argv)
    terminal = run.stdout + run.stderr
    assert run.returncode == 1, terminal
    assert "slack:#papers" in terminal  # the product's line about the delivery
    assert "watcher.notify.slack.sdk" not in terminal
    assert "Failed to send a request" not in terminal
    assert TOKEN not in terminal
