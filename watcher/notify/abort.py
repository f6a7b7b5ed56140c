"""A send that ends at once on a stop request, whatever the server does.

``abortable(stop)`` wraps one send: every socket the sending thread connects meanwhile is
noted (through the ``socket.connect`` audit event, so smtplib, urllib and slack_sdk need no
hook of their own), and a small thread shuts them down the moment ``stop`` is set. The
blocked call then fails as a dropped connection would, so the notifier's own mapping applies:
after the request went out, DeliveryUnknown; before, a temporary DeliveryError. Once stopped,
no new connection is opened (``connect`` raises ConnectionAbortedError).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

from watcher.errors import DeliveryError, DeliveryUnknown

__all__ = ["STOPPED", "Send", "abortable"]

STOPPED = "stopped: the daemon was asked to stop during the send"
_POLL = 0.05  # how often the watching thread looks at the stop event

_local = threading.local()
_installed = False
_install_lock = threading.Lock()


class Send:
    """One send in progress: the sockets it connected, and whether a stop aborted it."""

    def __init__(self, stop: threading.Event | None) -> None:
        self.stop = stop
        self.aborted = False
        self._sockets: list[tuple[socket.socket, int, Any]] = []
        self._lock = threading.Lock()

    def connected(self, sock: socket.socket, address: Any) -> None:
        if self.stop is not None and self.stop.is_set():
            self.aborted = True
            raise ConnectionAbortedError(STOPPED)
        with self._lock:
            self._sockets.append((sock, sock.fileno(), address))

    def explain(self, error: DeliveryError) -> DeliveryError:
        """``error`` saying the stop caused it, if it did. Whatever went wrong before the
        request went out, a stopped send is temporary: the next run sends it."""
        if not self.aborted:
            return error
        if isinstance(error, DeliveryUnknown):
            return DeliveryUnknown(
                f"{STOPPED}: {error.message}", where=error.where, resume=error.resume
            )
        return DeliveryError(f"{STOPPED}: {error.message}", where=error.where, resume=error.resume)

    def abort(self) -> None:
        """Shut down every connection of this send (the blocked call returns at once)."""
        self.aborted = True
        with self._lock:
            noted = list(self._sockets)
        for sock, fd, address in noted:
            with contextlib.suppress(OSError):
                if sock.fileno() != -1:
                    sock.shutdown(socket.SHUT_RDWR)
                else:  # detached into a TLS socket: same descriptor, if still this peer's
                    _shutdown_fd(fd, address)


def _shutdown_fd(fd: int, address: Any) -> None:
    dup = socket.socket(fileno=os.dup(fd))
    try:
        if dup.getpeername() == address:
            dup.shutdown(socket.SHUT_RDWR)
    finally:
        dup.close()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect":
        send: Send | None = getattr(_local, "send", None)
        if send is not None and isinstance(args[0], socket.socket):
            send.connected(args[0], args[1])


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit)  # cannot be removed; inert outside a send
            _installed = True


@contextlib.contextmanager
def abortable(stop: threading.Event | None) -> Iterator[Send]:
    """Run the body (one send, in this thread) so that setting ``stop`` shuts down its
    connections within a fraction of a second. Without ``stop``: nothing happens."""
    send = Send(stop)
    if stop is None:
        yield send
        return
    _install()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(_POLL):
            if stop.is_set():
                send.abort()
                return

    watcher = threading.Thread(target=watch, name="send-abort", daemon=True)
    previous = getattr(_local, "send", None)
    _local.send = send
    watcher.start()
    try:
        yield send
    finally:
        _local.send = previous
        done.set()
        watcher.join()
