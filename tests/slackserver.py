"""A local HTTP server speaking enough of the Slack Web API for slack_sdk to talk to it.

``POST /api/chat.postMessage`` (JSON or form body, ``Authorization: Bearer <token>``),
``POST /api/auth.test``, ``POST /webhook/<anything>`` (an incoming webhook),
``POST /api/apps.connections.open`` (with the app-level token: the URL of the Socket Mode
stand-in set as ``socket_mode``, tests/slacksocket.py) and ``POST /response/<anything>``
(a ``response_url`` of an interactive payload; :meth:`SlackServer.response_url`). Every request
is recorded; replies can be scripted per call (429 with Retry-After, 500, a Slack error code,
or a dropped connection) with :meth:`SlackServer.script`.

    with SlackServer(token="xoxb-test") as slack:
        WebClient(token="xoxb-test", base_url=slack.api_url).chat_postMessage(...)
        slack.calls[0].body["channel"]
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest


@dataclass(frozen=True)
class Reply:
    """How the server answers one request. Default: success."""

    status: int = 200
    error: str | None = None  # a Slack error code: {"ok": false, "error": ...}
    retry_after: int | None = None
    drop: bool = False  # read the request, then close the socket without an answer

    @classmethod
    def rate_limited(cls, retry_after: int = 1) -> Reply:
        return cls(status=429, error="ratelimited", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls(status=status)

    @classmethod
    def slack_error(cls, code: str) -> Reply:
        return cls(error=code)

    @classmethod
    def dropped(cls) -> Reply:
        return cls(drop=True)


OK = Reply()


@dataclass
class Call:
    """One recorded request."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    at: float  # the server's clock (injectable, so tests can use a fake one)
    reply: Reply = field(default=OK)
    ts: str = ""  # the ts a chat.postMessage was given

    @property
    def method(self) -> str:
        if self.path.startswith("/api/"):
            return self.path[len("/api/") :]
        return "webhook" if self.path.startswith("/webhook/") else self.path


