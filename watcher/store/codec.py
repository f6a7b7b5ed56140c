"""Models to and from plain JSON values, for the store.

Datetimes become ISO 8601 strings (with their offset when they have one), tuples become lists,
and ``x_from_dict(x_to_dict(x)) == x`` for every value. Readers take what older records may
lack from the dataclass defaults, and raise KeyError/TypeError/ValueError on anything else that
is wrong; the store turns those into a StoreError naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, cast, get_args

from watcher.models import (
    AnnounceType,
    DeliveredEntry,
    DeliveryStatus,
    Destination,
    Digest,
    DigestOrder,
    EntryView,
    FeedState,
    FeedStatus,
    Match,
    OutboxEntry,
    Paper,
    PaperRecord,
    Receipt,
    Relevance,
    TopicCount,
    TopicHit,
    versioned,
)

JSONDict = dict[str, Any]

_ANNOUNCE_TYPES: frozenset[str] = frozenset(get_args(AnnounceType))
_STATUSES: frozenset[str] = frozenset(get_args(DeliveryStatus))
_FEED_STATUSES: frozenset[str] = frozenset(get_args(FeedStatus))
# Where an outbox entry finds the text of a paper it refers to: (text day, paper id) -> Paper.
TextLookup = Callable[[str, str], Paper]


def _time_out(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_in(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO datetime string, got {value!r}")
    return datetime.fromisoformat(value)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return tuple(_str(v) for v in value)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def paper_to_dict(paper: Paper) -> JSONDict:
    return {
        "id": paper.id,
        "version": paper.version,
        "title": paper.title,
        "authors": list(paper.authors),
        "abstract": paper.abstract,
        "categories": list(paper.categories),
        "announce_type": paper.announce_type,
        "published": _time_out(paper.published),
        "updated": _time_out(paper.updated),
        "comment": paper.comment,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "link": paper.link,
    }


def paper_from_dict(data: JSONDict) -> Paper:
    version = data.get("version")
    announce = data.get("announce_type")
    if announce is not None and announce not in _ANNOUNCE_TYPES:
        raise ValueError(f"unknown announce_type {announce!r}")
    return Paper(
        id=_str(data["id"]),
        version=None if version is None else _int(version),
        title=_str(data["title"]),
        authors=_strs(data["authors"]),
        abstract=_str(data["abstract"]),
        categories=_strs(data.get("categories", [])),
        announce_type=cast(AnnounceType | None, announce),
        published=_time_in(data.get("published")),
        updated=_time_in(data.get("updated")),
        comment=_opt_str(data.get("comment")),
        journal_ref=_opt_str(data.get("journal_ref")),
        doi=_opt_str(data.get("doi")),
        link=_opt_str(data.get("link")),
    )


def hit_to_dict(hit: TopicHit) -> JSONDict:
    return {"topic": hit.topic, "terms": list(hit.terms)}


def hit_from_dict(data: JSONDict) -> TopicHit:
    return TopicHit(topic=_str(data["topic"]), terms=_strs(data["terms"]))


def relevance_to_dict(relevance: Relevance | None) -> JSONDict | None:
    if relevance is None:
        return None
    return {"value": relevance.value, "terms": list(relevance.terms)}


def relevance_from_dict(data: object) -> Relevance | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise TypeError(f"expected a relevance object, got {data!r}")
    value = data["value"]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return Relevance(float(value), _strs(data.get("terms", [])))


def _ranking_out(digest: Digest) -> JSONDict:
    # Written only when set, so entries of digests without ranking look as they always did.
    out: JSONDict = {}
    if digest.below_threshold:
        out["below_threshold"] = digest.below_threshold
    if digest.fallback is not None:
        out["fallback"] = digest.fallback
    if digest.order != "newest":
        out["order"] = digest.order
    if digest.ranking_note is not None:
        out["ranking_note"] = digest.ranking_note
    return out


def _order(data: JSONDict) -> DigestOrder:
    value = data.get("order", "newest")
    if value not in get_args(DigestOrder):
        raise TypeError(f"expected a digest order, got {value!r}")
    return cast(DigestOrder, value)


def match_to_dict(match: Match) -> JSONDict:
    out = {
        "paper": paper_to_dict(match.paper),
        "subscription": match.subscription,
        "hits": [hit_to_dict(h) for h in match.hits],
        "score": match.score,
    }
    if match.relevance is not None:
        out["relevance"] = relevance_to_dict(match.relevance)
    return out


def match_from_dict(data: JSONDict) -> Match:
    return Match(
        paper=paper_from_dict(data["paper"]),
        subscription=_str(data["subscription"]),
        hits=tuple(hit_from_dict(h) for h in data["hits"]),
        score=float(data.get("score", 0.0)),
        relevance=relevance_from_dict(data.get("relevance")),
    )


def digest_to_dict(digest: Digest) -> JSONDict:
    return {
        "subscription": digest.subscription,
        "period": digest.period,
        "matches": [match_to_dict(m) for m in digest.matches],
        "updated": [match_to_dict(m) for m in digest.updated],
        "omitted": digest.omitted,
        "topics": topics_to_list(digest.topics),
        **_ranking_out(digest),
    }


def topics_to_list(topics: Sequence[TopicCount]) -> list[list[object]]:
    return [[count.topic, count.papers] for count in topics]


def topics_from_list(raw: object) -> tuple[TopicCount, ...]:
    """A digest's topic counts; () when absent (written before they were kept)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TypeError(f"topics: expected a list, got {type(raw).__name__}")
    counts = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2):
            raise TypeError(f"topics: expected [name, count], got {item!r}")
        counts.append(TopicCount(_str(item[0]), _int(item[1])))
    return tuple(counts)


