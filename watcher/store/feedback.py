"""``feedback/<subscription>.json``: the reader's likes and dislikes, one file per
subscription, so that a vote rewrites, and a cycle re-reads, only the subscription it is
about (a thousand subscriptions with fifty votes each are 7 MB in one file: half a second to
rewrite per click, a third of a second to read again per cycle).

A vote is recorded at once, whatever else holds the data directory: the daemon keeps the
store's ``.lock`` for a whole cycle (minutes, with a thousand subscriptions), and a click
on a Slack button or an email link must not wait for it. So the votes have their own small
flock, ``feedback.lock``, held only for one read-change-write of a few milliseconds; any
thread or process (the CLI, the daemon's listener threads, the cycle reading the votes)
takes it to write. Each write goes through a temp file, fsync and rename and keeps the
version it replaced as ``<file>.prev`` (``watcher repair --previous`` puts it back). A
damaged or empty file is a StoreError naming it, never "no votes".

Each file is a TinyDB document (as every state file here): table ``votes``, one document
per paper, keyed ``<subscription>|<paper id>`` (a subscription name never contains ``|``),
every document of one subscription — the one the file is named after. The name is the
subscription's reduced to safe characters plus a short hash of the full name (as the
``models/`` cache names its files), so two names that reduce alike never share a file.

Until this release the votes were one ``feedback.json``. Such a file is read as it is, and
split into the per-subscription files by the first vote recorded (under the lock: the new
files are written first, then the old one is renamed to ``feedback.json.migrated``; a
migration cut short is done again, from the old file, by the next vote).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from watcher.errors import StoreError
from watcher.feedback import (
    VIAS,
    FeedbackBook,
    SubscriptionFeedback,
    Vote,
    VoteChange,
    VoteRecord,
    VoteVia,
    parse_paper_ref,
)
from watcher.store.atomic import fsync_directory
from watcher.store.base import StoreBase, aware, subscription_file_name
from watcher.store.files import AtomicJSONStorage, lock, unlock

FEEDBACK_DIR = "feedback"
FEEDBACK_LOCK = "feedback.lock"
# The single votes file of the first release, and what it is renamed to once split.
LEGACY_FEEDBACK_FILE = "feedback.json"
MIGRATED_SUFFIX = ".migrated"
TABLE = "votes"
# Another writer holds the lock for milliseconds; this long means something is stuck.
LOCK_WAIT = 10.0

Stamp = tuple[int, int, int]


def feedback_path(data_dir: Path, subscription: str) -> Path:
    """The file of ``subscription``'s votes."""
    return data_dir / FEEDBACK_DIR / subscription_file_name(subscription)


def feedback_files(data_dir: Path) -> list[Path]:
    """Every votes file there is (the legacy ``feedback.json`` first, if it is still
    there), for ``watcher repair --previous``."""
    legacy = data_dir / LEGACY_FEEDBACK_FILE
    found = [legacy] if legacy.exists() else []
    directory = data_dir / FEEDBACK_DIR
    return found + [directory / name for name, _ in sorted(_scan(directory))]


def record_vote(
    data_dir: Path,
    subscription: str,
    paper_id: str,
    vote: Vote | None,
    via: str,
    now: datetime,
) -> VoteChange:
    """Record ``vote`` (None: forget the vote) of ``subscription`` on ``paper_id``,
    durably, and say what changed. Liking twice is one like; a dislike after a like
    replaces it. Safe from any thread or process, beside a running daemon. Rewrites only
    ``subscription``'s file.

    ``paper_id`` may be written as arXiv writes it (``arXiv:2409.12121v2``, an abs URL):
    it is stored without version. Raises PaperRefError for a non-arXiv id, StoreError when
    a file is damaged or cannot be written, ValueError for an unknown ``via``."""
    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}, not {via!r}")
    if not subscription or "|" in subscription:
        raise ValueError(f"not a subscription name: {subscription!r}")
    paper = parse_paper_ref(paper_id)
    key = f"{subscription}|{paper}"
    with _locked(data_dir):
        _migrate_legacy(data_dir)
        storage = _storage(feedback_path(data_dir, subscription))
        tables = storage.read() or {}
        votes = tables.setdefault(TABLE, {})
        before = votes.get(key)
        previous = _record(key, before, storage.path).vote if before is not None else None
        change = VoteChange(subscription, paper, vote, previous)
        if not change.changed:
            return change
        if vote is None:
            del votes[key]
        else:
            votes[key] = {
                "subscription": subscription,
                "paper": paper,
                "vote": vote.value,
                "at": aware(now).isoformat(),
                "via": via,
            }
        storage.write(tables)
    return change


