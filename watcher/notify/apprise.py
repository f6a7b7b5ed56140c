"""Any chat service through Apprise: Discord, Telegram, Matrix, Mattermost, ntfy, Teams...

``Destination("apprise", ("DISCORD_URL",))`` sends to the one Apprise URL held in the
environment variable ``DISCORD_URL`` (never in a rule file: the URL carries the secret).
The digest becomes messages that fit the service's body limit (watcher.render.chat), sent
one after another like a Slack webhook's: after each message the service accepted, the
outbox is told where the digest stands, so a digest cut short resumes after the last
accepted message instead of starting again.

What Apprise says of each send (its per-service result, and the log lines it captured for
it) decides what a failure is: the service refused the message (an HTTP 4xx other than
408/425/429: a wrong token, a deleted webhook) is permanent and waits for ``watcher retry``;
a connection that never opened or a 5xx is temporary; a send that timed out or lost its
connection after the request went out is *unknown* (it may have arrived).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import apprise
from apprise.plugins.base import NotifyBase

from watcher.errors import DeliveryError, DeliveryUnknown
from watcher.models import Destination, Digest, Receipt, ResumePoint
from watcher.notify import Progress, stopped_at
from watcher.notify.abort import abortable
from watcher.notify.http import refused_for_good, url_in
from watcher.render.chat import ChatMarkup, chat_messages

log = logging.getLogger(__name__)

# A service whose plugin keeps Apprise's generic body limit declares none of its own: the
# messages are kept to a size every chat service takes.
SAFE_DEFAULT_LIMIT = 4_000
# Room left for what Apprise's conversion to the service's dialect may add (Telegram's).
MARGIN = 0.05
# Services that render Markdown though their plugin declares plain text.
MARKDOWN_ANYWAY = frozenset({"mmost", "mmosts"})

_STATUS = re.compile(r"error=(\d{3})\b")
# Failures before the request went out (it surely did not arrive).
_NOT_SENT = re.compile(
    r"NewConnectionError|Failed to establish|ConnectTimeout|Connection refused|"
    r"Name or service not known|nodename nor servname|getaddrinfo|SSLError|CERTIFICATE",
    re.I,
)
# Failures after it went out: the service may have taken the message.
_MAYBE_SENT = re.compile(
    r"Read timed out|ReadTimeout|RemoteDisconnected|Connection aborted|reset by peer|"
    r"IncompleteRead|Connection broken|BrokenPipe",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Service:
    """What the watcher needs to know of the service an Apprise URL names."""

    name: str  # Apprise's name for it: "Discord", "Telegram"
    limit: int  # characters per message (UTF-16 code units)
    markup: ChatMarkup


def service_of(plugin: NotifyBase) -> Service:
    """The body limit and markup of the service behind a loaded Apprise URL."""
    declared = int(plugin.body_maxlen)
    limit = declared if declared != NotifyBase.body_maxlen and declared > 0 else SAFE_DEFAULT_LIMIT
    protocols = {str(p) for p in _as_tuple(getattr(plugin, "secure_protocol", ()))}
    protocols |= {str(p) for p in _as_tuple(getattr(plugin, "protocol", ()))}
    renders = plugin.resolve_format(apprise.NotifyFormat.MARKDOWN) == apprise.NotifyFormat.MARKDOWN
    markup: ChatMarkup = "markdown" if renders or protocols & MARKDOWN_ANYWAY else "text"
    return Service(str(plugin.service_name), int(limit * (1 - MARGIN)), markup)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(value)
    return (value,) if value else ()


class AppriseNotifier:
    """Sends a digest to the Apprise URL in ``environ[destination.target[0]]``."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        stop: threading.Event | None = None,
        min_interval: float | None = None,
    ) -> None:
        self._environ = environ
        self._clock = clock
        self.stop = stop
        # Seconds between two messages to one service; None: the plugin's own pacing (most
        # wait 5.5 s, which Apprise keeps to stay within the services' rate limits).
        self.min_interval = min_interval
        # Apprise logs every request at DEBUG, URLs (and so tokens) included: its records
        # stay with Apprise, captured per send for the result, and never reach our logs.
        apprise_log = logging.getLogger("apprise")
        apprise_log.propagate = False
        apprise_log.setLevel(logging.DEBUG)

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        return self.send_resumable(destination, digest, resume, lambda token: None)

    def send_resumable(
        self, destination: Destination, digest: Digest, resume: str | None, progress: Progress
    ) -> Receipt:
        """Send ``digest`` as messages that fit the service, starting after the last one an
        earlier attempt got accepted (``resume``), telling ``progress`` after each."""
        where = destination.key
        variable, url = url_in(self._environ, destination, "service's Apprise URL")
        secrets = _secret_parts(url)
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if not isinstance(plugin, NotifyBase):
            raise DeliveryError(
                f"{variable} holds no Apprise URL that Apprise can use (see "
                "https://github.com/caronc/apprise/wiki for each service's URL)",
                where=where,
                permanent=True,
            )
        if self.min_interval is not None:
            plugin.request_rate_per_sec = self.min_interval
        service = service_of(plugin)
        messages = chat_messages(digest, service.limit, service.markup)
        sender = apprise.Apprise()
        sender.add(plugin)
        body_format = (
            apprise.NotifyFormat.MARKDOWN
            if service.markup == "markdown"
            else apprise.NotifyFormat.TEXT
        )
        point = ResumePoint.parse(resume)
        start = point.next if point is not None and point.next < len(messages) else 0
        with abortable(self.stop) as active:
            for i in range(start, len(messages)):
                try:
                    result = sender.notify(
                        body=messages[i], title="", body_format=body_format, log_level=logging.DEBUG
                    )
                    error = _failure(result, service, variable, where, i, len(messages))
                except Exception as exc:  # a plugin that raised: Apprise's bug or ours
                    error = DeliveryError(
                        f"Apprise failed ({type(exc).__name__}) sending to {service.name}",
                        where=where,
                    )
                if error is not None:
                    if active.aborted:
                        error = active.explain(error)
                    raise _redacted(error, secrets, i, len(messages)) from None
                if i + 1 < len(messages):
                    progress(ResumePoint("", None, i + 1, len(messages)).token())
        reference = f"{service.name}: {len(messages)} message{'s' if len(messages) > 1 else ''}"
        return Receipt(destination=destination.key, reference=reference, delivered_at=self._clock())


