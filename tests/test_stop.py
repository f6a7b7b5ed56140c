"""A stop request ends every wait of the fetch edge at once, and ``watcher run`` stops within
10 s whatever the feed servers do: Retry-After 300, refused connections (back-off between
attempts), a server that never answers.

A delivery in flight ends too (an SMTP server stalling in DATA, a Slack post whose answer
is held): the entry is then "unknown", and the deliveries not yet started stay pending.

Real servers on 127.0.0.1 (tests/feedserver.py), a real ``python -m watcher run`` and SIGTERM.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.factories import digest, paper, rule_yaml
from tests.fakes import Recorder
from tests.feeds import Item
from tests.feedserver import FeedServer, Reply
from tests.slackserver import SlackServer
from tests.smtpserver import Handler, free_port, running_server
from tests.test_daemon import DAY, Harness, rule
from watcher.errors import DeliveryError, DeliveryUnknown, FeedError
from watcher.fetch import STOPPING, FetchConfig, Fetcher
from watcher.models import Destination
from watcher.notify.email import EmailNotifier, SmtpConfig
from watcher.pipeline import deliver
from watcher.store import Store

FEEDS = ("cs.LG", "cs.CL", "cs.CV", "cs.AI")
STOP_WITHIN = 10.0


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as started:
        yield started


def fetch_in_thread(fetcher: Fetcher, url: str) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fetcher.fetch(url)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def stopped_within(
    fetcher: Fetcher, url: str, waiting: Callable[[], bool], limit: float
) -> tuple[float, list[BaseException]]:
    """Start a fetch, set the stop event once ``waiting()``, and time how long it still took."""
    thread, errors = fetch_in_thread(fetcher, url)
    deadline = time.monotonic() + 10
    while not waiting():
        assert time.monotonic() < deadline, "the fetch never got to its wait"
        time.sleep(0.02)
    time.sleep(0.2)  # well inside the wait
    asked = time.monotonic()
    fetcher.stop.set()
    thread.join(timeout=limit + 5)
    assert not thread.is_alive(), "the fetch did not end on the stop request"
    return time.monotonic() - asked, errors


def assert_stopped(errors: list[BaseException]) -> None:
    [error] = errors
    assert isinstance(error, FeedError)
    assert error.message == STOPPING


def test_retry_after_300_ends_at_once_on_stop(server: FeedServer) -> None:
    server.route("/rss/cs.LG", Reply(503, headers={"Retry-After": "300"}))
    with Fetcher(FetchConfig(max_backoff=300)) as fetcher:
        took, errors = stopped_within(
            fetcher,
            server.url("/rss/cs.LG"),
            lambda: bool(server.requests_for("/rss/cs.LG")),
            limit=1,
        )
    assert took < 1
    assert_stopped(errors)
    assert len(server.requests_for("/rss/cs.LG")) == 1  # and no second attempt


def test_back_off_after_a_refused_connection_ends_at_once_on_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/rss/cs.LG"  # nothing listens: refused
    caplog.set_level("WARNING", logger="watcher.fetch")
    with Fetcher(FetchConfig(max_attempts=3)) as fetcher:
        took, errors = stopped_within(
            fetcher, url, lambda: "retrying in 5s" in caplog.text, limit=1
        )
    assert took < 1
    assert_stopped(errors)


def test_spacing_between_requests_ends_at_once_on_stop(server: FeedServer) -> None:
    server.route("/rss/cs.LG", Reply(200, b"<rss/>"))
    config = FetchConfig(min_interval=60, extra_polite_hosts=("127.0.0.1",))
    with Fetcher(config) as fetcher:
        fetcher.fetch(server.url("/rss/cs.LG"))  # books the next slot 60 s out
        took, errors = stopped_within(fetcher, server.url("/rss/cs.LG"), lambda: True, limit=1)
    assert took < 1
    assert_stopped(errors)
    assert len(server.requests_for("/rss/cs.LG")) == 1


def test_a_silent_server_holds_a_stop_only_for_the_grace(server: FeedServer) -> None:
    server.route("/rss/cs.LG", Reply(200, b"<rss/>", delay=60))
    with Fetcher(FetchConfig(stop_grace=1.0)) as fetcher:
        took, errors = stopped_within(
            fetcher,
            server.url("/rss/cs.LG"),
            lambda: bool(server.requests_for("/rss/cs.LG")),
            limit=2,
        )
    assert 0.9 < took < 2
    assert_stopped(errors)


def test_an_answer_on_its_way_still_arrives_after_a_stop(server: FeedServer) -> None:
    server.route("/rss/cs.LG", Reply(200, b"<rss/>", delay=0.5))
    with Fetcher(FetchConfig(stop_grace=5.0)) as fetcher:
        took, errors = stopped_within(
            fetcher,
            server.url("/rss/cs.LG"),
            lambda: bool(server.requests_for("/rss/cs.LG")),
            limit=5,
        )
    assert took < 1
    assert errors == []


def test_nothing_is_fetched_once_stopped(server: FeedServer, tmp_path: Path) -> None:
    server.route("/rss/cs.LG", Reply(200, b"<rss/>"))
    local = tmp_path / "feed.xml"
    local.write_bytes(b"<rss/>")
    stop = threading.Event()
    stop.set()
    with Fetcher(stop=stop) as fetcher:
        for source in (server.url("/rss/cs.LG"), str(local)):
            with pytest.raises(FeedError, match=STOPPING):
                fetcher.fetch(source)
    assert server.requests_for("/rss/cs.LG") == []


def test_a_body_dripping_past_the_attempt_timeout_is_a_timeout(server: FeedServer) -> None:
    body = b"<rss>" + b" " * 200 + b"</rss>"
    server.route("/rss/cs.LG", Reply(200, body, chunk_size=1, body_delay=0.0))
    # One byte per write, but quick: a tiny attempt budget stands in for a slow drip.
    config = FetchConfig(attempt_timeout=0.000001, max_attempts=1)
    with Fetcher(config) as fetcher, pytest.raises(FeedError, match="took more than"):
        fetcher.fetch(server.url("/rss/cs.LG"))


# --- the daemon --------------------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Harness]:
    with FeedServer() as feeds, running_server() as smtp:
        h = Harness(tmp_path, feeds, smtp)
        h.write("papers.yaml", rule("papers", "quantiz*", "a@example.org", feeds=FEEDS))
        try:
            yield h
        finally:
            h.cleanup()


def sigterm_takes(h: Harness, ready: Callable[[], bool], what: str) -> float:
    proc = h.start()
    h.wait(what, ready)
    time.sleep(0.5)  # inside the wait
    asked = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=90)
    except Exception:
        pytest.fail(f"the daemon did not stop; log:\n{h.log()}")
    took = time.monotonic() - asked
    assert code == 0, h.log()
    assert "watcher daemon stopped" in h.log()
    return took


def test_the_daemon_stops_within_10s_during_retry_after_300(daemon: Harness) -> None:
    h = daemon
    for feed in FEEDS:
        h.feeds.route(f"/rss/{feed}", Reply(503, headers={"Retry-After": "300"}))
    took = sigterm_takes(h, lambda: bool(h.feeds.requests_for("/rss/cs.LG")), "the first 503")
    assert took < STOP_WITHIN, f"{took:.1f}s\n{h.log()}"
    assert len(h.feeds.requests_for("/rss/cs.LG")) == 1
    assert not h.feeds.requests_for("/rss/cs.AI")  # the feeds after the stop were not asked


def test_the_daemon_stops_within_10s_with_four_refused_feeds(daemon: Harness) -> None:
    h = daemon
    h.env["WATCHER_ARXIV_RSS_URL"] = f"http://127.0.0.1:{free_port()}/rss/"
    took = sigterm_takes(h, lambda: "retrying in" in h.log(), "the first back-off")
    assert took < STOP_WITHIN, f"{took:.1f}s\n{h.log()}"


def test_the_daemon_stops_within_10s_when_a_feed_never_answers(daemon: Harness) -> None:
    h = daemon
    for feed in FEEDS:
        h.feeds.route(f"/rss/{feed}", Reply(200, b"<rss/>", delay=120))
    took = sigterm_takes(h, lambda: bool(h.feeds.requests_for("/rss/cs.LG")), "the request")
    assert took < STOP_WITHIN, f"{took:.1f}s\n{h.log()}"


# --- a delivery in flight ----------------------------------------------------------------

PAPER = Item("2611.00001", "Quantization in flight")


def destinations(status: str) -> dict[str, list[str]]:
    """``watcher status``'s delivery lines (pending:, UNKNOWN:, delivered:) per destination."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in status.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            current = line.strip()
            found[current] = []
        elif current and line.startswith("    ") and not line.startswith("     "):
            found[current].append(line.strip().partition(":")[0])
    return found


