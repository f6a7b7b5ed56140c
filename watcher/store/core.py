"""The ``Store`` face: one object over the data directory's parts, and the order in which a
cycle's changes reach the disk.

Layout of ``data_dir``::

    .lock                       flock held by the one writer; contains its pid
    outbox/open.json            entries not yet delivered; papers referred to by (day, id)
    outbox/delivered/<d>.json   delivered entries of period <d>: receipts and paper ids
    outbox/summary.json         per destination: deliveries ever, the last receipt
    outbox.log                  delivery marks since open.json was last written (fsynced)
    feedback/<subscription>.json likes and dislikes, a file per subscription (own lock:
                                feedback.lock)
    feeds.json                  per-feed state: etag, last listing, last poll; store bookkeeping
    papers/2409.01.json         identity of every paper seen (ids 2409.01000-2409.01999)
    text/2024-09-18.json        titles and abstracts of the papers first seen that day

Reads see staged changes. ``record_papers``, ``enqueue`` and ``set_feed_state`` are staged
and reach the disk on ``commit()``; the ``mark_*`` methods are durable at once, because a
send already happened. Closing without commit drops what was staged. Not thread-safe: one
cycle at a time, as the lock allows one process at a time.

Nothing a cycle reads or writes grows with the days kept or with past deliveries: it reads
the shards of today's papers, the open entries and today's periods' delivered files, and
writes today's text file, those shards, open.json, today's delivered files and feeds.json.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from watcher.errors import StoreError
from watcher.store.archive import day_of
from watcher.store.base import aware
from watcher.store.feedback import FeedbackMixin
from watcher.store.feeds import FEEDS_FILE, FeedsMixin
from watcher.store.files import JsonFile, lock, unlock
from watcher.store.migrate import (
    OLD_STATE_FILE,
    migrate_old_outbox,
    move_local_digests,
    read_old_outbox,
    split_month_shards,
)
from watcher.store.outbox import (
    DELIVERED_DIR,
    JOURNAL_FILE,
    KEEP_DELIVERED_DAYS,
    OPEN_FILE,
    SUMMARY_FILE,
    OutboxMixin,
)

LOCK_FILE = ".lock"
DIGESTS_DIR = "digests"


class Store(OutboxMixin, FeedsMixin, FeedbackMixin):
    """What was seen (the paper archive) and what is to be or was delivered (the outbox)."""

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
        # papers and the text archive
        self._shards = {}
        self._staged_papers = {}
        self._text_objects = {}
        self._staged_text = {}
        self._text_cache = {}
        self._paper_cache = {}
        # the outbox
        self._open = JsonFile(data_dir / OPEN_FILE, read_only=read_only, keep_previous=True)
        self._summary = JsonFile(data_dir / SUMMARY_FILE, read_only=read_only)
        self._journal = data_dir / JOURNAL_FILE
        self._journal_pending = False
        self._repair_journal = False
        self._decoded = {}
        self._families = None
        self._delivered_files = {}
        self._delivered_families = {}
        # feeds
        self._feeds = JsonFile(data_dir / FEEDS_FILE, read_only=read_only, keep_previous=True)
        self._staged_feeds = {}

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        read_only: bool = False,
        keep_delivered_days: int = KEEP_DELIVERED_DAYS,
        wait: float = 0,
        give_up: Callable[[], bool] = lambda: False,
        repair_journal: bool = False,
    ) -> Store:
        """Open (creating if needed) a data directory as its only writer.

        Raises StoreError if another process holds it, at once or, given ``wait``, once it
        has tried for that many seconds (the daemon's jobs wait for a ``watcher once`` or
        ``retry`` to finish instead of skipping their run), or until ``give_up()`` says so (the
        daemon was asked to stop). ``read_only`` takes no lock, creates nothing and refuses
        writes: for ``watcher preview`` and ``watcher status`` beside a running daemon (its
        writes are atomic renames, so a reader sees whole files). A writable open brings an
        earlier version's layout up to date first (watcher.store.migrate).
        """
        path = Path(data_dir)
        lock_fd = None
        if not read_only:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create: {e.strerror or e}", where=str(path)) from e
            lock_fd = lock(path, LOCK_FILE, wait, give_up)
        store = cls(
            path, read_only=read_only, lock_fd=lock_fd, keep_delivered_days=keep_delivered_days
        )
        store._repair_journal = repair_journal and not read_only
        try:
            store._load()
        except BaseException:
            store.close()
            raise
        return store

    def _load(self) -> None:
        # Damaged files fail here, naming the file, not in the middle of a cycle.
        if self.read_only and (self.data_dir / OLD_STATE_FILE).exists():
            old = read_old_outbox(self.data_dir, self._journal)
            if old is not None:  # a reader before the first writable open: read it as new
                self._open.replace_table("outbox", old.open)
                self._summary.replace_table("destinations", old.summary)
                self._open.storage.dirty = self._summary.storage.dirty = False
                for base, records in old.delivered.items():
                    delivered = self._delivered_file(base)
                    delivered.replace_table("outbox", records)
                    delivered.storage.dirty = False
                return
        if not self.read_only:
            meta = migrate_old_outbox(
                self.data_dir,
                self._journal,
                self.data_dir / OPEN_FILE,
                self.data_dir / DELIVERED_DIR,
                self.data_dir / SUMMARY_FILE,
            )
            if meta:
                self._feeds.put("meta", meta)
                self._feeds.flush()
            split_month_shards(self.data_dir)
            move_local_digests(self.data_dir / DIGESTS_DIR)
        self._open.storage.read()
        self._summary.storage.read()
        self._feeds.storage.read()
        self._replay_journal()
        if not self.read_only:
            # Fold the marks in now: new marks must never be appended after a line that a
            # crash cut in half (replay stops at that line).
            self.checkpoint()

    def close(self) -> None:
        """Release the lock. Staged changes that were not committed are dropped."""
        if self._closed:
            return
        self._closed = True
        if self._lock_fd is not None:
            unlock(self._lock_fd)
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

    # --- retention ---------------------------------------------------------------------

    def prune_archive(self, before: datetime) -> int:
        """Drop the text (title, abstract, authors...) of papers first seen before ``before``;
        return how many. Durable at once.

        Identity stays (``papers/``): the id, its version, when it was first seen and which
        subscriptions matched it, so an old paper is never announced as new again and
        ``updates: true`` still knows it. An entry not yet delivered gets a copy of the text
        it still needs first, so it can be sent whatever the retention.
        """
        self._writable()
        self._inline_text_before(day_of(before))
        return self._prune_text(before)

    def prune_archive_daily(self, now: datetime, keep_days: int) -> int:
        """``prune_archive`` at most once per UTC day (it lists every older text file)."""
        self._writable()
        today = day_of(now)
        if self._meta("archive").get("pruned_on") == today:
            return 0
        pruned = self.prune_archive(aware(now) - timedelta(days=keep_days))
        self._set_meta("archive", {"pruned_on": today})
        return pruned

    # --- writing -----------------------------------------------------------------------

    def commit(self, now: datetime | None = None) -> None:
        """Write what this cycle staged. Given ``now``, forget delivered entries of periods
        older than ``keep_delivered_days`` first. Untouched files are neither read nor
        written."""
        self._writable()
        # Order matters. Text first: the outbox refers to it. Then the outbox: a crash
        # before the identity shards are written only makes the rerun see those papers as
        # new again, and enqueue's merge/idempotence turns that into no duplicate. The
        # reverse order would lose papers: archived as seen, never queued.
        self._flush_text()
        self.checkpoint()
        if now is not None:
            self._prune_delivered(now)
        if self._open.storage.dirty:
            self._open.flush()
            self._truncate_journal()
        self._flush_papers()
        # Feed state last, in a second small write: a crash before it makes the rerun fetch
        # again instead of trusting a 304 (etag) for papers that never reached the archive.
        self._flush_feeds()