def digest_from_dict(data: JSONDict) -> Digest:
    return Digest(
        subscription=_str(data["subscription"]),
        period=_str(data["period"]),
        matches=tuple(match_from_dict(m) for m in data["matches"]),
        updated=tuple(match_from_dict(m) for m in data.get("updated", [])),
        omitted=_int(data.get("omitted", 0)),
        topics=topics_from_list(data.get("topics")),
        below_threshold=_int(data.get("below_threshold", 0)),
        fallback=_opt_str(data.get("fallback")),
        order=_order(data),
        ranking_note=_opt_str(data.get("ranking_note")),
    )


def destination_to_dict(destination: Destination) -> JSONDict:
    return {
        "kind": destination.kind,
        "target": list(destination.target),
        "options": [[k, v] for k, v in destination.options],
    }


def destination_from_dict(data: JSONDict) -> Destination:
    options = []
    for pair in data.get("options", []):
        key, value = _strs(pair)
        options.append((key, value))
    return Destination(
        kind=_str(data["kind"]),
        target=_strs(data.get("target", [])),
        options=tuple(options),
    )


def receipt_to_dict(receipt: Receipt) -> JSONDict:
    return {
        "destination": receipt.destination,
        "reference": receipt.reference,
        "delivered_at": receipt.delivered_at.isoformat(),
    }


def receipt_from_dict(data: JSONDict) -> Receipt:
    delivered_at = _time_in(data["delivered_at"])
    if delivered_at is None:
        raise ValueError("a receipt needs delivered_at")
    return Receipt(
        destination=_str(data["destination"]),
        reference=_str(data["reference"]),
        delivered_at=delivered_at,
    )


def entry_to_dict(entry: OutboxEntry) -> JSONDict:
    return {
        "destination": destination_to_dict(entry.destination),
        "digest": digest_to_dict(entry.digest),
        "status": entry.status,
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "receipt": None if entry.receipt is None else receipt_to_dict(entry.receipt),
        "due": None if entry.due is None else entry.due.isoformat(),
        "resume": entry.resume,
    }


def entry_from_dict(data: JSONDict) -> OutboxEntry:
    status = data.get("status", "pending")
    if status not in _STATUSES:
        raise ValueError(f"unknown delivery status {status!r}")
    receipt = data.get("receipt")
    return OutboxEntry(
        destination=destination_from_dict(data["destination"]),
        digest=digest_from_dict(data["digest"]),
        status=cast(DeliveryStatus, status),
        attempts=_int(data.get("attempts", 0)),
        last_error=_opt_str(data.get("last_error")),
        receipt=None if receipt is None else receipt_from_dict(receipt),
        due=_time_in(data.get("due")),
        resume=_opt_str(data.get("resume")),
    )


