"""Paper identity, kept forever: which ids were seen, their version, when first seen, and
which subscriptions matched (and were sent) or read them. ``papers/<yymm.nn>.json`` holds
the ids ``yymm.nn000``-``yymm.nn999`` (see ``shard_name``), so a cycle that meets an old
paper again reads and rewrites one small file, never a whole month.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from watcher.logs import redact_urls
from watcher.models import Paper, PaperRecord, is_arxiv_id
from watcher.store.archive import ArchiveMixin, day_of, first_seen_of
from watcher.store.codec import JSONDict, paper_to_dict, record_from_dict
from watcher.store.files import JsonFile

SHARD_DIR = "papers"


def shard_name(paper_id: str) -> str:
    """Identity shard of a paper: its arXiv id up to the second digit after the dot
    (``2409.01234`` -> ``2409.01``), the YYMM of an old-style id (``hep-th/9901001`` ->
    ``9901``), or ``other`` for items of other feeds.

    A shard thus holds at most 1,000 papers of one month (100 for the four-digit numbers of
    2007-2014). A cycle that meets an old paper again, a cross-list or a new version, reads
    and rewrites that small file, never the 20,000 papers of a whole month: a cycle's cost
    does not grow with the history kept (bench/cycle.py).
    """
    if is_arxiv_id(paper_id):
        if "/" in paper_id:
            return paper_id.rpartition("/")[2][:4]
        return paper_id[:7]
    return "other"


def month_shard_name(paper_id: str) -> str | None:
    """The shard a paper had when shards were whole months (before ``shard_name``
    split them), where it differs from today's; None where it does not."""
    if is_arxiv_id(paper_id) and "/" not in paper_id:
        return paper_id[:4]
    return None


def _newer(version: int | None, stored: object) -> bool:
    return version is not None and (not isinstance(stored, int) or version > stored)


