"""The store as a user meets it: what it remembers across runs, and what it never sends twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watcher.errors import StoreError
from watcher.models import (
    LOCAL,
    Destination,
    Digest,
    FeedState,
    Match,
    OutboxEntry,
    Paper,
    Receipt,
    TopicHit,
)
from watcher.store import AtomicJSONStorage, Store, codec
from watcher.store import outbox as store

NOW = datetime(2024, 9, 18, 6, 0, tzinfo=UTC)
SLACK = Destination("slack", ("#efficient-ml",))


def paper(paper_id: str, version: int | None = 1, title: str = "") -> Paper:
    return Paper(
        id=paper_id,
        version=version,
        title=title or f"On {paper_id}",
        authors=("Ada Lovelace", "Alan Turing"),
        abstract="We prune.\nThen we quantize.",
        categories=("cs.LG", "cs.AI"),
        announce_type="new",
        published=datetime(2024, 9, 17, 20, 0, tzinfo=timezone(timedelta(hours=-4))),
    )


def digest(papers: list[Paper], period: str = "2024-09-18", sub: str = "efficient-ml") -> Digest:
    hits = (TopicHit("Pruning", ("prun*",)),)
    return Digest(sub, period, tuple(Match(p, sub, hits) for p in papers))


def ids(entry: OutboxEntry) -> list[str]:
    return [m.paper.id for m in entry.digest.matches]


def statuses(s: Store) -> dict[str, str]:
    """Every entry kept, delivered ones included: key -> status."""
    found = {e.key: e.status for e in s.entry_views()}
    return {**found, **{e.key: "delivered" for e in s.delivery_log()}}


def receipt(at: datetime = NOW) -> Receipt:
    return Receipt("slack:#efficient-ml", "1726640000.000100", at)


# --- papers ------------------------------------------------------------------------------


def test_seen_papers_are_remembered_across_runs(tmp_path: Path) -> None:
    batch = [paper("2409.12121"), paper("2409.00001"), paper("astro-ph/0601001")]
    with Store.open(tmp_path) as s:
        assert s.unseen(batch) == batch
        s.record_papers(batch, NOW)
        s.commit()
    with Store.open(tmp_path) as s:
        assert s.unseen(batch) == []
        assert s.unseen([*batch, paper("2409.99999")]) == [paper("2409.99999")]
        assert s.paper("2409.12121") == batch[0]


def test_new_version_or_another_feeds_copy_is_not_new(tmp_path: Path) -> None:
    with Store.open(tmp_path) as s:
        s.record_papers([paper("2409.12121", 1)], NOW)
        s.commit()
    later = NOW + timedelta(days=3)
    with Store.open(tmp_path) as s:
        v2 = paper("2409.12121", 2, title="Revised")
        cross = Paper("2409.12121", 1, "On 2409.12121", (), "", ("cs.CV",), "cross")
        assert s.unseen([v2, cross]) == []
        assert s.known_versions(["2409.12121", "2409.55555"]) == {"2409.12121": 1}
        s.record_papers([v2], later)
        s.commit()
    with Store.open(tmp_path) as s:
        assert s.known_versions(["2409.12121"]) == {"2409.12121": 2}
        # The archive keeps the text as first seen: a replacement only bumps the version.
        assert s.paper("2409.12121") == paper("2409.12121", 1)
    raw = json.loads((tmp_path / "papers" / "2409.12.json").read_text())
    assert raw["papers"]["2409.12121"]["first_seen"] == NOW.isoformat()  # v1's day, kept


def test_the_same_paper_twice_in_one_cycle_is_new_once(tmp_path: Path) -> None:
    from_lg, from_cl = paper("2409.12121"), paper("2409.12121", title="cs.CL copy")
    with Store.open(tmp_path) as s:
        assert s.unseen([from_lg, from_cl]) == [from_lg]
        s.record_papers([from_lg], NOW)
        assert s.unseen([from_cl]) == []  # staged counts as seen before commit


def test_archive_is_sharded_by_arxiv_number(tmp_path: Path) -> None:
    feed_item = Paper("feed:0123abcd", None, "Blog post", (), "", link="https://example.org/p")
    with Store.open(tmp_path) as s:
        s.record_papers([paper("2409.12121"), paper("astro-ph/0601001"), feed_item], NOW)
        s.commit()
    assert sorted(p.name for p in (tmp_path / "papers").iterdir()) == [
        "0601.json",  # old-style ids: by month
        "2409.12.json",  # 2409.12000 to 2409.12999
        "other.json",
    ]
    with Store.open(tmp_path) as s:
        assert s.paper("feed:0123abcd") == feed_item
        assert s.known_versions(["feed:0123abcd"]) == {"feed:0123abcd": None}


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of every store file read, in order."""
    reads: list[str] = []
    real_read = AtomicJSONStorage.read

    def counting_read(self: AtomicJSONStorage) -> Any:
        reads.append(self.path.name)
        return real_read(self)

    monkeypatch.setattr(AtomicJSONStorage, "read", counting_read)
    return reads


