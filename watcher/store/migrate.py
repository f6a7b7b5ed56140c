"""Data directories of earlier versions, brought to today's layout on the first writable
open. Each step is crash-safe: the new files are written (atomically) before the old ones
go, and a step interrupted anywhere is simply done again by the next open, so a kill at any
point leaves the old layout or the new one, both readable.

- ``state.json`` (every outbox entry with full copies of its papers, delivered ones too)
  becomes ``outbox/``: open entries as they were (their papers inline), delivered ones as
  receipts and ids in their period's file, and a per-destination summary.
- ``papers/<yymm>.json`` month files become shards of a thousand ids (``papers/2409.01.json``).
- Local digests ``digests/<date>-<subscription>.md`` move to ``digests/<subscription>/<date>.md``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from watcher.errors import StoreError
from watcher.store.archive import decode
from watcher.store.atomic import fsync_directory
from watcher.store.codec import (
    JSONDict,
    delivered_of,
    delivered_to_dict,
    entry_from_dict,
    open_entry_to_dict,
)
from watcher.store.files import AtomicJSONStorage, JsonFile
from watcher.store.outbox import split_period
from watcher.store.papers import SHARD_DIR, shard_name

OLD_STATE_FILE = "state.json"

# New-style ids (2409.01234) began in April 2007; their months will meet the old-style
# ids' months (9108: August 1991) again in 2091.
_NEW_STYLE_FIRST_MONTH, _NEW_STYLE_WRAPS = "0704", "9108"


@dataclass(frozen=True)
class OldOutbox:
    """The outbox of a ``state.json``, journal folded in, in today's shape."""

    open: dict[str, JSONDict]
    delivered: dict[str, dict[str, JSONDict]]  # period -> key -> record
    summary: dict[str, JSONDict]  # destination -> tally
    meta: dict[str, JSONDict]


def read_old_outbox(data_dir: Path, journal: Path) -> OldOutbox | None:
    """The outbox of an earlier version's ``state.json`` with the marks of ``outbox.log``
    applied, or None if there is no such file (read-only: for status beside it, too)."""
    path = data_dir / OLD_STATE_FILE
    if not path.exists():
        return None
    tables = AtomicJSONStorage(path, read_only=True).read()
    if tables is None:
        return None
    raws = dict(tables.get("outbox", {}))
    for mark in _journal_marks(journal):
        key = str(mark.pop("key", ""))
        if key in raws:
            raws[key] = {**raws[key], **mark}
    open_entries: dict[str, JSONDict] = {}
    delivered: dict[str, dict[str, JSONDict]] = {}
    summary: dict[str, JSONDict] = {}
    for key, raw in raws.items():
        entry = decode(entry_from_dict, raw, key, path)
        if entry.status == "delivered" and entry.receipt is not None:
            record = delivered_to_dict(delivered_of(entry))
            delivered.setdefault(split_period(entry.digest.period)[0], {})[key] = record
            tally = summary.setdefault(
                entry.destination.key, {"delivered": 0, "last_receipt": None}
            )
            tally["delivered"] += 1
            last = tally["last_receipt"]
            if last is None or record["receipt"]["delivered_at"] >= last["delivered_at"]:
                tally["last_receipt"] = record["receipt"]
        else:
            open_entries[key] = open_entry_to_dict(entry, lambda _: None)  # papers inline
    return OldOutbox(open_entries, delivered, summary, dict(tables.get("meta", {})))


def _journal_marks(journal: Path) -> list[JSONDict]:
    try:
        lines = journal.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise StoreError(f"cannot read: {e.strerror or e}", where=str(journal)) from e
    marks = []
    for line in lines:
        try:
            marks.append(json.loads(line))
        except ValueError:
            break  # cut by a crash mid-write: the marks before it stand
    return marks