class PapersMixin(ArchiveMixin):
    _shards: dict[str, JsonFile]
    _staged_papers: dict[str, dict[str, JSONDict]]  # shard -> id -> identity

    def unseen(self, papers: Iterable[Paper]) -> list[Paper]:
        """Papers whose id is neither archived nor staged, first copy of each id only.

        A later version, or another feed's copy, of a known id is not new.
        """
        self._usable()
        seen: set[str] = set()
        fresh = []
        for paper in papers:
            if paper.id not in seen:
                seen.add(paper.id)
                if self._record(paper.id) is None:
                    fresh.append(paper)
        return fresh

    def known(self, ids: Iterable[str]) -> dict[str, PaperRecord]:
        """What the store knows of each of ``ids`` (staged changes included), in one batched
        read: only the shards those ids fall in are opened. Unknown ids are left out."""
        self._usable()
        found: dict[str, PaperRecord] = {}
        for paper_id in ids:
            record = self._record(paper_id)
            if record is not None:
                found[paper_id] = record_from_dict(
                    {**record, "id": paper_id}, first_seen_of(record)
                )
        return found

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` the store knows (staged included), without decoding records."""
        self._usable()
        return {paper_id for paper_id in ids if self._record(paper_id) is not None}

    def known_versions(self, ids: Iterable[str]) -> dict[str, int | None]:
        """Stored version of each known id; ids the store has never seen are left out."""
        return {pid: record.version for pid, record in self.known(ids).items()}

    def matched_by(self, paper_id: str) -> frozenset[str]:
        """The subscriptions a stored paper was matched by (and so sent to)."""
        record = self.known([paper_id]).get(paper_id)
        return record.matched_by if record else frozenset()

    def read_from(self, paper_id: str) -> frozenset[str]:
        """The feeds (source URLs) that have brought a stored paper."""
        record = self.known([paper_id]).get(paper_id)
        return record.read_from if record else frozenset()

    def first_seen(self, paper_id: str) -> datetime | None:
        """When a stored paper was first seen (staged ones included), or None if unknown."""
        record = self.known([paper_id]).get(paper_id)
        return record.first_seen if record else None

    def paper(self, paper_id: str) -> Paper | None:
        """The archived text of a paper as first seen, or None (unknown, or past retention)."""
        self._usable()
        identity = self._record(paper_id)
        if identity is None:
            return None
        day = day_of(first_seen_of(identity))
        if paper_id not in self._text_records(day):
            return None
        return self.archived_text(day, paper_id)

    def record_papers(
        self,
        papers: Iterable[Paper],
        seen_at: datetime,
        matched_by: Mapping[str, Iterable[str]] | None = None,
        read_from: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """Stage papers as seen; a newer version of a known paper updates its version.

        ``matched_by`` maps paper ids to the subscriptions that matched them, remembered so
        that a later version can be announced as an update to those subscriptions only;
        ``read_from`` to the feeds (source URLs) that brought them, so that a subscription
        whose feed failed still gets the paper when that feed comes back. Feeds, not
        subscriptions: a thousand subscriptions reading cs.LG make one name, not a thousand.
        The text is archived when a paper is first seen; a replacement of an old paper only
        touches that paper's small identity record, never the text of its day.
        """
        self._writable()
        matched_by = matched_by or {}
        read_from = read_from or {}
        for paper in papers:
            record = self._record(paper.id)
            subscriptions = set(matched_by.get(paper.id, ()))
            # A feed URL with a credential typed in (a one-off --feed) is kept as ***.
            feeds = {redact_urls(url) for url in read_from.get(paper.id, ())}
            version = paper.version
            if record is None:
                first_seen = seen_at.isoformat()
                day = day_of(seen_at)
                self._stage_text(paper.id, {**paper_to_dict(paper), "first_seen": first_seen}, day)
                self._text_objects[paper.id] = (day, paper)
            else:
                earlier = set(record.get("matched_by", ()))
                earlier_feeds = set(record.get("read_from", ()))
                newer = _newer(paper.version, record.get("version"))
                if not newer and subscriptions <= earlier and feeds <= earlier_feeds:
                    continue  # nothing new to write: the shard stays untouched
                first_seen = record.get("first_seen", seen_at.isoformat())
                subscriptions |= earlier
                feeds |= earlier_feeds
                if not newer:
                    version = record.get("version")
            staged = self._staged_papers.setdefault(shard_name(paper.id), {})
            staged[paper.id] = {
                "id": paper.id,
                "version": version,
                "first_seen": first_seen,
                "matched_by": sorted(subscriptions),
                "read_from": sorted(feeds),
            }
            if record is not None and record.get("read_by"):
                staged[paper.id]["read_by"] = record["read_by"]  # an earlier version's

    def _record(self, paper_id: str) -> JSONDict | None:
        shard = shard_name(paper_id)
        staged = self._staged_papers.get(shard, {}).get(paper_id)
        if staged is not None:
            return staged
        record = self._shard(shard).get("papers", paper_id)
        if record is None and self.read_only and (month := month_shard_name(paper_id)):
            # A reader (watcher status, preview) may come before the first writable open
            # has split the month files of an older store: look where the paper used to be.
            record = self._shard(month).get("papers", paper_id)
        return record

    def _shard(self, name: str) -> JsonFile:
        if name not in self._shards:
            path = self.data_dir / SHARD_DIR / f"{name}.json"
            self._shards[name] = JsonFile(path, read_only=self.read_only)
        return self._shards[name]

    def _flush_papers(self) -> None:
        for name in list(self._staged_papers):
            shard = self._shard(name)
            shard.put("papers", self._staged_papers[name])
            shard.flush()
            del self._staged_papers[name]


def matched_on_disk(data_dir: Path, paper_id: str) -> frozenset[str] | None:
    """The subscriptions a paper was matched by (and so sent to), read from its identity
    shard alone, without the lock: a shard is replaced whole by a rename, so a reader beside
    a running cycle sees the file before or after it. None when the store never saw it
    (the daemon's feedback endpoints check a click with it while a cycle may run)."""
    path = data_dir / SHARD_DIR / f"{shard_name(paper_id)}.json"
    record = JsonFile(path, read_only=True).get("papers", paper_id)
    if record is None:
        return None
    matched = record.get("matched_by")
    return frozenset(str(s) for s in matched) if isinstance(matched, list) else frozenset()
