"""The files of the data directory: TinyDB documents read once, written whole and atomically,
and the lock that makes one process their only writer.

Every state file is a TinyDB database whose documents are keyed by our own string ids (a
paper id, an outbox key, a feed source). A file is read at most once per ``JsonFile``,
changes stay in memory until ``flush()``, and a write goes through a temp file, fsync and
rename (watcher.store.atomic), so a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tinydb import Storage, TinyDB

from watcher.errors import StoreBusy, StoreError
from watcher.store.atomic import fsync_directory, write_atomically
from watcher.store.codec import JSONDict

Tables = dict[str, dict[str, Any]]


class AtomicJSONStorage(Storage):
    """A TinyDB storage that never leaves a half-written file, and never reads a damaged
    one as empty.

    TinyDB's JSONStorage truncates and rewrites in place; a crash mid-write loses the database.
    Here a write goes to a temp file in the same directory, is fsynced, renamed over the target
    and the directory fsynced. A file that exists but is empty or not JSON raises StoreError
    rather than reading as empty, which would silently forget every paper and resend them all
    (we never write an empty file: even an empty database is ``{}``).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False, keep_previous: bool = False
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        # Keep the version a write replaces as ``<name>.prev``: one good generation to roll
        # back to when the file is damaged (watcher repair --previous).
        self.keep_previous = keep_previous

    @property
    def previous(self) -> Path:
        return previous_of(self.path)

    def read(self) -> Tables | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError(f"cannot read: {e.strerror or e}", where=str(self.path)) from e
        if not raw.strip():
            raise StoreError(
                "the file is empty (a disk that filled up, or a copy cut short); "
                + self._way_back(),
                where=str(self.path),
            )
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise StoreError(f"corrupt JSON ({e}); {self._way_back()}", where=str(self.path)) from e
        if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
            raise StoreError(
                f"not a TinyDB file (expected an object of tables); {self._way_back()}",
                where=str(self.path),
            )
        return data

    def _way_back(self) -> str:
        if self.previous.exists():
            return (
                f"the version before the last write is {self.previous.name}: `watcher repair "
                "--previous` puts it back (what the last write added is then lost), or restore "
                "a backup"
            )
        return "restore it from a backup, or move it aside to start that part afresh"

    def write(self, data: Tables) -> None:
        if self.read_only:
            raise StoreError("the store was opened read-only", where=str(self.path))
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            if self.keep_previous and self.path.exists():
                # A hard link, then a rename over the old .prev: the file itself is never
                # missing, and .prev is whole or the one before.
                link = self.path.with_name(f".{self.path.name}.prev.tmp")
                link.unlink(missing_ok=True)
                os.link(self.path, link)
                os.replace(link, self.previous)
            write_atomically(self.path, payload)
        except OSError as e:
            raise StoreError(f"cannot write: {e.strerror or e}", where=str(self.path)) from e


class _Buffered(Storage):
    """Reads its file once and keeps writes in memory until ``flush()``.

    Unlike tinydb's CachingMiddleware it never writes on its own or on close: what reaches
    the disk, and in which order, is decided by the Store.
    """

    def __init__(self, backing: AtomicJSONStorage) -> None:
        self.backing = backing
        self.dirty = False
        self._data: Tables | None = None
        self._loaded = False

    def read(self) -> Tables | None:
        if not self._loaded:
            self._data = self.backing.read()
            self._loaded = True
        return self._data

    def write(self, data: Tables) -> None:
        self._data = data
        self._loaded = True
        self.dirty = True

    def flush(self) -> None:
        if self.dirty and self._data is not None:
            self.backing.write(self._data)
        self.dirty = False


class JsonFile:
    """One TinyDB file of string-keyed tables, buffered until ``flush()``.

    Reads and writes go straight to the storage's tables: TinyDB's Table API rebuilds a
    whole table (twice) on every update and converts every key, which made putting a day's
    outbox cost its size squared. The bytes on disk are TinyDB's format all the same, so
    ``db`` (a TinyDB over the same storage) reads them for anyone who wants its queries.
    """

    def __init__(self, path: Path, *, read_only: bool, keep_previous: bool = False) -> None:
        self.path = path
        backing = AtomicJSONStorage(path, read_only=read_only, keep_previous=keep_previous)
        self.storage = _Buffered(backing)
        self.db = TinyDB(storage=lambda: self.storage)

    @property
    def exists(self) -> bool:
        """True if the file is on disk or something was put since."""
        return self.storage.read() is not None

    def table(self, name: str) -> dict[str, Any]:
        """The live table (read-only use: changes go through put/remove)."""
        return (self.storage.read() or {}).get(name, {})

    def get(self, table: str, key: str) -> JSONDict | None:
        doc = self.table(table).get(key)
        return None if doc is None else dict(doc)

    def items(self, table: str) -> list[tuple[str, JSONDict]]:
        return [(str(key), dict(doc)) for key, doc in self.table(table).items()]

    def put(self, table: str, docs: Mapping[str, JSONDict]) -> None:
        """Insert or replace ``docs`` by key, keeping the table's order."""
        if not docs:
            return
        tables = self._tables()
        tables.setdefault(table, {}).update(docs)
        self.storage.write(tables)

    def remove(self, table: str, keys: Iterable[str]) -> None:
        tables = self._tables()
        rows = tables.get(table, {})
        gone = [key for key in keys if key in rows]
        for key in gone:
            del rows[key]
        if gone:
            self.storage.write(tables)

    def replace_table(self, table: str, docs: Mapping[str, JSONDict]) -> None:
        tables = self._tables()
        tables[table] = dict(docs)
        self.storage.write(tables)

    def flush(self) -> None:
        self.storage.flush()

    def _tables(self) -> Tables:
        return self.storage.read() or {}


def previous_of(path: Path) -> Path:
    return path.with_name(f"{path.name}.prev")


def restore_previous(path: Path) -> bool:
    """Put ``<name>.prev`` back in place of ``path`` (True), if there is one."""
    previous = previous_of(path)
    if not previous.exists():
        return False
    os.replace(previous, path)
    fsync_directory(path.parent)
    return True


def read_table(path: Path, table: str) -> dict[str, Any]:
    """One table of a file, read without keeping the file loaded ({} if there is none)."""
    return (AtomicJSONStorage(path).read() or {}).get(table, {})


def lock(data_dir: Path, lock_name: str, wait: float, give_up: Callable[[], bool]) -> int:
    """Take the data directory's flock; try again every 0.1 s for up to ``wait`` seconds,
    unless ``give_up()`` turns true. Returns the lock's file descriptor."""
    path = data_dir / lock_name
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


def unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
