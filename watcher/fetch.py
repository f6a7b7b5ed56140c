"""The fetch edge: a feed source (URL or local file) -> the bytes of one feed, or a FeedError.

Why one module of about 600 lines: timeouts, the size cap, politeness and the translation of
every transport error into one FeedError share one client and one clock; split, each rule
would need the others passed around.

feedparser never sees a URL or a path, only the bytes returned here. This module owns the
network rules that keep arXiv happy and a daemon safe:

- timeouts on connect and on every read; a size cap enforced while streaming;
- documents declaring a DOCTYPE (other than a plain HTML one) or an ENTITY are refused;
- at most one request every ``min_interval`` seconds (>= 3) per arXiv host, one connection;
- back-off on 429/502/503/504 honouring Retry-After, and on connection errors and timeouts,
  for at most ``max_attempts`` attempts; every failure becomes a ``FeedError`` a user can read;
- a stop request (the ``stop`` event, set by the daemon on SIGTERM) ends every wait at once
  (the spacing, the back-off, Retry-After) and fails the fetches not yet started; a request
  in flight gets ``stop_grace`` seconds to finish, then is left to its own timeouts in its
  thread while ``fetch`` returns.

Time is injected (``clock``/``sleep``), so tests check spacing and back-off without waiting.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from watcher import __version__
from watcher.errors import FeedError
from watcher.logs import redact_urls
from watcher.models import RawFeed

log = logging.getLogger("watcher.fetch")

T = TypeVar("T")

ARXIV_MIN_INTERVAL = 3.0  # arXiv terms of use: one request every 3 s, one connection
MIB = 1024 * 1024
DEFAULT_USER_AGENT = (
    f"arxiv-watcher/{__version__} (+https://github.com/arxiv-watcher; mailto:you@example.org)"
)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_BASE = 5.0  # first back-off without Retry-After: 5 s, then 10 s, 20 s, ...
MAX_REDIRECTS = 5
STOP_POLL = 0.05  # how often a fetch waiting for its request looks at the stop event
STOPPING = "not fetched: the watcher is stopping"
_FILE_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".html": "text/html",
    ".htm": "text/html",
}


ARXIV_BUCKET = "arxiv"


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """How to fetch. ``min_interval`` spaces requests to arXiv-like hosts: arXiv hosts and
    ``extra_polite_hosts``; below 3 s it is honoured only for loopback hosts."""

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_bytes: int = 20 * MIB
    min_interval: float = ARXIV_MIN_INTERVAL
    max_attempts: int = 3
    max_backoff: float = 300.0
    extra_polite_hosts: tuple[str, ...] = ()
    # One attempt as a whole (connection, headers, the body) may take at most this long: the
    # read timeout is per read, and a server dripping a byte at a time would never trip it.
    attempt_timeout: float = 120.0
    # After a stop request, how long a request already in flight may still take to finish.
    stop_grace: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if self.connect_timeout <= 0 or self.read_timeout <= 0 or self.attempt_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.stop_grace < 0:
            raise ValueError("stop_grace must not be negative")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """``raw`` is None exactly when the server said 304 Not Modified."""

    raw: RawFeed | None
    not_modified: bool
    etag: str | None


# --- pure helpers -----------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_arxiv_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "arxiv.org" or host.endswith(".arxiv.org")


def clamp_interval(host: str, min_interval: float) -> float:
    """The spacing to use for a polite ``host``: never below 3 s except on loopback hosts
    (where tests run); clamping is logged as a warning."""
    interval = max(0.0, min_interval)
    if interval < ARXIV_MIN_INTERVAL and not is_loopback(host):
        log.warning(
            "min_interval %gs is below arXiv's 3s limit; using 3s for %s",
            min_interval,
            host,
        )
        return ARXIV_MIN_INTERVAL
    return interval


def parse_retry_after(value: str | None, date_header: str | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), or None.

    An HTTP-date is measured against the response's own Date header when there is one, so
    a skewed local clock does not matter; otherwise against the local wall clock.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    now = time.time()
    if date_header:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            now = parsedate_to_datetime(date_header).timestamp()
    return max(0.0, when.timestamp() - now)


_DOCTYPE = re.compile(r"<!DOCTYPE\s+([^\s>\[]+)[^>\[]*([>\[])", re.IGNORECASE)


def check_prolog(body: bytes, *, where: str = "") -> None:
    """Refuse a document whose prolog (before the first element) declares an ENTITY or a
    DOCTYPE, the door to entity-expansion bombs in feedparser's fallback parser.

    One exception: a plain HTML doctype (``<!DOCTYPE html>``, no internal subset) passes, so
    an HTML error or login page reaches the parser, which reports it as "not a feed".
    """
    text = _prolog_text(body)
    i, n = 0, len(text)
    while i < n:
        j = text.find("<", i)
        if j < 0:
            return
        if text.startswith("<!--", j):
            end = text.find("-->", j + 4)
            if end < 0:
                return
            i = end + 3
        elif text.startswith("<?", j):
            end = text.find("?>", j + 2)
            if end < 0:
                return
            i = end + 2
        elif text.startswith("<!", j):
            m = _DOCTYPE.match(text, j)
            if m and m.group(1).lower() == "html" and m.group(2) == ">":
                i = m.end()
                continue
            keyword = text[j + 2 : j + 9].upper()
            if keyword.startswith(("DOCTYPE", "ENTITY")):
                raise FeedError("refused: the document declares a DOCTYPE/ENTITY", where=where)
            i = j + 2  # other markup declarations are not dangerous on their own
        else:
            return  # the first element: the prolog is over


def _prolog_text(body: bytes) -> str:
    head = body[: 1 * MIB]
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, errors="replace")
    if head.startswith(b"<\x00") and not head.startswith(b"<\x00\x00"):
        return head.decode("utf-16-le", errors="replace")
    if head.startswith(b"\x00<"):
        return head.decode("utf-16-be", errors="replace")
    # UTF-8, Latin-1 and every ASCII-compatible encoding keep "<!DOCTYPE" as ASCII bytes.
    return head.decode("latin-1")


def human_size(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.3g} MB"
    if n >= 1024:
        return f"{n / 1024:.3g} KB"
    return f"{n} bytes"


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 or value == int(value) else f"{value:.1f}s"


def redact(url: str) -> str:
    """The URL without user:password@ and with the values of secret query parameters
    (``?token=``, ``&api_key=``...) as ``***``: feed URLs are fine to log, credentials not."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_urls(re.sub(r"//[^/@]*@", "//", url, count=1))
    if parts.username is None and parts.password is None:
        return redact_urls(url)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return redact_urls(urlunsplit(parts._replace(netloc=netloc)))


