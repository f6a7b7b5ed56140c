"""Delivery channels — transports: bytes out, receipts in. Each module sends a Digest to one
kind of destination and returns a Receipt only once the destination accepted it; anything
else raises DeliveryError (``permanent=True`` when only the user can fix it) or
DeliveryUnknown (sent, fate unknown). ``redact`` keeps secrets out of those errors.

The pipeline picks a notifier by ``Destination.kind`` from a registry dict that the
composition root (watcher.app) fills with configured instances.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from watcher.models import Destination, Digest, Receipt


class Notifier(Protocol):
    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        """Deliver ``digest`` to ``destination``; return the destination's receipt.

        ``resume`` is what an earlier attempt's DeliveryError carried (where a send of
        several messages stopped); a notifier that sends one message ignores it.
        """
        ...


@runtime_checkable
class Settles(Protocol):
    """A notifier that accepts a batch of sends before making them durable together (the
    local files): the pipeline calls ``settle`` after the batch, before the outbox records
    those deliveries for good."""

    def settle(self) -> None: ...


Registry = dict[str, Notifier]


# After Notifier: redact wraps one.
from watcher.notify.redact import RedactingNotifier, redacted, secrets_of  # noqa: E402

__all__ = ["Notifier", "RedactingNotifier", "Registry", "Settles", "redacted", "secrets_of"]
