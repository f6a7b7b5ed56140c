"""The text archive: titles, abstracts and authors, one file per UTC day first seen
(``text/2024-09-18.json``). A cycle writes only today's file; history is read by whole
days; retention deletes whole old days. Outbox entries refer to papers here by (day, id)
instead of carrying copies, so a paper's text is stored once however many digests show it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from watcher.errors import StoreError
from watcher.models import Paper
from watcher.store.atomic import fsync_directory
from watcher.store.base import StoreBase, aware
from watcher.store.codec import JSONDict, paper_from_dict
from watcher.store.files import JsonFile, read_table

TEXT_DIR = "text"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = TypeVar("T")


def first_seen_of(record: JSONDict) -> datetime:
    """When a record was first seen; records without a readable time count as very old."""
    value = record.get("first_seen")
    try:
        return aware(datetime.fromisoformat(value)) if isinstance(value, str) else _EPOCH
    except ValueError:
        return _EPOCH


def day_of(moment: datetime) -> str:
    """The name of the text file for papers first seen at ``moment``."""
    return aware(moment).astimezone(UTC).date().isoformat()


class ArchiveMixin(StoreBase):
    _staged_text: dict[str, dict[str, JSONDict]]  # day -> id -> paper, first_seen
    # Text files read this session, and the papers decoded from them: a day's file is read
    # once however many outbox entries refer to it.
    _text_cache: dict[str, dict[str, JSONDict]]
    _paper_cache: dict[tuple[str, str], Paper]
    # Papers whose text the archive holds, as this session met them: id -> (day, paper),
    # so that an outbox entry can refer to the archive instead of copying the paper.
    _text_objects: dict[str, tuple[str, Paper]]

    def _text_path(self, day: str) -> Path:
        return self.data_dir / TEXT_DIR / f"{day}.json"

    def _text_records(self, day: str) -> dict[str, JSONDict]:
        """A day's archived texts (staged ones included), read once per session."""
        records = self._text_cache.get(day)
        if records is None:
            records = dict(read_table(self._text_path(day), "papers"))
            self._text_cache[day] = records
        staged = self._staged_text.get(day)
        return {**records, **staged} if staged else records

    def archived_text(self, day: str, paper_id: str) -> Paper:
        """The paper an outbox entry refers to. A reference whose text is missing is a
        damaged store, never an empty paper."""
        key = (day, paper_id)
        paper = self._paper_cache.get(key)
        if paper is None:
            record = self._text_records(day).get(paper_id)
            path = self._text_path(day)
            if record is None:
                raise StoreError(
                    f"an outbox entry refers to paper {paper_id}, whose text is missing "
                    "here; restore the file from a backup, or drop the entry "
                    "(watcher status lists it)",
                    where=str(path),
                )
            paper = decode(paper_from_dict, record, paper_id, path)
            self._paper_cache[key] = paper
            self._text_objects.setdefault(paper_id, (day, paper))
        return paper

    def archive_day(self, paper: Paper) -> str | None:
        """The text day the archive holds exactly ``paper`` under, if this session knows."""
        known = self._text_objects.get(paper.id)
        if known is not None and (known[1] is paper or known[1] == paper):
            return known[0]
        return None

    def _stage_text(self, paper_id: str, record: JSONDict, day: str) -> None:
        self._staged_text.setdefault(day, {})[paper_id] = record

    def _flush_text(self) -> None:
        for day, records in list(self._staged_text.items()):
            text = JsonFile(self._text_path(day), read_only=False)
            text.put("papers", records)
            text.flush()
            self._text_cache.pop(day, None)
            del self._staged_text[day]

    def recent_papers(self, since: datetime) -> Iterator[Paper]:
        """Archived papers first seen at or after ``since`` (staged ones included), as first
        seen. Reads only the days since then, one file at a time, so a long history costs
        neither time nor memory here."""
        self._usable()
        cutoff = aware(since)
        first_day = day_of(cutoff)
        days = {p.stem for p in (self.data_dir / TEXT_DIR).glob("*.json")}
        days.update(self._staged_text)
        for day in sorted(d for d in days if d >= first_day):
            records = dict(read_table(self._text_path(day), "papers"))
            records.update(self._staged_text.get(day, {}))
            where = self._text_path(day)
            for key, record in records.items():
                if first_seen_of(record) >= cutoff:
                    yield decode(paper_from_dict, record, key, where)

    def archive_stamp(self, since: datetime) -> tuple[tuple[str, int, int, int], ...]:
        """What ``recent_papers(since)`` would read, as each day file's (day, mtime, size,
        inode) and the staged papers' count: equal stamps, the same papers (whole days; a
        caller keeping them may hold some papers of the first day seen a little earlier)."""
        self._usable()
        first_day = day_of(aware(since))
        stamps = []
        for path in sorted((self.data_dir / TEXT_DIR).glob("*.json")):
            if path.stem >= first_day:
                try:
                    info = path.stat()
                except FileNotFoundError:
                    continue
                stamps.append((path.stem, info.st_mtime_ns, info.st_size, info.st_ino))
        for day, records in sorted(self._staged_text.items()):
            if day >= first_day:
                stamps.append((f"staged {day}", len(records), 0, 0))
        return tuple(stamps)

    def _prune_text(self, before: datetime) -> int:
        """Drop the text of papers first seen before ``before``; return how many. Whole
        days before it are deleted; only the day it falls in is read and rewritten. The
        caller has made sure no undelivered entry still refers to them."""
        cutoff = aware(before)
        cutoff_day = day_of(cutoff)
        directory = self.data_dir / TEXT_DIR
        pruned = 0
        for path in sorted(directory.glob("*.json")):
            if path.stem > cutoff_day:
                break
            text = JsonFile(path, read_only=False)
            records = text.items("papers")
            old = [key for key, record in records if first_seen_of(record) < cutoff]
            pruned += len(old)
            self._text_cache.pop(path.stem, None)
            if len(old) == len(records):
                path.unlink()
                fsync_directory(directory)
            elif old:
                text.remove("papers", old)
                text.flush()
        return pruned


def decode(read: Callable[[JSONDict], T], raw: JSONDict, key: str, where: Path) -> T:
    """``read(raw)``, or a StoreError naming the record and its file."""
    try:
        return read(raw)
    except (KeyError, TypeError, ValueError) as e:
        raise StoreError(f"unreadable record {key!r}: {e!r}", where=str(where)) from e
