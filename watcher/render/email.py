"""Composing the mail (pure): a Digest becomes one multipart/alternative message within a
size budget. No I/O, no clock: the caller passes the Date (``now``) and the Message-ID.

Every string from a feed is untrusted: the Subject and List-Id are cleaned of CR/LF and
control characters before they reach a header, and the HTML comes from the autoescaping
renderer. Every field of a paper is
capped in length where all formats share it (``render.formats.shown_paper``), so the budget
below cuts only for real volume, never because of one absurd title.

A digest too big for one readable mail (Gmail clips bodies past ~102 KB) keeps as many full
papers as fit under the size budget and lists the rest by title and link only (the
renderer's ``Cut``: the templates lay the list out in the same column, with its topics).
The "Updated" section (replaced papers, a few lines each) counts against the same budget:
it stays whole while any paper is shown in full, and is cut before the titles of new
papers are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from typing import Protocol

from watcher.models import Digest, Message
from watcher.render.formats import Cut, one_line, render
from watcher.render.formats import subject as digest_subject
from watcher.render.links import PaperLinks

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Composed",
    "Renderer",
    "build_message",
    "header_text",
    "list_id",
]

# Gmail clips a message body past ~102 KB ("[Message clipped]"); stay safely below it.
DEFAULT_MAX_BYTES = 100_000


class Renderer(Protocol):
    """Renders a digest, or the part of it a ``Cut`` keeps (``watcher.render.render``);
    ``links`` gives each paper its feedback URLs."""

    def __call__(
        self, digest: Digest, *, cut: Cut = ..., links: PaperLinks | None = None
    ) -> Message: ...


_LIST_LABEL = re.compile(r"[^a-z0-9-]+")


def header_text(value: str) -> str:
    """One header-safe line: no CR/LF, control, format or private-use characters."""
    value = one_line(value)
    return "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))


def list_id(subscription: str) -> str:
    """``<name.arxiv-watcher>`` with ``name`` reduced to a DNS-like label (RFC 2919)."""
    label = _LIST_LABEL.sub("-", subscription.lower()).strip("-")[:63].strip("-")
    return f"<{label or 'digest'}.arxiv-watcher>"


@dataclass(frozen=True, slots=True)
class Composed:
    """A finished mail: what it is, and how much of the digest it shows in full."""

    message: EmailMessage
    data: bytes  # CRLF line endings, ready for DATA
    message_id: str
    shown: int  # papers shown in full; the rest are listed by title


def _assemble(body: Message, subject: str, headers: dict[str, str]) -> EmailMessage:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(body.text, subtype="plain", charset="utf-8")
    msg.add_alternative(body.html, subtype="html", charset="utf-8")
    return msg


def build_message(
    digest: Digest,
    *,
    mail_from: str,
    to: Sequence[str],
    now: datetime,
    message_id: str,
    renderer: Renderer = render,
    max_bytes: int = DEFAULT_MAX_BYTES,
    links: PaperLinks | None = None,
) -> Composed:
    """Compose the mail for ``digest`` within ``max_bytes`` (the whole message, headers too).

    When the full digest does not fit, the first papers (digest order) are shown in full and
    the rest listed by title and link; if that does not fit even with no paper in full, as
    many updated papers as fit beside every title; failing that, as many titles as fit.
    A result still over ``max_bytes`` fits not even without papers; the caller says so.
    ``links``: each paper shown in full carries its signed feedback links.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    subject = header_text(digest_subject(digest)) or "arXiv digest"
    headers = {
        "From": mail_from,
        "To": ", ".join(to),
        "Date": formatdate(now.timestamp(), usegmt=True),
        "Message-ID": message_id,
        "List-Id": list_id(digest.subscription),
        # RFC 3834: no vacation auto-replies to a machine-sent digest.
        "Auto-Submitted": "auto-generated",
    }
    matches, updated = digest.matches, digest.updated

    def compose(shown: int, listed: int, updates: int = len(updated)) -> Composed:
        # The renderer counts the whole digest (subject, header) and shows what the cut says.
        cut = Cut(in_full=shown, by_title=listed, updates=updates)
        body = renderer(digest, cut=cut, links=links)
        msg = _assemble(body, subject, headers)
        return Composed(msg, msg.as_bytes(), message_id, shown)

    best = compose(len(matches), 0)
    if len(best.data) <= max_bytes:
        return best
    papers, updates = len(matches), len(updated)

    def largest(count: int, attempt: Callable[[int], Composed]) -> Composed | None:
        """``attempt(n)`` for the largest n < count that fits (sizes grow with n)."""
        low, high, found = 0, count - 1, None
        while low <= high:
            mid = (low + high) // 2
            composed = attempt(mid)
            if len(composed.data) <= max_bytes:
                found, low = composed, mid + 1
            else:
                high = mid - 1
        return found

    # In turn, until one fits: the first papers in full and every other paper listed by
    # title (a full paper costs more than its title line); no paper in full, every title and
    # as many updated papers as fit; as many titles as fit, without updated papers.
    found = (
        largest(papers, lambda n: compose(n, papers - n))
        or largest(updates, lambda n: compose(0, papers, n))
        or largest(papers, lambda n: compose(0, n, 0))
    )
    return found if found is not None else compose(0, 0, 0)
