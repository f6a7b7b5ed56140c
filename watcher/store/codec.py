"""Models to and from plain JSON values, for the store.

Datetimes become ISO 8601 strings (with their offset when they have one), tuples become lists,
and ``x_from_dict(x_to_dict(x)) == x`` for every value. Readers take what older records may
lack from the dataclass defaults, and raise KeyError/TypeError/ValueError on anything else that
is wrong; the store turns those into a StoreError naming the file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast, get_args

from watcher.models import (
    AnnounceType,
    DeliveryStatus,
    Destination,
    Digest,
    Match,
    OutboxEntry,
    Paper,
    Receipt,
    TopicHit,
)

JSONDict = dict[str, Any]

_ANNOUNCE_TYPES: frozenset[str] = frozenset(get_args(AnnounceType))
_STATUSES: frozenset[str] = frozenset(get_args(DeliveryStatus))


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


def match_to_dict(match: Match) -> JSONDict:
    return {
        "paper": paper_to_dict(match.paper),
        "subscription": match.subscription,
        "hits": [hit_to_dict(h) for h in match.hits],
        "score": match.score,
    }


def match_from_dict(data: JSONDict) -> Match:
    return Match(
        paper=paper_from_dict(data["paper"]),
        subscription=_str(data["subscription"]),
        hits=tuple(hit_from_dict(h) for h in data["hits"]),
        score=float(data.get("score", 0.0)),
    )


def digest_to_dict(digest: Digest) -> JSONDict:
    return {
        "subscription": digest.subscription,
        "period": digest.period,
        "matches": [match_to_dict(m) for m in digest.matches],
        "updated": [match_to_dict(m) for m in digest.updated],
        "omitted": digest.omitted,
    }


def digest_from_dict(data: JSONDict) -> Digest:
    return Digest(
        subscription=_str(data["subscription"]),
        period=_str(data["period"]),
        matches=tuple(match_from_dict(m) for m in data["matches"]),
        updated=tuple(match_from_dict(m) for m in data.get("updated", [])),
        omitted=_int(data.get("omitted", 0)),
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
