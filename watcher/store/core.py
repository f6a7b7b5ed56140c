"""The edge that remembers what was seen and delivered: TinyDB files in a data directory.

Layout of ``data_dir``::

    .lock              flock held by the one writer; contains its pid
    state.json         the delivery outbox (digests carry their papers)
    outbox.log         delivery marks since state.json was last written (fsynced lines)
    feeds.json         per-feed state: etag, last listing, last poll (small, every cycle)
    papers/2409.json   identity of every paper seen, one file per arXiv month of the id
    papers/0601.json   (old-style ids: astro-ph/0601001; non-arXiv ``feed:`` ids: other)
    text/2024-09-18.json  titles and abstracts of the papers first seen that day

Every file is a TinyDB database whose documents are keyed by our own string ids (paper id,
outbox key, feed source). Files are read at most once per Store, changes are buffered, and
``commit()`` writes only the files a cycle touched, each through a temp file, fsync and rename,
so a cycle's cost does not grow with history and a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

from tinydb import Storage, TinyDB
from tinydb.table import Table

from watcher.errors import StoreBusy, StoreError
from watcher.models import Destination, Digest, Match, OutboxEntry, Paper, Receipt, is_arxiv_id
from watcher.store.atomic import fsync_directory, write_atomically
from watcher.store.codec import (
    JSONDict,
    entry_from_dict,
    entry_to_dict,
    paper_from_dict,
    paper_to_dict,
    receipt_to_dict,
)

STATE_FILE = "state.json"  # the delivery outbox
FEEDS_FILE = "feeds.json"  # per-feed state: etag, last listing, last poll
# Delivery marks between two commits, one JSON line each (see Store._mark).
JOURNAL_FILE = "outbox.log"
SHARD_DIR = "papers"  # identity: id -> version, first seen, matched by (see shard_name)
# Title, abstract, authors... one file per day first seen: a cycle writes only today's
# file, history is read by whole days, and retention deletes whole old days.
TEXT_DIR = "text"
LOCK_FILE = ".lock"
KEEP_DELIVERED_DAYS = 30
_OPEN = ("pending", "failed")  # statuses that pending() hands out again...
# ...except failures only a person can fix (a wrong token, an unknown channel): retried
# when the user says so (watcher retry), not every cycle.
PERMANENT = "permanent: "
# last_error of an entry whose send began and was never answered (see Store.mark_sending).
INTERRUPTED = (
    "the watcher stopped while sending (killed, crashed, or still running): it may have arrived"
)
T = TypeVar("T")


def shard_name(paper_id: str) -> str:
    """Identity shard of a paper: its arXiv id up to the second digit after the dot
    (``2409.01234`` -> ``2409.01``), the YYMM of an old-style id (``hep-th/9901001`` ->
    ``9901``), or ``other`` for items of other feeds.

    A shard thus holds at most 1,000 papers of one month (100 for the four-digit numbers of
    2007-2014). A cycle that meets an old paper again, a cross-list or a new version, reads
    and rewrites that small file, never the 20,000 papers of a whole month: a cycle's cost
    does not grow with the history kept (bench/cycle.py).
    """
    if is_arxiv_id(paper_id):
        if "/" in paper_id:
            return paper_id.rpartition("/")[2][:4]
        return paper_id[:7]
    return "other"


# New-style ids (2409.01234) began in April 2007; their months will meet the old-style
# ids' months (9108: August 1991) again in 2091.
_NEW_STYLE_FIRST_MONTH, _NEW_STYLE_WRAPS = "0704", "9108"


def _month_shard_name(paper_id: str) -> str | None:
    """The shard a paper had when shards were whole months (before ``shard_name``
    split them), where it differs from today's; None where it does not."""
    if is_arxiv_id(paper_id) and "/" not in paper_id:
        return paper_id[:4]
    return None


def split_period(period: str) -> tuple[str, int]:
    """``"2024-09-18#2"`` -> ``("2024-09-18", 2)``: follow-up entries of one period."""
    base, sep, part = period.partition("#")
    return base, int(part) if sep and part.isdigit() else 1


