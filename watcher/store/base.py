"""What every part of the store shares: where the data directory is, whether it may be
written, and the checks before a read or a write. The parts (papers, archive, outbox,
feeds) are mixins over this base, composed into ``Store`` in watcher.store.core, as
lemon24/reader composes its storage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from watcher.errors import StoreError


class StoreBase:
    data_dir: Path
    read_only: bool
    _closed: bool

    def _usable(self) -> None:
        if self._closed:
            raise StoreError("the store is closed", where=str(self.data_dir))

    def _writable(self) -> None:
        self._usable()
        if self.read_only:
            raise StoreError("the store was opened read-only", where=str(self.data_dir))


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
