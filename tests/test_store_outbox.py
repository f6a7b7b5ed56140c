"""The outbox at scale: papers stored once, delivered entries kept as receipts, a cycle that
reads only today's work, and data directories of earlier versions brought up to date."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.factories import digest, paper
from watcher.errors import StoreError
from watcher.models import LOCAL, Destination, OutboxEntry, Receipt
from watcher.store import AtomicJSONStorage, Store
from watcher.store.codec import entry_to_dict

PROJECT = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 9, 18, 6, 0, tzinfo=UTC)
SLACK = Destination("slack", ("#papers",))
ABSTRACT = "A long abstract about pruning that must be stored exactly once. " * 20


def receipt(at: datetime = NOW) -> Receipt:
    return Receipt("slack:#papers", "1726640000.000100", at)


def texts_in(path: Path) -> int:
    return path.read_text(encoding="utf-8").count(ABSTRACT)


def test_a_papers_text_is_stored_once_however_many_digests_show_it(tmp_path: Path) -> None:
    papers = [paper(f"2409.{n:05d}", abstract=ABSTRACT) for n in range(5)]
    with Store.open(tmp_path) as s:
        s.record_papers(papers, NOW)
        for n in range(20):  # twenty subscriptions, two destinations each
            for destination in (SLACK, LOCAL):
                s.enqueue(destination, digest(*papers, subscription=f"sub{n}"))
        s.commit()
    assert texts_in(tmp_path / "text" / "2024-09-18.json") == 5
    assert texts_in(tmp_path / "outbox" / "open.json") == 0  # references, not copies
    with Store.open(tmp_path) as s:
        pending = s.pending()
        assert len(pending) == 40
        assert all(m.paper == papers[i] for e in pending for i, m in enumerate(e.digest.matches))
        for entry in pending:
            s.mark_delivered(entry.key, receipt())
        s.checkpoint()
    delivered = tmp_path / "outbox" / "delivered" / "2024-09-18.json"
    assert texts_in(delivered) == 0  # receipts and ids only
    assert json.loads((tmp_path / "outbox" / "open.json").read_text()) == {"outbox": {}}
    with Store.open(tmp_path, read_only=True) as s:
        [tally] = [t for t in s.delivery_tallies() if t.destination == "slack:#papers"]
        assert (tally.delivered, tally.last_receipt) == (20, receipt())


def test_an_entry_waiting_longer_than_the_archive_keeps_its_text(tmp_path: Path) -> None:
    old = paper("2409.00001", abstract=ABSTRACT)
    with Store.open(tmp_path) as s:
        s.record_papers([old], NOW)
        s.enqueue(SLACK, digest(old))
        s.commit()
        [entry] = s.pending()
        s.mark_failed(entry.key, "invalid_auth", permanent=True)  # Slack down for months
    with Store.open(tmp_path) as s:
        assert s.prune_archive(NOW + timedelta(days=100)) == 1
        assert not (tmp_path / "text" / "2024-09-18.json").exists()
        assert s.paper(old.id) is None  # the archive let go of it...
    with Store.open(tmp_path) as s:
        s.requeue(entry.key)
        [waiting] = s.pending()
        assert waiting.digest.matches[0].paper == old  # ...the entry did not


def test_a_quiet_cycle_reads_no_past_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(tmp_path) as s:
        for day in range(1, 29):  # four weeks of deliveries
            period = f"2024-09-{day:02d}"
            batch = [paper(f"2409.{day:03d}{n:02d}") for n in range(10)]
            s.record_papers(batch, NOW)
            for n in range(30):
                s.enqueue(LOCAL, digest(*batch, subscription=f"s{n}", period=period))
            s.commit()
            for entry in s.pending():
                s.mark_delivered(entry.key, receipt(), sync=False)
            s.checkpoint()
    reads: list[str] = []
    real = AtomicJSONStorage.read

    def counting(self: AtomicJSONStorage) -> Any:
        reads.append(str(self.path.relative_to(tmp_path)))
        return real(self)

    monkeypatch.setattr(AtomicJSONStorage, "read", counting)
    with Store.open(tmp_path) as s:  # a weekend: no paper, nothing pending
        assert s.pending(NOW) == []
        s.commit(now=datetime(2024, 9, 29, tzinfo=UTC))
    assert sorted(reads) == ["feeds.json", "outbox/open.json", "outbox/summary.json"]


def old_layout(data: Path, entries: list[OutboxEntry], journal: list[dict[str, Any]]) -> None:
    """A data directory as earlier versions wrote it: every entry, papers and all, in
    state.json, and marks since in outbox.log."""
    data.mkdir(parents=True, exist_ok=True)
    state = {"outbox": {e.key: entry_to_dict(e) for e in entries}, "meta": {}}
    (data / "state.json").write_text(json.dumps(state), encoding="utf-8")
    lines = [json.dumps(mark) + "\n" for mark in journal]
    (data / "outbox.log").write_text("".join(lines), encoding="utf-8")


def old_entries(count: int) -> list[OutboxEntry]:
    entries = []
    for n in range(count):
        d = digest(paper(f"2409.{n:05d}", abstract=ABSTRACT), subscription=f"s{n}",
                   period=f"2024-09-{n % 28 + 1:02d}")  # fmt: skip
        delivered = n % 3 != 0
        entries.append(
            OutboxEntry(
                SLACK,
                d,
                status="delivered" if delivered else "failed",
                attempts=1,
                last_error=None if delivered else "HTTP 500",
                receipt=receipt() if delivered else None,
            )
        )
    return entries


def test_an_old_data_directory_is_migrated_and_sends_nothing_twice(tmp_path: Path) -> None:
    entries = old_entries(30)
    unknown = entries[0]  # marked sending, then the old version died: fate unknown
    old_layout(tmp_path, entries, [{"key": unknown.key, "status": "unknown", "attempts": 1}])
    with Store.open(tmp_path, read_only=True) as reader:  # status before the first real open
        views = {v.key: v.status for v in reader.entry_views()}
        assert views[unknown.key] == "unknown" and len(views) == 10
        assert sum(t.delivered for t in reader.delivery_tallies()) == 20
    assert (tmp_path / "state.json").exists()  # a reader changed nothing
    with Store.open(tmp_path) as s:
        assert not (tmp_path / "state.json").exists()
        assert {e.key: e.status for e in s.entries()} == views
        assert len(s.delivery_log()) == 20
        assert s.pending() == [e for e in entries[3::3]]  # failed ones retry; unknown waits
        for entry in entries:  # the same digests again: nothing new to queue
            assert s.enqueue(entry.destination, entry.digest) is None
    assert (tmp_path / "outbox.log").read_text() == ""


MIGRATE = """
import sys
from watcher.store import Store
Store.open(sys.argv[1]).close()
"""


def snapshot(data: Path) -> tuple[dict[str, str], int, int]:
    with Store.open(data, read_only=True) as s:
        views = {v.key: v.status for v in s.entry_views()}
        return views, len(s.delivery_log()), sum(t.delivered for t in s.delivery_tallies())


def test_a_kill_at_any_point_of_the_migration_leaves_a_readable_store(tmp_path: Path) -> None:
    """SIGKILL the first writable open of an old data directory at random moments: each
    time, status reads either layout with the same outbox, and a rerun finishes."""
    rng = random.Random(7)
    template = tmp_path / "template"
    old_layout(template, old_entries(3000), [])
    expected = snapshot(template)
    killed_mid_way = 0
    for attempt in range(8):
        data = tmp_path / f"data{attempt}"
        subprocess.run(["cp", "-a", str(template), str(data)], check=True)
        child = subprocess.Popen(
            [sys.executable, "-c", MIGRATE, str(data)],
            cwd=PROJECT,
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
        )
        # Wait for the migration's first write, then kill within the next moments.
        deadline = time.monotonic() + 30
        while not (data / "outbox").exists() and child.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.05 * attempt))
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed_mid_way += (data / "state.json").exists() and (data / "outbox").exists()
        assert snapshot(data) == expected
        Store.open(data).close()  # the rerun completes it
        assert not (data / "state.json").exists()
        assert snapshot(data) == expected
    assert expected[1] == 2000 and expected[2] == 2000
    assert killed_mid_way  # at least one kill landed between the first and the last write


def two_of_three_sent(data: Path) -> tuple[OutboxEntry, OutboxEntry, OutboxEntry]:
    """Three digests queued; the first two sent (each marked sending, then delivered, in
    the journal), the third still pending."""
    with Store.open(data) as s:
        for n in range(3):
            s.enqueue(SLACK, digest(paper(f"2409.0000{n}"), subscription=f"s{n}"))
        s.commit()
        first, second, third = s.pending()
        for sent in (first, second):
            s.mark_sending(sent.key)
            s.mark_delivered(sent.key, receipt())  # sent: must never read pending again
    return first, second, third


def test_a_damaged_journal_line_stops_with_an_error_instead_of_resending(tmp_path: Path) -> None:
    first, _, third = two_of_three_sent(tmp_path)
    journal = tmp_path / "outbox.log"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) == 4
    lines[1] = lines[1].replace('"delivered"', '"pendinge"')  # a flipped bit on disk
    journal.write_text("".join(lines), encoding="utf-8")
    before = journal.read_bytes()
    for read_only in (True, False):
        with pytest.raises(StoreError, match="line 2 is damaged") as err:
            Store.open(tmp_path, read_only=read_only)
        assert str(journal) in str(err.value) and "Run `watcher repair`" in str(err.value)
    assert journal.read_bytes() == before  # nothing was changed

    # A line cut by a crash mid-write is no damage: the marks before it stand.
    journal.write_text("".join(lines[:1]) + lines[1][:20], encoding="utf-8")
    with Store.open(tmp_path) as s:
        assert {e.key: e.status for e in s.entries()}[first.key] == "unknown"
        assert third in s.pending()


def test_watcher_repair_holds_what_a_damaged_journal_may_have_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from watcher.cli import main

    first, second, third = two_of_three_sent(tmp_path)
    journal = tmp_path / "outbox.log"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = "garbage\n"  # the second entry's "sending" line is lost
    journal.write_text("".join(lines), encoding="utf-8")
    assert main(["status", "--data", str(tmp_path)]) == 1
    assert "watcher repair" in capsys.readouterr().err
    assert main(["repair", "--data", str(tmp_path)]) == 0
    assert "2 digests of unknown fate" in capsys.readouterr().out
    with Store.open(tmp_path) as s:
        assert [e.key for e in s.delivery_log()] == [first.key]  # the marks before stand
        assert s.pending() == []  # the rest is held for the user, never resent on its own
        assert {e.key for e in s.entry_views() if e.status == "unknown"} == {
            second.key,
            third.key,
        }


def test_a_damaged_outbox_names_its_previous_version_and_repair_puts_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from watcher.cli import main

    with Store.open(tmp_path) as s:
        s.enqueue(SLACK, digest(paper("2409.00001"), subscription="first"))
        s.commit()
        s.enqueue(SLACK, digest(paper("2409.00002"), subscription="second"))
        s.commit()
    opened = tmp_path / "outbox" / "open.json"
    assert (tmp_path / "outbox" / "open.json.prev").exists()
    opened.write_bytes(b"")  # a full disk's zero-length file
    with pytest.raises(StoreError, match="watcher repair --previous") as err:
        Store.open(tmp_path)
    assert str(opened) in str(err.value)
    assert main(["repair", "--previous", "--data", str(tmp_path)]) == 0
    assert "the previous version is back" in capsys.readouterr().out
    with Store.open(tmp_path) as s:  # the outbox as it was before the last commit
        assert [e.digest.subscription for e in s.entries()] == ["first"]