def write_month_file(data: Path, month: str, records: dict[str, dict[str, Any]]) -> None:
    """A shard as stores wrote it before shards were split by number: a whole month."""
    (data / "papers").mkdir(parents=True, exist_ok=True)
    (data / "papers" / f"{month}.json").write_text(json.dumps({"papers": records}))


def identity(paper_id: str, version: int = 1, matched_by: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": paper_id,
        "version": version,
        "first_seen": NOW.isoformat(),
        "matched_by": list(matched_by),
        "read_by": [],
    }


def test_a_store_with_month_files_keeps_every_paper_after_the_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_ids = ["2409.00001", "2409.01234", "2409.12121"]
    write_month_file(
        tmp_path, "2409", {i: identity(i, matched_by=("efficient-ml",)) for i in old_ids}
    )
    write_month_file(tmp_path, "0601", {"astro-ph/0601001": identity("astro-ph/0601001")})
    write_month_file(tmp_path, "2410", {})  # an empty month goes too

    with Store.open(tmp_path, read_only=True) as reader:  # status before the daemon restarts
        assert reader.unseen([paper(i) for i in old_ids]) == []
        assert reader.matched_by("2409.12121") == {"efficient-ml"}
        assert not (tmp_path / "papers" / "2409.00.json").exists()  # a reader writes nothing

    with Store.open(tmp_path) as s:
        assert s.unseen([paper(i) for i in [*old_ids, "astro-ph/0601001"]]) == []
        assert s.known_versions(old_ids) == dict.fromkeys(old_ids, 1)
        assert s.matched_by("2409.12121") == {"efficient-ml"}
    assert sorted(f.name for f in (tmp_path / "papers").iterdir()) == [
        "0601.json",  # old-style ids keep their month file
        "2409.00.json",
        "2409.01.json",
        "2409.12.json",
    ]
    reads = count_reads(monkeypatch)
    Store.open(tmp_path).close()
    # Done once: later opens read only the outbox and feed files, no shard, 0601.json included.
    assert reads == ["open.json", "summary.json", "feeds.json"]


def test_an_upgrade_cut_short_moves_the_rest_without_undoing_later_changes(
    tmp_path: Path,
) -> None:
    write_month_file(tmp_path, "2409", {"2409.00001": identity("2409.00001")})
    # The shard was written, then the process died before the month file let go of the
    # paper; a later cycle saw version 2. The stale copy in the month file must not win.
    (tmp_path / "papers" / "2409.00.json").write_text(
        json.dumps({"papers": {"2409.00001": identity("2409.00001", version=2)}})
    )
    with Store.open(tmp_path) as s:
        assert s.known_versions(["2409.00001"]) == {"2409.00001": 2}
    assert not (tmp_path / "papers" / "2409.json").exists()


def test_closing_without_commit_forgets_the_cycle(tmp_path: Path) -> None:
    with Store.open(tmp_path) as s:
        s.record_papers([paper("2409.12121")], NOW)
        s.enqueue(SLACK, digest([paper("2409.12121")]))
        s.set_feed_state("cs.LG", FeedState(etag="abc"))
    with Store.open(tmp_path) as s:
        assert s.unseen([paper("2409.12121")]) == [paper("2409.12121")]
        assert s.entries() == []
        assert s.feed_state("cs.LG") == FeedState()


# --- outbox ------------------------------------------------------------------------------


