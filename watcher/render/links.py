"""Feedback links of an email digest: HMAC-signed tokens and the URLs built from them (pure).

A token says who may vote what, until when: subscription, paper id, vote, recipient and
expiry, signed with HMAC-SHA256 under the data directory's key (``WATCHER_SECRET_KEY``, or
the one generated into the data directory). The standard library's ``hmac`` is the kept
primitive for this; a token of five short fields needs no framework. Nothing here reads a
clock or a key file: ``now`` and the key are passed in.

The token is ``<payload>.<signature>``, both base64url without padding; the payload is a
JSON array. A verifier learns exactly what went wrong (not a token, a signature that does
not match: forged or altered, expired), and says it in words, never quoting the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import quote

VoteName = Literal["like", "dislike"]
VOTES: tuple[VoteName, ...] = ("like", "dislike")
# Long enough for a digest read after a holiday; short enough that an old forwarded mail
# stops voting.
LINK_LIFETIME = timedelta(days=60)
# Domain separation: the key signs nothing else, but a future second use must not accept
# these tokens.
_CONTEXT = b"arxiv-watcher feedback link v1\x00"
_MAX_TOKEN = 2000  # a real one is ~200 characters; anything longer is refused unread
LINK_PATH = "/feedback/"


@dataclass(frozen=True, slots=True)
class LinkVote:
    """What a link asks for: ``vote`` on ``paper_id`` in ``subscription``, for ``recipient``
    (the address list the mail went to), valid until ``expires``."""

    subscription: str
    paper_id: str
    vote: VoteName
    recipient: str
    expires: datetime


class BadToken(ValueError):
    """A link that must not vote. ``reason`` is what the page says: ``malformed``, ``forged``
    (the signature does not match: made up, or altered after it was sent) or ``expired``."""

    def __init__(self, reason: Literal["malformed", "forged", "expired"], detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, _CONTEXT + payload.encode("ascii"), hashlib.sha256).digest())


def sign(key: bytes, vote: LinkVote) -> str:
    """The token for ``vote``."""
    fields = [
        vote.subscription,
        vote.paper_id,
        vote.vote,
        vote.recipient,
        int(vote.expires.timestamp()),
    ]
    payload = _b64(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{payload}.{_signature(key, payload)}"


def verify(key: bytes, token: str, now: datetime) -> LinkVote:
    """The vote ``token`` carries; BadToken when it is not one of ours, was altered, or
    expired before ``now``. The signature is checked before anything in it is believed."""
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature or len(token) > _MAX_TOKEN or not token.isascii():
        raise BadToken("malformed", "this is not a feedback link of arxiv-watcher")
    if not hmac.compare_digest(_signature(key, payload), signature):
        raise BadToken(
            "forged",
            "the link's signature does not match: it was altered or not made by this watcher",
        )
    try:
        fields = json.loads(_unb64(payload).decode("utf-8"))
        subscription, paper_id, vote, recipient, expires = fields
        when = datetime.fromtimestamp(int(expires), UTC)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise BadToken("malformed", "the link's content cannot be read") from None
    if vote not in VOTES or not all(isinstance(f, str) for f in (subscription, paper_id)):
        raise BadToken("malformed", "the link's content cannot be read")
    if when <= now:
        raise BadToken("expired", f"the link expired on {when.date().isoformat()}")
    return LinkVote(str(subscription), str(paper_id), vote, str(recipient), when)


# For one paper: the "More like this" and "Less like this" URLs (a renderer's view).
PaperLinks = Callable[[str], tuple[str, str]]


def link_maker(
    key: bytes, public_url: str, subscription: str, recipient: str, now: datetime
) -> PaperLinks:
    """A function giving a paper id's two feedback URLs under ``public_url``, expiring
    ``LINK_LIFETIME`` after ``now`` (the mail's date)."""
    base = public_url.rstrip("/") + LINK_PATH
    expires = now + LINK_LIFETIME

    def links(paper_id: str) -> tuple[str, str]:
        more, less = (
            sign(key, LinkVote(subscription, paper_id, vote, recipient, expires)) for vote in VOTES
        )
        return base + quote(more, safe=".-_"), base + quote(less, safe=".-_")

    return links
