"""Fakes for the edges: a clock that moves only when slept on, and a recording notifier.

The real-server fakes (feeds, SMTP, the Slack Web API) have their own modules:
tests/feedserver.py, tests/smtpserver.py, tests/slackserver.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from watcher.errors import DeliveryError
from watcher.models import Destination, Digest, Receipt

RECEIPT_TIME = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)


class FakeClock:
    """Monotonic time that only moves when someone sleeps: call it, or ``monotonic()``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Recorder:
    """A notifier that records what it was given and can be told to fail (``fail``: the
    errors its next sends raise, in turn)."""

    kind: str = "local"
    fail: list[DeliveryError] = field(default_factory=list)
    sent: list[tuple[Destination, Digest]] = field(default_factory=list)

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append((destination, digest))
        return Receipt(destination.key, f"{self.kind}-{len(self.sent)}", RECEIPT_TIME)

    def paper_ids(self) -> list[str]:
        return [m.paper.id for _, d in self.sent for m in d.matches]
