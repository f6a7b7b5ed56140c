"""Secrets out of what the transports report: which values are secret (``secrets_of``), a
notifier wrapper whose errors never quote one (``RedactingNotifier``), and ``redacted`` for
any JSON-able value (the daemon's heartbeat) on its way to disk."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from watcher import logs
from watcher.errors import DeliveryError
from watcher.models import Destination, Digest, Receipt, Subscription
from watcher.notify import Notifier, Progress, Settles, is_repeatable, send_tracked
from watcher.settings import Settings

_SECRET_NAME = re.compile(r"TOKEN|PASSW|SECRET|WEBHOOK|API_?KEY|CREDENTIAL", re.I)


def secrets_of(
    settings: Settings, environ: Mapping[str, str], subscriptions: Sequence[Subscription] = ()
) -> list[str]:
    """Values that must never reach a log line, the heartbeat or ``watcher status``: the
    settings' secrets, every variable whose name says it holds one, and the variables the
    subscriptions' destinations name (a Slack ``webhook_env``, an Apprise or webhook URL's
    variable), whatever their names."""
    found = [
        settings.slack_bot_token,
        settings.slack_webhook_url,
        settings.smtp_password,
        settings.webhook_secret,
        settings.slack_app_token,
        settings.secret_key,
    ]
    found += [value for name, value in environ.items() if _SECRET_NAME.search(name)]
    found += [
        environ.get(dest.secret_variable, "")
        for sub in subscriptions
        for dest in sub.deliver
        if dest.secret_variable
    ]
    return [value for value in found if value]


@dataclass(frozen=True)
class RedactingNotifier:
    """A notifier whose errors have every secret replaced by ``***`` before the pipeline
    records them (each notifier scrubs its own secrets; this catches the others too)."""

    inner: Notifier
    secrets: tuple[str, ...]

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        return self.send_resumable(destination, digest, resume, lambda token: None)

    def send_resumable(
        self, destination: Destination, digest: Digest, resume: str | None, progress: Progress
    ) -> Receipt:
        try:
            return send_tracked(self.inner, destination, digest, resume, progress)
        except DeliveryError as error:
            message = logs.redact(error.message, self.secrets)
            where = logs.redact(error.where, self.secrets)
            if (message, where) == (error.message, error.where):
                raise
            raise type(error)(
                message, where=where, permanent=error.permanent, resume=error.resume
            ) from None

    @property
    def repeatable(self) -> bool:
        return is_repeatable(self.inner)

    def settle(self) -> None:
        if isinstance(self.inner, Settles):
            self.inner.settle()


def redacted(value: Any, secrets: Sequence[str]) -> Any:
    """A JSON-able value with every secret in its strings replaced by ``***``."""
    if isinstance(value, str):
        return logs.redact(value, secrets)
    if isinstance(value, Mapping):
        return {key: redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(item, secrets) for item in value]
    return value