def read_feedback(data_dir: Path) -> FeedbackBook:
    """Every vote in ``data_dir`` (an empty book when none was ever recorded).

    Raises StoreError naming the file when one is damaged. Takes no lock: writes are
    atomic renames, so a reader sees one whole version of each file."""
    legacy = _storage(data_dir / LEGACY_FEEDBACK_FILE, read_only=True)
    tables = legacy.read()
    if tables is not None:  # not yet split: the old file is the whole truth
        return FeedbackBook.of(_records(legacy.path, tables))
    records: list[VoteRecord] = []
    for name, _ in sorted(_scan(data_dir / FEEDBACK_DIR)):
        path = data_dir / FEEDBACK_DIR / name
        storage = _storage(path, read_only=True)
        mine = _records(path, storage.read() or {})
        _check_owner(data_dir, path, {r.subscription for r in mine})
        records += mine
    return FeedbackBook.of(records)


def read_vote_sets(data_dir: Path) -> dict[str, SubscriptionFeedback]:
    """Each subscription's liked and disliked paper ids, and nothing else of the votes (no
    times, no records): what the relevance models learn from. Reads every file; a
    ``VoteSetReader`` kept between cycles reads only those that changed."""
    return VoteSetReader(data_dir).read()


class VoteSetReader:
    """``read_vote_sets`` for a process that asks again and again (the daemon, each
    cycle): it keeps each file's vote sets by the file's stamp (mtime, size, inode — every
    write is an atomic rename, so an equal stamp means the same votes) and reads again only
    the files whose stamp changed, so one new like costs one small file, not all of them.
    Safe from several threads."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.files_read = 0  # files parsed by this reader (for the benchmark and tests)
        self._files: dict[str, tuple[Stamp, SubscriptionFeedback | None]] = {}  # by name
        self._lock = threading.Lock()

    def read(self, scan: FeedbackScan | None = None) -> dict[str, SubscriptionFeedback]:
        """The vote sets; ``scan``: the files' stamps as just taken (``FeedbackScan.of``),
        so that a caller who compared them does not pay for a second look."""
        with self._lock:
            scan = scan or FeedbackScan.of(self.data_dir)
            if scan.legacy is not None:  # not yet split: the old file is the whole truth
                legacy = self._read_legacy(self.data_dir / LEGACY_FEEDBACK_FILE)
                if legacy is not None:
                    return legacy
                scan = FeedbackScan.of(self.data_dir)  # split since the scan: look again
            for name in set(self._files) - set(scan.files):
                del self._files[name]
            directory = self.data_dir / FEEDBACK_DIR
            for name, stamp in scan.files.items():
                cached = self._files.get(name)
                if cached is None or cached[0] != stamp:
                    self._files[name] = (stamp, self._read_file(directory / name))
            sets = (sets for _, sets in self._files.values() if sets is not None)
            return {s.subscription: s for s in sorted(sets, key=lambda s: s.subscription)}

    def _read_file(self, path: Path) -> SubscriptionFeedback | None:
        self.files_read += 1
        found = _vote_sets(path, _storage(path, read_only=True).read() or {})
        _check_owner(self.data_dir, path, set(found))
        return next(iter(found.values()), None)

    def _read_legacy(self, path: Path) -> dict[str, SubscriptionFeedback] | None:
        """The old file's vote sets, None when it is gone (split meanwhile)."""
        self._files.clear()
        self.files_read += 1
        tables = _storage(path, read_only=True).read()
        if tables is None:
            return None
        found = _vote_sets(path, tables)
        return {name: found[name] for name in sorted(found)}


