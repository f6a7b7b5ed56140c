"""The Apprise destination against real local peers: a 127.0.0.1 HTTP server stands in for
the services whose Apprise URLs can name a host (json://, ntfy://, mmost://, gotify://).
What each service receives: messages within its body limit, numbered, in order, every paper
once; a digest cut short resumes after the last accepted message; a refusal only a person
can fix is permanent, a lost answer unknown; the URL (the secret) is in no error."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import apprise
import pytest
from markdown_it import MarkdownIt

from tests.factories import digest, paper
from tests.feedserver import FeedServer, Reply
from watcher.errors import DeliveryError, DeliveryUnknown
from watcher.models import Destination, Digest, ResumePoint
from watcher.notify.apprise import SAFE_DEFAULT_LIMIT, AppriseNotifier, service_of
from watcher.pipeline import deliver
from watcher.render.chat import ZERO_WIDTH_SPACE, chat_messages, size
from watcher.status import render_status, summarize
from watcher.store import Store

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
TOKEN = "3ccdd113474722377935511fc85d3dd4"
OK = Reply(200, b"{}", headers={"Content-Type": "application/json"})
LONG = "We quantize the weights of large models to low-bit formats without retraining. " * 20


def long_digest(count: int = 12) -> Digest:
    return digest(
        *[paper(f"2409.{n:05d}", title=f"Paper number {n}", abstract=LONG) for n in range(count)]
    )


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def notifier(server: FeedServer, **urls: str) -> AppriseNotifier:
    base = f"127.0.0.1:{server.port}"
    environ = {name: url.replace("HOST", base) for name, url in urls.items()}
    return AppriseNotifier(environ, clock=lambda: NOW, min_interval=0)


def bodies(server: FeedServer, path: str, field: str) -> list[str]:
    server.wait_idle()
    return [str(json.loads(r.body)[field]) for r in server.requests_for(path)]


def papers_in(messages: list[str]) -> list[str]:
    return [n for m in messages for n in re.findall(r"Paper number (\d+)", m)]


# --- sizes, order, markup per service ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path", "field", "limit", "markdown"),
    [
        ("json://HOST/hook", "/hook", "message", SAFE_DEFAULT_LIMIT, True),
        ("ntfy://HOST/papers", "/", "message", 7_800, False),
        (f"mmost://HOST/{TOKEN}", f"/hooks/{TOKEN}", "text", 4_000, True),
        ("gotify://HOST/abcdefghijklmn", "/message", "message", SAFE_DEFAULT_LIMIT, False),
    ],
)
def test_each_service_gets_numbered_messages_within_its_limit_every_paper_once(
    server: FeedServer, url: str, path: str, field: str, limit: int, markdown: bool
) -> None:
    server.route(path, OK)
    receipt = notifier(server, CHAT=url).send(Destination("apprise", ("CHAT",)), long_digest())
    messages = bodies(server, path, field)
    assert len(messages) > 1
    assert all(size(m) <= limit for m in messages), [size(m) for m in messages]
    total = len(messages)
    for number, message in enumerate(messages, 1):
        first = message.splitlines()[0]
        assert "efficient-ml" in first and f"({number}/{total})" in first, first
    assert papers_in(messages) == [str(n) for n in range(12)]  # in order, once each
    assert ("**[Paper number 0](https://arxiv.org/abs/2409.00000v1)**" in messages[0]) is markdown
    assert all("Matched: Quantization" in m for m in messages)
    assert receipt.reference == f"{receipt.reference.split(':')[0]}: {total} messages"


def test_a_small_digest_is_one_message_without_a_number(server: FeedServer) -> None:
    server.route("/hook", OK)
    notifier(server, CHAT="json://HOST/hook").send(
        Destination("apprise", ("CHAT",)), digest(paper("2409.00001"))
    )
    [message] = bodies(server, "/hook", "message")
    assert message.splitlines()[0] == "**arXiv digest: efficient-ml, 2024-09-18 (1 paper)**"


def test_feed_text_pings_nobody_and_links_nowhere(server: FeedServer) -> None:
    server.route(f"/hooks/{TOKEN}", OK)
    hostile = paper(
        "2409.00002",
        title="@everyone [click](https://evil.example) <@123> # Heading",
        abstract="Ping @here and ![img](https://evil.example/x.png) **not bold**",
    )
    notifier(server, CHAT=f"mmost://HOST/{TOKEN}").send(
        Destination("apprise", ("CHAT",)), digest(hostile)
    )
    [message] = bodies(server, f"/hooks/{TOKEN}", "text")
    assert "@everyone" not in message and "@here" not in message
    assert f"@{ZERO_WIDTH_SPACE}everyone" in message
    # Read as CommonMark: the one link is the paper's, no image, no heading; the title's
    # text shows as the feed wrote it.
    tokens = MarkdownIt().parseInline(message)[0].children or []
    links = [t.attrGet("href") for t in tokens if t.type == "link_open"]
    assert links == ["https://arxiv.org/abs/2409.00002v1"]
    assert not [t for t in tokens if t.type in ("image", "html_inline")]
    shown = "".join(t.content for t in tokens if t.type == "text")
    assert "[click](https://evil.example)" in shown.replace(ZERO_WIDTH_SPACE, "")


# --- Discord and Telegram: their plugins' limits, rendered -------------------------------


@pytest.mark.parametrize(
    ("url", "limit"),
    [
        ("discord://1234567890/abcdefghijklmnopqrstuvwxyz", 2_000),
        ("tgram://123456789:abcdefghijklmnopqrstuvwxyzABCDEFGHI/12315544/", 4_096),
    ],
)
def test_discord_and_telegram_messages_fit_their_limits(url: str, limit: int) -> None:
    plugin = apprise.Apprise.instantiate(url)
    service = service_of(plugin)
    assert service.markup == "markdown"
    assert limit * 0.9 <= service.limit <= limit
    messages = chat_messages(long_digest(30), service.limit, service.markup)
    assert all(size(m) <= limit for m in messages)
    assert papers_in(messages) == [str(n) for n in range(30)]
    # Each message holds whole papers, an abstract trimmed to fit beside the others.
    assert all(m.count("Matched: ") == len(papers_in([m])) for m in messages)


def test_one_huge_paper_is_trimmed_to_fit_a_teams_message() -> None:
    service = service_of(apprise.Apprise.instantiate("workflows://host:443/workflow1/signature/"))
    huge = paper("2409.00003", title="T " * 400, authors=tuple(f"Author {n}" for n in range(300)))
    [message] = chat_messages(digest(huge), service.limit, service.markup)
    assert size(message) <= 1_000
    assert "et al. (+296 more)" in message


# --- failures: permanent, temporary, unknown; resume after a cut ---------------------------


def test_a_cut_digest_resumes_after_the_last_accepted_message(server: FeedServer) -> None:
    server.route("/hook", OK, OK, Reply(503, b"busy"), OK)
    send = notifier(server, CHAT="json://HOST/hook")
    marks: list[str] = []
    destination = Destination("apprise", ("CHAT",))
    with pytest.raises(DeliveryError) as caught:
        send.send_resumable(destination, long_digest(), None, marks.append)
    error = caught.value
    assert not error.permanent and not isinstance(error, DeliveryUnknown)
    assert "HTTP 503" in error.message and "message 3 of" in error.message
    point = ResumePoint.parse(error.resume)
    assert point is not None and point.next == 2
    assert [ResumePoint.parse(m).next for m in marks] == [1, 2]  # type: ignore[union-attr]
    send.send_resumable(destination, long_digest(), error.resume, marks.append)
    messages = bodies(server, "/hook", "message")
    accepted = messages[:2] + messages[3:]  # the third was refused, then sent again
    assert messages[2] == messages[3]
    assert papers_in(accepted) == [str(n) for n in range(12)]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refused_url_is_permanent_and_names_the_variable_not_the_url(
    server: FeedServer, status: int
) -> None:
    server.route(f"/hooks/{TOKEN}", Reply(status, b"no"))
    with pytest.raises(DeliveryError) as caught:
        notifier(server, TEAM_CHAT=f"mmost://HOST/{TOKEN}").send(
            Destination("apprise", ("TEAM_CHAT",)), digest(paper("2409.00001"))
        )
    assert caught.value.permanent
    assert f"HTTP {status}" in caught.value.message and "TEAM_CHAT" in caught.value.message
    assert TOKEN not in str(caught.value)


def test_an_answer_that_never_comes_is_unknown(server: FeedServer) -> None:
    server.route("/hook", Reply(200, b"{}", delay=3))
    with pytest.raises(DeliveryUnknown, match="may have arrived"):
        notifier(server, CHAT="json://HOST/hook?rto=0.5").send(
            Destination("apprise", ("CHAT",)), digest(paper("2409.00001"))
        )


def test_a_connection_dropped_after_the_request_is_unknown(server: FeedServer) -> None:
    server.route("/hook", Reply(200, b"{}" * 100, drop_after=1))
    with pytest.raises(DeliveryUnknown):
        notifier(server, CHAT="json://HOST/hook").send(
            Destination("apprise", ("CHAT",)), digest(paper("2409.00001"))
        )


def test_a_service_that_is_down_is_temporary(server: FeedServer) -> None:
    port = server.port
    server.stop()
    send = AppriseNotifier({"CHAT": f"json://127.0.0.1:{port}/hook"}, min_interval=0)
    with pytest.raises(DeliveryError) as caught:
        send.send(Destination("apprise", ("CHAT",)), digest(paper("2409.00001")))
    assert not caught.value.permanent and not isinstance(caught.value, DeliveryUnknown)
    assert "could not be reached" in caught.value.message


def test_an_unset_or_unusable_variable_is_permanent() -> None:
    send = AppriseNotifier({"BAD": "nosuchservice://x"})
    with pytest.raises(DeliveryError, match="DISCORD_URL is not set") as unset:
        send.send(Destination("apprise", ("DISCORD_URL",)), digest(paper("2409.00001")))
    with pytest.raises(DeliveryError, match="BAD holds no Apprise URL") as unusable:
        send.send(Destination("apprise", ("BAD",)), digest(paper("2409.00001")))
    assert unset.value.permanent and unusable.value.permanent


# --- through the outbox ---------------------------------------------------------------------


def test_the_outbox_resumes_a_cut_digest_and_status_shows_it(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("/hook", OK, Reply(500, b"oops"), OK)
    registry = {"apprise": notifier(server, CHAT="json://HOST/hook")}
    destination = Destination("apprise", ("CHAT",))
    with Store.open(tmp_path) as store:
        store.enqueue(destination, long_digest())
        store.commit(now=NOW)
        [first] = deliver(store, registry, NOW)
        assert first.status == "failed"
        lines = render_status(summarize(store.entry_views(), {}, tallies=store.delivery_tallies()))
        text = "\n".join(lines)
        assert "apprise:CHAT" in text and "FAILED (temporary)" in text, text
        [second] = deliver(store, registry, NOW)
        assert second.status == "delivered"
    messages = bodies(server, "/hook", "message")
    assert papers_in([messages[0], *messages[2:]]) == [str(n) for n in range(12)]


def test_a_permanent_failure_waits_for_retry(server: FeedServer, tmp_path: Path) -> None:
    server.route("/hook", Reply(401, b"no"))
    registry = {"apprise": notifier(server, CHAT="json://HOST/hook")}
    with Store.open(tmp_path) as store:
        store.enqueue(Destination("apprise", ("CHAT",)), digest(paper("2409.00001")))
        store.commit(now=NOW)
        [report] = deliver(store, registry, NOW)
        assert report.status == "failed"
        assert deliver(store, registry, NOW) == ()  # not retried on its own
        text = "\n".join(render_status(summarize(store.entry_views(), {})))
        assert "FAILED (permanent)" in text and "watcher retry" in text
    assert len(server.requests_for("/hook")) == 1