def test_outbox_entry_goes_from_pending_to_delivered_and_keeps_its_receipt(
    tmp_path: Path,
) -> None:
    papers = [paper("2409.12121"), paper("2409.00001")]
    with Store.open(tmp_path) as s:
        entry = s.enqueue(SLACK, digest(papers))
        assert entry is not None
        assert entry.key == "efficient-ml|slack:#efficient-ml|2024-09-18"
        s.commit()
    with Store.open(tmp_path) as s:
        [pending] = s.pending()
        assert pending == entry  # self-contained: the papers and hits came back whole
        assert pending.status == "pending"
        s.mark_delivered(pending.key, receipt())
        # no commit: a send already happened, so the mark is durable at once
    with Store.open(tmp_path) as s:
        assert s.pending() == []
        assert s.entries() == []  # nothing left to deliver...
        [done] = s.delivery_log()  # ...and the delivery is kept, receipt and paper ids
        assert (done.key, done.attempts, done.receipt) == (entry.key, 1, receipt())
        assert done.paper_ids == ("2409.12121", "2409.00001")
    assert "We prune" not in (tmp_path / "outbox" / "delivered" / "2024-09-18.json").read_text()


def test_a_delivery_mark_costs_a_journal_line_not_a_rewrite_of_the_outbox(
    tmp_path: Path,
) -> None:
    with Store.open(tmp_path) as s:
        for n in range(20):
            s.enqueue(SLACK, digest([paper(f"2409.{n:05d}")], period=f"2024-09-{n + 1:02d}"))
        s.commit()
    state = tmp_path / "outbox" / "open.json"
    before = (state.stat().st_mtime_ns, state.read_bytes())
    with Store.open(tmp_path) as s:
        first, second = s.pending()[:2]
        s.mark_sending(first.key)
        s.mark_delivered(first.key, receipt())
        s.mark_failed(second.key, "HTTP 500")
        # The process dies here, before any checkpoint: open.json is untouched...
        assert (state.stat().st_mtime_ns, state.read_bytes()) == before
        assert len((tmp_path / store.JOURNAL_FILE).read_text().splitlines()) == 3
    # ...and the marks are there on the next open, read-only ones included.
    for read_only in (True, False):
        with Store.open(tmp_path, read_only=read_only) as s:
            status = statuses(s)
            assert status[first.key] == "delivered" and status[second.key] == "failed"
    with Store.open(tmp_path) as s:
        s.checkpoint()
    assert (tmp_path / store.JOURNAL_FILE).read_text() == ""
    saved = json.loads(state.read_text())["outbox"]
    assert first.key not in saved and saved[second.key]["status"] == "failed"
    moved = json.loads((tmp_path / "outbox" / "delivered" / "2024-09-01.json").read_text())
    assert moved["outbox"][first.key]["receipt"]["reference"] == receipt().reference


def test_a_journal_line_cut_by_a_crash_is_ignored(tmp_path: Path) -> None:
    with Store.open(tmp_path) as s:
        s.enqueue(SLACK, digest([paper("2409.00001")]))
        s.commit()
    with Store.open(tmp_path) as s:
        [entry] = s.pending()
        s.mark_sending(entry.key)
    with open(tmp_path / store.JOURNAL_FILE, "a", encoding="utf-8") as journal:
        journal.write('{"key": "' + entry.key + '", "status": "deliv')  # torn mid-write
    with Store.open(tmp_path) as s:
        [kept] = s.entries()
        assert kept.status == "unknown"  # sent, fate unknown: never resent on its own
        assert s.pending() == []
        # A mark after the torn line still counts: opening folded the journal first.
        s.requeue(kept.key)
    with Store.open(tmp_path, read_only=True) as s:
        assert [e.status for e in s.entries()] == ["pending"]


def test_enqueueing_the_same_digest_again_is_a_no_op(tmp_path: Path) -> None:
    d = digest([paper("2409.12121"), paper("2409.00001")])
    with Store.open(tmp_path) as s:
        first = s.enqueue(SLACK, d)
        assert s.enqueue(SLACK, d) is None
        s.commit()
    with Store.open(tmp_path) as s:
        assert s.enqueue(SLACK, d) is None
        assert s.pending() == [first]
        s.mark_delivered(s.pending()[0].key, receipt())
        assert s.enqueue(SLACK, d) is None  # rerun after a crash following the send
        s.checkpoint()
        assert s.enqueue(SLACK, d) is None  # and once the entry moved to the delivery log
        assert len(statuses(s)) == 1


