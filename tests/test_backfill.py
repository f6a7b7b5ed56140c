"""Backfill sends a new subscription only what it would have got had it existed: papers
announced as new in its own feeds, each under the day the watcher first saw it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from tests import factories
from tests.factories import topic
from watcher import sources
from watcher.daemon.backfill import run_backfill
from watcher.models import ANNOUNCEABLE, Subscription
from watcher.store import Store

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SEEN = datetime(2026, 11, 18, 12, tzinfo=UTC)  # 07:00 New York: announced 18 November


paper = partial(factories.paper, title="Quantization", announce_type="new", published=SEEN)


def subscription(feeds: tuple[str, ...] = ("cs.LG",)) -> Subscription:
    return factories.subscription("new-sub", topic(), feeds=feeds, backfill_days=7)


def queued_ids(store: Store) -> dict[str, list[str]]:
    return {e.digest.period: sorted(m.paper.id for m in e.digest.matches) for e in store.entries()}


def test_announceable_is_one_constant() -> None:
    expected: frozenset[str | None] = frozenset({"new", "cross", None})
    assert expected == ANNOUNCEABLE


def test_backfill_leaves_out_replacements(tmp_path: Path) -> None:
    papers = [
        paper("2611.00001", announce_type="new"),
        paper("2611.00002", announce_type="cross"),
        paper("2611.00003", announce_type=None),  # API or generic feed
        paper("2611.00004", announce_type="replace", version=3),
        paper("2611.00005", announce_type="replace-cross", version=2),
    ]
    with Store.open(tmp_path) as store:
        store.record_papers(papers, SEEN)
        store.commit()
        assert run_backfill(store, subscription(), frozenset({"local"}), NOW) == 3
        assert queued_ids(store) == {"2026-11-18": ["2611.00001", "2611.00002", "2611.00003"]}
        assert store.matched_by("2611.00004") == frozenset()


def test_backfill_leaves_out_papers_outside_the_subscriptions_feeds(tmp_path: Path) -> None:
    papers = [
        paper("2611.00001", categories=("cs.LG",)),
        paper("2611.00002", categories=("stat.ML", "cs.LG")),  # cross-listed into cs.LG
        paper("2611.00003", categories=("quant-ph",)),
    ]
    with Store.open(tmp_path) as store:
        store.record_papers(papers, SEEN)
        store.commit()
        assert run_backfill(store, subscription(), frozenset({"local"}), NOW) == 2
        assert queued_ids(store) == {"2026-11-18": ["2611.00001", "2611.00002"]}


def test_backfill_of_a_query_feed_cannot_tell_and_takes_every_paper(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.record_papers([paper("2611.00003", categories=("quant-ph",))], SEEN)
        store.commit()
        sub = subscription(feeds=("query:cat:quant-ph",))
        assert run_backfill(store, sub, frozenset({"local"}), NOW) == 1


def test_backfill_dates_a_paper_by_the_day_it_was_first_seen(tmp_path: Path) -> None:
    # An API paper: ``published`` is its v1 submission, months before it was announced.
    api = paper("2603.00001", announce_type=None, published=datetime(2026, 3, 2, tzinfo=UTC))
    # An RSS paper seen late on 17 November UTC, still the 17th's feed in New York.
    late = paper("2611.00002", published=None)
    with Store.open(tmp_path) as store:
        store.record_papers([api], SEEN)
        store.record_papers([late], datetime(2026, 11, 18, 3, tzinfo=UTC))
        store.commit()
        assert run_backfill(store, subscription(), frozenset({"local"}), NOW) == 2
        assert queued_ids(store) == {"2026-11-17": ["2611.00002"], "2026-11-18": ["2603.00001"]}


def test_store_first_seen(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.first_seen("2611.00001") is None
        store.record_papers([paper("2611.00001")], SEEN)
        assert store.first_seen("2611.00001") == SEEN  # staged
        store.commit()
        # A later version leaves the first sighting alone.
        store.record_papers([paper("2611.00001", version=2)], SEEN + timedelta(days=1))
        store.commit()
    with Store.open(tmp_path, read_only=True) as store:
        assert store.first_seen("2611.00001") == SEEN


def test_in_subscription_feeds_lives_in_sources() -> None:
    sub = subscription(feeds=("cs.LG+stat.ML",))
    assert sources.in_subscription_feeds(sub, paper("2611.00001", categories=("stat.ML",)))
    assert not sources.in_subscription_feeds(sub, paper("2611.00001", categories=("math.CO",)))
