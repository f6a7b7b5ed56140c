"""A stop (SIGTERM, SIGINT) that comes while a command is still starting.

Importing the command takes most of a second, and a container or a service manager may stop
it in that time (``docker stop`` right after ``docker start``). Unhandled, SIGTERM kills
Python then (exit 143), and ignores it outright when Python is PID 1 (a container without
an init), so the stop waits for SIGKILL. ``__main__`` calls :func:`hold` first thing: until
the command is ready, a stop signal is only noted. ``watcher run`` then :func:`take` s it
and stops as it would have a moment later (exit 0); every other command :func:`release` s
it: the handlers are put back and the signal delivered, as if it had just come.

A leaf: the signal handlers are process-wide, so their state is too.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

# What signal.signal() takes and returns (typeshed's private _HANDLER).
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_before: dict[int, Handler] = {}  # handler before hold()
_pending: list[int] = []


def _note(signum: int, frame: FrameType | None) -> None:
    _pending.append(signum)


def hold() -> None:
    """Note SIGTERM and SIGINT from now on instead of acting on them."""
    for sig in STOP_SIGNALS:
        _before[sig] = signal.signal(sig, _note)


def take() -> int | None:
    """For a command that has set its own handlers up: the stop signal that came while it
    was starting (None: none did); it is now the command's to act on."""
    _before.clear()
    signum = _pending[0] if _pending else None
    _pending.clear()
    return signum


def release() -> None:
    """For a command that sets no handlers: the ones from before :func:`hold` back, and a
    stop signal noted meanwhile delivered now (SIGTERM ends the process, SIGINT raises
    KeyboardInterrupt). Nothing to do without a :func:`hold` first."""
    for sig, handler in _before.items():
        signal.signal(sig, handler)
    _before.clear()
    noted = list(dict.fromkeys(_pending))
    _pending.clear()
    for signum in noted:
        signal.raise_signal(signum)
