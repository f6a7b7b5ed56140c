"""The feedback links of email digests, end to end: a real digest mailed through the local SMTP
server, the links read from the mail as it arrived, and the daemon's web endpoint (waitress
on 127.0.0.1) answering them: the GET shows a page and records nothing, the POST records one
vote, a tampered or expired link gets a 403 page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.factories import digest, paper, subscription, topic
from tests.smtpserver import SmtpServer, smtp_server
from watcher import app
from watcher.daemon.votes import FeedbackDesk
from watcher.daemon.web import FeedbackApp, WebServer
from watcher.errors import SettingsError
from watcher.models import Destination
from watcher.notify.email import EmailNotifier, SmtpConfig
from watcher.render.links import LINK_LIFETIME, LinkVote, sign, verify
from watcher.settings import Settings, feedback_channels, load_settings
from watcher.store import Store, read_feedback
from watcher.store.secret import KEY_FILE, signing_key

__all__ = ["smtp_server"]  # a fixture, used by name

SENT = datetime(2024, 9, 18, 12, tzinfo=UTC)
SUB = subscription("efficient-ml", topic(), deliver=(Destination("email", ("team@example.org",)),))
PAPERS = ("2409.00001", "2409.00002")


class Votes:
    """The votes recorded in the data directory (watcher.store.read_feedback), in order."""

    def __init__(self, data: Path) -> None:
        self.data = data

    @property
    def recorded(self) -> list[tuple[str, str, str, str]]:
        return [
            (v.subscription, v.paper_id, str(v.vote), v.via) for v in read_feedback(self.data).votes
        ]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def data(tmp_path: Path) -> Path:
    with Store.open(tmp_path) as store:
        store.record_papers(
            [paper(p) for p in PAPERS], SENT, matched_by={p: ["efficient-ml"] for p in PAPERS}
        )
        store.commit(SENT)
    return tmp_path


@pytest.fixture
def endpoint(data: Path) -> Iterator[tuple[WebServer, Votes, Clock]]:
    votes, clock = Votes(data), Clock(SENT + timedelta(hours=3))
    desk = FeedbackDesk(data, lambda: (SUB,), clock)
    server = WebServer(FeedbackApp(signing_key(data), desk, clock), "127.0.0.1", 0).start()
    try:
        yield server, votes, clock
    finally:
        server.close()


def mail_digest(smtp: SmtpServer, data: Path, public_url: str) -> EmailMessage:
    settings = Settings(data_dir=data, public_url=public_url)
    links = app.link_factory(settings)
    assert links is not None
    config = SmtpConfig(host=smtp.host, port=smtp.port, security="none", mail_from="w@example.org")
    notifier = EmailNotifier(config, clock=lambda: SENT, links=links)
    notifier.send(SUB.deliver[0], digest(*(paper(p) for p in PAPERS)))
    (mail,) = smtp.messages
    return mail.message


def links_in(mail: EmailMessage) -> dict[str, list[str]]:
    text = mail.get_body(("plain",))
    assert text is not None
    found: dict[str, list[str]] = {"more": [], "less": []}
    for kind, url in re.findall(r"(More|Less) like this: (\S+)", text.get_content()):
        found[kind.lower()].append(url)
    return found


def url_of(server: WebServer) -> str:
    host, port = server.address
    return f"http://{host}:{port}"


def test_a_mailed_link_shows_a_page_and_only_its_button_records_the_vote(
    smtp_server: SmtpServer, data: Path, endpoint: tuple[WebServer, Votes, Clock]
) -> None:
    server, votes, _ = endpoint
    mail = mail_digest(smtp_server, data, url_of(server) + "/")
    links = links_in(mail)
    assert len(links["more"]) == len(links["less"]) == 2
    html_part = mail.get_body(("html",))
    assert html_part is not None and html_part.get_content().count("More like this</a>") == 2

    more = links["more"][0]
    page = httpx.get(more)
    assert page.status_code == 200
    assert '<form method="post"' in page.text and "<script" not in page.text
    sentence = re.sub(r"<[^>]+>", "", page.text.split("<p>")[1].split("</p>")[0])
    assert sentence == "Tell efficient-ml you want more papers like arXiv:2409.00001."
    assert votes.recorded == []  # a mail scanner opening the link votes nothing

    done = httpx.post(more)
    assert done.status_code == 200
    assert "Noted: more like this in efficient-ml." in done.text
    assert votes.recorded == [("efficient-ml", "2409.00001", "like", "email")]

    again = httpx.post(more)  # a second click is one vote
    assert "Already noted: more like this in efficient-ml." in again.text
    assert votes.recorded == [("efficient-ml", "2409.00001", "like", "email")]

    assert httpx.post(links["less"][1]).status_code == 200
    assert votes.recorded[-1] == ("efficient-ml", "2409.00002", "dislike", "email")


def test_a_tampered_or_expired_link_gets_a_403_page_and_records_nothing(
    smtp_server: SmtpServer, data: Path, endpoint: tuple[WebServer, Votes, Clock]
) -> None:
    server, votes, clock = endpoint
    more = links_in(mail_digest(smtp_server, data, url_of(server)))["more"][0]
    payload, _, signature = more.rpartition("/")[2].partition(".")
    # Another paper's id in the payload, the old signature kept: altered.
    token = verify(signing_key(data), f"{payload}.{signature}", clock())
    other = sign(b"x" * 32, replace(token, paper_id="2409.00002")).partition(".")[0]
    tampered = more.rpartition("/")[0] + f"/{other}.{signature}"
    for method in (httpx.get, httpx.post):
        refused = method(tampered)
        assert refused.status_code == 403
        assert "altered or not made by this watcher" in refused.text
    clock.now = SENT + LINK_LIFETIME + timedelta(seconds=1)
    expired = httpx.post(more)
    assert expired.status_code == 403
    assert "This link has expired" in expired.text and "expired on" in expired.text
    assert votes.recorded == []


def test_nothing_but_the_pages_and_healthz_is_served(
    endpoint: tuple[WebServer, Votes, Clock], data: Path
) -> None:
    server, _, _ = endpoint
    base = url_of(server)
    health = httpx.get(base + "/healthz")
    assert (health.status_code, health.text) == (200, "ok\n")
    for path in ("/", "/feedback/", "/feedback/x/y", "/data/secret.key", "/../secret.key"):
        assert httpx.get(base + path).status_code in (403, 404), path
    assert httpx.put(base + "/feedback/abc").status_code == 405
    too_big = httpx.post(base + "/feedback/abc", content=b"x" * 100_000)
    assert too_big.status_code == 413
    key = (data / KEY_FILE).read_text().strip()
    for response in (health, httpx.get(base + "/feedback/nope")):
        assert key not in response.text
        assert "server" not in {h.lower() for h in response.headers}
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "script" not in response.headers["content-security-policy"]


def test_the_signing_key_is_made_once_private_and_a_damaged_one_is_an_error(
    tmp_path: Path,
) -> None:
    key = signing_key(tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert signing_key(tmp_path) == key
    assert signing_key(tmp_path, "y" * 40) == b"y" * 40
    (tmp_path / KEY_FILE).write_text("short\n")
    with pytest.raises(Exception, match="damaged"):
        signing_key(tmp_path)
    (tmp_path / KEY_FILE).write_text("z" * 43)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(Exception, match="readable by other users"):
        signing_key(tmp_path)


def test_a_token_is_bound_to_its_fields() -> None:
    key = b"k" * 32
    vote = LinkVote("efficient-ml", "2409.00001", "like", "team@example.org", SENT)
    token = sign(key, vote)
    assert verify(key, token, SENT - timedelta(days=1)) == vote
    for bad in (token + "x", token.replace(".", ""), "", "a" * 3000, token[:-2] + "AA"):
        with pytest.raises(ValueError):
            verify(key, bad, SENT - timedelta(days=1))
    with pytest.raises(ValueError, match="signature"):
        verify(b"other" * 8, token, SENT - timedelta(days=1))


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("SLACK_APP_TOKEN", "xoxb-a-bot-token", "app-level token (xapp-...)"),
        ("WATCHER_PUBLIC_URL", "papers.example.org", "http(s) address"),
        ("WATCHER_HTTP_ADDRESS", "localhost", "host:port"),
        ("WATCHER_SECRET_KEY", "short", "at least 32"),
    ],
)
def test_a_wrong_feedback_setting_names_the_variable(name: str, value: str, said: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(said)) as raised:
        load_settings({name: value})
    assert raised.value.where == name and "xoxb-a-bot-token" not in str(raised.value)


def test_status_says_which_feedback_channel_is_on() -> None:
    off = feedback_channels(load_settings({}))
    assert [(c.name, c.on) for c in off] == [("slack", False), ("email", False)]
    on = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_APP_TOKEN": "xapp-1",
            "WATCHER_PUBLIC_URL": "https://p.example.org/w/",
        }
    )
    assert [(c.name, c.on) for c in feedback_channels(on)] == [("slack", True), ("email", True)]
    assert on.public_url == "https://p.example.org/w"
