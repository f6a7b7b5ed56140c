"""Fakes for the edges: a clock that moves only when slept on, a recording notifier, and a
daemon on temporary directories whose feeds lead nowhere.

The real-server fakes (feeds, SMTP, the Slack Web API) have their own modules:
tests/feedserver.py, tests/smtpserver.py, tests/slackserver.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.factories import write_rule
from watcher.daemon import Daemon
from watcher.errors import DeliveryError
from watcher.models import Destination, Digest, Receipt
from watcher.settings import Settings

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


class DaemonSetup:
    """Rules and data directories under ``tmp`` and the daemons made on them, in process and
    with a fixed clock; arXiv is a closed port. ``schedule``: each daemon also schedules its
    jobs. Use it as a context manager: it closes every daemon's fetcher."""

    def __init__(self, tmp: Path, *, now: datetime = RECEIPT_TIME, schedule: bool = False):
        self.now, self.scheduled = now, schedule
        self.data = tmp / "data"
        self.rules = tmp / "rules"
        self.rules.mkdir()
        self.settings = Settings(
            data_dir=self.data,
            rules_dir=self.rules,
            arxiv_rss_url="http://127.0.0.1:9/rss/",
            arxiv_api_url="http://127.0.0.1:9/api/query",
        )
        self.daemons: list[Daemon] = []

    def write(self, name: str, text: str) -> Path:
        return write_rule(self.rules / name, text)

    def daemon(
        self,
        now: datetime | None = None,
        *,
        environ: dict[str, str] | None = None,
        **settings: Any,
    ) -> Daemon:
        """A daemon that has loaded the rules (and scheduled its jobs, if asked), at ``now``."""
        at = self.now if now is None else now
        daemon = Daemon(replace(self.settings, **settings), environ or {}, clock=lambda: at)
        self.daemons.append(daemon)
        daemon.check_rules(initial=True)
        if self.scheduled:
            daemon.schedule()
        return daemon

    def __enter__(self) -> DaemonSetup:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for daemon in self.daemons:
            daemon.fetcher.close()


@dataclass(frozen=True)
class Run:
    """What one ``watcher`` command said: its exit code and its two streams."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err