def test_more_papers_for_a_pending_period_join_its_entry(tmp_path: Path) -> None:
    with Store.open(tmp_path) as s:
        s.enqueue(SLACK, digest([paper("2409.00001")]))
        s.enqueue(SLACK, digest([paper("2409.00001"), paper("2409.00002")]))
        s.enqueue(LOCAL, digest([paper("2409.00001")]))  # another destination: its own entry
        s.commit()
        slack, local = s.pending()
        # In the digest's order (newest first), not in the order the papers arrived.
        assert ids(slack) == ["2409.00002", "2409.00001"]
        assert ids(local) == ["2409.00001"]


def test_papers_arriving_after_delivery_make_a_follow_up_with_only_those(
    tmp_path: Path,
) -> None:
    a, b, c = paper("2409.00001"), paper("2409.00002"), paper("2409.00003")
    with Store.open(tmp_path) as s:
        first = s.enqueue(SLACK, digest([a]))
        assert first is not None
        s.mark_delivered(first.key, receipt())
        second = s.enqueue(SLACK, digest([a, b]))
        assert second is not None
        assert second.digest.period == "2024-09-18#2"
        assert ids(second) == ["2409.00002"]
        s.mark_unknown(second.key, "connection reset after send")
        third = s.enqueue(SLACK, digest([a, b, c]))  # b may have arrived: never resent
        assert third is not None
        assert (third.digest.period, ids(third)) == ("2024-09-18#3", ["2409.00003"])
        s.commit()
    with Store.open(tmp_path) as s:
        assert [e.status for e in s.entries()] == ["unknown", "pending"]
        assert [e.key for e in s.delivery_log()] == [first.key]
        assert s.pending() == [third]
        fourth = s.enqueue(SLACK, digest([a, b, c, paper("2409.00004")]))
        assert fourth is not None and fourth.key == third.key  # joins the pending one
        assert ids(fourth) == ["2409.00004", "2409.00003"]  # in the digest's order
    assert store.split_period("2024-09-18#3") == ("2024-09-18", 3)


def test_failed_entries_are_retried_and_unknown_ones_wait_for_the_user(
    tmp_path: Path,
) -> None:
    with Store.open(tmp_path) as s:
        one = s.enqueue(SLACK, digest([paper("2409.00001")]))
        two = s.enqueue(LOCAL, digest([paper("2409.00001")]))
        assert one is not None and two is not None
        s.mark_failed(one.key, "ratelimited")
        s.mark_failed(one.key, "invalid_auth", permanent=True)
        s.mark_unknown(two.key, "timeout after send")
    with Store.open(tmp_path) as s:
        # A permanent failure waits for the user, like an unknown one...
        assert s.pending() == []
        [failed, unknown] = s.entries()
        assert (failed.key, failed.status, failed.attempts) == (one.key, "failed", 2)
        assert failed.last_error == "permanent: invalid_auth"
        assert unknown.status == "unknown"
        s.requeue(two.key)
        assert [e.key for e in s.pending()] == [two.key]
        s.requeue(one.key)  # ...who fixed the token
        assert [e.key for e in s.pending()] == [one.key, two.key]
        s.mark_failed(two.key, "HTTP 500")  # a temporary failure is retried on its own
        assert [e.key for e in s.pending()] == [one.key, two.key]
        with pytest.raises(StoreError, match="no outbox entry"):
            s.mark_delivered("nope|local|2024-09-18", receipt())


def test_old_delivered_entries_are_pruned_on_commit(tmp_path: Path) -> None:
    with Store.open(tmp_path) as s:
        for period, sub in [("2024-08-01", "old"), ("2024-09-10", "recent")]:
            e = s.enqueue(LOCAL, digest([paper("2409.00001")], sub=sub, period=period))
            assert e is not None
            s.mark_delivered(e.key, receipt())
        s.enqueue(LOCAL, digest([paper("2409.00001")], sub="waiting", period="2024-01-01"))
        s.commit(now=NOW)  # 30 days kept: August 1st's deliveries go, whole file at once
    with Store.open(tmp_path) as s:
        assert [e.subscription for e in s.delivery_log()] == ["recent"]
        assert [e.digest.subscription for e in s.entries()] == ["waiting"]  # never delivered
    assert sorted(p.name for p in (tmp_path / "outbox" / "delivered").iterdir()) == [
        "2024-09-10.json"
    ]


