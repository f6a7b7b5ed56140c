"""Hot reload of rule files: which files changed, and which version of each is in use.

The daemon looks at the rules directory every few seconds (``snapshot``: each file's
modification time, size and inode from one directory listing and one stat per file, so it
works on bind mounts and network file systems where inotify does not, and costs
milliseconds for thousands of files) and hands the snapshot and the previous state to
``reload``, which reads only the files that changed:

- a new file that loads joins; a new file that does not is reported and stays out;
- an edited file that loads replaces its old version; an edit that does not load is
  reported (file, line and field) and the last good version of that file keeps running;
- a deleted file's subscription is dropped;
- a subscription name already used by another file is an invalid edit like any other.

``reload`` reads files through the ``load`` it is given and nothing else: no clock, no
threads, so tests drive it with plain snapshots.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from watcher.errors import RuleError
from watcher.models import Subscription
from watcher.rules import RULE_SUFFIXES, load_rule_file
from watcher.rules.load import library_stamp

# (mtime_ns, size, inode): an editor that saves by writing a new file and renaming it over
# the old one changes the inode even when the size and a coarse mtime stay the same.
Stamp = tuple[int, int, int]
Snapshot = Mapping[Path, Stamp]


def snapshot(directory: Path) -> dict[Path, Stamp]:
    """The rule files of ``directory`` with their modification time and size.

    Raises RuleError when the directory is missing or unreadable (the caller keeps the
    rules it has)."""
    try:
        with os.scandir(directory) as listing:
            entries = [
                entry
                for entry in listing
                if entry.name.endswith(RULE_SUFFIXES) and not entry.name.startswith(".")
            ]
    except OSError as error:
        problem = "does not exist" if isinstance(error, FileNotFoundError) else error.strerror
        raise RuleError(f"the rules directory {problem}", path=str(directory)) from None
    stamps: dict[Path, Stamp] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            info = entry.stat()  # follows symlinks, as iter_rule_files' is_file() does
        except OSError:
            continue  # deleted between the listing and the stat: gone
        if stat.S_ISREG(info.st_mode):
            stamps[_child(directory, entry.name)] = (info.st_mtime_ns, info.st_size, info.st_ino)
    return stamps


@functools.lru_cache(maxsize=1 << 16)
def _child(directory: Path, name: str) -> Path:
    # The same paths every few seconds: made (and hashed) once, not 10,000 times a look.
    return directory / name


@dataclass(frozen=True)
class RuleFile:
    """One rule file as the daemon knows it.

    ``subscription`` is the version in use: the file's current contents, or (when
    ``error`` is set) the last version that loaded, or None if it never loaded.
    """

    path: Path
    stamp: Stamp
    subscription: Subscription | None
    error: RuleError | None = None
    # The stamp of the subscription's library when this file was last read: the file is
    # read again when the library changes, as when the file itself does.
    library_seen: Stamp | None = None

    @property
    def kept(self) -> bool:
        """An invalid edit, with an older good version still running."""
        return self.error is not None and self.subscription is not None


@dataclass(frozen=True)
class RuleState:
    files: Mapping[Path, RuleFile] = field(default_factory=dict)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The subscriptions in use, in file-name order."""
        return tuple(
            f.subscription for _, f in sorted(self.files.items()) if f.subscription is not None
        )

    @property
    def errors(self) -> tuple[RuleError, ...]:
        return tuple(f.error for _, f in sorted(self.files.items()) if f.error is not None)

    @property
    def kept(self) -> tuple[Path, ...]:
        """Files running their last good version because the current one is invalid."""
        return tuple(path for path, f in sorted(self.files.items()) if f.kept)


