"""What every part of the store shares: where the data directory is, whether it may be
written, and the checks before a read or a write. The parts (papers, archive, outbox,
feeds) are mixins over this base, composed into ``Store`` in watcher.store.core, as
lemon24/reader composes its storage."""

from __future__ import annotations

import hashlib
import re
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


_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def subscription_file_name(subscription: str) -> str:
    """A file name for one subscription's file: its name reduced to safe characters, with a
    short hash of the full name so two names that reduce alike do not share a file."""
    label = _UNSAFE_IN_NAME.sub("-", subscription).strip("-.")[:60] or "subscription"
    tag = hashlib.sha256(subscription.encode()).hexdigest()[:8]
    return f"{label}-{tag}.json"
