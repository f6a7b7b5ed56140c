"""Votes: arXiv references as readers write them, and feedback/<subscription>.json (durable,
atomic, its own lock so a click is recorded while a cycle holds the store)."""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.errors import StoreError
from watcher.feedback import PaperRefError, Vote, VoteRecord, parse_paper_ref
from watcher.store import (
    FEEDBACK_DIR,
    LEGACY_FEEDBACK_FILE,
    Store,
    feedback_path,
    read_feedback,
    record_vote,
)
from watcher.store.feedback import VoteSetReader, read_vote_sets

NOW = datetime(2024, 9, 18, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2409.12121", "2409.12121"),
        ("arXiv:2409.12121v2", "2409.12121"),
        ("ARXIV: 2409.12121", "2409.12121"),
        ("https://arxiv.org/abs/2409.12121v3", "2409.12121"),
        ("http://export.arxiv.org/abs/2409.12121", "2409.12121"),
        ("https://arxiv.org/pdf/2409.12121v1.pdf", "2409.12121"),
        ("arxiv.org/abs/2409.12121/", "2409.12121"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("math.GT/0309136v2", "math.GT/0309136"),
        ("https://arxiv.org/abs/hep-th/9901001v1", "hep-th/9901001"),
        ("  0704.0001 ", "0704.0001"),
    ],
)
def test_references_as_arxiv_writes_them_name_the_paper_without_version(
    text: str, expected: str
) -> None:
    assert parse_paper_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("12121", "not an arXiv id"),
        ("2409.121", "not an arXiv id"),
        ("https://example.org/abs/2409.12121", "not an arXiv link"),
        ("doi:10.1000/xyz", "not an arXiv id"),
        ("2409.12121 2409.12122", "not an arXiv id"),
    ],
)
def test_a_reference_that_is_no_arxiv_id_is_an_error_naming_it(text: str, says: str) -> None:
    with pytest.raises(PaperRefError) as caught:
        parse_paper_ref(text)
    assert says in str(caught.value)
    assert repr(text) in str(caught.value)


def test_liking_twice_is_one_like_and_a_dislike_replaces_it(tmp_path: Path) -> None:
    first = record_vote(tmp_path, "efficient-ml", "arXiv:2409.12121v2", Vote.LIKE, "cli", NOW)
    assert (first.changed, first.previous, first.paper_id) == (True, None, "2409.12121")
    again = record_vote(tmp_path, "efficient-ml", "2409.12121", Vote.LIKE, "slack", NOW)
    assert (again.changed, again.previous) == (False, Vote.LIKE)
    book = read_feedback(tmp_path)
    assert len(book.votes) == 1 and book.votes[0].via == "cli"  # the first like stands
    flipped = record_vote(tmp_path, "efficient-ml", "2409.12121", Vote.DISLIKE, "email", NOW)
    assert (flipped.changed, flipped.previous) == (True, Vote.LIKE)
    mine = read_feedback(tmp_path).for_subscription("efficient-ml")
    assert (mine.likes, mine.dislikes) == (frozenset(), frozenset({"2409.12121"}))


def test_forgetting_removes_the_vote_and_forgetting_nothing_changes_nothing(
    tmp_path: Path,
) -> None:
    record_vote(tmp_path, "a", "2409.00001", Vote.LIKE, "cli", NOW)
    gone = record_vote(tmp_path, "a", "2409.00001", None, "cli", NOW)
    assert (gone.changed, gone.previous) == (True, Vote.LIKE)
    nothing = record_vote(tmp_path, "a", "2409.00001", None, "cli", NOW)
    assert (nothing.changed, nothing.previous) == (False, None)
    assert read_feedback(tmp_path).votes == ()


