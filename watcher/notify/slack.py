"""Slack delivery: a bot token (chat.postMessage, summary + thread replies) or an incoming
webhook (messages in sequence). The edge around the pure :mod:`watcher.render.slack`.

(About 520 lines: both ways of posting share the error mapping, pacing and resumption.)

Secrets (the token, webhook URLs) come from the environment, never from rule files, and never
reach an exception message or a log line: slack_sdk's own debug logging (request URLs,
bodies) goes to a private logger whose filter redacts them.

``stop`` (the daemon's stop request) ends every wait (pacing, Retry-After) and shuts the
connection of a post in progress at once (watcher.notify.abort).
"""

from __future__ import annotations

import http.client
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from watcher.errors import DeliveryError, DeliveryUnknown
from watcher.fetch import parse_retry_after
from watcher.models import Destination, Digest, Receipt, ResumePoint
from watcher.notify import Progress, stopped_at
from watcher.notify.abort import abortable
from watcher.render.slack import SlackMessage, build_messages

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
MAX_RETRY_AFTER = 60.0  # longer waits are left to the next cycle rather than blocking it

AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive"})
BLOCK_ERRORS = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "too_many_blocks", "no_text"}
)
WEBHOOK_URL_ERRORS = frozenset(
    {"invalid_token", "no_service", "no_service_id", "no_team", "team_disabled", "invalid_team"}
)