# --- the fetcher ------------------------------------------------------------------------


class _Retry(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class Fetcher:
    """Fetches feeds from http(s) URLs, file:// URLs and local paths; one instance per
    process, so that its per-host spacing covers every request to arXiv.

    ``stop``: once set, every wait ends at once and every fetch (the one in flight too)
    fails with "not fetched: the watcher is stopping". Waits are on this event unless a
    ``sleep`` is injected (tests); the event is checked after an injected sleep as well.
    """

    def __init__(
        self,
        config: FetchConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config or FetchConfig()
        self.stop = stop if stop is not None else threading.Event()
        self._clock = clock
        self._sleep = sleep if sleep is not None else self._wait
        self._lock = threading.Lock()
        self._next_allowed: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._polite_extra = frozenset(h.lower() for h in self.config.extra_polite_hosts)
        cfg = self.config
        self._client = httpx.Client(
            http1=True,
            http2=False,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(
                connect=cfg.connect_timeout,
                read=cfg.read_timeout,
                write=cfg.read_timeout,
                # Waiting for our own single connection is not a failure, but not endless.
                pool=cfg.attempt_timeout,
            ),
            follow_redirects=False,  # followed by hand, so every hop is spaced politely
            headers={"User-Agent": cfg.user_agent, "Accept": ACCEPT},
            transport=transport,
        )

    # --- public ---------------------------------------------------------------------------

    def fetch(self, source: str, *, etag: str | None = None) -> FetchResult:
        """Fetch ``source`` (http(s) URL, file:// URL or local path).

        ``etag`` is sent as If-None-Match; a 304 answer gives ``not_modified=True`` and no
        ``raw``. Every failure raises ``FeedError(message, where=source)``.
        """
        self._check_stop(source)
        try:
            scheme = urlsplit(source).scheme.lower() if "://" in source else ""
        except ValueError as exc:
            text = redact_urls(str(exc).replace(source, redact(source)))
            raise FeedError(f"invalid URL: {text}", where=redact(source)) from None
        if scheme in ("http", "https"):
            return self._fetch_http(source, etag)
        if scheme == "file":
            return self._fetch_file(source, _file_url_path(source))
        if scheme:
            raise FeedError(f"unsupported source scheme {scheme!r}", where=redact(source))
        return self._fetch_file(source, Path(source).expanduser())

    def close(self) -> None:
        self._client.close()

    # --- stopping -------------------------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less: a stop request ends the wait at once."""
        self.stop.wait(seconds)

    def _check_stop(self, where: str) -> None:
        if self.stop.is_set():
            raise FeedError(STOPPING, where=redact(where))

    def _unless_stopped(self, work: Callable[[], T], where: str) -> T:
        """``work()`` (one attempt on the network) in a thread of its own, so that a stop
        request ends the wait for it within ``stop_grace`` seconds (an answer on its way may
        still arrive). An abandoned attempt ends by its own timeouts; nothing is fetched
        after a stop, so nothing waits for its connection."""
        outcome: list[tuple[T | None, BaseException | None]] = []
        done = threading.Event()

        def attempt() -> None:
            try:
                outcome.append((work(), None))
            except BaseException as exc:  # handed to the caller below
                outcome.append((None, exc))
            finally:
                done.set()

        threading.Thread(target=attempt, name="watcher-fetch", daemon=True).start()
        while not done.wait(STOP_POLL):
            if self.stop.is_set() and not done.wait(self.config.stop_grace):
                log.info("%s: stopping; not waiting any longer for the request", where)
                raise FeedError(STOPPING, where=where)
        value, error = outcome[0]
        if error is not None:
            raise error
        return value  # type: ignore[return-value]

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- local files ----------------------------------------------------------------------

    def _fetch_file(self, source: str, path: Path) -> FetchResult:
        cap = self.config.max_bytes
        try:
            with path.open("rb") as f:
                body = f.read(cap + 1)
        except FileNotFoundError:
            raise FeedError(f"no such file: {path}", where=source) from None
        except IsADirectoryError:
            raise FeedError(f"is a directory, not a feed file: {path}", where=source) from None
        except PermissionError:
            raise FeedError(f"permission denied reading {path}", where=source) from None
        except OSError as exc:
            raise FeedError(f"cannot read {path}: {exc.strerror or exc}", where=source) from None
        if len(body) > cap:
            raise FeedError(f"body larger than {human_size(cap)} cap", where=source)
        check_prolog(body, where=source)
        content_type = _FILE_TYPES.get(path.suffix.lower(), "")
        log.debug("read %s (%d bytes)", path, len(body))
        return FetchResult(RawFeed(source, body, content_type, None, 200), False, None)

    # --- http -----------------------------------------------------------------------------

    def _fetch_http(self, source: str, etag: str | None) -> FetchResult:
        where = redact(source)
        cfg = self.config
        for attempt in range(1, cfg.max_attempts + 1):
            self._check_stop(where)
            try:
                return self._unless_stopped(lambda: self._attempt(source, etag, where), where)
            except _Retry as problem:
                host = _host(source)
                if attempt == cfg.max_attempts:
                    raise FeedError(_gave_up(problem, attempt), where=where) from None
                if problem.retry_after is not None:
                    delay = problem.retry_after
                    if delay > cfg.max_backoff:
                        self._defer(host, delay)  # later fetches to this host fail fast too
                        raise FeedError(
                            f"HTTP {problem.status} with Retry-After {_seconds(delay)}, more "
                            f"than the {_seconds(cfg.max_backoff)} we wait; giving up for now",
                            where=where,
                        ) from None
                else:
                    delay = min(BACKOFF_BASE * 2 ** (attempt - 1), cfg.max_backoff)
                log.warning(
                    "%s: %s; retrying in %s (attempt %d of %d)",
                    where,
                    problem.message,
                    _seconds(delay),
                    attempt + 1,
                    cfg.max_attempts,
                )
                self._defer(host, delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, source: str, etag: str | None, where: str) -> FetchResult:
        headers = {"If-None-Match": etag} if etag else {}
        try:
            request = self._client.build_request("GET", source, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            text = redact_urls(str(exc).replace(source, where))
            raise FeedError(f"invalid URL: {text}", where=where) from None
        started = time.monotonic()
        for hop in range(MAX_REDIRECTS + 1):
            url = str(request.url)
            self._wait_turn(request.url.host, where)
            self._check_stop(where)
            response = self._send(request, url, where)
            try:
                if response.next_request is not None:
                    if hop == MAX_REDIRECTS:
                        raise FeedError(f"more than {MAX_REDIRECTS} redirects", where=where)
                    log.debug("%s: HTTP %d redirect", redact(url), response.status_code)
                    request = response.next_request
                    continue
                return self._finish(source, url, etag, response, where, started)
            finally:
                response.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, request: httpx.Request, url: str, where: str) -> httpx.Response:
        try:
            return self._client.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise self._transport_problem(exc, url, where) from None

    def _finish(
        self,
        source: str,
        url: str,
        etag: str | None,
        response: httpx.Response,
        where: str,
        started: float,
    ) -> FetchResult:
        status = response.status_code
        new_etag = response.headers.get("etag")
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(
                response.headers.get("retry-after"), response.headers.get("date")
            )
            raise _Retry(_status_text(status), status=status, retry_after=retry_after)
        if status == 304:
            if not etag:
                raise FeedError("HTTP 304 Not Modified to an unconditional request", where=where)
            log.debug("%s: not modified", where)
            return FetchResult(None, True, new_etag or etag)
        content_type = response.headers.get("content-type", "")
        # A client error with an XML body carries the server's explanation (the arXiv API
        # answers a bad query with HTTP 400 and an Atom error entry): hand it to the parser,
        # which turns any non-2xx status into a ParseError quoting it.
        explained = 400 <= status < 500 and "xml" in content_type.lower()
        if not 200 <= status < 300 and not explained:
            raise FeedError(_status_text(status), where=where)
        body = self._read_capped(response, url, where, started)
        check_prolog(body, where=where)
        # DEBUG: the poll's own line ("feed …: new announcement …") says what a user needs.
        log.debug(
            "%s: HTTP %d, %d bytes in %.1fs", where, status, len(body), time.monotonic() - started
        )
        return FetchResult(RawFeed(source, body, content_type, new_etag, status), False, new_etag)

    def _read_capped(self, response: httpx.Response, url: str, where: str, started: float) -> bytes:
        cap = self.config.max_bytes
        deadline = started + self.config.attempt_timeout
        too_big = FeedError(f"body larger than {human_size(cap)} cap", where=where)
        declared = response.headers.get("content-length")
        identity = "content-encoding" not in response.headers
        if identity and declared and declared.isdigit() and int(declared) > cap:
            raise too_big  # do not read a byte of it
        body = bytearray()
        try:
            # iter_bytes decodes gzip: the cap applies to what we would hand the parser.
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise too_big  # closing the response drops the connection mid-body
                if time.monotonic() > deadline:
                    raise _Retry(
                        f"timed out: the body of {redact(url)} took more than "
                        f"{_seconds(self.config.attempt_timeout)}"
                    )

        except httpx.HTTPError as exc:
            raise self._transport_problem(exc, url, where) from None
        return bytes(body)

    def _transport_problem(self, exc: httpx.HTTPError, url: str, where: str) -> Exception:
        """Translate an httpx error: a _Retry for transient trouble, else a FeedError. httpx
        errors may quote the URL: their text is shown only through the redactor."""
        cfg = self.config
        shown = redact(url)
        text = redact_urls(str(exc).replace(url, shown))
        if isinstance(exc, httpx.ConnectTimeout):
            host = _host(url)
            return _Retry(f"timed out after {_seconds(cfg.connect_timeout)} connecting to {host}")
        if isinstance(exc, httpx.ReadTimeout):
            return _Retry(f"timed out after {_seconds(cfg.read_timeout)} reading {shown}")
        if isinstance(exc, httpx.WriteTimeout):
            return _Retry(f"timed out after {_seconds(cfg.read_timeout)} sending to {shown}")
        if isinstance(exc, httpx.TimeoutException):
            return _Retry(f"timed out fetching {shown}")
        if isinstance(exc, httpx.ConnectError):
            cause = _root_cause(exc)
            if isinstance(cause, ConnectionRefusedError):
                return _Retry("connection refused")
            if isinstance(cause, socket.gaierror):
                # Not retried within the cycle: it fails again at once (no network, a typo
                # in the URL), and waiting between attempts only delays every other feed.
                return FeedError(
                    f"cannot resolve host {_host(url)} (no network, or a wrong URL?)",
                    where=where,
                )
            if isinstance(cause, ssl.SSLError):
                return FeedError(f"TLS error: {redact_urls(str(cause))}", where=where)
            return _Retry(f"cannot connect: {text}")
        if isinstance(exc, httpx.ReadError | httpx.WriteError):
            if isinstance(_root_cause(exc), ConnectionResetError) or "reset" in str(exc).lower():
                return _Retry("connection reset")
            return _Retry(f"connection error: {text}")
        if isinstance(exc, httpx.RemoteProtocolError):
            return _Retry(f"connection reset: the server closed it early ({text})")
        if isinstance(exc, httpx.DecodingError):
            return FeedError(f"cannot decode the response body: {text}", where=where)
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return FeedError(f"invalid URL: {text}", where=where)
        return FeedError(f"HTTP error: {text}", where=where)

    # --- politeness -----------------------------------------------------------------------

    def _interval(self, host: str) -> float:
        """Spacing for ``host``: 0 unless it is arXiv-like; computed (and warned) once."""
        host = host.lower()
        if host not in self._intervals:
            polite = is_arxiv_host(host) or host in self._polite_extra
            self._intervals[host] = (
                clamp_interval(host, self.config.min_interval) if polite else 0.0
            )
        return self._intervals[host]

    def _bucket(self, host: str) -> str:
        """Whose turn a request takes: arXiv asks for one request every 3 s across all of
        its services (RSS, API, OAI-PMH), so every arXiv-like host shares one turn."""
        host = host.lower()
        return ARXIV_BUCKET if self._interval(host) > 0 else host

    def _wait_turn(self, host: str, where: str) -> None:
        """Sleep until ``host`` may be asked again, then book the next slot.

        Holding the lock while sleeping is deliberate: requests to an arXiv host queue up
        one behind the other, whichever thread makes them.
        """
        with self._lock:
            interval = self._interval(host)
            bucket = self._bucket(host)
            now = self._clock()
            wait = self._next_allowed.get(bucket, now) - now
            if wait > self.config.max_backoff:
                raise FeedError(
                    f"{host} asked us to wait {_seconds(wait)} more (Retry-After); "
                    "not asking again before then",
                    where=where,
                )
            if wait > 0:
                log.debug("waiting %s before asking %s", _seconds(wait), host)
                self._sleep(wait)
                self._check_stop(where)
                now = self._clock()
            if interval > 0:
                self._next_allowed[bucket] = now + interval
            elif wait > 0:
                del self._next_allowed[bucket]

    def _defer(self, host: str, delay: float) -> None:
        """Push ``host``'s next allowed request at least ``delay`` seconds out (back-off)."""
        with self._lock:
            bucket = self._bucket(host)
            until = self._clock() + delay
            self._next_allowed[bucket] = max(self._next_allowed.get(bucket, until), until)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _gave_up(problem: _Retry, attempts: int) -> str:
    tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
    if problem.status is not None:
        text = f"HTTP {problem.status} after {tries}"
        if problem.retry_after is not None:
            text += f" (Retry-After {_seconds(problem.retry_after)})"
        return text
    return f"{problem.message} ({tries})" if attempts > 1 else problem.message


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FeedError(f"file URL on another host ({parts.netloc}) is not supported", where=url)
    return Path(unquote(parts.path))