def test_votes_are_per_subscription(tmp_path: Path) -> None:
    record_vote(tmp_path, "a", "2409.00001", Vote.LIKE, "cli", NOW)
    record_vote(tmp_path, "b", "2409.00001", Vote.DISLIKE, "cli", NOW + timedelta(seconds=1))
    record_vote(tmp_path, "b", "hep-th/9901001", Vote.LIKE, "cli", NOW + timedelta(seconds=2))
    book = read_feedback(tmp_path)
    assert book.subscriptions == ("a", "b")
    assert book.for_subscription("a").likes == {"2409.00001"}
    assert book.for_subscription("b").likes == {"hep-th/9901001"}
    assert book.for_subscription("b").dislikes == {"2409.00001"}
    assert book.for_subscription("nobody").likes == frozenset()


def test_votes_survive_reopening_and_a_store_sees_them(tmp_path: Path) -> None:
    record_vote(tmp_path, "a", "2409.00001", Vote.LIKE, "cli", NOW)
    with Store.open(tmp_path) as store:
        store.record_vote("a", "2409.00002", Vote.DISLIKE, "slack", NOW)
    with Store.open(tmp_path, read_only=True) as store:
        book = store.feedback()
        with pytest.raises(StoreError, match="read-only"):
            store.record_vote("a", "2409.00003", Vote.LIKE, "cli", NOW)
    assert [(v.paper_id, v.vote, v.via, v.when) for v in book.votes] == [
        ("2409.00001", Vote.LIKE, "cli", NOW),
        ("2409.00002", Vote.DISLIKE, "slack", NOW),
    ]
    assert read_feedback(tmp_path) == book


def test_no_file_is_no_votes_but_an_empty_or_damaged_file_is_an_error(tmp_path: Path) -> None:
    assert read_feedback(tmp_path).votes == ()
    path = feedback_path(tmp_path, "a")
    path.parent.mkdir()
    for damage in (b"", b"   \n", b'{"votes": {"a|2409.00001": {"vote": "lik'):
        path.write_bytes(damage)
        with pytest.raises(StoreError) as caught:
            read_feedback(tmp_path)
        assert str(path) in str(caught.value)
        with pytest.raises(StoreError):  # and nothing is written over it
            record_vote(tmp_path, "a", "2409.00001", Vote.LIKE, "cli", NOW)
        assert path.read_bytes() == damage


def test_a_vote_that_makes_no_sense_is_an_error_naming_it(tmp_path: Path) -> None:
    path = feedback_path(tmp_path, "a")
    path.parent.mkdir()
    doc = {"subscription": "a", "paper": "2409.00001", "vote": "meh", "at": NOW.isoformat()}
    path.write_text(json.dumps({"votes": {"a|2409.00001": {**doc, "via": "cli"}}}))
    with pytest.raises(StoreError, match=r"votes\['a\|2409.00001'\].*damaged vote"):
        read_feedback(tmp_path)


def test_each_write_is_whole_and_keeps_the_one_before(tmp_path: Path) -> None:
    record_vote(tmp_path, "a", "2409.00001", Vote.LIKE, "cli", NOW)
    record_vote(tmp_path, "a", "2409.00002", Vote.LIKE, "cli", NOW)
    path = feedback_path(tmp_path, "a")
    assert len(json.loads(path.read_text())["votes"]) == 2
    assert len(json.loads(path.with_name(f"{path.name}.prev").read_text())["votes"]) == 1
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_vote_is_recorded_while_another_process_holds_the_store(tmp_path: Path) -> None:
    # The daemon holds .lock for a whole cycle; a click must not wait for it.
    with Store.open(tmp_path):
        change = record_vote(tmp_path, "a", "2409.00001", Vote.LIKE, "slack", NOW)
    assert change.changed and read_feedback(tmp_path).for_subscription("a").likes == {"2409.00001"}


def _vote_many(data_dir: str, subscription: str, start: int, count: int) -> None:
    for n in range(start, start + count):
        record_vote(Path(data_dir), subscription, f"2409.{n:05d}", Vote.LIKE, "cli", NOW)