def migrate_old_outbox(
    data_dir: Path, journal: Path, open_path: Path, delivered_dir: Path, summary_path: Path
) -> JSONDict | None:
    """Write ``state.json``'s outbox in today's layout, then remove it (and the journal it
    had). Returns its ``meta`` table for the caller to keep, or None if there was nothing to
    migrate. Every new file is written whole, from state.json alone, so a rerun after a
    crash writes the same files again."""
    old = read_old_outbox(data_dir, journal)
    if old is None:
        return None
    for base, records in old.delivered.items():
        delivered = JsonFile(delivered_dir / f"{base}.json", read_only=False)
        delivered.put("outbox", records)
        delivered.flush()
    summary = JsonFile(summary_path, read_only=False)
    summary.replace_table("destinations", old.summary)
    summary.flush()
    opened = JsonFile(open_path, read_only=False)
    opened.replace_table("outbox", old.open)
    opened.flush()
    # Last: state.json, then the journal whose marks it took in. A crash before this point
    # migrates again from state.json and the same journal.
    (data_dir / OLD_STATE_FILE).unlink()
    fsync_directory(data_dir)
    if journal.exists():
        with open(journal, "w", encoding="utf-8") as handle:
            os.fsync(handle.fileno())
    return old.meta


def split_month_shards(data_dir: Path) -> None:
    """Move the papers of month files (``papers/2409.json``, written before shards were
    split by number) to their shards, once. Each shard is written before the month file
    lets go of its papers; after a crash between the two, the next open moves them again
    without overwriting what the shard learnt since. A month file holds only new-style
    ids; those of old-style ids (``9901.json``: hep-th/9901001) are today's shards."""
    directory = data_dir / SHARD_DIR
    for path in sorted(directory.glob("[0-9][0-9][0-9][0-9].json")):
        if not _NEW_STYLE_FIRST_MONTH <= path.stem < _NEW_STYLE_WRAPS:
            continue
        moving: dict[str, dict[str, JSONDict]] = {}
        for key, record in JsonFile(path, read_only=False).items("papers"):
            moving.setdefault(shard_name(key), {})[key] = record
        for name, moved in moving.items():
            shard = JsonFile(directory / f"{name}.json", read_only=False)
            known = set(shard.table("papers"))
            shard.put("papers", {k: r for k, r in moved.items() if k not in known})
            shard.flush()
        try:
            path.unlink()
            fsync_directory(directory)
        except OSError as e:
            raise StoreError(f"cannot remove: {e.strerror or e}", where=str(path)) from e


# <date>-<subscription>.md, and <date>-<subscription>-<n>.md for a second digest that day.
_OLD_DIGEST = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+?)\.md$")
_PART = re.compile(r"^(.+)-(\d+)$")


def move_local_digests(digests_dir: Path) -> None:
    """Move digests of the flat layout (``2024-12-20-efficient-ml.md``) into a folder per
    subscription (``efficient-ml/2024-12-20.md``). Each move is one rename; a file already
    moved is not moved again. ``<date>-<name>-<n>.md`` is the n-th digest of that day when
    ``<date>-<name>.md`` exists beside it, otherwise the subscription is called ``name-n``."""
    try:
        names = sorted(p.name for p in digests_dir.iterdir() if p.is_file())
    except FileNotFoundError:
        return
    present = set(names)
    for name in names:
        found = _OLD_DIGEST.match(name)
        if found is None:
            continue
        period, subscription = found.groups()
        suffix = ""
        part = _PART.match(subscription)
        if part and f"{period}-{part.group(1)}.md" in present:
            subscription, suffix = part.group(1), f"-{part.group(2)}"
        target = digests_dir / subscription / f"{period}{suffix}.md"
        if target.exists():
            continue
        try:
            target.parent.mkdir(exist_ok=True)
            os.replace(digests_dir / name, target)
        except OSError as e:
            raise StoreError(
                f"cannot move: {e.strerror or e}", where=str(digests_dir / name)
            ) from e
    fsync_directory(digests_dir)