# --- outbox entries refer to papers --------------------------------------------------------
# An undelivered entry keeps each match as a reference: the paper's id and version, the day
# file of the archive holding its text, and the hits. A paper whose text is not (or no
# longer) in the archive as matched, an update or a late paper, travels inline instead.


def match_to_ref(match: Match, day: str | None) -> JSONDict:
    ref: JSONDict = {"id": match.paper.id, "version": match.paper.version}
    if day is None:
        ref["paper"] = paper_to_dict(match.paper)
    else:
        ref["day"] = day
    ref["hits"] = [hit_to_dict(h) for h in match.hits]
    ref["score"] = match.score
    if match.relevance is not None:
        ref["relevance"] = relevance_to_dict(match.relevance)
    return ref


def match_from_ref(data: JSONDict, subscription: str, text: TextLookup) -> Match:
    inline = data.get("paper")
    if inline is not None:
        paper = paper_from_dict(inline)
    else:
        paper = text(_str(data["day"]), _str(data["id"]))
    return Match(
        paper=paper,
        subscription=subscription,
        hits=tuple(hit_from_dict(h) for h in data["hits"]),
        score=float(data.get("score", 0.0)),
        relevance=relevance_from_dict(data.get("relevance")),
    )


def ref_day(data: JSONDict) -> str | None:
    """The archive day a reference reads its text from; None when the paper is inline."""
    day = data.get("day")
    return day if isinstance(day, str) and data.get("paper") is None else None


def open_entry_to_dict(entry: OutboxEntry, day_of: Callable[[Match], str | None]) -> JSONDict:
    digest = entry.digest
    return {
        "destination": destination_to_dict(entry.destination),
        "digest": {
            "subscription": digest.subscription,
            "period": digest.period,
            "matches": [match_to_ref(m, day_of(m)) for m in digest.matches],
            "updated": [match_to_ref(m, None) for m in digest.updated],
            "omitted": digest.omitted,
            "topics": topics_to_list(digest.topics),
            **_ranking_out(digest),
        },
        "status": entry.status,
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "receipt": None if entry.receipt is None else receipt_to_dict(entry.receipt),
        "due": None if entry.due is None else entry.due.isoformat(),
        "resume": entry.resume,
    }


def open_entry_from_dict(data: JSONDict, text: TextLookup) -> OutboxEntry:
    raw = data["digest"]
    subscription = _str(raw["subscription"])
    digest = Digest(
        subscription=subscription,
        period=_str(raw["period"]),
        matches=tuple(match_from_ref(m, subscription, text) for m in raw["matches"]),
        updated=tuple(match_from_ref(m, subscription, text) for m in raw.get("updated", [])),
        omitted=_int(raw.get("omitted", 0)),
        topics=topics_from_list(raw.get("topics")),
        below_threshold=_int(raw.get("below_threshold", 0)),
        fallback=_opt_str(raw.get("fallback")),
        order=_order(raw),
        ranking_note=_opt_str(raw.get("ranking_note")),
    )
    return OutboxEntry(
        destination=destination_from_dict(data["destination"]),
        digest=digest,
        status=_status(data),
        attempts=_int(data.get("attempts", 0)),
        last_error=_opt_str(data.get("last_error")),
        receipt=None if data.get("receipt") is None else receipt_from_dict(data["receipt"]),
        due=_time_in(data.get("due")),
        resume=_opt_str(data.get("resume")),
    )


def entry_view(key: str, data: JSONDict) -> EntryView:
    """An entry's status without decoding its papers (for watcher status)."""
    raw = data["digest"]
    return EntryView(
        key=key,
        destination=destination_from_dict(data["destination"]),
        subscription=_str(raw["subscription"]),
        period=_str(raw["period"]),
        # Matched, as every line a person reads counts them (watcher.digest.digest_counts).
        papers=len(raw["matches"]) + _int(raw.get("omitted", 0)),
        updated=len(raw.get("updated", [])),
        status=_status(data),
        attempts=_int(data.get("attempts", 0)),
        last_error=_opt_str(data.get("last_error")),
        due=_time_in(data.get("due")),
        resume=_opt_str(data.get("resume")),
    )


def _status(data: JSONDict) -> DeliveryStatus:
    status = data.get("status", "pending")
    if status not in _STATUSES:
        raise ValueError(f"unknown delivery status {status!r}")
    return cast(DeliveryStatus, status)