class AtomicJSONStorage(Storage):
    """A TinyDB storage that never leaves a half-written file.

    TinyDB's JSONStorage truncates and rewrites in place; a crash mid-write loses the database.
    Here a write goes to a temp file in the same directory, is fsynced, renamed over the target
    and the directory fsynced. A corrupt file raises StoreError rather than reading as empty,
    which would silently forget every paper and resend them all.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError(f"cannot read: {e.strerror or e}", where=str(self.path)) from e
        if not raw.strip():
            return None
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise StoreError(
                f"corrupt JSON ({e}); move it aside or restore a backup", where=str(self.path)
            ) from e
        if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
            raise StoreError(
                "not a TinyDB file (expected an object of tables)", where=str(self.path)
            )
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        if self.read_only:
            raise StoreError("the store was opened read-only", where=str(self.path))
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            write_atomically(self.path, payload)
        except OSError as e:
            raise StoreError(f"cannot write: {e.strerror or e}", where=str(self.path)) from e


def _day(record: JSONDict) -> str:
    """The UTC day a record was first seen: the name of its text file."""
    return _first_seen(record).astimezone(UTC).date().isoformat()


def _mark_fields(entry: OutboxEntry) -> JSONDict:
    """The fields of an outbox entry that a delivery mark changes."""
    receipt = None if entry.receipt is None else receipt_to_dict(entry.receipt)
    return {
        "status": entry.status,
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "receipt": receipt,
        "resume": entry.resume,
    }


class _Buffered(Storage):
    """Reads its file once and keeps writes in memory until ``flush()``.

    Unlike tinydb's CachingMiddleware it never writes on its own or on close: what reaches
    the disk, and in which order, is decided by Store.commit() and the mark_* methods.
    """

    def __init__(self, backing: AtomicJSONStorage) -> None:
        self.backing = backing
        self.dirty = False
        self._data: dict[str, dict[str, Any]] | None = None
        self._loaded = False

    def read(self) -> dict[str, dict[str, Any]] | None:
        if not self._loaded:
            self._data = self.backing.read()
            self._loaded = True
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._data = data
        self._loaded = True
        self.dirty = True

    def flush(self) -> None:
        if self.dirty and self._data is not None:
            self.backing.write(self._data)
        self.dirty = False


class _KeyedTable(Table):
    # Documents keyed by our ids ("2409.12121", an outbox key) instead of counters, so lookups
    # are dict lookups and the files read naturally. Ids are only ever given explicitly.
    document_id_class = str  # type: ignore[assignment]


class _KeyedDB(TinyDB):
    table_class = _KeyedTable


def _id(key: str) -> int:
    return cast(int, key)  # TinyDB annotates ids as int; _KeyedTable uses str


class _File:
    """One TinyDB file of string-keyed tables, buffered until flush()."""

    def __init__(self, path: Path, *, read_only: bool) -> None:
        self.path = path
        self.storage = _Buffered(AtomicJSONStorage(path, read_only=read_only))
        self.db = _KeyedDB(storage=lambda: self.storage)

    def get(self, table: str, key: str) -> JSONDict | None:
        doc = self.db.table(table).get(doc_id=_id(key))
        return None if doc is None else dict(doc)

    def items(self, table: str) -> list[tuple[str, JSONDict]]:
        return [(str(doc.doc_id), dict(doc)) for doc in self.db.table(table)]

    def put(self, table: str, docs: Mapping[str, JSONDict]) -> None:
        """Insert or replace ``docs`` by key, keeping the table's order, in one pass.

        TinyDB's own update() rebuilds the whole table once per document, so putting a
        shard's worth of records that way costs the shard's size squared.
        """

        def apply(rows: dict[int, Mapping[str, Any]]) -> None:
            for key, doc in docs.items():
                rows[_id(key)] = dict(doc)

        self.db.table(table)._update_table(apply)  # TinyDB 4's one-pass table update

    def remove(self, table: str, keys: Iterable[str]) -> None:
        self.db.table(table).remove(doc_ids=[_id(k) for k in keys])

    def flush(self) -> None:
        self.storage.flush()


def _replacing(doc: JSONDict) -> Callable[[MutableMapping[str, Any]], None]:
    def update(stored: MutableMapping[str, Any]) -> None:
        stored.clear()
        stored.update(doc)

    return update


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Store:
    """What was seen (the paper archive) and what is to be or was delivered (the outbox).

    Reads see staged changes. ``record_papers``, ``enqueue`` and ``set_feed_state`` are staged
    and reach the disk on ``commit()``; the ``mark_*`` methods are durable at once, because a
    send already happened. Closing without commit drops what was staged. Not thread-safe: one
    cycle at a time, as the lock allows one process at a time.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        read_only: bool = False,
        lock_fd: int | None = None,
        keep_delivered_days: int = KEEP_DELIVERED_DAYS,
    ) -> None:
        """Use ``Store.open()``; this does no locking of its own."""
        self.data_dir = data_dir
        self.read_only = read_only
        self.keep_delivered = timedelta(days=keep_delivered_days)
        self._lock_fd = lock_fd
        self._closed = False
        self._state = _File(data_dir / STATE_FILE, read_only=read_only)
        # Feed state apart from the outbox: it is written after the archive, every cycle,
        # and must not cost a rewrite of every pending digest.
        self._feeds = _File(data_dir / FEEDS_FILE, read_only=read_only)
        self._shards: dict[str, _File] = {}
        self._staged_papers: dict[str, dict[str, JSONDict]] = {}  # shard -> id -> identity
        self._staged_text: dict[str, dict[str, JSONDict]] = {}  # day -> id -> paper
        self._staged_feeds: dict[str, JSONDict] = {}
        self._journal = data_dir / JOURNAL_FILE
        self._journal_pending = False  # marks in memory and in the journal, not in state.json
        self._outbox: dict[str, OutboxEntry] | None = None  # decoded once per session

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        read_only: bool = False,
        keep_delivered_days: int = KEEP_DELIVERED_DAYS,
        wait: float = 0,
        give_up: Callable[[], bool] = lambda: False,
    ) -> Store:
        """Open (creating if needed) a data directory as its only writer.

        Raises StoreError if another process holds it, at once or, given ``wait``, once it
        has tried for that many seconds (the daemon's jobs wait for a ``watcher once`` or
        ``retry`` to finish instead of skipping their run), or until ``give_up()`` says so (the
        daemon was asked to stop). ``read_only`` takes no lock, creates
        nothing and refuses writes: for ``watcher preview`` and ``watcher status`` beside a
        running daemon (its writes are atomic renames, so a reader sees whole files).
        """
        path = Path(data_dir)
        lock_fd = None
        if not read_only:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create: {e.strerror or e}", where=str(path)) from e
            lock_fd = _lock(path, wait, give_up)
        store = cls(
            path, read_only=read_only, lock_fd=lock_fd, keep_delivered_days=keep_delivered_days
        )
        try:
            store._state.storage.read()  # a corrupt state file fails here, not mid-cycle
            store._replay_journal()
            if not read_only:
                store._split_month_shards()
                # Fold the marks into state.json now: new marks must never be appended after
                # a line that a crash cut in half (replay stops at that line).
                store.checkpoint()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Release the lock. Staged changes that were not committed are dropped."""
        if self._closed:
            return
        self._closed = True
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- papers ------------------------------------------------------------------------

    def unseen(self, papers: Iterable[Paper]) -> list[Paper]:
        """Papers whose id is neither archived nor staged, first copy of each id only.

        A later version, or another feed's copy, of a known id is not new.
        """
        self._usable()
        seen: set[str] = set()
        fresh = []
        for paper in papers:
            if paper.id not in seen:
                seen.add(paper.id)
                if self._record(paper.id) is None:
                    fresh.append(paper)
        return fresh

    def known_versions(self, ids: Iterable[str]) -> dict[str, int | None]:
        """Stored version of each known id; ids the store has never seen are left out."""
        self._usable()
        found: dict[str, int | None] = {}
        for paper_id in ids:
            record = self._record(paper_id)
            if record is not None:
                version = record.get("version")
                found[paper_id] = version if isinstance(version, int) else None
        return found

    def paper(self, paper_id: str) -> Paper | None:
        """The archived text of a paper as first seen, or None (unknown, or past retention)."""
        self._usable()
        identity = self._record(paper_id)
        if identity is None:
            return None
        day = _day(identity)
        record = self._staged_text.get(day, {}).get(paper_id)
        if record is None:
            record = dict(self._text_records(day)).get(paper_id)
        path = self.data_dir / TEXT_DIR / f"{day}.json"
        return None if record is None else _decode(paper_from_dict, record, paper_id, path)

    def record_papers(
        self,
        papers: Iterable[Paper],
        seen_at: datetime,
        matched_by: Mapping[str, Iterable[str]] | None = None,
        read_by: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """Stage papers as seen; a newer version of a known paper updates its version.

        ``matched_by`` maps paper ids to the subscriptions that matched them, remembered so
        that a later version can be announced as an update to those subscriptions only;
        ``read_by`` to the subscriptions whose feeds brought them, so that a subscription
        whose feed failed still gets the paper when that feed comes back.
        The text is archived when a paper is first seen; a replacement of an old paper only
        touches that paper's small identity record, never the text of its month.
        """
        self._writable()
        matched_by = matched_by or {}
        read_by = read_by or {}
        for paper in papers:
            record = self._record(paper.id)
            subscriptions = set(matched_by.get(paper.id, ()))
            readers = set(read_by.get(paper.id, ()))
            version = paper.version
            if record is None:
                first_seen = seen_at.isoformat()
                text = self._staged_text.setdefault(_day({"first_seen": first_seen}), {})
                text[paper.id] = {**paper_to_dict(paper), "first_seen": first_seen}
            else:
                earlier = set(record.get("matched_by", ()))
                earlier_readers = set(record.get("read_by", ()))
                newer = _newer(paper.version, record.get("version"))
                if not newer and subscriptions <= earlier and readers <= earlier_readers:
                    continue  # nothing new to write: the shard stays untouched
                first_seen = record.get("first_seen", seen_at.isoformat())
                subscriptions |= earlier
                readers |= earlier_readers
                if not newer:
                    version = record.get("version")
            staged = self._staged_papers.setdefault(shard_name(paper.id), {})
            staged[paper.id] = {
                "id": paper.id,
                "version": version,
                "first_seen": first_seen,
                "matched_by": sorted(subscriptions),
                "read_by": sorted(readers),
            }

    def matched_by(self, paper_id: str) -> frozenset[str]:
        """The subscriptions a stored paper was matched by (and so sent to)."""
        self._usable()
        record = self._record(paper_id)
        return frozenset(record.get("matched_by", ())) if record else frozenset()

    def read_by(self, paper_id: str) -> frozenset[str]:
        """The subscriptions whose feeds have brought a stored paper."""
        self._usable()
        record = self._record(paper_id)
        return frozenset(record.get("read_by", ())) if record else frozenset()

    def first_seen(self, paper_id: str) -> datetime | None:
        """When a stored paper was first seen (staged ones included), or None if unknown."""
        self._usable()
        record = self._record(paper_id)
        return _first_seen(record) if record is not None else None

    def _record(self, paper_id: str) -> JSONDict | None:
        shard = shard_name(paper_id)
        staged = self._staged_papers.get(shard, {}).get(paper_id)
        if staged is not None:
            return staged
        record = self._shard(shard).get("papers", paper_id)
        if record is None and self.read_only and (month := _month_shard_name(paper_id)):
            # A reader (watcher status, preview) may come before the first writable open
            # has split the month files of an older store: look where the paper used to be.
            record = self._shard(month).get("papers", paper_id)
        return record

    def _split_month_shards(self) -> None:
        """Move the papers of month files (``papers/2409.json``, written before shards were
        split by number) to their shards, once. Each shard is written before the month file
        lets go of its papers; after a crash between the two, the next open moves them again
        without overwriting what the shard learnt since. A month file holds only new-style
        ids; those of old-style ids (``9901.json``: hep-th/9901001) are today's shards."""
        directory = self.data_dir / SHARD_DIR
        for path in sorted(directory.glob("[0-9][0-9][0-9][0-9].json")):
            if not _NEW_STYLE_FIRST_MONTH <= path.stem < _NEW_STYLE_WRAPS:
                continue
            moving: dict[str, dict[str, JSONDict]] = {}
            for key, record in _File(path, read_only=False).items("papers"):
                moving.setdefault(shard_name(key), {})[key] = record
            for name, moved in moving.items():
                shard = _File(directory / f"{name}.json", read_only=False)
                known = {key for key, _ in shard.items("papers")}
                shard.put("papers", {k: r for k, r in moved.items() if k not in known})
                shard.flush()
            try:
                path.unlink()
                fsync_directory(directory)
            except OSError as e:
                raise StoreError(f"cannot remove: {e.strerror or e}", where=str(path)) from e

    def _shard(self, name: str) -> _File:
        if name not in self._shards:
            path = self.data_dir / SHARD_DIR / f"{name}.json"
            self._shards[name] = _File(path, read_only=self.read_only)
        return self._shards[name]

    # --- archive: history for backtests, and retention ------------------------------------

    def recent_papers(self, since: datetime) -> Iterator[Paper]:
        """Archived papers first seen at or after ``since`` (staged ones included), as first
        seen. Reads only the days since then, one file at a time, so a long history costs
        neither time nor memory here."""
        self._usable()
        cutoff = _aware(since)
        first_day = cutoff.astimezone(UTC).date().isoformat()
        days = {p.stem for p in (self.data_dir / TEXT_DIR).glob("*.json")}
        days.update(self._staged_text)
        for day in sorted(d for d in days if d >= first_day):
            records = dict(self._text_records(day))
            records.update(self._staged_text.get(day, {}))
            where = self.data_dir / TEXT_DIR / f"{day}.json"
            for key, record in records.items():
                if _first_seen(record) >= cutoff:
                    yield _decode(paper_from_dict, record, key, where)

    def prune_archive(self, before: datetime) -> int:
        """Drop the text (title, abstract, authors...) of papers first seen before ``before``;
        return how many. Durable at once.

        Identity stays (``papers/``): the id, its version, when it was first seen and which
        subscriptions matched it, so an old paper is never announced as new again and
        ``updates: true`` still knows it. Whole days before ``before`` are deleted; only the
        day it falls in is read and rewritten.
        """
        self._writable()
        cutoff = _aware(before)
        cutoff_day = cutoff.astimezone(UTC).date().isoformat()
        directory = self.data_dir / TEXT_DIR
        pruned = 0
        for path in sorted(directory.glob("*.json")):
            if path.stem > cutoff_day:
                break
            shard = _File(path, read_only=False)
            records = shard.items("papers")
            old = [key for key, record in records if _first_seen(record) < cutoff]
            pruned += len(old)
            if len(old) == len(records):
                path.unlink()
                fsync_directory(directory)
            elif old:
                shard.remove("papers", old)
                shard.flush()
        return pruned

    def _text_records(self, day: str) -> list[tuple[str, JSONDict]]:
        """A day's archived texts, read without keeping the file loaded."""
        raw = AtomicJSONStorage(self.data_dir / TEXT_DIR / f"{day}.json").read()
        table = (raw or {}).get("papers", {})
        return [(str(k), dict(v)) for k, v in table.items()]

    # --- outbox ------------------------------------------------------------------------

    def enqueue(
        self, destination: Destination, digest: Digest, due: datetime | None = None
    ) -> OutboxEntry | None:
        """Stage a digest for a destination without ever queueing a paper twice for it.

        Papers already in an entry of the same subscription, destination and period (any
        status, "unknown" included) are skipped. The rest join that period's pending or
        failed entry, or else start a follow-up entry with period ``<date>#<n>``. Returns
        the entry that was created or grown, or None if there was nothing new.
        """
        self._writable()
        base = split_period(digest.period)[0]
        base_key = OutboxEntry(destination, replace(digest, period=base)).key
        family = [
            entry
            for key, entry in self._entries()
            if (key == base_key or key.startswith(f"{base_key}#"))
            and entry.destination.key == destination.key
            and entry.digest.subscription == digest.subscription
        ]
        queued = {m.paper.id for entry in family for m in entry.digest.matches}
        fresh: list[Match] = []
        for match in digest.matches:
            if match.paper.id not in queued:
                queued.add(match.paper.id)
                fresh.append(match)
        # An update is one version of a paper: the same paper may be updated again later.
        queued_versions = {m.paper.versioned_id for entry in family for m in entry.digest.updated}
        fresh_updates: list[Match] = []
        for match in digest.updated:
            if match.paper.versioned_id not in queued_versions:
                queued_versions.add(match.paper.versioned_id)
                fresh_updates.append(match)
        if not fresh and not fresh_updates:
            return None
        still_open = [entry for entry in family if entry.status in _OPEN]
        if still_open:
            target = still_open[-1]
            grown = replace(
                target.digest,
                matches=target.digest.matches + tuple(fresh),
                updated=target.digest.updated + tuple(fresh_updates),
                omitted=target.digest.omitted + digest.omitted,
            )
            entry = replace(target, digest=grown)
        else:
            part = max((split_period(e.digest.period)[1] for e in family), default=0) + 1
            period = base if part == 1 else f"{base}#{part}"
            digest = Digest(
                digest.subscription, period, tuple(fresh), tuple(fresh_updates), digest.omitted
            )
            entry = OutboxEntry(destination, digest, due=due)
        self._put_entry(entry)
        return entry

    def pending(self, now: datetime | None = None) -> list[OutboxEntry]:
        """Entries to (re)try: pending, and failed ones that a retry can fix. "unknown" ones,
        and permanent failures, wait for ``requeue`` (watcher retry).
        Given ``now``, only those due by then (a weekly digest waits for its slot)."""
        self._usable()
        return [
            entry
            for _, entry in self._entries()
            if entry.status in _OPEN
            and not (entry.status == "failed" and (entry.last_error or "").startswith(PERMANENT))
            and (now is None or entry.due is None or entry.due <= now)
        ]

    def entries(self) -> list[OutboxEntry]:
        """Every entry still kept, in the order they were queued (for ``watcher status``)."""
        self._usable()
        return [entry for _, entry in self._entries()]

    def mark_delivered(self, entry_key: str, receipt: Receipt) -> None:
        """Record a send the channel accepted. Durable before this returns."""
        self._mark(
            entry_key,
            lambda e: replace(
                e,
                status="delivered",
                attempts=e.attempts + 1,
                last_error=None,
                receipt=receipt,
                resume=None,
            ),
        )

    def mark_failed(
        self, entry_key: str, error: str, *, permanent: bool = False, resume: str | None = None
    ) -> None:
        """Record a refused send; it is retried next cycle. Durable before this returns.

        A permanent failure (wrong token, unknown channel) is marked in ``last_error`` with a
        ``permanent:`` prefix so status can tell the user to fix something.
        """
        message = f"{PERMANENT}{error}" if permanent else error
        self._mark(
            entry_key,
            lambda e: replace(
                e,
                status="failed",
                attempts=e.attempts + 1,
                last_error=message,
                resume=resume or e.resume,
            ),
        )

    def mark_unknown(self, entry_key: str, error: str, resume: str | None = None) -> None:
        """Record a send that may or may not have arrived; it is not retried on its own."""
        self._mark(
            entry_key,
            lambda e: replace(
                e,
                status="unknown",
                attempts=e.attempts + 1,
                last_error=error,
                resume=resume or e.resume,
            ),
        )

    def mark_sending(self, entry_key: str) -> None:
        """Record, just before a send starts, that it may arrive. Durable before this returns.

        The entry reads "unknown" until mark_delivered/mark_failed/mark_unknown replaces it: if
        the process dies between the destination accepting the send and ``mark_delivered``,
        the rerun finds it "unknown" and does not resend it on its own (``requeue`` does).
        """
        self._mark(entry_key, lambda e: replace(e, status="unknown", last_error=INTERRUPTED))

    def drop(self, entry_key: str) -> None:
        """Forget an outbox entry (the user gave up on it). Durable before this returns."""
        self._writable()
        if entry_key not in dict(self._entries()):
            raise StoreError(f"no outbox entry {entry_key!r}", where=str(self._state.path))
        self._state.remove("outbox", [entry_key])
        self._outbox = None
        self._state.flush()
        self._truncate_journal()

    def requeue(self, entry_key: str) -> None:
        """Make an undelivered entry ("unknown" or failed) pending again, at the user's word."""
        self._mark(
            entry_key, lambda e: e if e.status == "delivered" else replace(e, status="pending")
        )

    def _mark(self, entry_key: str, change: Callable[[OutboxEntry], OutboxEntry]) -> None:
        """Apply a delivery mark and make it durable before returning.

        A send already happened, so this cannot wait for commit(). Rewriting state.json per
        send would cost the size of the whole outbox each time; instead the mark is appended
        to a small journal (fsynced), replayed on open and folded into state.json by the next
        commit. If this session has staged outbox changes, state.json is written instead, so
        those entries are on disk before any mark that refers to them.
        """
        self._writable()
        entry = dict(self._entries()).get(entry_key)
        if entry is None:
            raise StoreError(f"no outbox entry {entry_key!r}", where=str(self._state.path))
        staged = self._state.storage.dirty
        marked = change(entry)
        self._put_entry(marked)
        if staged:
            self._state.flush()
            self._truncate_journal()
            return
        self._state.storage.dirty = False  # in the journal; state.json catches up on commit
        self._journal_pending = True
        line = json.dumps({"key": entry_key, **_mark_fields(marked)}, ensure_ascii=False)
        try:
            with open(self._journal, "a", encoding="utf-8") as journal:
                journal.write(line + "\n")
                journal.flush()
                os.fsync(journal.fileno())
        except OSError as e:
            raise StoreError(f"cannot write: {e.strerror or e}", where=str(self._journal)) from e

    def checkpoint(self) -> None:
        """Fold journaled delivery marks into state.json (one write for a batch of sends)."""
        self._writable()
        if self._journal_pending:
            self._state.storage.dirty = True
            self._state.flush()
            self._truncate_journal()

    def _replay_journal(self) -> None:
        """Fold marks written since the last commit back in (in memory; commit writes them)."""
        try:
            lines = self._journal.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        except OSError as e:
            raise StoreError(f"cannot read: {e.strerror or e}", where=str(self._journal)) from e
        for line in lines:
            try:
                mark = json.loads(line)
            except ValueError:
                break  # the last line was cut by a crash mid-write: the mark before it stands
            key = str(mark.pop("key", ""))
            raw = self._state.get("outbox", key)
            if raw is not None:
                raw.update(mark)
                self._state.put("outbox", {key: raw})
                self._journal_pending = True
        self._state.storage.dirty = False
        self._outbox = None

    def _truncate_journal(self) -> None:
        if self._journal.exists():
            with open(self._journal, "w", encoding="utf-8") as journal:
                os.fsync(journal.fileno())
        self._journal_pending = False

    def _entries(self) -> list[tuple[str, OutboxEntry]]:
        if self._outbox is None:
            where = self._state.path
            self._outbox = {
                key: _decode(entry_from_dict, raw, key, where)
                for key, raw in self._state.items("outbox")
            }
        return list(self._outbox.items())

    def _put_entry(self, entry: OutboxEntry) -> None:
        self._state.put("outbox", {entry.key: entry_to_dict(entry)})
        if self._outbox is not None:
            self._outbox[entry.key] = entry

    # --- feeds -------------------------------------------------------------------------

    def feed_state(self, source: str) -> dict[str, Any]:
        """What was stored for a feed (etag, last ids, last announced date...), or {}."""
        self._usable()
        state = self._staged_feeds.get(source)
        if state is None:
            state = self._feeds.get("feeds", source) or {}
        return copy.deepcopy(state)

    def feed_states(self) -> dict[str, dict[str, Any]]:
        """Every feed's stored state by source, staged changes included (for status)."""
        self._usable()
        states: dict[str, dict[str, Any]] = dict(self._feeds.items("feeds"))
        states.update(self._staged_feeds)
        return copy.deepcopy(states)

    def set_feed_state(self, source: str, state: Mapping[str, Any]) -> None:
        """Stage a feed's state: a plain JSON-able dict, written last by ``commit()``."""
        self._writable()
        self._staged_feeds[source] = json.loads(json.dumps(dict(state)))

    def prune_archive_daily(self, now: datetime, keep_days: int) -> int:
        """``prune_archive`` at most once per UTC day (it reads every older shard)."""
        self._writable()
        today = _aware(now).astimezone(UTC).date().isoformat()
        if (self._state.get("meta", "archive") or {}).get("pruned_on") == today:
            return 0
        pruned = self.prune_archive(_aware(now) - timedelta(days=keep_days))
        self._state.put("meta", {"archive": {"pruned_on": today}})
        return pruned

    # --- writing -----------------------------------------------------------------------

    def commit(self, now: datetime | None = None) -> None:
        """Write what this cycle staged. Given ``now``, drop delivered entries older than
        ``keep_delivered_days`` first. Untouched shards are neither read nor written."""
        self._writable()
        if now is not None:
            self._prune(now)
        if self._journal_pending:
            self._state.storage.dirty = True  # fold the journaled marks into state.json
        # Order matters. The outbox goes first: its entries carry their papers, so a crash
        # before the archive is written only makes the rerun see those papers as new again,
        # and enqueue's merge/idempotence turns that into no duplicate. The reverse order would
        # lose papers: archived as seen, never queued.
        self._state.flush()
        self._truncate_journal()
        # Text before identity: a crash between leaves the papers unseen (and rewritten next
        # time), never seen without their text.
        for name, records in list(self._staged_text.items()):
            text = _File(self.data_dir / TEXT_DIR / f"{name}.json", read_only=False)
            text.put("papers", records)
            text.flush()
            del self._staged_text[name]
        for name in list(self._staged_papers):
            shard = self._shard(name)
            shard.put("papers", self._staged_papers[name])
            shard.flush()
            del self._staged_papers[name]
        # Feed state last, in a second small write: a crash before it makes the rerun fetch
        # again instead of trusting a 304 (etag) for papers that never reached the archive.
        if self._staged_feeds:
            self._feeds.put("feeds", self._staged_feeds)
            self._feeds.flush()
            self._staged_feeds = {}

    def _prune(self, now: datetime) -> None:
        cutoff = _aware(now) - self.keep_delivered
        old = [
            key
            for key, entry in self._entries()
            if entry.status == "delivered"
            and entry.receipt is not None
            and _aware(entry.receipt.delivered_at) < cutoff
        ]
        if old:
            self._state.remove("outbox", old)
            self._outbox = None

    def _usable(self) -> None:
        if self._closed:
            raise StoreError("the store is closed", where=str(self.data_dir))

    def _writable(self) -> None:
        self._usable()
        if self.read_only:
            raise StoreError("the store was opened read-only", where=str(self.data_dir))


