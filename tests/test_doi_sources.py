"""bioRxiv and journal feeds through whole cycles: a preprint known by its DOI is one paper
whichever feeds bring it, and its v2 is an update, as an arXiv replacement is. Feeds served
by a local server; the bioRxiv feed is ours (tests/data/parse/biorxiv-rss1.xml)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.factories import subscription, topic
from tests.fakes import Recorder
from tests.feedserver import FeedServer, Reply
from watcher.fetch import FetchConfig, Fetcher
from watcher.match import compile_matcher
from watcher.models import CycleReport, Subscription
from watcher.pipeline import Cycle, run_cycle
from watcher.sources import resolve_source
from watcher.store import Store

BIORXIV = (Path(__file__).parent / "data" / "parse" / "biorxiv-rss1.xml").read_bytes()
QUANTIZED = "doi:10.1101/2024.09.02.610001"
REVIEWS = (
    b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Reviews</title>'
    b"<entry><title>Quantized protein language models keep their contact maps</title>"
    b"<id>https://doi.org/10.1101/2024.09.02.610001</id>"
    b'<link href="https://reviews.example.org/1"/><published>2024-09-05T10:00:00Z</published>'
    b"<summary>A review of a preprint on quantized models.</summary></entry></feed>"
)


def cycle(server: FeedServer, data: Path, sub: Subscription, now: datetime) -> CycleReport:
    sources = {
        resolve_source(server.url(path), server.url("/rss/"), server.url("/api")): [sub.name]
        for path in sub.feeds
    }
    config = FetchConfig(min_interval=0, extra_polite_hosts=("127.0.0.1",))
    with Store.open(data) as store, Fetcher(config, sleep=lambda _: None) as fetcher:
        run = Cycle(fetcher, store, compile_matcher([sub]), [sub], sources, api_url="")
        return run_cycle(run, {"local": recorder}, now)


recorder = Recorder()


def test_a_preprint_is_one_paper_across_feeds_and_its_v2_an_update(tmp_path: Path) -> None:
    recorder.sent.clear()
    sub = subscription(
        "bio", topic("Efficient", "quantiz*", "sparse"), feeds=("/bio", "/reviews"), updates=True
    )
    with FeedServer() as server:
        server.set_routes(
            {"/bio": Reply.feed(BIORXIV), "/reviews": Reply.feed(REVIEWS, "application/atom+xml")}
        )
        cycle(server, tmp_path, sub, datetime(2024, 9, 5, 12, tzinfo=UTC))
        [(_, first)] = recorder.sent
        # Brought by both feeds, sent once; the v2 of a paper never sent is no news.
        assert [m.paper.id for m in first.matches] == [QUANTIZED]
        assert first.updated == ()

        revised = BIORXIV.replace(b"610001v1", b"610001v2")
        server.set_routes({"/bio": Reply.feed(revised), "/reviews": Reply.feed(REVIEWS)})
        cycle(server, tmp_path, sub, datetime(2024, 9, 6, 12, tzinfo=UTC))
    [_, (_, second)] = recorder.sent
    assert second.matches == ()
    assert [(m.paper.id, m.paper.version) for m in second.updated] == [(QUANTIZED, 2)]


def test_without_updates_a_new_version_sends_nothing(tmp_path: Path) -> None:
    recorder.sent.clear()
    sub = subscription("bio", topic("Efficient", "quantiz*"), feeds=("/bio",))
    with FeedServer() as server:
        server.set_routes({"/bio": Reply.feed(BIORXIV)})
        cycle(server, tmp_path, sub, datetime(2024, 9, 5, 12, tzinfo=UTC))
        server.set_routes({"/bio": Reply.feed(BIORXIV.replace(b"610001v1", b"610001v2"))})
        cycle(server, tmp_path, sub, datetime(2024, 9, 6, 12, tzinfo=UTC))
    # v1 once; v2 is a replacement, as on arXiv: no digest holds it, as new or updated.
    assert [m.paper.id for _, d in recorder.sent for m in d.matches] == [QUANTIZED]
    assert all(d.updated == () for _, d in recorder.sent)
