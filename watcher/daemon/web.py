"""The daemon's small web endpoint: the pages behind the feedback links of email digests, and
``/healthz``. Nothing else is served: no directory, no file, no other path.

``GET /feedback/<token>`` shows a confirmation page with one button and records nothing
(mail scanners and link previewers open every link of a message: they must not vote);
the button's ``POST`` to the same address records the vote. A token that is not ours, was
altered or has expired gets a 403 page saying which. Pages are a few hundred bytes of HTML
with inline style, readable on a phone, without JavaScript; the headers forbid scripts,
framing, caching and sending the link on as a Referer.

Served by waitress (a kept, pure-Python production WSGI server, see pyproject.toml) with
small request limits and channel timeouts, on ``WATCHER_HTTP_ADDRESS``; the operator puts
it behind a reverse proxy at ``WATCHER_PUBLIC_URL``.
"""

from __future__ import annotations

import contextlib
import html
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from waitress import wasyncore
from waitress.server import TcpWSGIServer

from watcher.daemon.votes import PAPERS_LIKE, VOTE_WORDS, TakesVotes
from watcher.render.links import LINK_PATH, BadToken, LinkVote, verify

log = logging.getLogger("watcher.daemon.web")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]

# Every page: no script, no frame, no cache, no Referer carrying a token elsewhere.
_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
]  # fmt: skip
_STATUS = {
    200: "200 OK",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
}
_REASONS = {
    "malformed": "This is not a working feedback link",
    "forged": "This link was altered or not made by this watcher",
    "expired": "This link has expired",
}


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    title: str
    body: str  # HTML, already escaped


def _document(page: Page) -> bytes:
    # Small and self-contained: a phone shows it at a readable size (viewport), and a
    # button as wide as a thumb.
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(page.title)}</title></head>"
        '<body style="margin:0;padding:24px 16px;font:17px/1.5 Helvetica,Arial,sans-serif;'
        'color:#1a1a1a;background:#fff"><main style="max-width:30em;margin:0 auto">'
        f'<h1 style="font-size:21px;margin:0 0 12px">{html.escape(page.title)}</h1>'
        f"{page.body}</main></body></html>\n"
    ).encode()


def _confirm(vote: LinkVote) -> Page:
    words = VOTE_WORDS[vote.vote]
    arxiv = f"https://arxiv.org/abs/{vote.paper_id}"
    return Page(
        200,
        f"{words.capitalize()}?",
        f"<p>Tell <b>{html.escape(vote.subscription)}</b> you want {PAPERS_LIKE[vote.vote]} "
        f'<a href="{html.escape(arxiv)}" style="color:#b31b1b">arXiv:'
        f"{html.escape(vote.paper_id)}</a>.</p>"
        '<form method="post" action="" style="margin:20px 0">'
        '<button type="submit" style="font-size:18px;padding:12px 20px;min-width:12em;'
        'border:0;border-radius:6px;background:#1f5f99;color:#fff">'
        f"{html.escape(words.capitalize())}</button></form>"
        '<p style="color:#666;font-size:14px">Nothing is recorded until you press the '
        "button. Pressing it again changes nothing.</p>",
    )


def _message(status: int, title: str, text: str) -> Page:
    return Page(status, title, f"<p>{html.escape(text)}</p>")


class FeedbackApp:
    """The WSGI application. ``key`` verifies the links; ``desk`` records the votes."""

    def __init__(self, key: bytes, desk: TakesVotes, clock: Callable[[], datetime]) -> None:
        self._key = key
        self.desk = desk
        self.clock = clock

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", ""))
        if path == "/healthz":
            if method not in ("GET", "HEAD"):
                return self._send(start_response, method, _message(405, "Not allowed", ""))
            body = b"ok\n"
            start_response("200 OK", [("Content-Type", "text/plain"), *_HEADERS,
                                      ("Content-Length", str(len(body)))])  # fmt: skip
            return [b"" if method == "HEAD" else body]
        if not path.startswith(LINK_PATH) or "/" in path[len(LINK_PATH) :]:
            page = _message(404, "Not found", "There is nothing here.")
            return self._send(start_response, method, page)
        if method not in ("GET", "HEAD", "POST"):
            page = _message(405, "Not allowed", "Open the link from your email.")
            return self._send(start_response, method, page, allow="GET, HEAD, POST")
        token = path[len(LINK_PATH) :]
        try:
            vote = verify(self._key, token, self.clock())
        except BadToken as error:
            log.info("feedback link refused: %s", error.reason, extra={"event": "feedback"})
            text = f"{error.detail.capitalize()}. Nothing was recorded."
            return self._send(start_response, method, _message(403, _REASONS[error.reason], text))
        if method != "POST":
            return self._send(start_response, method, _confirm(vote))
        answer = self.desk.take(
            vote.subscription, vote.paper_id, vote.vote, via="email", who=vote.recipient
        )
        title = "Thank you" if answer.recorded else "Not recorded"
        return self._send(start_response, method, _message(200, title, answer.text))

    @staticmethod
    def _send(
        start_response: StartResponse, method: str, page: Page, allow: str | None = None
    ) -> list[bytes]:
        body = _document(page)
        headers = [("Content-Type", "text/html; charset=utf-8"), *_HEADERS,
                   ("Content-Length", str(len(body)))]  # fmt: skip
        if allow:
            headers.append(("Allow", allow))
        start_response(_STATUS[page.status], headers)
        return [b"" if method == "HEAD" else body]


class WebServer:
    """waitress serving ``app`` on host:port in a thread of its own, until ``close``."""

    def __init__(self, app: FeedbackApp, host: str, port: int) -> None:
        # Bounded everything: a vote is a GET or an empty POST, so 8 KB of headers and 1 KB
        # of body are plenty; idle connections are dropped after 30 s; a few threads and
        # connections, as for a handful of clicks a day; no "Server: waitress" banner, no
        # traceback on a page; forwarded headers of an untrusted proxy are ignored.
        self._map: dict[int, Any] = {}  # waitress's socket map, so that close can empty it
        self._server = TcpWSGIServer(
            app,
            map=self._map,
            host=host,
            port=port,
            threads=2,
            connection_limit=50,
            channel_timeout=30,
            max_request_header_size=8192,
            max_request_body_size=1024,
            expose_tracebacks=False,
            ident="",
            clear_untrusted_proxy_headers=True,
        )
        self._thread = threading.Thread(target=self._serve, name="watcher-web", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> WebServer:
        self._thread.start()
        host, port = self.address
        log.info("feedback pages served on http://%s:%d", host, port, extra={"event": "web"})
        return self

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # closed under it: the daemon is stopping
            self._server.run()

    def close(self) -> None:
        # Closing every channel empties the server's map, and its loop (a select of at most
        # a second) ends; a request in progress finishes first (the dispatcher waits).
        self._server.task_dispatcher.shutdown()
        wasyncore.close_all(self._map)
        self._thread.join(timeout=5)
