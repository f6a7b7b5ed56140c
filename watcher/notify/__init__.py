"""Delivery channels — transports: bytes out, receipts in. Each module sends a Digest to one
kind of destination and returns a Receipt only once the destination accepted it; anything
else raises DeliveryError (``permanent=True`` when only the user can fix it) or
DeliveryUnknown (sent, fate unknown). ``redact`` keeps secrets out of those errors.

The pipeline picks a notifier by ``Destination.kind`` from a registry dict that the
composition root (watcher.app) fills with configured instances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from watcher.errors import DeliveryError
from watcher.models import Destination, Digest, Receipt, ResumePoint

# Told, after each message of a digest the destination accepted, where the digest stands
# (a ResumePoint token): the outbox makes it durable before the next message goes out.
Progress = Callable[[str], None]


class Notifier(Protocol):
    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        """Deliver ``digest`` to ``destination``; return the destination's receipt.

        ``resume`` is what an earlier attempt's DeliveryError carried (where a send of
        several messages stopped); a notifier that sends one message ignores it.
        """
        ...


@runtime_checkable
class Resumable(Protocol):
    """A notifier that sends a digest as several messages (a Slack thread) and says how far
    it got after each one, so that a crash between two messages leaves a record of which
    message is in doubt rather than of none."""

    def send_resumable(
        self, destination: Destination, digest: Digest, resume: str | None, progress: Progress
    ) -> Receipt: ...


@runtime_checkable
class Settles(Protocol):
    """A notifier that accepts a batch of sends before making them durable together (the
    local files): the pipeline calls ``settle`` after the batch, before the outbox records
    those deliveries for good."""

    def settle(self) -> None: ...


Registry = dict[str, Notifier]


def is_repeatable(notifier: Notifier) -> bool:
    """True for a notifier whose send, made again, has the effect of one (the Atom feed:
    written whole, its entries keyed by paper; it says so with ``repeatable = True``). A
    send of it cut short by a crash is simply made again, never "unknown"."""
    return bool(getattr(notifier, "repeatable", False))


def send_tracked(
    notifier: Notifier,
    destination: Destination,
    digest: Digest,
    resume: str | None,
    progress: Progress,
) -> Receipt:
    """Send ``digest``, telling ``progress`` after each message when the notifier sends
    several (it is Resumable); ``resume`` is where an earlier attempt stopped."""
    if isinstance(notifier, Resumable):
        return notifier.send_resumable(destination, digest, resume, progress)
    return notifier.send(destination, digest, resume=resume)


def stopped_at(error: DeliveryError, point: ResumePoint) -> DeliveryError:
    """``error`` carrying where the send stopped, once a message went out (``point.next``
    above 0), so the next attempt carries on from there instead of starting again."""
    if point.next > 0:
        error.resume = point.token()
    return error


# After Notifier: redact wraps one.
from watcher.notify.redact import RedactingNotifier, redacted, secrets_of  # noqa: E402

__all__ = [
    "Notifier",
    "Progress",
    "RedactingNotifier",
    "Registry",
    "Resumable",
    "Settles",
    "is_repeatable",
    "redacted",
    "secrets_of",
    "send_tracked",
    "stopped_at",
]
