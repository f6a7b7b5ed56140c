"""A feed URL's secret: named in the rule file as ``${VAR}``, filled in from the environment
(or ``.env``) only to fetch, refused as a literal by ``rules check``, and hidden (``***``)
wherever a URL's credentials would otherwise be shown, logged or stored.

The private feed is the local feed server of tests/feedserver.py, which answers only
``?token=SECRET``; the whole ``watcher`` command runs in-process with a user's environment.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from tests.fakes import Run
from tests.feeds import Item, rss
from tests.feedserver import FeedServer, Reply, Request
from watcher import logs
from watcher.app import ExpandingFetcher
from watcher.cli import main
from watcher.errors import FeedError
from watcher.fetch import FetchConfig, Fetcher, redact
from watcher.notify import redacted
from watcher.settings import load_settings
from watcher.sources import expand, placeholder_problem, placeholders, resolve_source

SECRET = "s3cr3t-FeedToken-0xC0FFEE"
DAY = date(2026, 11, 10)
FEED = rss(DAY, [Item("2611.00001", "Quantization of everything")])
PUBLIC = rss(DAY, [Item("2611.00002", "Quantization, the public edition")], category="cs.CL")
PRIVATE_URL = "/private?token=${FEED_TOKEN}"


def private(request: Request) -> Reply:
    """The private feed: only the right token gets it."""
    if request.target == f"/private?token={SECRET}":
        return Reply.feed(FEED)
    return Reply(403, b"forbidden\n", headers={"Content-Type": "text/plain"})


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.route("/private", private)
        srv.route("/public", Reply.feed(PUBLIC))
        yield srv


@dataclass
class User:
    tmp: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def rules(self) -> Path:
        return self.tmp / "rules"

    @property
    def data(self) -> Path:
        return self.tmp / "data"

    def rule(self, *feeds: str) -> None:
        self.rules.mkdir(exist_ok=True)
        listed = ", ".join(f'"{feed}"' for feed in feeds)
        body = f"""\
            name: private
            feeds: [{listed}]
            topics:
              - name: Quantization
                any: ["quantiz*"]
            """
        (self.rules / "private.yaml").write_text(textwrap.dedent(body), encoding="utf-8")

    def run(self, *argv: str) -> Run:
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return Run(code, out, err)

    def once(self) -> Run:
        return self.run("once", "--rules", str(self.rules), "--data", str(self.data))

    def status(self) -> Run:
        return self.run("status", "--rules", str(self.rules), "--data", str(self.data))


@pytest.fixture
def user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> User:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in ("FEED_TOKEN", "FEED_ID", "WATCHER_DATA_DIR", "WATCHER_RULES_DIR"):
        monkeypatch.delenv(name, raising=False)
    return User(tmp_path, capsys)


def every_file(directory: Path) -> list[str]:
    return [p.read_bytes().decode("utf-8", "replace") for p in directory.rglob("*") if p.is_file()]


# --- end to end ------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_a_private_feed_is_polled_with_the_token_and_the_token_shows_nowhere(
    where: str,
    user: User,
    server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, at DEBUG
    if where == "environment":
        monkeypatch.setenv("FEED_TOKEN", SECRET)
    else:
        (user.tmp / ".env").write_text(f"FEED_TOKEN={SECRET}\n", encoding="utf-8")
    feed = server.url(PRIVATE_URL)
    user.rule(feed)
    assert user.run("rules", "check", str(user.rules)).code == 0

    ran = user.once()
    assert ran.code == 0, ran.err
    assert [r.target for r in server.requests] == [f"/private?token={SECRET}"]
    assert f"feed {feed}: new announcement 2026-11-10, 1 papers, 1 new" in ran.err
    assert "delivered: private 2026-11-10 (1 paper) -> local" in ran.err
    digest = (user.data / "digests" / "private" / "2026-11-10.md").read_text(encoding="utf-8")
    assert "Quantization of everything" in digest

    # The placeholder stays where the product shows or keeps the URL...
    status = user.status()
    assert f"{feed}: new announcement" in status.out
    assert feed in (user.data / "feeds.json").read_text(encoding="utf-8")
    preview = user.run("preview", "--rules", str(user.rules), "--data", str(user.data))
    assert f"feed {feed}: unchanged" in preview.err or f"feed {feed}: new" in preview.err

    # ...and the token is nowhere: output, log lines at DEBUG, any file of the data directory.
    outputs = [ran.text, status.text, preview.text]
    logged = [f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records]
    assert any(r.name == "watcher.fetch" for r in caplog.records)
    for what, texts in (("output", outputs), ("log", logged), ("store", every_file(user.data))):
        leaks = [t for t in texts if SECRET in t]
        assert not leaks, f"the token in the {what}: {leaks[0][:300]}"


def test_an_unset_variable_fails_that_feed_alone_in_one_clear_line(
    user: User, server: FeedServer
) -> None:
    feed = server.url(PRIVATE_URL)
    user.rule(feed, server.url("/public"))

    ran = user.once()
    assert ran.code == 1
    failed = [line for line in ran.err.splitlines() if "FAILED" in line]
    assert failed == [f"feed {feed}: FAILED: FEED_TOKEN is not set (environment or .env)"]
    assert "delivered: private 2026-11-10 (1 paper) -> local" in ran.err
    assert server.requests_for("/private") == []  # nothing was asked without the token
    assert len(server.requests_for("/public")) == 1

    status = user.status()
    assert status.code == 1
    assert f"{feed}: FAILED" in status.out and "FEED_TOKEN is not set" in status.out


def test_an_error_quoting_the_expanded_url_shows_the_placeholder(
    server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A timeout message quotes the URL it read; the value of a variable, even under a
    parameter name that says nothing of secrets, comes back as its placeholder."""
    server.route("/slow", Reply.feed(FEED, delay=2.0))
    hidden = "hush-hush-4242"
    config = FetchConfig(read_timeout=0.2, max_attempts=2)
    fetcher = ExpandingFetcher(Fetcher(config, sleep=lambda _: None), {"FEED_ID": hidden})
    source = server.url("/slow?id=${FEED_ID}")
    with caplog.at_level(logging.DEBUG), fetcher, pytest.raises(FeedError) as failed:
        fetcher.fetch(source)
    assert failed.value.where == source
    assert "${FEED_ID}" in failed.value.message and hidden not in str(failed.value)
    assert caplog.records and hidden not in caplog.text
    assert [r.target for r in server.requests] == [f"/slow?id={hidden}"] * 2


