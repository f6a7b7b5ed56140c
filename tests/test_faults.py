"""Faults on the way to arXiv: each is recorded with a clear reason, and the day it cost is
filled from the API on the next good poll — no paper lost, none invented, none twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import subscription, topic
from tests.fakes import Recorder
from tests.feeds import ApiEntry, Item, api_atom, rss
from tests.feedserver import FeedServer, Reply, Request
from watcher.fetch import FetchConfig, Fetcher
from watcher.match import compile_matcher
from watcher.models import CycleReport
from watcher.pipeline import Cycle, run_cycle
from watcher.sources import resolve_source
from watcher.store import Store

MONDAY, TUESDAY, WEDNESDAY = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)
A = Item("2611.01001", "Quantization for speech models")
B = Item("2611.02002", "Pruning graph networks")  # Tuesday's paper: the fault hides it
C = Item("2611.03003", "Sparse attention kernels")
NOISE = Item("2611.01009", "A history of sundials")
SUBSCRIPTION = subscription("efficient", topic("Efficient", "quantiz*", "prun*", "sparse"))
CAP = 64 * 1024


@dataclass
class World:
    server: FeedServer
    data: Path
    local: Recorder = field(default_factory=Recorder)
    slept: list[float] = field(default_factory=list)

    def cycle(self, now: datetime, **options: int) -> CycleReport:
        rss_base, api = self.server.url("/rss/"), self.server.url("/api/query")
        source = resolve_source("cs.LG", rss_base, api)
        config = FetchConfig(
            min_interval=0, read_timeout=0.3, max_bytes=CAP, extra_polite_hosts=("127.0.0.1",)
        )
        with Store.open(self.data) as store, Fetcher(config, sleep=self.slept.append) as fetcher:
            cycle = Cycle(
                fetcher, store, compile_matcher([SUBSCRIPTION]), [SUBSCRIPTION],
                {source: [SUBSCRIPTION.name]}, api_url=api, **options,
            )  # fmt: skip
            return run_cycle(cycle, {"local": self.local}, now)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with FeedServer() as server:
        yield World(server, tmp_path / "data")


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 6, tzinfo=UTC)


def huge_feed() -> bytes:
    filler = [Item(f"2611.1{i:04d}", f"Filler paper {i}", "x" * 400) for i in range(400)]
    return rss(TUESDAY, [B, *filler])


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
    b"<rss><channel><title>&lol2;</title></channel></rss>"
)

FAULTS = {
    "429": (Reply(429, b"slow down", headers={"Retry-After": "7"}), "HTTP 429"),
    "503": (Reply(503, b"busy", headers={"Retry-After": "5"}), "HTTP 503"),
    "read-timeout": (Reply.feed(rss(TUESDAY, [B]), delay=2.0), "timed out"),
    "connection-reset": (Reply.feed(rss(TUESDAY, [B]), drop_after=200), "reset"),
    "truncated": (Reply.feed(rss(TUESDAY, [B])[:-120]), "truncated"),
    "html-200": (
        Reply.feed(b"<!DOCTYPE html><html><body>Oops</body></html>", "text/html"),
        "HTML page",
    ),
    "over-cap": (Reply.feed(huge_feed()), "cap"),
    "entity-expansion": (Reply.feed(BILLION_LAUGHS), "DOCTYPE"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_is_recorded_and_the_lost_day_is_filled_once(world: World, fault: str) -> None:
    reply, reason = FAULTS[fault]
    api_answer = Reply.feed(
        api_atom([ApiEntry(B.id, B.title, "2026-11-02T15:00:00Z"),  # Tuesday's listing
                  ApiEntry(A.id, A.title, "2026-10-30T15:00:00Z")]),  # already delivered
        content_type="application/atom+xml",
    )  # fmt: skip
    world.server.set_routes({"/rss/cs.LG": Reply.feed(rss(MONDAY, [A, NOISE]))})
    world.cycle(at(MONDAY))

    world.server.set_routes({"/rss/cs.LG": reply, "/api/query": api_answer})
    tuesday = world.cycle(at(TUESDAY))
    [failed] = tuesday.feeds
    assert failed.status == "failed" and reason in (failed.error or ""), failed
    assert world.local.paper_ids() == [A.id]  # nothing from the broken response

    world.server.set_routes(
        {"/rss/cs.LG": Reply.feed(rss(WEDNESDAY, [C])), "/api/query": api_answer}
    )
    wednesday = world.cycle(at(WEDNESDAY))
    assert [f.status for f in wednesday.feeds] == ["new", "new"]
    assert wednesday.feeds[1].origin == "api-fill"
    assert sorted(world.local.paper_ids()) == sorted([A.id, B.id, C.id])


def test_retry_after_is_honoured_before_giving_up(world: World) -> None:
    world.server.set_routes(
        {"/rss/cs.LG": [Reply(503, headers={"Retry-After": "42"}), Reply.feed(rss(MONDAY, [A]))]}
    )
    report = world.cycle(at(MONDAY))
    assert [f.status for f in report.feeds] == ["new"]
    assert any(41 < s <= 42 for s in world.slept)  # waited out Retry-After (real clock)
    assert world.local.paper_ids() == [A.id]


def test_an_api_error_entry_is_a_failure_with_arxivs_message_and_is_retried(world: World) -> None:
    error = (
        b"<?xml version='1.0' encoding='UTF-8'?>\n"
        b'<feed xmlns="http://www.w3.org/2005/Atom"><id>https://arxiv.org/</id>'
        b"<title>arXiv Search Results</title><updated>2026-11-04T00:00:00Z</updated>"
        b"<entry><id>https://arxiv.org/api/errors#bad_query</id><title>Error</title>"
        b"<updated>2026-11-04T00:00:00Z</updated><summary>malformed query</summary>"
        b"<author><name>arXiv api core</name></author></entry></feed>"
    )
    world.server.set_routes({"/rss/cs.LG": Reply.feed(rss(MONDAY, [A]))})
    world.cycle(at(MONDAY))
    world.server.set_routes(
        {
            "/rss/cs.LG": Reply.feed(rss(WEDNESDAY, [C])),
            "/api/query": Reply(400, error, headers={"Content-Type": "application/atom+xml"}),
        }
    )
    report = world.cycle(at(WEDNESDAY))
    assert [f.status for f in report.feeds] == ["new", "failed"]
    assert "arXiv API error: malformed query" in (report.feeds[1].error or "")
    assert sorted(world.local.paper_ids()) == [A.id, C.id]

    # The gap stays open until the API answers: the next poll asks again.
    world.server.set_routes(
        {
            "/rss/cs.LG": Reply.feed(rss(WEDNESDAY, [C])),
            "/api/query": Reply.feed(
                api_atom([ApiEntry(B.id, B.title, "2026-11-02T15:00:00Z")]),
                content_type="application/atom+xml",
            ),
        }
    )
    again = world.cycle(at(WEDNESDAY))
    assert [f.status for f in again.feeds] == ["not-modified", "new"]
    assert sorted(world.local.paper_ids()) == [A.id, B.id, C.id]


def paged_api(entries: list[ApiEntry]) -> Callable[[Request], Reply]:
    """An API that serves ``entries`` page by page, as arXiv does (start, max_results)."""

    def answer(request: Request) -> Reply:
        query = parse_qs(urlsplit(request.target).query)
        start, size = int(query["start"][0]), int(query["max_results"][0])
        page = api_atom(entries[start : start + size], total=len(entries))
        return Reply.feed(page, content_type="application/atom+xml")

    return answer


MISSED = [
    ApiEntry(f"2611.020{n:02d}", f"Pruning study {n}", "2026-11-02T15:00:00Z") for n in range(7)
]


def test_a_missed_day_is_read_to_the_last_page(world: World) -> None:
    world.server.set_routes({"/rss/cs.LG": Reply.feed(rss(MONDAY, [A]))})
    world.cycle(at(MONDAY))
    world.server.set_routes(
        {"/rss/cs.LG": Reply.feed(rss(WEDNESDAY, [C])), "/api/query": paged_api(MISSED)}
    )
    world.cycle(at(WEDNESDAY), api_page_size=2, api_max_pages=5)  # 7 results: 4 pages
    assert sorted(world.local.paper_ids()) == sorted([A.id, C.id, *(e.id for e in MISSED)])


def test_a_missed_day_too_big_to_read_whole_is_an_error_and_retried(world: World) -> None:
    world.server.set_routes({"/rss/cs.LG": Reply.feed(rss(MONDAY, [A]))})
    world.cycle(at(MONDAY))
    world.server.set_routes(
        {"/rss/cs.LG": Reply.feed(rss(WEDNESDAY, [C])), "/api/query": paged_api(MISSED)}
    )
    report = world.cycle(at(WEDNESDAY), api_page_size=2, api_max_pages=2)  # 4 of 7 at most
    assert [f.status for f in report.feeds] == ["new", "failed"]
    assert "more than 4 results" in (report.feeds[1].error or "")
    assert sorted(world.local.paper_ids()) == [A.id, C.id]  # no partial day
    again = world.cycle(at(WEDNESDAY), api_page_size=5, api_max_pages=2)
    assert [f.status for f in again.feeds] == ["not-modified", "new"]
    assert len(world.local.paper_ids()) == 2 + len(MISSED)