def test_a_stop_cuts_short_a_mail_stalled_in_data(tmp_path: Path) -> None:
    with FeedServer() as feeds, running_server(Handler(delay=120)) as smtp:
        h = Harness(tmp_path, feeds, smtp)
        try:
            for name in ("one", "two", "three"):
                h.write(f"{name}.yaml", rule(name, "quantiz*", f"{name}@example.org"))
            h.serve(DAY, PAPER)
            took = sigterm_takes(h, lambda: len(h.smtp.messages) == 1, "the mail in DATA")
            assert took < STOP_WITHIN, f"{took:.1f}s\n{h.log()}"
            status = h.status().stdout
        finally:
            h.cleanup()
    assert len(smtp.messages) == 1, "a delivery was started after the stop"
    [first] = smtp.messages[0].rcpt_tos
    lines = destinations(status)
    assert lines[f"email:{first}"] == ["UNKNOWN"], status
    others = [f"email:{n}@example.org" for n in ("one", "two", "three")]
    others.remove(f"email:{first}")
    assert [lines[o] for o in others] == [["pending"], ["pending"]], status
    assert "stopped" in status


def test_a_stop_cuts_short_a_slack_post_whose_answer_is_held(tmp_path: Path) -> None:
    with FeedServer() as feeds, running_server() as smtp, SlackServer() as slack:
        h = Harness(tmp_path, feeds, smtp)
        h.env.update(SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.api_url)
        try:
            for name in ("one", "two", "three"):
                deliver = [f'slack: "#{name}"']
                h.write(f"{name}.yaml", rule_yaml(name, {"Q": ["quantiz*"]}, deliver=deliver))
            h.serve(DAY, PAPER)
            slack.hold_answer(1)
            took = sigterm_takes(h, slack.reached.is_set, "the held post")
            assert took < STOP_WITHIN, f"{took:.1f}s\n{h.log()}"
            status = h.status().stdout
        finally:
            slack.release.set()
            h.cleanup()
    posts = [c for c in slack.calls if c.method == "chat.postMessage"]
    assert len(posts) == 1, "a delivery was started after the stop"
    first = str(posts[0].body["channel"])
    lines = destinations(status)
    assert lines[f"slack:{first}"] == ["UNKNOWN"], status
    others = [f"slack:#{n}" for n in ("one", "two", "three") if f"#{n}" != first]
    assert [lines[o] for o in others] == [["pending"], ["pending"]], status
    assert "stopped" in status


