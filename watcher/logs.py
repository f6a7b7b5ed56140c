"""Log lines for the daemon: readable text by default, or one JSON object per line.

Secrets stay out in two ways: nothing logs a settings value of a token, password or webhook
URL, and a filter on the handler replaces any of those values that still turns up in a
message (an exception text quoting a URL, say) with ``***``. The libraries' own loggers
(httpx logs every request URL at INFO, slack_sdk an ERROR line beside each delivery error
ours reports, APScheduler each job) are held at WARNING: the default output is the
product's own lines. ``verbose`` (``--verbose``) lets everything through at DEBUG.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "***"
# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the fields
    given with ``extra=`` (``event``, ``feed``, ``status``...), and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = (
                    value if isinstance(value, str | int | float | bool | None) else str(value)
                )
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already rendered (and redacted) by RedactSecrets
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


# A URL's secrets by their place, whatever their value: the user:password@ before the host,
# and the value of a query parameter whose name says it holds one (?token=, &api_key=,
# &X-Amz-Signature=). A value that is a ``${NAME}`` placeholder (a rule file's reference to
# the environment, expanded only at fetch time) is no secret and stays.
SECRET_PARAM = re.compile(
    r"token|secret|passw|credential|api_?key|jwt"
    r"|(?:^|[_.-])(?:key|auth|authorization|sig|signature|pwd|pass)$",
    re.I,
)
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A value ends where the URL does; a colon ends it too before a space ("url: message").
_QUERY_PAIR = re.compile(r"([?&;])([^=&#?;\s\"'<>]+)=((?:[^&#;\s\"'<>:]|:(?!\s|$))*)")
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)([^/?#@\s\"'<>]*)@", re.I)
_PLACEHOLDERS = re.compile(r"(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|:)+")


def is_secret_param(name: str) -> bool:
    """Does a query parameter of this name hold a secret (token, key, api_key, sig...)?"""
    return SECRET_PARAM.search(name) is not None


def redact_urls(text: str) -> str:
    """``text`` with every URL's ``user:password@`` and secret query values as ``***``."""
    if "@" in text:
        text = _USERINFO.sub(_hide_userinfo, text)
    if "=" in text:
        text = _QUERY_PAIR.sub(_hide_value, text)
    return text


def _hide_userinfo(found: re.Match[str]) -> str:
    scheme, info = found.groups()
    return found.group(0) if _PLACEHOLDERS.fullmatch(info) else f"{scheme}{REDACTED}@"


def _hide_value(found: re.Match[str]) -> str:
    sep, name, value = found.groups()
    if not value or value == REDACTED or PLACEHOLDER.fullmatch(value) or not is_secret_param(name):
        return found.group(0)
    return f"{sep}{name}={REDACTED}"


def url_pieces(secret: str) -> list[str]:
    """The parts of a secret URL that libraries log apart from it, to be hidden as well.

    urllib3 logs a request's host and path apart (``http://host:443 "POST /hooks/<token>
    HTTP/1.1"``, at DEBUG: ``--verbose``), and Apprise sends ``mmost://host/<token>`` to
    ``https://host/hooks/<token>``, so the whole URL never shows: its path, its password and
    every piece that looks like a token (a path segment or query value of 8+ characters
    with letters and digits, or of 20+; for a non-HTTP Apprise URL also what stands where a
    host would, as in ``tgram://<bot token>/<chat>``). Words and host names stay readable.
    """
    if "://" not in secret:
        return []
    try:
        parts = urlsplit(secret.strip())
        password = parts.password
    except ValueError:
        return []
    if not parts.scheme or not parts.netloc:
        return []
    path = parts.path.strip("/")
    found = [path] if len(path) >= 4 else []
    if password:
        found.append(password)
    pieces = [*parts.path.split("/"), *re.split(r"[&=;]", parts.query)]
    if parts.scheme.lower() not in ("http", "https"):
        pieces.append(parts.netloc.rpartition("@")[2])
    for piece in pieces:
        found += [form for form in {piece, unquote(piece)} if _token_like(form)]
    return found


def _token_like(text: str) -> bool:
    if "." in text or len(text) < 8:
        return False
    return len(text) >= 20 or (any(c.isdigit() for c in text) and any(c.isalpha() for c in text))


