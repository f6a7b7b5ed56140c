"""The webhook destination against a real local receiver: the JSON it POSTs is valid
against the documented schema (docs/webhook.schema.json) and carries every paper-level
field; the signature checks out with WATCHER_WEBHOOK_SECRET; answers map to delivered,
permanent, temporary and unknown as for the other destinations."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import PROJECT
from tests.factories import digest, paper
from tests.feedserver import FeedServer, Reply
from watcher.errors import DeliveryError, DeliveryUnknown
from watcher.models import Destination, Match, TopicHit
from watcher.notify.webhook import WebhookNotifier
from watcher.pipeline import deliver
from watcher.settings import load_settings
from watcher.status import render_status, summarize
from watcher.store import Store

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
SECRET = "s3cret-signing-key"
HOOK = Destination("webhook", ("N8N_URL",))
SCHEMA = json.loads((PROJECT / "docs" / "webhook.schema.json").read_text(encoding="utf-8"))


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.route("/hook", Reply(200, b"ok"))
        yield running


def notifier(server: FeedServer, secret: str | None = SECRET, **kw: Any) -> WebhookNotifier:
    return WebhookNotifier(
        {"N8N_URL": server.url("/hook")},
        secret=secret,
        clock=lambda: NOW,
        sleep=lambda s: None,
        **kw,
    )


def posted(server: FeedServer) -> list[Any]:
    server.wait_idle()
    return server.requests_for("/hook")


def test_the_document_is_valid_against_its_schema_and_holds_every_field(
    server: FeedServer,
) -> None:
    scored = Match(
        paper("2409.12121", 2, title="Low-bit LLMs", authors=("A. One", "B. Two"), doi="10.1/x"),
        "efficient-ml",
        (TopicHit("Quantization", ("quantiz*", "low-bit")), TopicHit("LLM", ("LLM",))),
        score=7.0,
    )
    base = digest(paper("2409.00001"), updated=[paper("2409.00002", 3)], omitted=4)
    receipt = notifier(server).send(HOOK, replace(base, matches=(scored,)))
    [request] = posted(server)
    document = json.loads(request.body)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(
        document
    )
    assert (document["subscription"], document["period"], document["omitted"]) == (
        "efficient-ml",
        "2024-09-18",
        4,
    )
    first, update = document["papers"]
    assert first == {
        "id": "2409.12121",
        "version": 2,
        "title": "Low-bit LLMs",
        "authors": ["A. One", "B. Two"],
        "abstract": "An abstract.",
        "published": None,
        "links": {
            "abstract": "https://arxiv.org/abs/2409.12121v2",
            "pdf": "https://arxiv.org/pdf/2409.12121v2",
            "doi": "https://doi.org/10.1/x",
        },
        "categories": ["cs.LG"],
        "topics": ["Quantization", "LLM"],
        "matched": [
            {"topic": "Quantization", "terms": ["quantiz*", "low-bit"]},
            {"topic": "LLM", "terms": ["LLM"]},
        ],
        "score": 7.0,
        "update": False,
    }
    assert (update["id"], update["version"], update["update"]) == ("2409.00002", 3, True)
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["x-watcher-delivery"] == document["delivery"]
    assert receipt.reference == "HTTP 200"


def test_the_signature_is_the_hmac_of_the_body(server: FeedServer) -> None:
    notifier(server).send(HOOK, digest(paper("2409.00001")))
    [request] = posted(server)
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-watcher-signature"] == f"sha256={expected}"
    tampered = request.body.replace(b"2409.00001", b"2409.00009")
    assert hmac.new(SECRET.encode(), tampered, hashlib.sha256).hexdigest() != expected


def test_without_a_secret_there_is_no_signature(server: FeedServer) -> None:
    notifier(server, secret=None).send(HOOK, digest(paper("2409.00001")))
    [request] = posted(server)
    assert "x-watcher-signature" not in request.headers


def test_the_secret_comes_from_the_environment_and_is_never_shown() -> None:
    settings = load_settings({"WATCHER_WEBHOOK_SECRET": SECRET})
    assert settings.webhook_secret == SECRET and SECRET not in repr(settings)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 301])
def test_a_refusal_is_permanent(server: FeedServer, status: int) -> None:
    server.route("/hook", Reply(status, b"no", headers={"Location": "https://elsewhere/"}))
    with pytest.raises(DeliveryError) as caught:
        notifier(server).send(HOOK, digest(paper("2409.00001")))
    assert caught.value.permanent and f"HTTP {status}" in caught.value.message
    assert "N8N_URL" in caught.value.message and server.url("/hook") not in str(caught.value)


@pytest.mark.parametrize("status", [500, 408, 425, 429])
def test_a_server_error_or_a_later_please_is_temporary(server: FeedServer, status: int) -> None:
    server.route("/hook", Reply(status, b"oops"))
    with pytest.raises(DeliveryError) as caught:
        notifier(server).send(HOOK, digest(paper("2409.00001")))
    assert not caught.value.permanent and not isinstance(caught.value, DeliveryUnknown)


def test_a_short_retry_after_is_waited_for_then_delivered_once(server: FeedServer) -> None:
    waits: list[float] = []
    server.route("/hook", Reply(503, b"", headers={"Retry-After": "2"}), Reply(200, b"ok"))
    WebhookNotifier({"N8N_URL": server.url("/hook")}, sleep=waits.append).send(
        HOOK, digest(paper("2409.00001"))
    )
    assert waits == [2.0] and len(posted(server)) == 2


def test_an_answer_that_never_comes_is_unknown(server: FeedServer) -> None:
    server.route("/hook", Reply(200, b"ok", delay=3))
    with pytest.raises(DeliveryUnknown, match="may have arrived"):
        notifier(server, timeout=0.5).send(HOOK, digest(paper("2409.00001")))


def test_a_receiver_that_is_down_is_temporary(server: FeedServer) -> None:
    send = notifier(server)
    server.stop()
    with pytest.raises(DeliveryError) as caught:
        send.send(HOOK, digest(paper("2409.00001")))
    assert not caught.value.permanent and not isinstance(caught.value, DeliveryUnknown)


def test_an_unset_variable_is_permanent_and_named() -> None:
    with pytest.raises(DeliveryError, match="N8N_URL is not set") as caught:
        WebhookNotifier({}).send(HOOK, digest(paper("2409.00001")))
    assert caught.value.permanent


def test_through_the_outbox_unknown_waits_and_status_says_where_to_look(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("/hook", Reply(200, b"ok", delay=3))
    registry = {"webhook": notifier(server, timeout=0.5)}
    with Store.open(tmp_path) as store:
        store.enqueue(HOOK, digest(paper("2409.00001")))
        store.commit(now=NOW)
        [report] = deliver(store, registry, NOW)
        assert report.status == "unknown"
        assert deliver(store, registry, NOW) == ()  # never resent on its own
        text = "\n".join(render_status(summarize(store.entry_views(), {})))
    assert "webhook:N8N_URL" in text and "UNKNOWN" in text
    assert "what the webhook in N8N_URL received" in text