@dataclass(frozen=True)
class Reload:
    """The outcome of one look at the directory."""

    state: RuleState
    added: tuple[Path, ...] = ()
    updated: tuple[Path, ...] = ()
    removed: tuple[Path, ...] = ()
    rejected: tuple[RuleError, ...] = ()  # files read this time that did not load
    fixed: tuple[Path, ...] = ()  # files with an error before that load now

    @property
    def changed(self) -> bool:
        """Did the subscriptions in use change (so the matcher must be compiled again)?"""
        return bool(self.added or self.updated or self.removed)

    @property
    def touched(self) -> bool:
        """Did anything worth telling happen (a change, a new error, a fix)?"""
        return self.changed or bool(self.rejected or self.fixed)


def reload(
    previous: RuleState,
    current: Snapshot,
    load: Callable[[Path], Subscription] = load_rule_file,
    last_good: Callable[[Path], Subscription | None] | None = None,
) -> Reload:
    """The new state after the directory changed from ``previous`` to ``current``.

    Files whose stamp is unchanged are not read. Files are taken in name order; a name
    clash is charged to the file that was read this time (or, if both were, the later one).
    A file that does not load keeps the version in use; one this state has never seen (a
    restart) keeps what ``last_good`` remembers of it, if anything. Linear in the number of
    files: 10,000 of them cost no more per look than their stamps.
    """
    files: dict[Path, RuleFile] = {}
    added: list[Path] = []
    updated: list[Path] = []
    rejected: list[RuleError] = []
    fixed: list[Path] = []
    names = _Names((path, f.subscription) for path, f in previous.files.items() if path in current)
    for path in sorted(current):
        stamp = current[path]
        before = previous.files.get(path)
        if before is not None and before.stamp == stamp and not _library_moved(before):
            files[path] = before
            continue
        try:
            subscription = load(path)
            names.check(subscription, path)
        except RuleError as error:
            if before is not None:
                kept = before.subscription
            else:
                kept = last_good(path) if last_good is not None else None
            files[path] = RuleFile(path, stamp, kept, error, _library_now(kept))
            names.set(path, kept)
            rejected.append(error)
            continue
        files[path] = RuleFile(path, stamp, subscription, None, subscription.library_stamp)
        names.set(path, subscription)
        if before is None or before.subscription is None:
            added.append(path)
        elif before.subscription != subscription:
            updated.append(path)
        if before is not None and before.error is not None:
            fixed.append(path)
    removed = tuple(
        sorted(
            path
            for path, f in previous.files.items()
            if path not in current and f.subscription is not None
        )
    )
    return Reload(
        RuleState(files), tuple(added), tuple(updated), removed, tuple(rejected), tuple(fixed)
    )


def _library_now(subscription: Subscription | None) -> Stamp | None:
    if subscription is None or subscription.library is None:
        return None
    return library_stamp(subscription.library)


def _library_moved(file: RuleFile) -> bool:
    """Did the library of the file's subscription change since the file was last read?
    (One stat per subscription with a library, per look.)"""
    sub = file.subscription
    return sub is not None and sub.library is not None and _library_now(sub) != file.library_seen


class _Names:
    """The subscription name each file holds while ``reload`` goes through the files: the
    version in use for files not taken yet, the new one for files already taken."""

    def __init__(self, holders: Iterable[tuple[Path, Subscription | None]]) -> None:
        self.of: dict[Path, str] = {}
        self.holders: dict[str, set[Path]] = {}
        for path, subscription in holders:
            self.set(path, subscription)

    def set(self, path: Path, subscription: Subscription | None) -> None:
        old = self.of.pop(path, None)
        if old is not None:
            self.holders[old].discard(path)
        if subscription is not None:
            name = subscription.name.casefold()
            self.of[path] = name
            self.holders.setdefault(name, set()).add(path)

    def check(self, subscription: Subscription, path: Path) -> None:
        """Raise RuleError if another file's subscription has the same name."""
        others = self.holders.get(subscription.name.casefold(), set()) - {path}
        if others:
            raise RuleError(
                f"subscription name {subscription.name!r} is already used by {min(others)}",
                path=str(path),
                field="name",
            )