def test_two_writing_processes_lose_no_vote(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_vote_many, args=(str(tmp_path), name, start, 40))
        for name, start in (("a", 0), ("b", 100))
    ]
    for worker in workers:
        worker.start()
    _vote_many(str(tmp_path), "a", 200, 20)  # and this one too, at the same time
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    book = read_feedback(tmp_path)
    assert len(book.for_subscription("a").likes) == 60
    assert len(book.for_subscription("b").likes) == 40


def test_threads_of_one_process_lose_no_vote(tmp_path: Path) -> None:
    threads = [
        threading.Thread(target=_vote_many, args=(str(tmp_path), "a", start, 25))
        for start in (0, 100, 200)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(read_feedback(tmp_path).for_subscription("a").likes) == 75


def test_an_unknown_channel_or_a_bad_id_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="via"):
        record_vote(tmp_path, "a", "2409.00001", Vote.LIKE, "pigeon", NOW)
    with pytest.raises(PaperRefError):
        record_vote(tmp_path, "a", "not-an-id", Vote.LIKE, "cli", NOW)
    assert not (tmp_path / FEEDBACK_DIR).exists()


def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return (info.st_ino, info.st_mtime_ns)


def test_each_subscription_has_its_own_file_and_a_vote_rewrites_only_its_own(
    tmp_path: Path,
) -> None:
    record_vote(tmp_path, "a", "2409.00001", Vote.LIKE, "cli", NOW)
    record_vote(tmp_path, "b/c: ü", "2409.00002", Vote.LIKE, "cli", NOW)
    record_vote(tmp_path, "b-c-ü", "2409.00003", Vote.DISLIKE, "cli", NOW)  # reduces alike
    a, bc = feedback_path(tmp_path, "a"), feedback_path(tmp_path, "b/c: ü")
    assert a.parent == bc.parent == tmp_path / FEEDBACK_DIR
    assert bc != feedback_path(tmp_path, "b-c-ü") and "/" not in bc.name[:-5]
    before = _stamp(a)
    record_vote(tmp_path, "b/c: ü", "2409.00004", Vote.LIKE, "cli", NOW)
    assert _stamp(a) == before
    book = read_feedback(tmp_path)
    assert book.for_subscription("b/c: ü").likes == {"2409.00002", "2409.00004"}
    assert book.for_subscription("b-c-ü").dislikes == {"2409.00003"}
    assert book.for_subscription("a").likes == {"2409.00001"}


