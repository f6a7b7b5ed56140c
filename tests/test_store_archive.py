"""The archive as history: recent papers for backtests, and retention by pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests import factories
from watcher.models import Paper
from watcher.store import SHARD_DIR, Store

NOW = datetime(2024, 9, 18, 6, 0, tzinfo=UTC)


def paper(paper_id: str, version: int = 1) -> Paper:
    return factories.paper(paper_id, version, abstract=f"Abstract of {paper_id}.")


def seed_store(data: Path) -> None:
    """Papers first seen on several days; ids from several months and a feed item."""
    with Store.open(data) as store:
        store.record_papers([paper("2406.00001"), paper("astro-ph/0601001")], NOW - timedelta(100))
        store.record_papers([paper("2407.00002")], NOW - timedelta(60))
        store.record_papers([paper("2409.00003"), paper("feed:abc")], NOW - timedelta(2))
        store.record_papers([paper("2408.00004")], NOW - timedelta(1))
        store.commit()


def recent_ids(data: Path, since: datetime) -> list[str]:
    with Store.open(data, read_only=True) as store:
        return sorted(p.id for p in store.recent_papers(since))


def test_recent_papers_filters_by_first_seen(tmp_path: Path) -> None:
    seed_store(tmp_path)
    assert recent_ids(tmp_path, NOW - timedelta(3)) == ["2408.00004", "2409.00003", "feed:abc"]
    assert recent_ids(tmp_path, NOW - timedelta(70)) == [
        "2407.00002",
        "2408.00004",
        "2409.00003",
        "feed:abc",
    ]
    assert recent_ids(tmp_path, NOW) == []
    with Store.open(tmp_path, read_only=True) as store:
        (p,) = [p for p in store.recent_papers(NOW - timedelta(3)) if p.id == "2409.00003"]
        assert p == paper("2409.00003")  # titles and abstracts are kept


def test_recent_papers_reads_only_the_days_asked_for(tmp_path: Path) -> None:
    seed_store(tmp_path)
    texts = sorted((tmp_path / "text").iterdir())
    assert [p.stem for p in texts] == ["2024-06-10", "2024-07-20", "2024-09-16", "2024-09-17"]
    texts[0].write_text("not json")  # would raise if it were read
    assert recent_ids(tmp_path, NOW - timedelta(3)) == ["2408.00004", "2409.00003", "feed:abc"]


def test_recent_papers_sees_staged_papers_and_does_not_keep_shards(tmp_path: Path) -> None:
    seed_store(tmp_path)
    with Store.open(tmp_path) as store:
        store.record_papers([paper("2409.00005")], NOW)
        found = sorted(p.id for p in store.recent_papers(NOW - timedelta(1)))
        assert found == ["2408.00004", "2409.00005"]
        # Shards read for history are dropped (2409.00 was loaded by record_papers itself).
        assert set(store._shards) == {"2409.00"}


def test_recent_papers_on_an_empty_store(tmp_path: Path) -> None:
    assert recent_ids(tmp_path / "nothing", NOW - timedelta(90)) == []


def test_prune_archive_drops_the_text_of_old_papers_and_keeps_their_identity(
    tmp_path: Path,
) -> None:
    seed_store(tmp_path)
    with Store.open(tmp_path) as store:
        assert store.prune_archive(NOW - timedelta(90)) == 2
        assert store.paper("2406.00001") is None
        assert store.paper("astro-ph/0601001") is None
        assert store.paper("2407.00002") is not None
        assert store.known_versions(["2406.00001"]) == {"2406.00001": 1}
    text = (tmp_path / SHARD_DIR / "2406.00.json").read_text(encoding="utf-8")
    assert "2406.00001" in text and "abstract" not in text
    assert recent_ids(tmp_path, NOW - timedelta(1000)) == [
        "2407.00002",
        "2408.00004",
        "2409.00003",
        "feed:abc",
    ]
    with Store.open(tmp_path) as store:
        assert store.prune_archive(NOW - timedelta(90)) == 0  # idempotent
        assert store.prune_archive(NOW) == 4
    assert recent_ids(tmp_path, NOW - timedelta(1000)) == []


def test_prune_archive_keeps_what_this_cycle_staged(tmp_path: Path) -> None:
    seed_store(tmp_path)
    with Store.open(tmp_path) as store:
        store.record_papers([paper("2407.00002", version=2), paper("2407.00010")], NOW)
        # Every archived text is older than the cutoff; the paper first seen this cycle is
        # not archived yet and stays. A replacement does not renew its paper's text.
        assert store.prune_archive(NOW + timedelta(1)) == 6
        store.commit()
    with Store.open(tmp_path, read_only=True) as store:
        assert store.paper("2407.00010") is not None
        assert store.paper("2407.00002") is None
        assert store.known_versions(["2407.00002"]) == {"2407.00002": 2}


def test_prune_archive_reads_only_days_up_to_the_cutoff(tmp_path: Path) -> None:
    seed_store(tmp_path)
    for newer in ("2024-09-16.json", "2024-09-17.json"):
        (tmp_path / "text" / newer).write_text("not json")  # would raise if it were read
    (tmp_path / SHARD_DIR / "2406.00.json").write_text("not json")  # identity is never read
    with Store.open(tmp_path) as store:
        assert store.prune_archive(NOW - timedelta(90)) == 2
    assert not (tmp_path / "text" / "2024-06-10.json").exists()  # a whole old day: deleted


def test_a_pruned_paper_is_still_seen(tmp_path: Path) -> None:
    # Forgetting the text must not make an old paper "new" again (a cross-list of it, say).
    seed_store(tmp_path)
    with Store.open(tmp_path) as store:
        store.prune_archive(NOW - timedelta(90))
        assert store.unseen([paper("2406.00001"), paper("2407.00002")]) == []


def test_daily_pruning_runs_once_per_day(tmp_path: Path) -> None:
    seed_store(tmp_path)
    with Store.open(tmp_path) as store:
        assert store.prune_archive_daily(NOW, keep_days=90) == 2
        store.commit()
    with Store.open(tmp_path) as store:
        # Later the same day, even with a shorter retention: not again today.
        assert store.prune_archive_daily(NOW + timedelta(hours=3), keep_days=1) == 0
        assert store.prune_archive_daily(NOW + timedelta(days=1), keep_days=1) == 4