@dataclass(frozen=True, slots=True)
class FeedbackScan:
    """The stamps (mtime, size, inode) of every votes file at one moment."""

    legacy: Stamp | None
    files: Mapping[str, Stamp]  # by file name, in the feedback directory

    @classmethod
    def of(cls, data_dir: Path) -> FeedbackScan:
        try:
            info = (data_dir / LEGACY_FEEDBACK_FILE).stat()
            legacy: Stamp | None = (info.st_mtime_ns, info.st_size, info.st_ino)
        except FileNotFoundError:
            legacy = None
        return cls(legacy, dict(_scan(data_dir / FEEDBACK_DIR)))

    @property
    def stamp(self) -> tuple[object, ...] | None:
        """Equal stamps mean the same votes; None when there is no votes file."""
        if self.legacy is None and not self.files:
            return None
        return (self.legacy, tuple(sorted(self.files.items())))


# One reader per data directory and process: the Store is opened afresh each cycle, the
# files it read last time are still known.
_READERS: dict[Path, VoteSetReader] = {}
_READERS_LOCK = threading.Lock()


def _reader(data_dir: Path) -> VoteSetReader:
    with _READERS_LOCK:
        key = data_dir.resolve()
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = VoteSetReader(data_dir)
        return reader


_VOTES = {vote.value: vote for vote in Vote}


class FeedbackMixin(StoreBase):
    """The ``Store`` face of the votes: the same files and lock as the functions above, so a
    store opened by a cycle and a listener thread recording a click never wait on each
    other's ``.lock``."""

    # The stamps the last ``feedback_stamp`` took, for the ``vote_sets`` that follows it
    # (used once: a later ``vote_sets`` looks again).
    _feedback_scan: FeedbackScan | None = None

    def record_vote(
        self, subscription: str, paper_id: str, vote: Vote | None, via: str, now: datetime
    ) -> VoteChange:
        self._writable()
        return record_vote(self.data_dir, subscription, paper_id, vote, via, now)

    def feedback(self) -> FeedbackBook:
        self._usable()
        return read_feedback(self.data_dir)

    def vote_sets(self) -> dict[str, SubscriptionFeedback]:
        """As ``read_vote_sets``, reading again only the files changed since this process
        last asked (and taking the stamps ``feedback_stamp`` just took, not a second look
        at a thousand files)."""
        self._usable()
        scan, self._feedback_scan = self._feedback_scan, None
        return _reader(self.data_dir).read(scan)

    def feedback_stamp(self) -> tuple[object, ...] | None:
        """The stamps of the votes files, None when there is none: each vote is an atomic
        rename, so an equal stamp means the same votes (read them again only then)."""
        self._usable()
        self._feedback_scan = FeedbackScan.of(self.data_dir)
        return self._feedback_scan.stamp


def _storage(path: Path, *, read_only: bool = False) -> AtomicJSONStorage:
    return AtomicJSONStorage(path, read_only=read_only, keep_previous=True)


