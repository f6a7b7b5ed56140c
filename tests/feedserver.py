"""A real HTTP server on 127.0.0.1 that serves whatever a test scripts, and records requests.

Routes map a path to a :class:`Reply`, a list of replies (served in order, the last one
repeating), or a callable ``(Request) -> Reply``. Replies can wait before answering (read
timeouts), reset the connection part-way through the body, stream chunked, or redirect.

    with FeedServer() as server:
        server.route("/rss/cs.LG", Reply(429, headers={"Retry-After": "2"}), Reply(200, body))
        fetch(server.url("/rss/cs.LG"))
        assert server.requests[0].headers["user-agent"].startswith("arxiv-watcher/")

Replaying a sequence of days: ``server.set_routes({...})`` swaps every route at once (and
``server.clear_requests()`` forgets the log). As a pytest fixture: ``feed_server`` below
(import it into a test module, or list ``"tests.feedserver"`` in ``pytest_plugins``).

``clock`` stamps each request's arrival (default ``time.monotonic``); pass a fake clock to
line arrivals up with a fetcher's injected clock. Shutdown joins every handler thread and
unblocks idle keep-alive connections, so no thread or socket outlives the ``with`` block.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import pytest


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``delay``: seconds to wait before the status line (proves read timeouts on headers);
    ``body_delay``: seconds between the headers and the body;
    ``drop_after``: send only this many body bytes (with the full Content-Length), then reset
    the connection (TCP RST);
    ``chunked``: Transfer-Encoding: chunked instead of Content-Length (no size known up front);
    ``chunk_size``: bytes per write (and per chunk).
    Headers given here win over the defaults (Content-Length, Date, Server).
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body_delay: float = 0.0
    drop_after: int | None = None
    chunked: bool = False
    chunk_size: int = 64 * 1024

    @classmethod
    def feed(
        cls, body: bytes, content_type: str = "application/rss+xml; charset=utf-8", **kw: Any
    ) -> Reply:
        headers = {"Content-Type": content_type, **kw.pop("headers", {})}
        return cls(200, body, headers=headers, **kw)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, headers={"Location": location})


@dataclass
class Request:
    """A request as the server saw it. ``headers`` has lower-case names.

    ``sent`` (body bytes written) and ``outcome`` ("pending", "ok", "client-gone", "reset",
    "stopped", or "error" when a route callable raised) are filled in as the handler works;
    call ``server.wait_idle()`` before reading them.
    """

    method: str
    target: str
    headers: dict[str, str]
    time: float
    body: bytes = b""
    sent: int = 0
    outcome: str = "pending"

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


Route: TypeAlias = Reply | Sequence[Reply] | Callable[[Request], Reply]

NOT_FOUND = Reply(404, b"not found\n", headers={"Content-Type": "text/plain"})
_NO_BODY = {204, 304}


class _Script:
    """A route's replies, consumed in order; the last one keeps answering."""

    def __init__(self, route: Route) -> None:
        self._fn: Callable[[Request], Reply] | None = None
        self._replies: list[Reply] = []
        if isinstance(route, Reply):
            self._replies = [route]
        elif callable(route):
            self._fn = route
        else:
            self._replies = list(route)
            if not self._replies:
                raise ValueError("a route needs at least one reply")
        self._next = 0
        self._lock = threading.Lock()

    def next(self, request: Request) -> Reply:
        if self._fn is not None:
            return self._fn(request)
        with self._lock:
            reply = self._replies[min(self._next, len(self._replies) - 1)]
            self._next += 1
        return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True
    owner: FeedServer

    def __init__(self, owner: FeedServer) -> None:
        self.owner = owner
        self.reset_sockets: set[socket.socket] = set()
        self.open_sockets: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.owner._lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.owner._lock:
            self.open_sockets.discard(request)
            reset = request in self.reset_sockets
            self.reset_sockets.discard(request)
        if reset:
            # SO_LINGER 0 turns close() into a RST; no FIN first, so the client sees a reset.
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.close()
        else:
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return  # the client went away: expected in timeout and size-cap tests
        self.owner.errors.append(repr(exc))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests inspect server.requests instead

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            target=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            time=owner.clock(),
            body=body,
        )
        try:
            self._send(owner._take(request), request)
        except OSError:  # ConnectionError, BrokenPipe, timeouts: the client went away
            request.outcome = "client-gone"
            self.close_connection = True
        finally:
            if request.outcome == "pending":  # a route callable raised: handle_error records it
                request.outcome = "error"

    def _send(self, reply: Reply, request: Request) -> None:
        stop = self.server.owner._stopping
        if reply.delay and stop.wait(reply.delay):
            request.outcome = "stopped"
            self.close_connection = True
            return
        with_body = self.command != "HEAD" and reply.status not in _NO_BODY
        given = {k.lower() for k in reply.headers}
        self.send_response_only(reply.status, _reason(reply.status))
        if "date" not in given:
            self.send_header("Date", formatdate(usegmt=True))
        if "server" not in given:
            self.send_header("Server", "feedserver")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" not in given and reply.status not in _NO_BODY:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if not with_body:
            request.outcome = "ok"
            return
        if reply.body_delay and stop.wait(reply.body_delay):
            request.outcome = "stopped"
            self.close_connection = True
            return
        body = reply.body if reply.drop_after is None else reply.body[: reply.drop_after]
        for start in range(0, len(body), max(1, reply.chunk_size)):
            piece = body[start : start + reply.chunk_size]
            if reply.chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                self.wfile.write(piece)
            request.sent += len(piece)
            if stop.is_set():
                request.outcome = "stopped"
                self.close_connection = True
                return
        if reply.drop_after is not None:
            with self.server.owner._lock:
                self.server.reset_sockets.add(self.connection)
            request.outcome = "reset"
            self.close_connection = True
            return
        if reply.chunked:
            self.wfile.write(b"0\r\n\r\n")
        request.outcome = "ok"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class FeedServer:
    """A scripted HTTP server on 127.0.0.1 (free port). Start with ``with`` or ``start()``."""

    def __init__(
        self,
        routes: Mapping[str, Route] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.requests: list[Request] = []
        self.errors: list[str] = []  # unexpected handler exceptions (should stay empty)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._routes: dict[str, _Script] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if routes:
            self.set_routes(routes)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FeedServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        thread.join()
        # Idle keep-alive connections block their handler in readline(): unblock them.
        with self._lock:
            sockets = list(server.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads
        self._server = self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FeedServer is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # --- routes ---------------------------------------------------------------------------

    def route(self, path: str, *replies: Reply | Callable[[Request], Reply]) -> None:
        """Set one path: a single reply, several in order (the last repeats), or a callable."""
        if len(replies) == 1:
            only = replies[0]
            self._set(path, only)
        else:
            if not all(isinstance(r, Reply) for r in replies):
                raise TypeError("a sequence of replies must hold only Reply values")
            self._set(path, [r for r in replies if isinstance(r, Reply)])

    def set_routes(self, routes: Mapping[str, Route]) -> None:
        """Replace every route at once (e.g. the next day of a replayed fortnight)."""
        scripts = {path: _Script(route) for path, route in routes.items()}
        with self._lock:
            self._routes = scripts

    def _set(self, path: str, route: Route) -> None:
        script = _Script(route)
        with self._lock:
            self._routes[path] = script

    def _take(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            script = self._routes.get(request.target) or self._routes.get(request.path)
        return script.next(request) if script is not None else NOT_FOUND

    # --- the request log ------------------------------------------------------------------

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path or r.target == path]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every recorded request has finished being answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(r.outcome != "pending" for r in self.requests):
                    return True
            time.sleep(0.01)
        return False


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A running FeedServer, stopped (threads joined) after the test."""
    with FeedServer() as server:
        yield server
    assert not server.errors, f"feed server handler errors: {server.errors}"