# --- rules check -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feed", "says"),
    [
        ("https://host.example/feed?token=abc123", "query parameter 'token'"),
        ("https://host.example/feed?a=1&api_key=abc123", "query parameter 'api_key'"),
        ("https://host.example/feed?X-Amz-Signature=abc123", "'X-Amz-Signature'"),
        ("https://u:abc123@host.example/feed", "user:password@"),
        ("https://abc123@host.example/feed", "user:password@"),
    ],
)
def test_rules_check_refuses_a_literal_credential_in_a_feed_url(
    feed: str, says: str, user: User
) -> None:
    user.rule("cs.LG", feed)
    ran = user.run("rules", "check", str(user.rules))
    assert ran.code == 1
    [error] = [line for line in ran.out.splitlines() if "private.yaml:" in line]
    assert error.startswith(f"{user.rules / 'private.yaml'}:2: feeds[1]: ")
    assert says in error and "${" in error and "environment or in .env" in error
    assert "abc123" not in ran.text  # the secret is not repeated


@pytest.mark.parametrize("bad", ["${}", "${1TOKEN}", "${FEED-TOKEN}", "${FEED_TOKEN"])
def test_rules_check_validates_the_placeholder_syntax(bad: str, user: User) -> None:
    user.rule(f"https://host.example/feed?token={bad}")
    ran = user.run("rules", "check", str(user.rules))
    assert ran.code == 1
    assert f"private.yaml:2: feeds[0]: {bad!r} is not a ${{NAME}} placeholder" in ran.out