def test_the_cycle_reads_again_only_the_file_that_changed(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        record_vote(tmp_path, name, "2409.00001", Vote.LIKE, "cli", NOW)
    reader = VoteSetReader(tmp_path)
    assert set(reader.read()) == {"a", "b", "c"} and reader.files_read == 3
    assert reader.read() == read_vote_sets(tmp_path) and reader.files_read == 3
    record_vote(tmp_path, "b", "2409.00002", Vote.DISLIKE, "cli", NOW)
    assert reader.read()["b"].dislikes == {"2409.00002"} and reader.files_read == 4
    record_vote(tmp_path, "c", "2409.00001", None, "cli", NOW)  # c's only vote forgotten
    assert set(reader.read()) == {"a", "b"} and reader.files_read == 5
    feedback_path(tmp_path, "a").write_text("{", encoding="utf-8")
    with pytest.raises(StoreError, match="corrupt JSON"):
        reader.read()


def test_a_file_under_another_subscriptions_name_is_an_error_naming_it(tmp_path: Path) -> None:
    record_vote(tmp_path, "a", "2409.00001", Vote.LIKE, "cli", NOW)
    moved = feedback_path(tmp_path, "b")
    feedback_path(tmp_path, "a").rename(moved)
    for read in (read_feedback, read_vote_sets):
        with pytest.raises(StoreError, match="votes of subscription 'a'") as caught:
            read(tmp_path)
        assert str(moved) in str(caught.value)


def _legacy(tmp_path: Path) -> Path:
    """A data directory as the first release left it: every vote in one feedback.json."""
    votes = {
        f"{name}|{paper}": {"subscription": name, "paper": paper, "vote": vote,
                            "at": NOW.isoformat(), "via": "cli"}
        for name, paper, vote in (("a", "2409.00001", "like"), ("a", "2409.00002", "dislike"),
                                  ("b", "2409.00003", "like"))
    }  # fmt: skip
    path = tmp_path / LEGACY_FEEDBACK_FILE
    path.write_text(json.dumps({"votes": votes}), encoding="utf-8")
    return path


def test_a_first_release_feedback_json_is_read_then_split_by_the_first_vote(
    tmp_path: Path,
) -> None:
    legacy = _legacy(tmp_path)
    before = read_feedback(tmp_path)
    assert before.for_subscription("a").dislikes == {"2409.00002"}
    assert read_vote_sets(tmp_path)["b"].likes == {"2409.00003"}
    reader = VoteSetReader(tmp_path)
    assert reader.read()["a"].likes == {"2409.00001"}
    record_vote(tmp_path, "b", "2409.00004", Vote.LIKE, "slack", NOW)
    assert not legacy.exists() and legacy.with_name("feedback.json.migrated").exists()
    assert feedback_path(tmp_path, "a").exists() and feedback_path(tmp_path, "b").exists()
    after = read_feedback(tmp_path)
    assert set(after.votes) - set(before.votes) == {
        VoteRecord("b", "2409.00004", Vote.LIKE, NOW, "slack")
    }
    assert reader.read() == read_vote_sets(tmp_path) and reader.read()["b"].likes == {
        "2409.00003",
        "2409.00004",
    }


def test_a_migration_cut_short_is_done_again_and_a_damaged_old_file_stops_it(
    tmp_path: Path,
) -> None:
    legacy = _legacy(tmp_path)
    # Killed after writing a's new file, before the rename: the old file is still the truth.
    record_vote(tmp_path / "elsewhere", "a", "2409.09999", Vote.LIKE, "cli", NOW)
    half = feedback_path(tmp_path, "a")
    half.parent.mkdir()
    half.write_bytes(feedback_path(tmp_path / "elsewhere", "a").read_bytes())
    assert read_feedback(tmp_path).for_subscription("a").likes == {"2409.00001"}
    record_vote(tmp_path, "a", "2409.00005", Vote.LIKE, "cli", NOW)
    assert read_feedback(tmp_path).for_subscription("a").likes == {"2409.00001", "2409.00005"}

    other = tmp_path / "other"
    other.mkdir()
    damaged = other / LEGACY_FEEDBACK_FILE
    damaged.write_text('{"votes": {', encoding="utf-8")
    with pytest.raises(StoreError) as caught:
        record_vote(other, "a", "2409.00001", Vote.LIKE, "cli", NOW)
    assert str(damaged) in str(caught.value) and damaged.exists()
    assert not (other / FEEDBACK_DIR).exists()
    assert legacy.with_name("feedback.json.migrated").exists()


def test_the_stores_stamp_changes_with_any_vote_and_its_sets_follow(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.feedback_stamp() is None and store.vote_sets() == {}
        store.record_vote("a", "2409.00001", Vote.LIKE, "cli", NOW)
        store.record_vote("b", "2409.00001", Vote.LIKE, "cli", NOW)
        first = store.feedback_stamp()
        assert set(store.vote_sets()) == {"a", "b"}
        assert store.feedback_stamp() == first
        store.record_vote("b", "2409.00002", Vote.DISLIKE, "cli", NOW)
        assert store.feedback_stamp() != first
        assert store.vote_sets()["b"].dislikes == {"2409.00002"}
        store.record_vote("a", "2409.00003", Vote.LIKE, "cli", NOW)  # after the stamp
        assert store.vote_sets()["a"].likes == {"2409.00001", "2409.00003"}