def test_no_delivery_is_started_once_stopping(tmp_path: Path) -> None:
    recorder = Recorder(kind="slack")
    asked: list[int] = []

    def stopping() -> bool:
        asked.append(1)
        return len(asked) > 1  # the stop comes during the first send

    with Store.open(tmp_path) as store:
        for channel in ("#a", "#b", "#c"):
            store.enqueue(Destination("slack", (channel,)), digest(paper("2411.00001")))
        store.commit()
        reports = deliver(store, {"slack": recorder}, datetime.now(UTC), stopping)
        assert [r.status for r in reports] == ["delivered"]
        assert len(recorder.sent) == 1
        assert sorted(e.status for e in store.entries()) == ["pending", "pending"]


def test_a_mail_stopped_before_it_went_out_is_a_temporary_failure() -> None:
    stop = threading.Event()
    stop.set()
    with running_server() as smtp:
        config = SmtpConfig(host=smtp.host, port=smtp.port, security="none")
        notifier = EmailNotifier(config, stop=stop)
        with pytest.raises(DeliveryError) as caught:
            notifier.send(Destination("email", ("a@example.org",)), digest(paper("2411.00001")))
    assert not isinstance(caught.value, DeliveryUnknown)
    assert not caught.value.permanent
    assert caught.value.message.startswith("stopped")
    assert smtp.messages == []


def test_a_mail_stopped_in_data_is_unknown_within_a_second() -> None:
    stop = threading.Event()
    with running_server(Handler(delay=60)) as smtp:
        config = SmtpConfig(host=smtp.host, port=smtp.port, security="none")
        notifier = EmailNotifier(config, stop=stop)
        threading.Timer(0.5, stop.set).start()
        started = time.monotonic()
        with pytest.raises(DeliveryUnknown, match="stopped: "):
            notifier.send(Destination("email", ("a@example.org",)), digest(paper("2411.00001")))
        assert time.monotonic() - started < 1.5
    assert len(smtp.messages) == 1