def delivered_to_dict(entry: DeliveredEntry) -> JSONDict:
    return {
        "destination": destination_to_dict(entry.destination),
        "subscription": entry.subscription,
        "period": entry.period,
        "papers": list(entry.paper_ids),
        "updated": list(entry.update_ids),
        "omitted": entry.omitted,
        "attempts": entry.attempts,
        "receipt": receipt_to_dict(entry.receipt),
        "due": None if entry.due is None else entry.due.isoformat(),
    }


def delivered_from_dict(key: str, data: JSONDict) -> DeliveredEntry:
    return DeliveredEntry(
        key=key,
        destination=destination_from_dict(data["destination"]),
        subscription=_str(data["subscription"]),
        period=_str(data["period"]),
        paper_ids=_strs(data["papers"]),
        update_ids=_strs(data.get("updated", [])),
        receipt=receipt_from_dict(data["receipt"]),
        omitted=_int(data.get("omitted", 0)),
        attempts=_int(data.get("attempts", 1)),
        due=_time_in(data.get("due")),
    )


def delivered_record(data: JSONDict) -> JSONDict:
    """What is kept of an open entry (as stored) once its destination accepted it: the
    receipt and the ids, taken from its references without reading any paper's text."""
    raw = data["digest"]
    if data.get("receipt") is None:
        raise ValueError("a delivered entry needs its receipt")
    return {
        "destination": data["destination"],
        "subscription": _str(raw["subscription"]),
        "period": _str(raw["period"]),
        "papers": [_str(m["id"]) for m in raw["matches"]],
        "updated": [versioned(_str(m["id"]), m.get("version")) for m in raw.get("updated", [])],
        "omitted": _int(raw.get("omitted", 0)),
        "attempts": _int(data.get("attempts", 1)),
        "receipt": data["receipt"],
        "due": data.get("due"),
    }


def delivered_of(entry: OutboxEntry) -> DeliveredEntry:
    """What is kept of an entry once its destination accepted it."""
    if entry.receipt is None:
        raise ValueError(f"{entry.key}: a delivered entry needs its receipt")
    return DeliveredEntry(
        key=entry.key,
        destination=entry.destination,
        subscription=entry.digest.subscription,
        period=entry.digest.period,
        paper_ids=tuple(m.paper.id for m in entry.digest.matches),
        update_ids=tuple(m.paper.versioned_id for m in entry.digest.updated),
        receipt=entry.receipt,
        omitted=entry.digest.omitted,
        attempts=entry.attempts,
        due=entry.due,
    )


# --- feed state and paper identity -------------------------------------------------------


def _date_out(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _date_in(value: object) -> date | None:
    if value is None:
        return None
    return date.fromisoformat(_str(value))


def feed_state_to_dict(state: FeedState) -> JSONDict:
    return {
        "etag": state.etag,
        "last_status": state.last_status,
        "last_error": state.last_error,
        "fingerprint": state.fingerprint,
        "announced": _date_out(state.announced),
        "covered": _date_out(state.covered),
        "stale_date": _date_out(state.stale_date),
        "stale_count": state.stale_count,
    }


def feed_state_from_dict(data: JSONDict) -> FeedState:
    status = data.get("last_status")
    if status is not None and status not in _FEED_STATUSES:
        raise ValueError(f"unknown feed status {status!r}")
    return FeedState(
        etag=_opt_str(data.get("etag")),
        last_status=cast(FeedStatus | None, status),
        last_error=_opt_str(data.get("last_error")),
        fingerprint=_opt_str(data.get("fingerprint")),
        announced=_date_in(data.get("announced")),
        covered=_date_in(data.get("covered")),
        stale_date=_date_in(data.get("stale_date")),
        stale_count=_int(data.get("stale_count", 0)),
    )


def record_from_dict(data: JSONDict, first_seen: datetime) -> PaperRecord:
    """``first_seen``: the caller's reading of the record's time (unreadable ones count as
    very old, see watcher.store.papers)."""
    version = data.get("version")
    return PaperRecord(
        id=_str(data["id"]),
        version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        first_seen=first_seen,
        matched_by=frozenset(_strs(data.get("matched_by", []))),
        read_from=frozenset(_strs(data.get("read_from", []))),
        read_by=frozenset(_strs(data.get("read_by", []))),
    )
