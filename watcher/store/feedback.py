"""``feedback.json``: the reader's likes and dislikes, per subscription and paper.

A vote is recorded at once, whatever else holds the data directory: the daemon keeps the
store's ``.lock`` for a whole cycle (minutes, with a thousand subscriptions), and a click
on a Slack button or an email link must not wait for it. So this file has its own small
flock, ``feedback.lock``, held only for one read-change-write of a few milliseconds; any
thread or process (the CLI, the daemon's listener threads, the cycle reading the votes)
takes it. Each write goes through a temp file, fsync and rename and keeps the version it
replaced as ``feedback.json.prev`` (``watcher repair --previous`` puts it back). A damaged
or empty file is a StoreError naming it, never "no votes".

The file is a TinyDB document (as every state file here): table ``votes``, one document
per subscription and paper, keyed ``<subscription>|<paper id>`` (a subscription name
never contains ``|``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
from watcher.store.base import StoreBase, aware
from watcher.store.files import AtomicJSONStorage, lock, unlock

FEEDBACK_FILE = "feedback.json"
FEEDBACK_LOCK = "feedback.lock"
TABLE = "votes"
# Another writer holds the lock for milliseconds; this long means something is stuck.
LOCK_WAIT = 10.0


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
    replaces it. Safe from any thread or process, beside a running daemon.

    ``paper_id`` may be written as arXiv writes it (``arXiv:2409.12121v2``, an abs URL):
    it is stored without version. Raises PaperRefError for a non-arXiv id, StoreError when
    the file is damaged or cannot be written, ValueError for an unknown ``via``."""
    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}, not {via!r}")
    if not subscription or "|" in subscription:
        raise ValueError(f"not a subscription name: {subscription!r}")
    paper = parse_paper_ref(paper_id)
    key = f"{subscription}|{paper}"
    with _locked(data_dir):
        storage = _storage(data_dir)
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

    Raises StoreError naming the file when it is damaged. Takes no lock: writes are
    atomic renames, so a reader sees one whole version."""
    storage = _storage(data_dir, read_only=True)
    tables = storage.read()
    if tables is None:
        return FeedbackBook()
    votes = tables.get(TABLE, {})
    return FeedbackBook.of(_record(key, doc, storage.path) for key, doc in votes.items())


def read_vote_sets(data_dir: Path) -> dict[str, SubscriptionFeedback]:
    """Each subscription's liked and disliked paper ids, and nothing else of the votes (no
    times, no records): what the relevance models learn from, read each time the file
    changed, so a deployment with tens of thousands of votes reads it in milliseconds.
    The same checks of each vote's subscription, paper, key and kind as ``read_feedback``:
    a damaged vote is a StoreError naming it."""
    storage = _storage(data_dir, read_only=True)
    tables = storage.read()
    if tables is None:
        return {}
    likes: dict[str, set[str]] = {}
    dislikes: dict[str, set[str]] = {}
    for key, doc in tables.get(TABLE, {}).items():
        try:
            subscription, paper = doc["subscription"], doc["paper"]
            vote = _VOTES[doc["vote"]]
        except (KeyError, TypeError) as e:
            where = f"{storage.path}: votes[{key!r}]"
            raise StoreError(
                f"a damaged vote ({e!r}); restore the file or fix it", where=where
            ) from e
        if not isinstance(paper, str) or key != f"{subscription}|{paper}":
            where = f"{storage.path}: votes[{key!r}]"
            raise StoreError("a damaged vote (its key); restore the file", where=where)
        (likes if vote is Vote.LIKE else dislikes).setdefault(subscription, set()).add(paper)
    return {
        name: SubscriptionFeedback(
            name, frozenset(likes.get(name, ())), frozenset(dislikes.get(name, ()))
        )
        for name in sorted(set(likes) | set(dislikes))
    }


_VOTES = {vote.value: vote for vote in Vote}


class FeedbackMixin(StoreBase):
    """The ``Store`` face of the votes: the same file and lock as the functions above, so a
    store opened by a cycle and a listener thread recording a click never wait on each
    other's ``.lock``."""

    def record_vote(
        self, subscription: str, paper_id: str, vote: Vote | None, via: str, now: datetime
    ) -> VoteChange:
        self._writable()
        return record_vote(self.data_dir, subscription, paper_id, vote, via, now)

    def feedback(self) -> FeedbackBook:
        self._usable()
        return read_feedback(self.data_dir)

    def vote_sets(self) -> dict[str, SubscriptionFeedback]:
        self._usable()
        return read_vote_sets(self.data_dir)

    def feedback_stamp(self) -> tuple[int, int, int] | None:
        """The votes file's (mtime, size, inode), None when there is none: each vote is an
        atomic rename, so an equal stamp means the same votes (read them again only then)."""
        self._usable()
        try:
            info = (self.data_dir / FEEDBACK_FILE).stat()
        except FileNotFoundError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)


def _storage(data_dir: Path, *, read_only: bool = False) -> AtomicJSONStorage:
    return AtomicJSONStorage(data_dir / FEEDBACK_FILE, read_only=read_only, keep_previous=True)


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