# --- the crash order ---------------------------------------------------------------------


def test_a_crash_between_outbox_and_archive_writes_loses_and_duplicates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [paper("2409.00001"), paper("2409.00002")]

    def cycle(s: Store) -> None:
        new = s.unseen(batch)
        s.record_papers(new, NOW)
        s.enqueue(SLACK, digest(new))
        s.set_feed_state("cs.LG", FeedState(etag='"v1"'))
        s.commit()

    real_replace = os.replace

    def dies_on_shards(src: Any, dst: Any) -> None:
        if Path(dst).parent.name == "papers":
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    with Store.open(tmp_path) as s:
        monkeypatch.setattr(os, "replace", dies_on_shards)
        with pytest.raises(StoreError, match=r"2409\.00\.json"):
            cycle(s)
        monkeypatch.undo()
    assert not (tmp_path / "papers" / "2409.00.json").exists()
    with Store.open(tmp_path) as s:
        [entry] = s.pending()  # the outbox was written first, papers and all
        assert ids(entry) == ["2409.00001", "2409.00002"]
        assert s.feed_state("cs.LG") == FeedState()  # written last: the rerun fetches again
        assert s.unseen(batch) == batch  # the archive never got them...
        cycle(s)  # ...so the rerun queues them again, which merges into nothing new
    with Store.open(tmp_path) as s:
        [entry] = s.pending()
        assert ids(entry) == ["2409.00001", "2409.00002"]
        assert s.unseen(batch) == []
        assert s.feed_state("cs.LG") == FeedState(etag='"v1"')