def _ordered(secrets: Iterable[str | None]) -> list[str]:
    # Longest first, so a webhook URL is hidden whole even if a token is part of it. Values
    # shorter than 4 characters are not hidden: they would mangle ordinary text.
    values = {s for s in secrets if s and len(s) >= 4}
    values.update(piece for s in list(values) for piece in url_pieces(s) if len(piece) >= 4)
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret value in it, and every URL's credentials and secret query
    values (:func:`redact_urls`), replaced by ``***``: what the log filter does,
    for text that goes elsewhere (the daemon's heartbeat, ``watcher status``)."""
    return _replace_all(text, _ordered(secrets))


def _replace_all(text: str, ordered: Sequence[str]) -> str:
    """``redact`` with the secrets already ``_ordered``."""
    for secret in ordered:
        text = text.replace(secret, REDACTED)
    return redact_urls(text)


class RedactSecrets(logging.Filter):
    """Replace every known secret value in a record's final text with ``***``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self.secrets = _ordered(secrets)

    def add(self, secrets: Iterable[str | None]) -> None:
        """Hide these values too (a rule file that names another webhook variable)."""
        self.secrets = _ordered([*self.secrets, *secrets])

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        text = self._redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # The formatter prints the traceback from exc_info: render and redact it now.
            record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if text != message:
            record.msg, record.args = text, None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self._redact(value))
        return True

    def _redact(self, text: str) -> str:
        # Ordered once when learnt, not again for every line logged.
        return _replace_all(text, self.secrets)


def add_secrets(secrets: Iterable[str | None]) -> None:
    """Teach the redacting filter of every root handler (see :func:`configure`) more secrets."""
    values = list(secrets)
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, RedactSecrets):
                found.add(values)


# syslog priorities (sd-daemon(3)): journald reads a "<N>" at the start of a line as the
# line's priority, so `journalctl -p warning` finds the warnings.
SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
JOURNAL_TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"  # the journal has the time


def syslog_priority(level: int) -> int:
    """The syslog priority of a logging level (a custom level: the next standard one up)."""
    for standard in sorted(SYSLOG_PRIORITY):
        if level <= standard:
            return SYSLOG_PRIORITY[standard]
    return SYSLOG_PRIORITY[logging.CRITICAL]


class JournalPrefix(logging.Formatter):
    """Another formatter's text with ``<N>`` before each of its lines (a traceback's too:
    journald takes every line for a record of its own)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).split("\n"))


def is_journal(stream: TextIO, journal_stream: str | None) -> bool:
    """Is ``stream`` the journal? systemd says so in JOURNAL_STREAM ("device:inode" of the
    stream it connected); a stream redirected elsewhere by the service is not."""
    if not journal_stream:
        return False
    device, _, inode = journal_stream.partition(":")
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False  # not a real file (a test's StringIO), or closed
    return f"{info.st_dev}:{info.st_ino}" == f"{device}:{inode}"


# Third-party loggers whose INFO lines repeat what the watcher says itself, or say it worse.
LIBRARIES = ("httpx", "httpcore", "apscheduler", "slack_sdk", "urllib3", "aiosmtplib")

# Parsers that log each construct they tolerate or skip: pylatexenc every unknown macro
# (a digest of a hundred abstracts would flood the log), bibtexparser each block it cannot
# parse (the LibraryError naming the file and line says it better).
TOLERANT_PARSERS = {"pylatexenc": logging.ERROR, "bibtexparser": logging.CRITICAL}


class DropOverlapSkips(logging.Filter):
    """Drops APScheduler's WARNING that a run was skipped because the job's last run is still
    going: every job is made with ``max_instances=1`` on purpose (a poll never overlaps
    itself), so with a short ``WATCHER_POLL_INTERVAL`` this was a library warning every few
    seconds for what the README promises. A job late for real shows in `watcher status`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_DROP_OVERLAP_SKIPS = DropOverlapSkips()


def quiet_libraries(*, verbose: bool = False) -> None:
    """Hold the libraries' loggers at WARNING, the tolerant parsers' above it (all at DEBUG
    when ``verbose``), APScheduler's overlap warning dropped. Here, with the handlers, so
    the pure modules that use those parsers change no global state."""
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name, level in TOLERANT_PARSERS.items():
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else level)
    scheduler = logging.getLogger("apscheduler.scheduler")
    if verbose:
        scheduler.removeFilter(_DROP_OVERLAP_SKIPS)
    else:
        scheduler.addFilter(_DROP_OVERLAP_SKIPS)


def configure_command(*, verbose: bool = False) -> None:
    """Logging for the short commands (``once``, ``preview``, ``rules``...): warnings and the
    product's INFO lines on stderr as ``LEVEL logger: message``; with ``verbose`` the DEBUG
    lines too (each HTTP request, the libraries' own)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # The same redaction as the daemon's: URL credentials at once, the secrets' values once
    # the command knows them (add_secrets, when it builds its notifiers).
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets(()))
    quiet_libraries(verbose=verbose)


def configure(
    fmt: str = "text",
    *,
    secrets: Iterable[str | None] = (),
    stream: TextIO | None = None,
    level: int = logging.INFO,
    journal_stream: str | None = None,
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as text or JSON lines; return the handler.

    When ``stream`` is the journal (``journal_stream``, systemd's JOURNAL_STREAM), each line
    starts with its syslog priority (``<4>`` for a warning) and text lines leave the time to
    the journal.

    Replaces the root logger's handlers. The libraries' loggers are held at WARNING unless
    ``level`` is DEBUG (``--verbose``), so the log says what the watcher did.
    """
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    journal = is_journal(out, journal_stream)
    formatter: logging.Formatter = (
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter(JOURNAL_TEXT_FORMAT if journal else TEXT_FORMAT)
    )
    handler.setFormatter(JournalPrefix(formatter) if journal else formatter)
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_libraries(verbose=level <= logging.DEBUG)
    return handler
