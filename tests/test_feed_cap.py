"""arXiv serves at most 2,000 items in one listing (new, then cross-lists, then
replacements), so a whole archive on a busy day is cut. A listing of 2,000 items is
treated as incomplete: the day's missing new papers come from the API, and the poll line
says so. Against a local feed server and a local API stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.factories import subscription, topic
from tests.fakes import Recorder
from tests.feeds import ApiEntry, Item, api_atom, rss
from tests.feedserver import FeedServer, Reply
from watcher.fetch import FetchConfig, Fetcher
from watcher.match import compile_matcher
from watcher.models import CycleReport
from watcher.pipeline import Cycle, run_cycle
from watcher.sources import resolve_source
from watcher.status import feed_line
from watcher.store import Store

MONDAY, TUESDAY = date(2026, 11, 2), date(2026, 11, 3)
SUBSCRIPTION = subscription("efficient", topic("Efficient", "quantiz*", "prun*"))
# What the cut left out: a new paper of the day, only the API knows it.
BEYOND = ApiEntry("2611.09999", "Pruning beyond the cap", "2026-11-02T15:00:00Z")


def listing(day: date, count: int) -> bytes:
    items = [Item(f"2611.{n:05d}", f"Filler paper {n}", category="cs.AI") for n in range(count)]
    return rss(day, [Item("2611.10000", "Quantization in the listing"), *items[1:]], "cs")


API_ANSWER = Reply.feed(
    api_atom([BEYOND, ApiEntry("2611.10000", "Quantization in the listing", BEYOND.published)]),
    content_type="application/atom+xml",
)


@dataclass
class World:
    server: FeedServer
    data: Path
    local: Recorder = field(default_factory=Recorder)

    def cycle(self, now: datetime) -> CycleReport:
        rss_base, api = self.server.url("/rss/"), self.server.url("/api/query")
        source = resolve_source("cs", rss_base, api)
        config = FetchConfig(min_interval=0, extra_polite_hosts=("127.0.0.1",))
        with Store.open(self.data) as store, Fetcher(config, sleep=lambda _: None) as fetcher:
            cycle = Cycle(
                fetcher, store, compile_matcher([SUBSCRIPTION]), [SUBSCRIPTION],
                {source: [SUBSCRIPTION.name]}, api_url=api,
            )  # fmt: skip
            return run_cycle(cycle, {"local": self.local}, now)

    def api_requests(self) -> int:
        return len(self.server.requests_for("/api/query"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with FeedServer() as server:
        yield World(server, tmp_path / "data")


def at(day: date, hour: int = 6) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_a_listing_at_the_cap_is_completed_from_the_api_and_the_poll_line_says_so(
    world: World,
) -> None:
    world.server.set_routes(
        {"/rss/cs": Reply.feed(listing(TUESDAY, 2000)), "/api/query": API_ANSWER}
    )
    report = world.cycle(at(TUESDAY))
    feed, filled = report.feeds
    assert (feed.status, feed.papers, feed.capped) == ("new", 2000, True)
    assert "2,000-item cap" in feed_line(feed)
    assert filled.status == "new" and "2,000-item cap" in feed_line(filled)
    # The API read the day in the listing's categories.
    [request] = world.server.requests_for("/api/query")
    assert "cat%3Acs" in request.target and "20261103" in request.target
    # The paper the cut left out is delivered, the one in both once.
    assert sorted(world.local.paper_ids()) == ["2611.09999", "2611.10000"]

    # The same listing again: the day is covered, the API is not asked twice.
    again = world.cycle(at(TUESDAY, 9))
    assert [f.status for f in again.feeds] == ["not-modified"]
    assert world.api_requests() == 1
    assert sorted(world.local.paper_ids()) == ["2611.09999", "2611.10000"]


def test_a_failed_fill_of_a_capped_day_is_tried_again_on_the_next_poll(world: World) -> None:
    world.server.set_routes(
        {"/rss/cs": Reply.feed(listing(TUESDAY, 2000)), "/api/query": Reply(503, b"busy")}
    )
    first = world.cycle(at(TUESDAY))
    assert [f.status for f in first.feeds] == ["new", "failed"]
    assert world.local.paper_ids() == ["2611.10000"]

    world.server.set_routes(
        {"/rss/cs": Reply.feed(listing(TUESDAY, 2000)), "/api/query": API_ANSWER}
    )
    second = world.cycle(at(TUESDAY, 9))
    assert [f.status for f in second.feeds] == ["not-modified", "new"]
    assert second.feeds[0].capped
    assert sorted(world.local.paper_ids()) == ["2611.09999", "2611.10000"]


def test_a_listing_below_the_cap_is_whole(world: World) -> None:
    world.server.set_routes(
        {"/rss/cs": Reply.feed(listing(MONDAY, 1999)), "/api/query": API_ANSWER}
    )
    report = world.cycle(at(MONDAY))
    [feed] = report.feeds
    assert (feed.papers, feed.capped) == (1999, False)
    assert "cap" not in feed_line(feed)
    assert world.api_requests() == 0
