"""The store: what was seen (the paper archive) and what is to be or was delivered (the outbox).

Edge: the only package that reads and writes the data directory's state files. Every write
goes through a temp file, fsync and rename (``atomic``); nothing here fetches, parses,
matches or renders. Callers use the ``Store`` face; its modules are the storage domains.
"""

from watcher.store.core import Store
from watcher.store.feedback import (
    FEEDBACK_DIR,
    LEGACY_FEEDBACK_FILE,
    feedback_files,
    feedback_path,
    read_feedback,
    record_vote,
)
from watcher.store.files import AtomicJSONStorage
from watcher.store.outbox import INTERRUPTED, PERMANENT, split_period
from watcher.store.papers import SHARD_DIR, shard_name

__all__ = [
    "FEEDBACK_DIR",
    "INTERRUPTED",
    "LEGACY_FEEDBACK_FILE",
    "PERMANENT",
    "SHARD_DIR",
    "AtomicJSONStorage",
    "Store",
    "feedback_files",
    "feedback_path",
    "read_feedback",
    "record_vote",
    "shard_name",
    "split_period",
]