# --- files, locking, cost ----------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "db.json"
    storage = AtomicJSONStorage(target)
    storage.write({"papers": {"2409.00001": {"title": "old"}}})
    before = target.read_bytes()

    def broken(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(StoreError, match="No space left") as err:
        storage.write({"papers": {"2409.00001": {"title": "new" * 1000}}})
    assert str(target) in str(err.value)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["db.json"]  # no temp file left behind
    assert storage.read() == {"papers": {"2409.00001": {"title": "old"}}}


def test_a_missing_file_reads_as_empty_and_an_empty_one_is_an_error(tmp_path: Path) -> None:
    assert AtomicJSONStorage(tmp_path / "absent.json").read() is None
    (tmp_path / "empty.json").write_text("")  # a full disk, a copy cut short: never ours
    with pytest.raises(StoreError, match="empty") as err:
        AtomicJSONStorage(tmp_path / "empty.json").read()
    assert str(tmp_path / "empty.json") in str(err.value)


def test_a_corrupt_file_is_an_error_naming_it_not_an_empty_store(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"outbox": {"a|b|c": {"desti')
    with pytest.raises(StoreError, match="corrupt JSON") as err:
        Store.open(tmp_path)
    assert str(tmp_path / "state.json") in str(err.value)
    (tmp_path / "state.json").unlink()  # the user moves it aside; the failed open left no lock
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "2409.00.json").write_text("[1, 2]")
    with Store.open(tmp_path) as s, pytest.raises(StoreError, match=r"2409\.00\.json"):
        s.unseen([paper("2409.00001")])


def test_only_one_writer_at_a_time(tmp_path: Path) -> None:
    with Store.open(tmp_path) as s:
        with pytest.raises(StoreError, match=rf"another watcher is using .* \(pid {os.getpid()}\)"):
            Store.open(tmp_path)
        code = "import sys; from watcher.store import Store; Store.open(sys.argv[1])"
        other = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            check=False,
        )
        assert other.returncode != 0
        assert f"(pid {os.getpid()})" in other.stderr
        with Store.open(tmp_path, read_only=True) as reader:  # status beside a running daemon
            assert reader.pending() == []
            with pytest.raises(StoreError, match="read-only"):
                reader.record_papers([paper("2409.00001")], NOW)
        s.record_papers([paper("2409.00001")], NOW)
        s.commit()
    with Store.open(tmp_path) as s:  # released on close
        assert s.unseen([paper("2409.00001")]) == []


def test_read_only_open_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "not-yet"
    with Store.open(data, read_only=True) as s:
        assert s.unseen([paper("2409.00001")]) == [paper("2409.00001")]
        assert s.entries() == []
        assert s.feed_state("cs.LG") == FeedState()
    assert not data.exists()


def test_a_cycle_touches_only_the_shards_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    months = [f"{yy:02d}{mm:02d}" for yy in (22, 23) for mm in range(1, 13)][:20]
    with Store.open(tmp_path) as s:
        s.record_papers([paper(f"{m}.{n:05d}") for m in months for n in range(50)], NOW)
        s.commit()
    shards = sorted((tmp_path / "papers").iterdir())
    assert len(shards) == 20
    old = NOW.timestamp()
    for f in shards:
        os.utime(f, (old, old))

    reads = count_reads(monkeypatch)
    today = [paper(f"2409.{n:05d}") for n in range(100)]
    replacement = paper("2201.00007")  # a known paper again, same version: nothing to write
    with Store.open(tmp_path) as s:
        new = s.unseen([*today, replacement])
        assert new == today
        s.record_papers([*today, replacement], NOW)
        s.commit()
    # papers/2201 and papers/2409 (identity), text/<today> (where today's text goes), and
    # the outbox's and feeds' small files.
    assert sorted(reads) == [
        "2024-09-18.json",
        "2201.00.json",
        "2409.00.json",
        "feeds.json",
        "open.json",
        "summary.json",
    ]
    touched = sorted(f.name for f in (tmp_path / "papers").iterdir() if f.stat().st_mtime != old)
    assert touched == ["2409.00.json"]
    assert not (tmp_path / "outbox").exists()  # no outbox change: not written


# --- codec -------------------------------------------------------------------------------

_text = st.text(max_size=20)
_tz = st.sampled_from([None, UTC, timezone(timedelta(hours=-4)), timezone(timedelta(hours=5.5))])
_time = st.datetimes(timezones=_tz)
_papers = st.builds(
    Paper,
    id=st.sampled_from(["2409.12121", "astro-ph/0601001", "feed:9f86d081"]),
    version=st.none() | st.integers(1, 99),
    title=_text,
    authors=st.tuples(_text, _text),
    abstract=st.text(),
    categories=st.lists(_text, max_size=3).map(tuple),
    announce_type=st.sampled_from([None, "new", "cross", "replace", "replace-cross"]),
    published=st.none() | _time,
    updated=st.none() | _time,
    comment=st.none() | _text,
    journal_ref=st.none() | _text,
    doi=st.none() | _text,
    link=st.none() | _text,
)
_matches = st.builds(
    Match,
    paper=_papers,
    subscription=_text,
    hits=st.lists(
        st.builds(TopicHit, topic=_text, terms=st.lists(_text).map(tuple)), max_size=2
    ).map(tuple),
)
_entries = st.builds(
    OutboxEntry,
    destination=st.builds(
        Destination,
        kind=_text,
        target=st.lists(_text, max_size=2).map(tuple),
        options=st.lists(st.tuples(_text, _text), max_size=2).map(tuple),
    ),
    digest=st.builds(
        Digest, subscription=_text, period=_text, matches=st.lists(_matches, max_size=3).map(tuple)
    ),
    status=st.sampled_from(["pending", "delivered", "failed", "unknown"]),
    attempts=st.integers(0, 10),
    last_error=st.none() | _text,
    receipt=st.none() | st.builds(Receipt, destination=_text, reference=_text, delivered_at=_time),
)


@given(_entries)
def test_codec_round_trips_outbox_entries_exactly(entry: OutboxEntry) -> None:
    as_json = json.loads(json.dumps(codec.entry_to_dict(entry)))
    assert codec.entry_from_dict(as_json) == entry


@given(_papers)
def test_codec_round_trips_papers_exactly(p: Paper) -> None:
    back = codec.paper_from_dict(json.loads(json.dumps(codec.paper_to_dict(p))))
    assert back == p
    for before, after in [(p.published, back.published), (p.updated, back.updated)]:
        assert (before and before.utcoffset()) == (after and after.utcoffset())


def test_codec_rejects_records_it_cannot_trust() -> None:
    raw = codec.paper_to_dict(paper("2409.00001"))
    with pytest.raises(ValueError, match="announce_type"):
        codec.paper_from_dict({**raw, "announce_type": "bogus"})
    with pytest.raises(TypeError):
        codec.paper_from_dict({**raw, "authors": "Ada"})
