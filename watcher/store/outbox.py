"""The delivery outbox: digests waiting for a destination, and receipts of those delivered.

(About 560 lines: the four files below change together, in one crash order, and the marks,
the move of delivered entries and the index of periods must see one another's state.)

    outbox/open.json                 entries not yet delivered (pending, failed, unknown)
    outbox/delivered/<period>.json   delivered entries of one period: receipt and paper ids
    outbox/summary.json              per destination: deliveries ever, and the last receipt
    outbox.log                       delivery marks since open.json was last written

An open entry refers to its papers' text in the archive (day, id) instead of copying it;
only what the archive does not hold as matched (an update, a late paper) travels inline,
and pruning the archive inlines the text of papers an open entry still needs first. Once
delivered, an entry moves to its period's file and keeps only its receipt and the ids. So a
cycle reads and writes the open entries and today's periods: never what was delivered on
other days, and never a paper's text twice.

Marks (``mark_*``) are durable before they return: appended to ``outbox.log`` and fsynced,
folded into the files by the next ``checkpoint`` or commit. A mark of a local digest is not
fsynced on its own: a local digest lost in a crash is simply written again.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from watcher.digest import add_topic_counts, keep_only, order_matches, topics_of
from watcher.errors import StoreError
from watcher.models import (
    DeliveredEntry,
    Destination,
    DestinationTally,
    Digest,
    EntryView,
    Match,
    OutboxEntry,
    Receipt,
    ResumePoint,
)
from watcher.store.archive import decode
from watcher.store.base import aware
from watcher.store.codec import (
    JSONDict,
    delivered_from_dict,
    delivered_record,
    entry_view,
    open_entry_from_dict,
    open_entry_to_dict,
    paper_to_dict,
    receipt_from_dict,
    receipt_to_dict,
    ref_day,
)
from watcher.store.files import JsonFile
from watcher.store.papers import PapersMixin

OUTBOX_DIR = "outbox"
OPEN_FILE = f"{OUTBOX_DIR}/open.json"
DELIVERED_DIR = f"{OUTBOX_DIR}/delivered"
SUMMARY_FILE = f"{OUTBOX_DIR}/summary.json"
JOURNAL_FILE = "outbox.log"
KEEP_DELIVERED_DAYS = 30
_OPEN = ("pending", "failed")  # statuses that pending() hands out again...
# ...except failures only a person can fix (a wrong token, an unknown channel): retried
# when the user says so (watcher retry), not every cycle.
PERMANENT = "permanent: "
# last_error of an entry whose send began and was never answered (see mark_sending).
INTERRUPTED = (
    "the watcher stopped while sending (killed, crashed, or still running): it may have arrived"
)
Family = tuple[str, str, str]  # subscription, destination key, period without its part


def split_period(period: str) -> tuple[str, int]:
    """``"2024-09-18#2"`` -> ``("2024-09-18", 2)``: follow-up entries of one period."""
    base, sep, part = period.partition("#")
    return base, int(part) if sep and part.isdigit() else 1


def _mark_fields(entry: OutboxEntry) -> JSONDict:
    """The fields of an outbox entry that a delivery mark changes."""
    receipt = None if entry.receipt is None else receipt_to_dict(entry.receipt)
    return {
        "status": entry.status,
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "receipt": receipt,
        "resume": entry.resume,
    }


REPAIRED = (
    "the delivery journal was damaged: this digest may have been sent since; look in the "
    "destination"
)


class DamagedJournal(StoreError):
    """A line of ``outbox.log`` does not check out; ``good`` are the marks before it."""

    def __init__(self, message: str, *, where: str, good: list[JSONDict]) -> None:
        super().__init__(message, where=where)
        self.good = good


def journal_line(mark: JSONDict) -> str:
    """One mark as a journal line: its JSON, a tab, and the CRC-32 of the JSON."""
    body = json.dumps(mark, ensure_ascii=False)
    return f"{body}\t{zlib.crc32(body.encode('utf-8')):08x}\n"


def read_journal(text: str, where: Path) -> list[JSONDict]:
    """The marks of a journal, in order. A last line without its newline was cut by a crash
    mid-write: the marks before it stand. Any other line that does not check out is damage,
    and an error: skipping it could turn a delivered entry pending again (sent twice)."""
    lines = text.split("\n")
    torn = lines.pop()  # "" when the file ends with a newline, as every whole line does
    marks: list[JSONDict] = []
    for number, line in enumerate(lines, 1):
        body, tab, crc = line.rpartition("\t")
        if not tab:  # a line of an earlier version: no checksum to check
            body = line
        mark = _parse_mark(body)
        if mark is None or (tab and crc != f"{zlib.crc32(body.encode('utf-8')):08x}"):
            raise DamagedJournal(
                f"line {number} is damaged (it does not match its checksum), so the delivery "
                "marks from there on cannot be trusted; nothing was changed. Run `watcher "
                "repair`: it keeps the marks before that line and holds every digest not "
                "known to be delivered as 'unknown' (nothing is resent on its own), for you "
                "to retry or confirm after a look at the destinations",
                where=str(where),
                good=marks,
            )
        marks.append(mark)
    del torn  # cut by a crash mid-write: ignored
    return marks


def _parse_mark(body: str) -> JSONDict | None:
    try:
        mark = json.loads(body)
    except ValueError:
        return None
    return mark if isinstance(mark, dict) else None


def _due(key: str, raw: JSONDict, where: Path) -> datetime:
    try:
        return aware(datetime.fromisoformat(raw["due"]))
    except (TypeError, ValueError) as e:
        raise StoreError(f"unreadable record {key!r}: due {raw['due']!r}", where=str(where)) from e


def _destination_key(raw: JSONDict) -> str:
    """The key of a stored destination, as Destination.key spells it."""
    return Destination(raw["kind"], tuple(raw.get("target") or ())).key


def _family(subscription: str, destination: JSONDict, period: str) -> Family:
    return subscription, _destination_key(destination), split_period(period)[0]


def _family_of(raw: JSONDict) -> Family:
    """The family of an open entry as stored."""
    return _family(raw["digest"]["subscription"], raw["destination"], raw["digest"]["period"])


def _record_family(record: JSONDict) -> Family:
    """The family of a delivered record."""
    return _family(record["subscription"], record["destination"], record["period"])


class OutboxMixin(PapersMixin):
    _open: JsonFile
    _summary: JsonFile
    _journal: Path
    _journal_pending: bool
    _repair_journal: bool  # watcher repair: a damaged journal holds instead of stopping
    _decoded: dict[str, OutboxEntry]  # open entries decoded this session, by key
    _families: dict[Family, list[str]] | None  # open keys by family, built on first use
    _delivered_files: dict[str, JsonFile]  # by period (without part)
    _delivered_families: dict[str, dict[Family, list[JSONDict]]]
    keep_delivered: timedelta

    # --- reading ----------------------------------------------------------------------

    def pending(self, now: datetime | None = None) -> list[OutboxEntry]:
        """Entries to (re)try: pending, and failed ones that a retry can fix. "unknown" ones,
        and permanent failures, wait for ``requeue`` (watcher retry).
        Given ``now``, only those due by then (a weekly digest waits for its slot)."""
        self._usable()
        due = [
            key
            for key, raw in self._open.table("outbox").items()
            if raw.get("status", "pending") in _OPEN
            and not (
                raw.get("status") == "failed"
                and (raw.get("last_error") or "").startswith(PERMANENT)
            )
            and (now is None or raw.get("due") is None or _due(key, raw, self._open.path) <= now)
        ]
        return [self._entry(key) for key in due]

    def entries(self) -> list[OutboxEntry]:
        """Every entry not yet delivered, with its papers, in the order they were queued."""
        self._usable()
        return [
            self._entry(key)
            for key, raw in list(self._open.table("outbox").items())
            if raw.get("status") != "delivered"  # not yet moved to its period's file
        ]

    def entry_views(self) -> list[EntryView]:
        """Every entry not yet delivered, without reading any paper's text (for status)."""
        self._usable()
        return [
            decode(partial(entry_view, key), raw, key, self._open.path)
            for key, raw in self._open.table("outbox").items()
            if raw.get("status") != "delivered"  # not yet moved: counted by the tallies
        ]

    def delivery_tallies(self) -> list[DestinationTally]:
        """Per destination, how many deliveries it accepted and the last receipt; includes
        deliveries marked since the last checkpoint."""
        self._usable()
        tallies: dict[str, tuple[int, Receipt | None]] = {}
        for key, raw in self._summary.items("destinations"):
            last = raw.get("last_receipt")
            receipt = (
                None if last is None else decode(receipt_from_dict, last, key, self._summary.path)
            )
            tallies[key] = (int(raw.get("delivered", 0)), receipt)
        for key, raw in self._open.table("outbox").items():
            if raw.get("status") == "delivered" and raw.get("receipt"):
                dest = _destination_key(raw["destination"])
                count, last = tallies.get(dest, (0, None))
                receipt = decode(receipt_from_dict, raw["receipt"], key, self._open.path)
                if last is None or aware(receipt.delivered_at) >= aware(last.delivered_at):
                    last = receipt
                tallies[dest] = (count + 1, last)
        return [DestinationTally(d, n, r) for d, (n, r) in tallies.items()]

    def delivery_log(self, period: str | None = None) -> list[DeliveredEntry]:
        """Delivered entries still kept (one period's, or all): their receipts and paper ids.
        Reads every kept period: for people and tests, never for a cycle."""
        self._usable()
        directory = self.data_dir / DELIVERED_DIR
        on_disk = {p.stem for p in directory.glob("*.json")} | set(self._delivered_files)
        bases = [split_period(period)[0]] if period else sorted(on_disk)
        found = []
        for base in bases:
            delivered = self._delivered_file(base)
            for key, raw in delivered.items("outbox"):
                found.append(decode(partial(delivered_from_dict, key), raw, key, delivered.path))
        for key, raw in self._open.table("outbox").items():  # delivered, not yet moved
            if raw.get("status") == "delivered" and (
                period is None or _family_of(raw)[2] == split_period(period)[0]
            ):
                found.append(delivered_from_dict(key, delivered_record(raw)))
        return found

    # --- queueing ---------------------------------------------------------------------

    def enqueue(
        self, destination: Destination, digest: Digest, due: datetime | None = None
    ) -> OutboxEntry | None:
        """Stage a digest for a destination without ever queueing a paper twice for it.

        Papers already in an entry of the same subscription, destination and period (any
        status, "unknown" and delivered included) are skipped. The rest join that period's
        pending or failed entry, or else start a follow-up entry with period ``<date>#<n>``.
        Returns the entry that was created or grown, or None if there was nothing new.
        """
        self._writable()
        base = split_period(digest.period)[0]
        family_key = (digest.subscription, destination.key, base)
        family = [self._entry(key) for key in self._family_index().get(family_key, [])]
        delivered = self._delivered_family(base).get(family_key, [])
        queued = {m.paper.id for entry in family for m in entry.digest.matches}
        queued.update(pid for record in delivered for pid in record["papers"])
        fresh: list[Match] = []
        for match in digest.matches:
            if match.paper.id not in queued:
                queued.add(match.paper.id)
                fresh.append(match)
        # An update is one version of a paper: the same paper may be updated again later.
        queued_versions = {m.paper.versioned_id for entry in family for m in entry.digest.updated}
        queued_versions.update(v for record in delivered for v in record.get("updated", []))
        fresh_updates: list[Match] = []
        for match in digest.updated:
            if match.paper.versioned_id not in queued_versions:
                queued_versions.add(match.paper.versioned_id)
                fresh_updates.append(match)
        if not fresh and not fresh_updates:
            return None
        # The topic counts of what is queued now, without the papers already queued.
        digest = keep_only(digest, fresh, fresh_updates)
        still_open = [entry for entry in family if entry.status in _OPEN]
        if still_open:
            target = still_open[-1]
            # The grown digest keeps one order (the newer digest's): a later cut (max
            # papers, the mail's budget, Slack's limits) keeps its first papers, never
            # those that merely came first.
            grown = replace(
                target.digest,
                matches=order_matches((*target.digest.matches, *digest.matches), digest.order),
                updated=target.digest.updated + digest.updated,
                omitted=target.digest.omitted + digest.omitted,
                topics=add_topic_counts(topics_of(target.digest), digest.topics),
                below_threshold=target.digest.below_threshold + digest.below_threshold,
                fallback=digest.fallback,
                order=digest.order,
                ranking_note=digest.ranking_note,
            )
            entry = replace(target, digest=grown)
        else:
            periods = [e.digest.period for e in family] + [r["period"] for r in delivered]
            part = max((split_period(p)[1] for p in periods), default=0) + 1
            period = base if part == 1 else f"{base}#{part}"
            entry = OutboxEntry(destination, replace(digest, period=period), due=due)
        self._put_entry(entry)
        return entry

    # --- marks ------------------------------------------------------------------------

    def mark_delivered(self, entry_key: str, receipt: Receipt, *, sync: bool = True) -> None:
        """Record a send the channel accepted. Durable before this returns, unless
        ``sync`` is False (a local digest: redone after a crash, same file)."""
        self._mark(
            entry_key,
            lambda e: replace(
                e,
                status="delivered",
                attempts=e.attempts + 1,
                last_error=None,
                receipt=receipt,
                resume=None,
            ),
            sync=sync,
        )

    def mark_failed(
        self, entry_key: str, error: str, *, permanent: bool = False, resume: str | None = None
    ) -> None:
        """Record a refused send; it is retried next cycle. Durable before this returns.

        A permanent failure (wrong token, unknown channel) is marked in ``last_error`` with a
        ``permanent:`` prefix so status can tell the user to fix something.
        """
        message = f"{PERMANENT}{error}" if permanent else error
        self._mark(
            entry_key,
            lambda e: replace(
                e,
                status="failed",
                attempts=e.attempts + 1,
                last_error=message,
                resume=resume or e.resume,
            ),
        )

    def mark_unknown(self, entry_key: str, error: str, resume: str | None = None) -> None:
        """Record a send that may or may not have arrived; it is not retried on its own."""
        self._mark(
            entry_key,
            lambda e: replace(
                e,
                status="unknown",
                attempts=e.attempts + 1,
                last_error=error,
                resume=resume or e.resume,
            ),
        )

    def mark_sending(self, entry_key: str) -> None:
        """Record, just before a send starts, that it may arrive. Durable before this returns.

        The entry reads "unknown" until mark_delivered/mark_failed/mark_unknown replaces it: if
        the process dies between the destination accepting the send and ``mark_delivered``,
        the rerun finds it "unknown" and does not resend it on its own (``requeue`` does).
        """
        self._mark(entry_key, lambda e: replace(e, status="unknown", last_error=INTERRUPTED))

    def mark_progress(self, entry_key: str, resume: str) -> None:
        """Record that a digest of several messages got as far as ``resume`` (a ResumePoint
        token), before the next message goes out. Durable before this returns. The entry
        stays "unknown" (the next message may arrive), now knowing which message is in doubt.
        """
        self._mark(
            entry_key,
            lambda e: replace(e, status="unknown", last_error=INTERRUPTED, resume=resume),
        )

    def confirm(self, entry_key: str, receipt: Receipt, summary_ts: str | None = None) -> bool:
        """The message in doubt arrived (the user looked): a digest whose other messages are
        all out is delivered (True); one with more to send is pending again from the message
        after it (False). ``summary_ts``: a Slack thread's summary arrived as that message
        (the crash came before its ts was recorded); the rest of the thread follows it."""
        entry = self._entry(entry_key)
        point = ResumePoint.parse(entry.resume)
        if summary_ts is not None and point is None:
            channel = entry.destination.target[0] if entry.destination.target else ""
            after_summary = ResumePoint(channel, summary_ts.strip(), 1).token()
            self._mark(entry_key, lambda e: replace(e, status="pending", resume=after_summary))
            return False
        if point is None or point.total is None or point.next + 1 >= point.total:
            if point is not None and point.ts:
                receipt = replace(receipt, reference=point.ts)  # the thread's first message
            self.mark_delivered(entry_key, receipt)
            return True
        advanced = replace(point, next=point.next + 1).token()
        self._mark(entry_key, lambda e: replace(e, status="pending", resume=advanced))
        return False

    def requeue(self, entry_key: str) -> None:
        """Make an undelivered entry ("unknown" or failed) pending again, at the user's word."""
        self._mark(
            entry_key, lambda e: e if e.status == "delivered" else replace(e, status="pending")
        )

    def drop(self, entry_key: str) -> None:
        """Forget an undelivered outbox entry (the user gave up on it). Durable at once."""
        self._writable()
        if entry_key not in self._open.table("outbox"):
            raise StoreError(f"no outbox entry {entry_key!r}", where=str(self._open.path))
        self._forget([entry_key])
        self._open.flush()
        self._truncate_journal()

    def _mark(
        self, entry_key: str, change: Callable[[OutboxEntry], OutboxEntry], *, sync: bool = True
    ) -> None:
        """Apply a delivery mark and make it durable before returning.

        A send already happened, so this cannot wait for commit(). Rewriting open.json per
        send would cost the size of the whole outbox each time; instead the mark is appended
        to a small journal (fsynced), replayed on open and folded in by the next checkpoint.
        If this session has staged outbox changes, open.json is written instead, so those
        entries are on disk before any mark that refers to them.
        """
        self._writable()
        raw = self._open.get("outbox", entry_key)
        if raw is None:
            raise StoreError(f"no outbox entry {entry_key!r}", where=str(self._open.path))
        marked = change(self._entry(entry_key))
        self._decoded[entry_key] = marked
        fields = _mark_fields(marked)
        staged = self._open.storage.dirty
        self._open.put("outbox", {entry_key: {**raw, **fields}})
        if staged:
            self._open.flush()
            self._truncate_journal()
            return
        self._open.storage.dirty = False  # in the journal; open.json catches up later
        self._journal_pending = True
        line = journal_line({"key": entry_key, **fields})
        try:
            with open(self._journal, "a", encoding="utf-8") as journal:
                journal.write(line)
                journal.flush()
                if sync:
                    os.fsync(journal.fileno())
        except OSError as e:
            raise StoreError(f"cannot write: {e.strerror or e}", where=str(self._journal)) from e

    # --- writing ----------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Fold the journaled marks in: delivered entries move to their period's file, the
        rest of open.json is written once (one write for a batch of sends)."""
        self._writable()
        moved = self._move_delivered()
        if self._journal_pending or moved:
            self._open.storage.dirty = True
            self._open.flush()
            self._truncate_journal()

    def _move_delivered(self) -> bool:
        """Write delivered entries to their periods' files and the summary, and take them
        out of open.json (in memory: the caller writes it after). A crash between the two
        writes leaves an entry in both, and the next move writes the same record again."""
        done = [
            key
            for key, raw in self._open.table("outbox").items()
            if raw.get("status") == "delivered"
        ]
        if not done:
            return False
        by_base: dict[str, dict[str, JSONDict]] = {}
        table = self._open.table("outbox")
        for key in done:  # from the stored entries: moving a receipt reads no paper's text
            record = decode(delivered_record, table[key], key, self._open.path)
            by_base.setdefault(split_period(record["period"])[0], {})[key] = record
        counts: dict[str, int] = {}
        last: dict[str, JSONDict] = {}
        for base, records in sorted(by_base.items()):
            delivered = self._delivered_file(base)
            kept = delivered.table("outbox")
            for key, record in records.items():
                if key not in kept:
                    dest = _destination_key(record["destination"])
                    counts[dest] = counts.get(dest, 0) + 1
                    if (
                        dest not in last
                        or record["receipt"]["delivered_at"] >= last[dest]["delivered_at"]
                    ):
                        last[dest] = record["receipt"]
                self._add_delivered_family(base, key, record)
            delivered.put("outbox", records)
            delivered.flush()
        if counts:
            changed = {}
            for dest, n in counts.items():
                before = self._summary.get("destinations", dest) or {}
                changed[dest] = {
                    "delivered": int(before.get("delivered", 0)) + n,
                    "last_receipt": last[dest],
                }
            self._summary.put("destinations", changed)
            self._summary.flush()
        self._forget(done)
        return True

    def _forget(self, keys: list[str]) -> None:
        """Take open entries out of open.json (in memory), the cache and the family index."""
        table = self._open.table("outbox")
        for key in keys:
            family = self._families.get(_family_of(table[key])) if self._families else None
            if family is not None and key in family:
                family.remove(key)
            self._decoded.pop(key, None)
        self._open.remove("outbox", keys)

    def _prune_delivered(self, now: datetime) -> None:
        """Forget delivered entries of periods older than ``keep_delivered`` (whole files)."""
        cutoff = (aware(now) - self.keep_delivered).date().isoformat()
        for path in sorted((self.data_dir / DELIVERED_DIR).glob("*.json")):
            if path.stem >= cutoff:
                break
            path.unlink()
            self._delivered_files.pop(path.stem, None)
            self._delivered_families.pop(path.stem, None)

    def _inline_text_before(self, cutoff_day: str) -> None:
        """Copy into open entries the text of papers they refer to on days up to
        ``cutoff_day``, and write open.json, before the archive lets go of those days."""
        changed: dict[str, JSONDict] = {}
        for key, raw in self._open.table("outbox").items():
            refs = raw["digest"]["matches"]
            if not any((day := ref_day(ref)) is not None and day <= cutoff_day for ref in refs):
                continue
            inlined = []
            for ref in refs:
                day = ref_day(ref)
                if day is not None and day <= cutoff_day:
                    paper = self.archived_text(day, ref["id"])
                    ref = {k: v for k, v in ref.items() if k != "day"}
                    ref["paper"] = paper_to_dict(paper)
                inlined.append(ref)
            changed[key] = {**raw, "digest": {**raw["digest"], "matches": inlined}}
        if changed:
            self._open.put("outbox", changed)
            self._open.flush()
            self._truncate_journal()

    def _truncate_journal(self) -> None:
        if self._journal.exists():
            with open(self._journal, "w", encoding="utf-8") as journal:
                os.fsync(journal.fileno())
        self._journal_pending = False

    def _replay_journal(self) -> None:
        """Fold marks written since open.json was last written back in (in memory)."""
        try:
            text = self._journal.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as e:
            raise StoreError(f"cannot read: {e.strerror or e}", where=str(self._journal)) from e
        table = self._open.table("outbox")
        changed: dict[str, JSONDict] = {}
        try:
            marks = read_journal(text, self._journal)
        except DamagedJournal as damage:
            if not self._repair_journal:
                raise
            marks = damage.good
            # What the lost marks said is unknown: every entry not known delivered or
            # unknown may have been sent since. Hold them all for the user to look.
            for key, raw in table.items():
                if raw.get("status", "pending") in _OPEN:
                    changed[key] = {**raw, "status": "unknown", "last_error": REPAIRED}
        for mark in marks:
            key = str(mark.pop("key", ""))
            raw = changed.get(key) or table.get(key)
            if raw is not None:  # else: already moved to its period's file
                changed[key] = {**raw, **mark}
        if changed:
            self._open.put("outbox", changed)
            self._journal_pending = True
        self._open.storage.dirty = False

    # --- helpers ----------------------------------------------------------------------

    def _entry(self, key: str) -> OutboxEntry:
        entry = self._decoded.get(key)
        if entry is None:
            raw = self._open.table("outbox")[key]
            entry = decode(
                lambda r: open_entry_from_dict(r, self.archived_text), raw, key, self._open.path
            )
            self._decoded[key] = entry
        return entry

    def _put_entry(self, entry: OutboxEntry) -> None:
        self._open.put("outbox", {entry.key: open_entry_to_dict(entry, self._ref_day)})
        self._decoded[entry.key] = entry
        family = self._family_index().setdefault(
            (
                entry.digest.subscription,
                entry.destination.key,
                split_period(entry.digest.period)[0],
            ),
            [],
        )
        if entry.key not in family:
            family.append(entry.key)

    def _ref_day(self, match: Match) -> str | None:
        return self.archive_day(match.paper)

    def _family_index(self) -> dict[Family, list[str]]:
        if self._families is None:
            self._families = {}
            for key, raw in self._open.table("outbox").items():
                self._families.setdefault(_family_of(raw), []).append(key)
        return self._families

    def _delivered_file(self, base: str) -> JsonFile:
        if base not in self._delivered_files:
            path = self.data_dir / DELIVERED_DIR / f"{base}.json"
            self._delivered_files[base] = JsonFile(path, read_only=self.read_only)
        return self._delivered_files[base]

    def _delivered_family(self, base: str) -> dict[Family, list[JSONDict]]:
        families = self._delivered_families.get(base)
        if families is None:
            families = {}
            for _, record in self._delivered_file(base).items("outbox"):
                families.setdefault(_record_family(record), []).append(record)
            self._delivered_families[base] = families
        return families

    def _add_delivered_family(self, base: str, key: str, record: JSONDict) -> None:
        if base in self._delivered_families:
            self._delivered_families[base].setdefault(_record_family(record), []).append(record)