def _failure(
    result: Any, service: Service, variable: str, where: str, index: int, total: int
) -> DeliveryError | None:
    """What Apprise's result for one message means: None when the service accepted it."""
    outcomes = list(result)
    if bool(result) and outcomes and all(bool(r) for r in outcomes):
        return None
    lines = [entry.message for r in outcomes for entry in r.logs()]
    timed_out = any(r.status == apprise.AppriseResultStatus.TIMEOUT for r in outcomes)
    text = "\n".join(lines)
    progress = f" (message {index + 1} of {total}; {index} went out before it)" if index else ""
    if timed_out or (_MAYBE_SENT.search(text) and not _NOT_SENT.search(text)):
        return DeliveryUnknown(
            f"{service.name} did not answer the message in time or dropped the connection "
            "after it went out: it may have arrived, so it is not resent on its own" + progress,
            where=where,
        )
    found = _STATUS.findall(text)
    status = int(found[-1]) if found else None
    if status is not None and refused_for_good(status):
        hint = (
            "check the token or webhook in the URL"
            if status in (401, 403, 404, 410)
            else "the service refused the message"
        )
        return DeliveryError(
            f"{service.name} answered HTTP {status}: {hint} held in {variable}, then "
            "watcher retry" + progress,
            where=where,
            permanent=True,
        )
    if status is not None:
        why = f"answered HTTP {status}"
    elif _NOT_SENT.search(text):
        why = "could not be reached"
    else:
        warning = next((line for line in lines if "error" in line.lower()), "")
        why = f"failed ({warning[:200]})" if warning else "failed"
    return DeliveryError(
        f"{service.name} {why}; will retry on the next cycle" + progress, where=where
    )


def _redacted(error: DeliveryError, secrets: list[str], index: int, total: int) -> DeliveryError:
    """``error`` with no part of the URL's secrets in it, carrying where the digest stands."""
    message = error.message
    for secret in secrets:
        message = message.replace(secret, "***")
    clean = type(error)(message, where=error.where, permanent=error.permanent)
    return stopped_at(clean, ResumePoint("", None, index, total))


def _secret_parts(url: str) -> list[str]:
    """The pieces of an Apprise URL that may be secret (tokens in the host, path, user,
    password or query), longest first, so an error can never quote one."""
    parts = [url]
    try:
        split = urlsplit(url)
    except ValueError:
        return parts
    pieces = [split.netloc, split.username or "", split.password or "", split.hostname or ""]
    pieces += split.path.split("/") + re.split(r"[&=]", split.query)
    parts += [unquote(p) for p in pieces if len(p) >= 6] + [p for p in pieces if len(p) >= 6]
    return sorted(set(parts), key=len, reverse=True)