@pytest.mark.parametrize(
    "feed",
    [
        "https://host.example/feed?token=${FEED_TOKEN}",
        "https://${FEED_USER}:${FEED_PASSWORD}@host.example/feed",
        "https://host.example/feed?author=Smith&monkey=1&page=2",
    ],
)
def test_rules_check_takes_placeholders_and_harmless_parameters(feed: str, user: User) -> None:
    user.rule(feed)
    ran = user.run("rules", "check", str(user.rules))
    assert ran.code == 0, ran.out


# --- the pieces ------------------------------------------------------------------------------


def test_the_source_keeps_the_placeholder_and_expand_fills_it_in_encoded() -> None:
    feed = "https://host.example/feed?token=${FEED_TOKEN}&user=${FEED_USER}&again=${FEED_TOKEN}"
    source = resolve_source(feed, "https://rss.arxiv.org/rss/", "https://export.arxiv.org/api")
    assert source.url == feed and source.kind == "feed"
    assert placeholders(feed) == ("FEED_TOKEN", "FEED_USER")
    assert expand(feed, {"FEED_TOKEN": "a&b #c", "FEED_USER": "me"}) == (
        "https://host.example/feed?token=a%26b%20%23c&user=me&again=a%26b%20%23c"
    )
    with pytest.raises(FeedError) as unset:
        expand(feed, {"FEED_TOKEN": "x", "FEED_USER": ""})
    assert str(unset.value) == f"{feed}: FEED_USER is not set (environment or .env)"
    assert placeholder_problem(feed) is None


def test_settings_carry_the_variables_for_the_fetcher_and_never_show_them() -> None:
    settings = load_settings({"FEED_TOKEN": SECRET})
    assert settings.variables["FEED_TOKEN"] == SECRET
    assert SECRET not in repr(settings)
    assert hash(settings) == hash(load_settings({}))  # still usable as a value


def test_redact_hides_secret_query_values_and_credentials_but_not_placeholders() -> None:
    assert (
        redact("https://h.example/f?token=abc123&page=2") == "https://h.example/f?token=***&page=2"
    )
    assert (
        redact("https://u:p@h.example/f?apikey=k&sig=s") == "https://h.example/f?apikey=***&sig=***"
    )
    kept = "https://h.example/f?token=${FEED_TOKEN}&author=Smith&key="
    assert redact(kept) == kept
    text = "GET https://me:pw@h.example/x?access_token=abc&q=1 failed; see https://${U}:${P}@h/"
    assert logs.redact_urls(text) == (
        "GET https://***@h.example/x?access_token=***&q=1 failed; see https://${U}:${P}@h/"
    )


def test_the_log_filter_status_and_heartbeat_hide_url_secrets_without_being_told_them() -> None:
    record = logging.LogRecord(
        "watcher.daemon", logging.INFO, "", 0, "feed %s: %s", ("https://h/f?auth=abc", "x"), None
    )
    logs.RedactSecrets([]).filter(record)
    assert record.getMessage() == "feed https://h/f?auth=***: x"
    beat = {"feeds": [{"url": "https://u:p@h/f", "error": "GET https://h/f?password=pw: 500"}]}
    assert redacted(beat, []) == {
        "feeds": [{"url": "https://***@h/f", "error": "GET https://h/f?password=***: 500"}]
    }


def test_a_token_typed_in_a_one_off_feed_is_hidden_in_the_lines_and_feeds_json(
    user: User, server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user.rule(server.url("/public"))
    literal = server.url(f"/private?token={SECRET}")  # typed on the command line
    ran = user.run("once", "--rules", str(user.rules), "--data", str(user.data), "--feed", literal)
    assert ran.code == 0, ran.err
    assert "feed http://127.0.0.1:" in ran.err and "token=***" in ran.err
    assert SECRET not in ran.text
    assert not any(SECRET in record.getMessage() for record in caplog.records)
    assert not any(SECRET in text for text in every_file(user.data))
    assert SECRET not in user.status().text
