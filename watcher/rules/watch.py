"""Hot reload of rule files: which files changed, and which version of each is in use.

The daemon looks at the rules directory every few seconds (``snapshot``: each file's
modification time and size, so it works on bind mounts and network file systems where
inotify does not) and hands the snapshot and the previous state to ``reload``, which reads
only the files that changed:

- a new file that loads joins; a new file that does not is reported and stays out;
- an edited file that loads replaces its old version; an edit that does not load is
  reported (file, line and field) and the last good version of that file keeps running;
- a deleted file's subscription is dropped;
- a subscription name already used by another file is an invalid edit like any other.

``reload`` reads files through the ``load`` it is given and nothing else: no clock, no
threads, so tests drive it with plain snapshots.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from watcher.errors import RuleError
from watcher.models import Subscription
from watcher.rules import iter_rule_files, load_rule_file

Stamp = tuple[int, int]  # (mtime_ns, size)
Snapshot = Mapping[Path, Stamp]


def snapshot(directory: Path) -> dict[Path, Stamp]:
    """The rule files of ``directory`` with their modification time and size.

    Raises RuleError when the directory is missing or unreadable (the caller keeps the
    rules it has)."""
    try:
        paths = list(iter_rule_files(directory))
    except OSError as error:
        problem = "does not exist" if isinstance(error, FileNotFoundError) else error.strerror
        raise RuleError(f"the rules directory {problem}", path=str(directory)) from None
    stamps: dict[Path, Stamp] = {}
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            continue  # deleted between the listing and the stat: gone
        stamps[path] = (info.st_mtime_ns, info.st_size)
    return stamps


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
    restart) keeps what ``last_good`` remembers of it, if anything.
    """
    files: dict[Path, RuleFile] = {}
    added: list[Path] = []
    updated: list[Path] = []
    rejected: list[RuleError] = []
    fixed: list[Path] = []
    for path in sorted(current):
        stamp = current[path]
        before = previous.files.get(path)
        if before is not None and before.stamp == stamp:
            files[path] = before
            continue
        try:
            subscription = load(path)
            _check_name(subscription, path, files, previous, current)
        except RuleError as error:
            if before is not None:
                kept = before.subscription
            else:
                kept = last_good(path) if last_good is not None else None
            files[path] = RuleFile(path, stamp, kept, error)
            rejected.append(error)
            continue
        files[path] = RuleFile(path, stamp, subscription)
        if before is None or before.subscription is None:
            added.append(path)
        elif before.subscription != subscription:
            updated.append(path)
        if before is not None and before.error is not None:
            fixed.append(path)
    removed = tuple(
        path
        for path, f in sorted(previous.files.items())
        if path not in current and f.subscription is not None
    )
    return Reload(
        RuleState(files), tuple(added), tuple(updated), removed, tuple(rejected), tuple(fixed)
    )


def _check_name(
    subscription: Subscription,
    path: Path,
    done: Mapping[Path, RuleFile],
    previous: RuleState,
    current: Snapshot,
) -> None:
    """Raise RuleError if another file's subscription in use has the same name."""
    others: dict[Path, Subscription] = {}
    for other, f in previous.files.items():
        if other in current and other != path and f.subscription is not None:
            others[other] = f.subscription
    for other, f in done.items():  # files already taken this time: their new version counts
        others.pop(other, None)
        if f.subscription is not None:
            others[other] = f.subscription
    for other, sub in sorted(others.items()):
        if sub.name.casefold() == subscription.name.casefold():
            raise RuleError(
                f"subscription name {subscription.name!r} is already used by {other}",
                path=str(path),
                field="name",
            )