def _scan(directory: Path) -> Iterator[tuple[str, Stamp]]:
    """The votes files in ``directory`` and their stamps (not the ``.prev`` copies, nor a
    write's temp file)."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    except OSError as e:
        raise StoreError(f"cannot list: {e.strerror or e}", where=str(directory)) from e
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(".json"):
            continue
        try:
            info = entry.stat()
        except FileNotFoundError:
            continue  # removed since the listing
        yield entry.name, (info.st_mtime_ns, info.st_size, info.st_ino)


def _migrate_legacy(data_dir: Path) -> None:
    """Split a first-release ``feedback.json`` into per-subscription files (under the lock).
    The new files are written before the old one is renamed, so a migration cut short
    leaves the old file, the truth, and is done again whole by the next vote."""
    legacy = data_dir / LEGACY_FEEDBACK_FILE
    tables = _storage(legacy, read_only=True).read()
    if tables is None:
        return
    by_subscription: dict[str, dict[str, Any]] = {}
    for record in _records(legacy, tables):
        key = f"{record.subscription}|{record.paper_id}"
        by_subscription.setdefault(record.subscription, {})[key] = tables[TABLE][key]
    for subscription, votes in by_subscription.items():
        _storage(feedback_path(data_dir, subscription)).write({TABLE: votes})
    try:
        os.replace(legacy, legacy.with_name(legacy.name + MIGRATED_SUFFIX))
        fsync_directory(data_dir)
    except OSError as e:
        raise StoreError(f"cannot rename: {e.strerror or e}", where=str(legacy)) from e


def _records(path: Path, tables: Mapping[str, Any]) -> list[VoteRecord]:
    votes = tables.get(TABLE, {})
    return [_record(key, doc, path) for key, doc in votes.items()]


def _vote_sets(path: Path, tables: Mapping[str, Any]) -> dict[str, SubscriptionFeedback]:
    """The sets of one file, with the same checks of each vote's subscription, paper, key
    and kind as ``_record`` (times and via are not looked at: this is read each cycle)."""
    likes: dict[str, set[str]] = {}
    dislikes: dict[str, set[str]] = {}
    for key, doc in tables.get(TABLE, {}).items():
        try:
            subscription, paper = doc["subscription"], doc["paper"]
            vote = _VOTES[doc["vote"]]
        except (KeyError, TypeError) as e:
            where = f"{path}: votes[{key!r}]"
            raise StoreError(
                f"a damaged vote ({e!r}); restore the file or fix it", where=where
            ) from e
        if not isinstance(paper, str) or key != f"{subscription}|{paper}":
            where = f"{path}: votes[{key!r}]"
            raise StoreError("a damaged vote (its key); restore the file", where=where)
        (likes if vote is Vote.LIKE else dislikes).setdefault(subscription, set()).add(paper)
    return {
        name: SubscriptionFeedback(
            name, frozenset(likes.get(name, ())), frozenset(dislikes.get(name, ()))
        )
        for name in set(likes) | set(dislikes)
    }


def _check_owner(data_dir: Path, path: Path, subscriptions: Iterable[str]) -> None:
    """A file holds the votes of the one subscription it is named after (a file copied
    under another name would give one subscription's votes to another)."""
    for name in subscriptions:
        if feedback_path(data_dir, name).name != path.name:
            raise StoreError(
                f"holds votes of subscription {name!r}, whose file is "
                f"{feedback_path(data_dir, name).name}; move the file back or remove it",
                where=str(path),
            )


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create: {e.strerror or e}", where=str(data_dir)) from e
    fd = lock(data_dir, FEEDBACK_LOCK, LOCK_WAIT, lambda: False)
    try:
        yield
    finally:
        unlock(fd)


def _record(key: str, doc: object, path: Path) -> VoteRecord:
    where = f"{path}: votes[{key!r}]"
    if not isinstance(doc, Mapping):
        raise StoreError("a vote is not an object; restore the file or fix it", where=where)
    fields = cast(Mapping[str, Any], doc)
    try:
        subscription, paper = str(fields["subscription"]), str(fields["paper"])
        vote = _VOTES[fields["vote"]]
        when = datetime.fromisoformat(str(fields["at"]))
        via = str(fields["via"])
    except (KeyError, ValueError, TypeError) as e:
        raise StoreError(f"a damaged vote ({e!r}); restore the file or fix it", where=where) from e
    if via not in VIAS or key != f"{subscription}|{paper}":
        raise StoreError("a damaged vote (its key or via); restore the file", where=where)
    return VoteRecord(subscription, paper, vote, aware(when), cast(VoteVia, via))
