"""The daemon hot-reloads rule files that use the Apprise, webhook and Atom destinations:
an edit adding them applies at the next cycle without a restart (their variables read from
the daemon's environment, their URLs kept out of the heartbeat), and status lists each
destination's deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import feedparser
import pytest
from apscheduler.triggers.interval import IntervalTrigger

from tests.factories import rule_yaml
from tests.fakes import DaemonSetup
from tests.feeds import Item, rss
from tests.feedserver import FeedServer, Reply
from watcher.daemon.jobs import JobSpec
from watcher.status import render_status, summarize
from watcher.store import Store

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
POLL = JobSpec("poll", "poll", IntervalTrigger(seconds=3600, timezone=UTC), "UTC")
TOKEN = "3ccdd113474722377935511fc85d3dd4"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.route(f"/hooks/{TOKEN}", Reply(200, b"ok"))
        running.route("/n8n", Reply(401, b"no"))
        yield running


def test_an_edit_adding_the_new_destinations_applies_without_a_restart(
    tmp_path: Path, server: FeedServer
) -> None:
    with DaemonSetup(tmp_path, now=NOW) as setup:
        feed = tmp_path / "feed.xml"
        feed.write_bytes(rss(date(2026, 11, 10), [Item("2611.00001", "Quantized nets")]))
        setup.write("a.yaml", rule_yaml("a", feeds=[str(feed)]))
        environ = {
            "TEAM_CHAT": f"mmost://127.0.0.1:{server.port}/{TOKEN}",
            "N8N_URL": server.url("/n8n"),
        }
        daemon = setup.daemon(environ=environ)
        deliver = ["apprise: TEAM_CHAT", "webhook: N8N_URL", "atom: a.xml"]
        setup.write("a.yaml", rule_yaml("a", feeds=[str(feed)], deliver=deliver))
        daemon.check_rules()
        assert [d.kind for d in daemon.subscriptions[0].deliver] == ["apprise", "webhook", "atom"]
        daemon._job_runner(POLL)()
        server.wait_idle()
        [chat] = server.requests_for(f"/hooks/{TOKEN}")
        assert "Quantized nets" in json.loads(chat.body)["text"]
        assert len(server.requests_for("/n8n")) == 1
        parsed = feedparser.parse((setup.data / "atom" / "a.xml").read_bytes())
        assert parsed.bozo == 0 and [e.title for e in parsed.entries] == ["Quantized nets"]
        heartbeat = (setup.data / "daemon.json").read_text(encoding="utf-8")
        assert TOKEN not in heartbeat and server.url("/n8n") not in heartbeat
        with Store.open(setup.data, read_only=True) as store:
            status = summarize(store.entry_views(), {}, tallies=store.delivery_tallies())
        text = "\n".join(render_status(status))
        assert "apprise:TEAM_CHAT" in text and "atom:a.xml" in text, text
        assert "webhook:N8N_URL" in text and "FAILED (permanent)" in text
        assert "HTTP 401" in text and server.url("/n8n") not in text