def _lock(data_dir: Path, wait: float, give_up: Callable[[], bool]) -> int:
    """Take the data directory's flock; try again every 0.1 s for up to ``wait`` seconds,
    unless ``give_up()`` turns true."""
    import time

    path = data_dir / LOCK_FILE
    deadline = time.monotonic() + max(wait, 0)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StoreError(f"cannot open lock file: {e.strerror or e}", where=str(path)) from e
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as e:
            left = deadline - time.monotonic()
            if isinstance(e, BlockingIOError) and left > 0 and not give_up():
                time.sleep(min(0.1, left))
                continue
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if isinstance(e, BlockingIOError):
                raise StoreBusy(f"another watcher is using {data_dir} (pid {holder})") from e
            raise StoreError(f"cannot lock: {e.strerror or e}", where=str(path)) from e
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def _first_seen(record: JSONDict) -> datetime:
    """When a record was first seen; records without a readable time count as very old."""
    value = record.get("first_seen")
    try:
        return _aware(datetime.fromisoformat(value)) if isinstance(value, str) else _EPOCH
    except ValueError:
        return _EPOCH


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _newer(version: int | None, stored: object) -> bool:
    return version is not None and (not isinstance(stored, int) or version > stored)


def _decode(read: Callable[[JSONDict], T], raw: JSONDict, key: str, where: Path) -> T:
    try:
        return read(raw)
    except (KeyError, TypeError, ValueError) as e:
        raise StoreError(f"unreadable record {key!r}: {e!r}", where=str(where)) from e