class SlackServer:
    """Threaded fake Slack on 127.0.0.1; a context manager that shuts down cleanly."""

    def __init__(
        self,
        *,
        token: str = "xoxb-valid-test-token",
        clock: Callable[[], float] | None = None,
        app_token: str = "xapp-1-A0TEST-valid-app-token",
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.socket_mode: Any = None  # a tests.slacksocket.SocketModeServer
        self.clock = clock or (lambda: 0.0)
        self.calls: list[Call] = []
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._ts = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # hold_answer(): the n-th post is accepted (recorded, given its ts), and its answer
        # waits until ``release`` is set: a client killed meanwhile never hears it arrived.
        self._hold: int | None = None
        self.reached = threading.Event()
        self.release = threading.Event()
        self.answer_delay = 0.0  # seconds between accepting a post and answering it

    # --- control --------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` in order, then succeed again."""
        with self._lock:
            self._script.extend(replies)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def webhook_url(self, name: str = "T000/B000/secretsecretsecret") -> str:
        return f"{self.url}/webhook/{name}"

    def response_url(self, name: str = "T000/1/answer") -> str:
        return f"{self.url}/response/{name}"

    def responses(self) -> list[Call]:
        """What was posted to response URLs (the answers to clicks)."""
        return [c for c in self.calls if c.path.startswith("/response/")]

    def hold_answer(self, post: int) -> None:
        """Accept the ``post``-th chat.postMessage from now on (1: the next), then hold its
        answer until ``release`` is set; ``reached`` is set once it arrived."""
        with self._lock:
            done = sum(1 for c in self.calls if c.method == "chat.postMessage")
            self._hold = done + post
            self.reached.clear()
            self.release.clear()

    def posts(self) -> list[Call]:
        """Calls answered successfully (what a channel would show)."""
        return [c for c in self.calls if c.reply == OK and c.method != "auth.test"]

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SlackServer:
        server = self

        class Handler(_Handler):
            slack = server

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = False
        httpd.block_on_close = True  # server_close joins request threads: no stray sockets
        self._httpd = httpd
        # A short poll interval keeps shutdown() (and so every test's teardown) fast.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="slack-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SlackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- used by the handler --------------------------------------------------------------

    def _next(self) -> Reply:
        with self._lock:
            return self._script.pop(0) if self._script else OK

    def _next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            return f"{1726000000 + self._ts}.{self._ts:06d}"


class _Handler(BaseHTTPRequestHandler):
    slack: SlackServer
    protocol_version = "HTTP/1.0"  # one request per connection, as urllib does anyway

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.slack._next()
        call = Call(
            path=self.path,
            headers={k: v for k, v in self.headers.items()},
            body=_decode(self.headers.get("Content-Type", ""), raw),
            raw=raw,
            at=self.slack.clock(),
            reply=reply,
        )
        with self.slack._lock:
            self.slack.calls.append(call)
        if reply.drop:
            self.close_connection = True
            return  # the socket closes with no status line: RemoteDisconnected for the client
        if self.path.startswith(("/webhook/", "/response/")):
            self._webhook(reply)
        elif self.path.startswith("/api/"):
            self._api(call, reply)
        else:
            self._send(404, b"not found", "text/plain")

    def _api(self, call: Call, reply: Reply) -> None:
        if call.method == "apps.connections.open":
            if call.headers.get("Authorization") != f"Bearer {self.slack.app_token}":
                self._json(200, {"ok": False, "error": "invalid_auth"})
            elif self.slack.socket_mode is None:
                self._json(200, {"ok": False, "error": "not_allowed_token_type"})
            else:
                self._json(200, {"ok": True, "url": self.slack.socket_mode.url})
            return
        if call.headers.get("Authorization") != f"Bearer {self.slack.token}":
            # Slack answers 200 with ok=false for auth errors.
            self._json(200, {"ok": False, "error": "invalid_auth"})
            return
        if reply.status != 200 or reply.error:
            if reply.status >= 500:
                self._send(reply.status, b"<html>upstream error</html>", "text/html")
                return
            self._json(reply.status, {"ok": False, "error": reply.error}, reply.retry_after)
            return
        if call.method == "auth.test":
            self._json(200, {"ok": True, "user_id": "U123", "team_id": "T123", "user": "bot"})
        elif call.method == "chat.postMessage":
            call.ts = self.slack._next_ts()
            with self.slack._lock:
                count = sum(1 for c in self.slack.calls if c.method == "chat.postMessage")
                held = count == self.slack._hold
            if held:
                self.slack.reached.set()
                self.slack.release.wait(timeout=30)
            if self.slack.answer_delay:
                time.sleep(self.slack.answer_delay)
            self._json(200, {"ok": True, "channel": "C123", "ts": call.ts})
        else:
            self._json(200, {"ok": False, "error": "unknown_method"})

    def _webhook(self, reply: Reply) -> None:
        if reply.status == 200 and not reply.error:
            self._send(200, b"ok", "text/html")
            return
        status = reply.status if reply.status != 200 else 400
        body = (reply.error or "server_error").encode()
        self._send(status, body, "text/html", reply.retry_after)

    def _json(self, status: int, data: dict[str, Any], retry_after: int | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", retry_after)

    def _send(
        self, status: int, body: bytes, content_type: str, retry_after: int | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if retry_after is not None:
                self.send_header("Retry-After", str(retry_after))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed while its answer was on the way (tests do that)


def _decode(content_type: str, raw: bytes) -> dict[str, Any]:
    text = raw.decode("utf-8", "replace")
    if "json" in content_type:
        data = json.loads(text or "{}")
        return data if isinstance(data, dict) else {"_": data}
    if "x-www-form-urlencoded" in content_type:
        body: dict[str, Any] = dict(parse_qsl(text, keep_blank_values=True))
        for key in ("blocks", "attachments"):  # slack_sdk JSON-encodes these in forms
            if isinstance(body.get(key), str):
                body[key] = json.loads(body[key])
        return body
    return {"_raw": text}


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server