@dataclass(frozen=True, slots=True)
class SlackConfig:
    """Slack settings from the environment. ``repr`` says whether a secret is set, never what."""

    bot_token: str | None = None
    webhook_url: str | None = None
    api_url: str | None = None  # None: Slack's; tests and proxies set SLACK_API_URL
    timeout: float = 30
    min_post_interval: float = 1.0
    # Papers carry "More like this" / "Less like this" buttons in bot-token posts (the
    # daemon listens for the clicks over Socket Mode: SLACK_APP_TOKEN is set).
    feedback: bool = False

    def __repr__(self) -> str:
        token = "set" if self.bot_token else None
        webhook = "set" if self.webhook_url else None
        return (
            f"SlackConfig(bot_token={token!r}, webhook_url={webhook!r}, "
            f"api_url={self.api_url!r}, timeout={self.timeout!r}, "
            f"min_post_interval={self.min_post_interval!r}, feedback={self.feedback!r})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SlackConfig:
        """Read SLACK_BOT_TOKEN, SLACK_WEBHOOK_URL and SLACK_API_URL (blank means unset)."""
        return cls(
            bot_token=environ.get("SLACK_BOT_TOKEN", "").strip() or None,
            webhook_url=environ.get("SLACK_WEBHOOK_URL", "").strip() or None,
            api_url=environ.get("SLACK_API_URL", "").strip() or None,
        )


class Build(Protocol):
    """Digest -> Slack messages (``render.slack.build_messages``); ``feedback``: with buttons;
    ``threaded``: the messages after the first are replies in its thread (not a webhook)."""

    def __call__(
        self, digest: Digest, *, feedback: bool = False, threaded: bool = True
    ) -> list[SlackMessage]: ...


class _Redactor(logging.Filter):
    """Replaces every known secret in a log record (and in any text we build) with ``***``."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 8:
            self.secrets.add(secret)
            # The path of a webhook URL is the secret part; it may be logged on its own.
            path = "/" + secret.split("://", 1)[1].partition("/")[2] if "://" in secret else ""
            if len(path) >= 12:
                self.secrets.add(path)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class _RateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, honouring Retry-After through an injected ``sleep`` and
    giving up (a temporary failure) when Slack asks for a longer wait than ``max_wait``."""

    def __init__(self, sleep: Callable[[float], None], max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return _retry_after(response.headers) <= MAX_RETRY_AFTER

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:  # pragma: no cover - _can_retry only accepts responses
            raise error or RuntimeError("no response to retry")
        state.next_attempt_requested = True
        self._sleep(_retry_after(response.headers))
        state.increment_current_attempt()


def _retry_after(headers: Mapping[str, Any]) -> float:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            wait = parse_retry_after(str(raw))
            return 1.0 if wait is None else wait
    return 1.0


class _Demote(logging.Filter):
    """slack_sdk logs its own ERROR line for every failed request, beside the one-line
    message the delivery error becomes: every record of it is demoted to DEBUG, shown only
    when our logger is at DEBUG (a private logger's level is not set by name, so this is
    where it is held down)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return log.isEnabledFor(logging.DEBUG)


def _sdk_logger(redactor: _Redactor) -> logging.Logger:
    """A private logger for slack_sdk, child of ours in the hierarchy, with the redactor,
    its records demoted to DEBUG.

    Not registered with logging's manager so each notifier gets its own filter (holding its
    own secrets) and nothing accumulates globally.
    """
    sdk = logging.Logger(f"{__name__}.sdk")
    sdk.parent = log
    sdk.addFilter(_Demote())
    sdk.addFilter(redactor)
    return sdk


class SlackNotifier:
    """Sends a Digest to a Slack channel (bot token) or an incoming webhook.

    ``Destination(kind="slack", target=("#channel",))`` posts with the bot token;
    ``options=(("webhook_env", "NAME"),)`` posts to the webhook URL held in ``environ[NAME]``
    instead. Without a bot token, ``SLACK_WEBHOOK_URL`` (``config.webhook_url``) is used.
    """

    def __init__(
        self,
        config: SlackConfig,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        build: Build = build_messages,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self._environ = environ or {}
        self._clock = clock
        self._monotonic = monotonic
        self.stop = stop
        # A stop request ends the waits at once (a stopped post then fails to connect).
        self._sleep = _waiting(stop) if stop is not None and sleep is time.sleep else sleep
        self._build = build
        self._last_post: dict[str, float] = {}
        self._redact = _Redactor()
        self._redact.add(config.bot_token)
        self._redact.add(config.webhook_url)
        self._sdk_log = _sdk_logger(self._redact)
        self._web: WebClient | None = None

    def __repr__(self) -> str:
        return f"SlackNotifier({self.config!r})"

    # --- entry point ----------------------------------------------------------------------

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        """Deliver ``digest``; return a Receipt whose reference is the first message's ts.

        Raises DeliveryError (``permanent`` when only the user can fix it) or DeliveryUnknown
        when a connection dropped after a request went out.
        """
        return self.send_resumable(destination, digest, resume, lambda token: None)

    def send_resumable(
        self, destination: Destination, digest: Digest, resume: str | None, progress: Progress
    ) -> Receipt:
        """``send``, telling ``progress`` where the digest stands after each message Slack
        accepted but the last (a ResumePoint token), before the next one goes out."""
        with abortable(self.stop) as active:
            try:
                return self._send(destination, digest, resume, progress)
            except DeliveryError as error:
                if active.aborted:
                    raise active.explain(error) from None
                raise

    def _send(
        self, destination: Destination, digest: Digest, resume: str | None, progress: Progress
    ) -> Receipt:
        where = self._where(destination)
        options = dict(destination.options)
        if destination.kind != "slack":
            raise DeliveryError(f"not a Slack destination: {destination.kind}", where=where)
        if any(_looks_secret(t) for t in destination.target):
            raise DeliveryError(
                "a URL or token in a rule file is refused (it would be a secret in a shared "
                "file): put it in an environment variable (a webhook: name it with webhook_env)",
                where=where,
                permanent=True,
            )
        env_name = options.get("webhook_env")
        # A webhook's message cannot be clicked back to us: buttons only in bot-token posts.
        # Nor can it thread: its messages say they follow one another.
        by_bot = not env_name and bool(self.config.bot_token)
        messages = self._build(digest, feedback=by_bot and self.config.feedback, threaded=by_bot)
        if env_name:
            url = self._environ.get(env_name, "").strip()
            if not url:
                raise DeliveryError(
                    f"environment variable {env_name} (webhook_env) is not set",
                    where=where,
                    permanent=True,
                )
            self._redact.add(url)
            reference = self._send_webhook(url, env_name, messages, where, resume, progress)
        elif self.config.bot_token:
            channel = self._channel(destination, where)
            reference = self._send_bot(channel, messages, where, resume, progress)
        elif self.config.webhook_url:
            reference = self._send_webhook(
                self.config.webhook_url, "SLACK_WEBHOOK_URL", messages, where, resume, progress
            )
        else:
            raise DeliveryError(
                "no Slack credentials: set SLACK_BOT_TOKEN (or SLACK_WEBHOOK_URL)",
                where=where,
                permanent=True,
            )
        return Receipt(destination=destination.key, reference=reference, delivered_at=self._clock())

    def _where(self, destination: Destination) -> str:
        if any(_looks_secret(t) for t in destination.target):
            return f"{destination.kind}:<redacted>"
        return self._redact(destination.key)

    @staticmethod
    def _channel(destination: Destination, where: str) -> str:
        if len(destination.target) != 1 or not destination.target[0].strip():
            raise DeliveryError(
                'name exactly one channel, e.g. slack: "#papers"', where=where, permanent=True
            )
        return destination.target[0].strip()

    # --- pacing ---------------------------------------------------------------------------

    def _pace(self, key: str) -> None:
        """At most one message per ``min_post_interval`` seconds per channel (Slack's limit)."""
        last = self._last_post.get(key)
        if last is not None:
            wait = last + self.config.min_post_interval - self._monotonic()
            if wait > 0:
                self._sleep(wait)
        self._last_post[key] = self._monotonic()

    # --- bot token ------------------------------------------------------------------------

    def _client(self) -> WebClient:
        if self._web is None:
            base_url = self.config.api_url or DEFAULT_API_URL
            self._web = WebClient(
                token=self.config.bot_token,
                base_url=base_url if base_url.endswith("/") else base_url + "/",
                timeout=math.ceil(self.config.timeout),
                logger=self._sdk_log,
                # Only 429s are retried here: slack_sdk's default also retries dropped
                # connections, which would resend a message that may already have arrived.
                retry_handlers=self._retry_handlers(),
            )
        return self._web

    def _retry_handlers(self) -> list[RetryHandler]:
        return [_RateLimitHandler(self._sleep)]

    def _send_bot(
        self,
        channel: str,
        messages: list[SlackMessage],
        where: str,
        resume: str | None,
        progress: Progress,
    ) -> str:
        # If the summary went out but a reply failed, the error carries where the thread
        # stopped (``resume``): the outbox keeps it, and the next attempt posts the remaining
        # replies into the same thread instead of starting the digest again. Messages are
        # built the same way from the same digest, so "the next message" is well defined.
        client = self._client()
        thread_channel, first_ts, start = _parse_resume(resume, channel)
        for i in range(start, len(messages)):
            message = messages[i]
            self._pace(channel)
            try:
                response = client.chat_postMessage(
                    channel=thread_channel,
                    text=message.text,
                    blocks=list(message.blocks),
                    thread_ts=first_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except SlackApiError as exc:
                error = self._api_error(exc, channel, where, i, len(messages), first_ts)
                stopped = ResumePoint(thread_channel, first_ts, i, len(messages))
                raise stopped_at(error, stopped) from None
            except Exception as exc:
                error = self._transport_error(exc, where, i, len(messages), first_ts)
                stopped = ResumePoint(thread_channel, first_ts, i, len(messages))
                raise stopped_at(error, stopped) from None
            if first_ts is None:
                first_ts = str(response.get("ts") or "")
                thread_channel = str(response.get("channel") or channel)
            if i + 1 < len(messages):
                progress(ResumePoint(thread_channel, first_ts, i + 1, len(messages)).token())
        return first_ts or ""

    def _api_error(
        self,
        exc: SlackApiError,
        channel: str,
        where: str,
        index: int,
        total: int,
        first_ts: str | None,
    ) -> DeliveryError:
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        data = getattr(response, "data", None)
        code = str(data.get("error", ""))[:100] if isinstance(data, dict) else ""
        permanent = True
        if code in AUTH_ERRORS:
            message = f"Slack rejected the token ({code}): check SLACK_BOT_TOKEN"
        elif code == "channel_not_found":
            message = f"channel {channel} not found: check the name in the rule file"
        elif code == "not_in_channel":
            message = f"invite the app to {channel}: /invite @your-app in that channel"
        elif code in {"is_archived", "channel_is_archived"}:
            message = f"channel {channel} is archived: unarchive it or change the rule file"
        elif code == "missing_scope":
            message = "the Slack app lacks the chat:write scope: add it and reinstall the app"
        elif code in BLOCK_ERRORS:
            message = f"Slack rejected the message ({code}): a bug in arxiv-watcher, please report"
        elif status == 429 or code == "ratelimited":
            permanent = False
            message = "rate limited by Slack; will retry on the next cycle"
        elif status >= 500:
            permanent = False
            message = f"Slack answered HTTP {status}; will retry on the next cycle"
        else:
            permanent = False
            message = f"Slack answered {code or f'HTTP {status}'}; will retry on the next cycle"
        return DeliveryError(
            self._redact(message + _progress(index, total, first_ts)),
            where=where,
            permanent=permanent,
        )

    def _transport_error(
        self, exc: Exception, where: str, index: int, total: int, first_ts: str | None
    ) -> DeliveryError:
        progress = _progress(index, total, first_ts)
        detail = self._redact(_describe(exc))
        if _maybe_delivered(exc):
            return DeliveryUnknown(
                f"connection lost after the message was sent ({detail}); it may have "
                f"arrived, so it is not resent automatically{progress}",
                where=where,
            )
        return DeliveryError(f"could not reach Slack ({detail}){progress}", where=where)

    # --- incoming webhook -----------------------------------------------------------------

    def _send_webhook(
        self,
        url: str,
        env_name: str,
        messages: list[SlackMessage],
        where: str,
        resume: str | None = None,
        progress: Progress = lambda token: None,
    ) -> str:
        # A webhook cannot start a thread: the summary and the pages go out one after another.
        client = WebhookClient(
            url,
            timeout=math.ceil(self.config.timeout),
            logger=self._sdk_log,
            retry_handlers=self._retry_handlers(),
        )
        key = f"webhook:{env_name}"
        _, _, start = _parse_resume(resume, "")
        for i in range(start, len(messages)):
            message = messages[i]
            self._pace(key)
            try:
                response = client.send(
                    text=message.text,
                    blocks=list(message.blocks),
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except Exception as exc:
                error = self._transport_error(exc, where, i, len(messages), None)
                raise stopped_at(error, ResumePoint("", None, i, len(messages))) from None
            if response.status_code == 200 and response.body.strip() == "ok":
                if i + 1 < len(messages):
                    progress(ResumePoint("", None, i + 1, len(messages)).token())
                continue
            error = self._webhook_error(response.status_code, response.body, env_name, where, i)
            raise stopped_at(error, ResumePoint("", None, i, len(messages)))
        return "webhook"

    def _webhook_error(
        self, status: int, body: str, env_name: str, where: str, index: int
    ) -> DeliveryError:
        code = body.strip()[:100] if len(body.strip()) < 100 else ""
        permanent = True
        if code in WEBHOOK_URL_ERRORS or (status in {401, 403, 404} and not code):
            message = (
                f"Slack rejected the webhook URL in {env_name} ({code or status}): "
                "create a new incoming webhook and update the variable"
            )
        elif code in {"channel_not_found", "channel_is_archived"} or status == 410:
            message = f"the webhook's channel is gone ({code or status}): create a new webhook"
        elif code in BLOCK_ERRORS or code in {"invalid_payload", "invalid_blocks"}:
            message = f"Slack rejected the message ({code}): a bug in arxiv-watcher, please report"
        elif status == 429:
            permanent = False
            message = "rate limited by Slack; will retry on the next cycle"
        else:
            permanent = False
            message = f"Slack answered HTTP {status} {code}".rstrip() + "; will retry next cycle"
        if index:
            message += f" (after {index} message(s) went out; all will be resent)"
        return DeliveryError(self._redact(message), where=where, permanent=permanent)


def _waiting(stop: threading.Event) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return sleep


def _looks_secret(target: str) -> bool:
    lowered = target.strip().lower()
    return "://" in lowered or "hooks.slack.com" in lowered or lowered.startswith("xox")


def _progress(index: int, total: int, first_ts: str | None) -> str:
    if not index:
        return ""
    where = f" as ts={first_ts}" if first_ts else ""
    return (
        f" (message {index + 1} of {total} failed after the summary went out{where};"
        " the next attempt carries on from there)"
    )


def _parse_resume(resume: str | None, channel: str) -> tuple[str, str | None, int]:
    """(channel, thread ts, index of the next message) from a ``resume`` token, or a fresh
    start. A token that does not parse starts afresh rather than losing messages."""
    point = ResumePoint.parse(resume)
    if point is None:
        return channel, None, 0
    return point.channel or channel, point.ts, point.next


def _maybe_delivered(exc: BaseException) -> bool:
    """True when the request left us and the answer was lost: it may have been processed.

    urllib wraps failures while connecting or sending in URLError (the request did not
    arrive); failures while reading the answer come through unwrapped.
    """
    if isinstance(exc, URLError):
        return False
    return isinstance(
        exc,
        http.client.RemoteDisconnected
        | ConnectionResetError
        | ConnectionAbortedError
        | BrokenPipeError
        | TimeoutError
        | http.client.IncompleteRead
        | http.client.BadStatusLine,
    )


def _describe(exc: BaseException) -> str:
    reason = exc.reason if isinstance(exc, URLError) else exc
    text = str(reason).strip()
    name = type(reason).__name__
    return f"{name}: {text}" if text else name
