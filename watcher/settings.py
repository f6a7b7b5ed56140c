"""Settings from the environment (and a ``.env`` file beside the working directory).

The only module that knows variable names. Secrets live here and nowhere else: rule files
name destinations, never tokens, and ``Settings.__repr__`` hides every secret.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from watcher import __version__
from watcher.errors import SettingsError
from watcher.models import FeedbackChannel

DEFAULT_RSS_URL = "https://rss.arxiv.org/rss/"
DEFAULT_API_URL = "https://export.arxiv.org/api/query"
Security = Literal["starttls", "ssl", "none"]
LogFormat = Literal["text", "json"]
SMTP_SECURITY: dict[str, Security] = {"starttls": "starttls", "ssl": "ssl", "none": "none"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    rules_dir: Path = Path("rules")
    arxiv_rss_url: str = DEFAULT_RSS_URL
    arxiv_api_url: str = DEFAULT_API_URL
    arxiv_min_interval: float = 3.0
    contact: str = ""
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_webhook_url: str | None = field(default=None, repr=False)
    slack_api_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_security: Security = "starttls"
    mail_from: str | None = None
    # Signs every webhook POST (X-Watcher-Signature: sha256=HMAC of the body) when set.
    webhook_secret: str | None = field(default=None, repr=False)
    # The daemon's rhythm: poll shortly after arXiv rebuilds its feeds (midnight US-Eastern,
    # Monday to Friday), and re-check stale or failed feeds later the same morning.
    poll_cron: str = "10 0 * * mon-fri"
    recheck_cron: str = "0 3,6 * * mon-fri"
    poll_timezone: str = "America/New_York"
    poll_interval: float | None = None  # seconds; replaces both crons (tests, mirrors)
    rules_reload_interval: float = 1.0
    log_format: LogFormat = "text"
    archive_days: int = 90
    # Set by systemd when stderr goes to the journal ("device:inode" of that stream): log
    # lines then carry their priority as a <N> prefix (watcher.logs.configure).
    journal_stream: str | None = None
    # Feedback where people read (README "Feedback from Slack and email"): the app-level
    # token of Socket Mode (xapp-...), the address the daemon's small web endpoint is
    # reached at from outside, where it listens, and the key its links are signed with.
    slack_app_token: str | None = field(default=None, repr=False)
    public_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    secret_key: str | None = field(default=None, repr=False)
    # Every variable as read (environment over .env): where a feed URL's ``${NAME}`` is
    # looked up, at fetch time only (watcher.app.build_fetcher). Never shown.
    variables: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def user_agent(self) -> str:
        # arXiv's terms of use ask for a User-Agent that names the tool and a contact.
        contact = f" (mailto:{self.contact})" if self.contact else ""
        return f"arxiv-watcher/{__version__}{contact}"

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token or self.slack_webhook_url)

    @property
    def email_configured(self) -> bool:
        return bool(self.smtp_host and self.mail_from)

    @property
    def slack_feedback(self) -> bool:
        """Buttons in Slack digests: they need the bot token (a webhook message cannot be
        clicked back to us) and the app-level token the daemon receives the clicks with."""
        return bool(self.slack_bot_token and self.slack_app_token)

    @property
    def email_feedback(self) -> bool:
        """Signed links in email digests: they need the address the endpoint is reached at."""
        return bool(self.public_url)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build Settings from a mapping of environment variables; raise SettingsError naming the
    variable when a value is malformed."""

    def text(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    def number(name: str, default: float) -> float:
        raw = text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"expected a number, got {raw!r}", where=name) from None
        if value < 0:
            raise SettingsError(f"must not be negative, got {raw!r}", where=name)
        return value

    raw_security = (text("SMTP_SECURITY") or "starttls").lower()
    if raw_security not in SMTP_SECURITY:
        raise SettingsError(
            f"expected one of {', '.join(SMTP_SECURITY)}, got {raw_security!r}",
            where="SMTP_SECURITY",
        )
    security = SMTP_SECURITY[raw_security]
    default_port = {"starttls": 587, "ssl": 465, "none": 25}[security]
    port = number("SMTP_PORT", default_port)
    if port != int(port) or not 0 < port < 65536:
        raise SettingsError(f"expected a port number, got {text('SMTP_PORT')!r}", where="SMTP_PORT")

    log_format = (text("WATCHER_LOG_FORMAT") or "text").lower()
    if log_format not in ("text", "json"):
        raise SettingsError(
            f"expected text or json, got {log_format!r}", where="WATCHER_LOG_FORMAT"
        )
    poll_timezone = text("WATCHER_POLL_TIMEZONE") or "America/New_York"
    try:
        ZoneInfo(poll_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"unknown time zone {poll_timezone!r}", where="WATCHER_POLL_TIMEZONE"
        ) from None
    crons = {
        name: text(name) or default
        for name, default in (
            ("WATCHER_POLL_CRON", Settings.poll_cron),
            ("WATCHER_RECHECK_CRON", Settings.recheck_cron),
        )
    }
    for name, line in crons.items():
        try:
            CronTrigger.from_crontab(line, timezone=ZoneInfo(poll_timezone))
        except ValueError as exc:
            raise SettingsError(f"not a 5-field cron line {line!r}: {exc}", where=name) from None
    poll_interval = number("WATCHER_POLL_INTERVAL", 0.0) or None
    archive_days = number("WATCHER_ARCHIVE_DAYS", 90)
    if archive_days != int(archive_days) or archive_days < 1:
        raise SettingsError(
            f"expected a whole number of days, got {text('WATCHER_ARCHIVE_DAYS')!r}",
            where="WATCHER_ARCHIVE_DAYS",
        )

    app_token = text("SLACK_APP_TOKEN")
    if app_token is not None and not app_token.startswith("xapp-"):
        raise SettingsError(
            "expected an app-level token (xapp-...) with the connections:write scope",
            where="SLACK_APP_TOKEN",
        )
    public_url = text("WATCHER_PUBLIC_URL")
    if public_url is not None:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise SettingsError(
                f"expected an http(s) address such as https://papers.example.org/watcher, "
                f"got {public_url!r}",
                where="WATCHER_PUBLIC_URL",
            )
        public_url = public_url.rstrip("/")
    http_host, http_port = _address(text("WATCHER_HTTP_ADDRESS") or "127.0.0.1:8765")
    secret_key = text("WATCHER_SECRET_KEY")
    if secret_key is not None and len(secret_key) < 32:
        raise SettingsError(
            "too short to sign links with: use at least 32 random characters "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))'), or leave it "
            "unset and one is generated into the data directory",
            where="WATCHER_SECRET_KEY",
        )

    return Settings(
        data_dir=Path(text("WATCHER_DATA_DIR") or "data"),
        rules_dir=Path(text("WATCHER_RULES_DIR") or "rules"),
        arxiv_rss_url=text("WATCHER_ARXIV_RSS_URL") or DEFAULT_RSS_URL,
        arxiv_api_url=text("WATCHER_ARXIV_API_URL") or DEFAULT_API_URL,
        arxiv_min_interval=number("WATCHER_ARXIV_MIN_INTERVAL", 3.0),
        contact=text("WATCHER_CONTACT") or "",
        slack_bot_token=text("SLACK_BOT_TOKEN"),
        slack_webhook_url=text("SLACK_WEBHOOK_URL"),
        slack_api_url=text("SLACK_API_URL"),
        smtp_host=text("SMTP_HOST"),
        smtp_port=int(port),
        smtp_user=text("SMTP_USER"),
        smtp_password=text("SMTP_PASSWORD"),
        smtp_security=security,
        mail_from=text("MAIL_FROM"),
        webhook_secret=text("WATCHER_WEBHOOK_SECRET"),
        poll_cron=crons["WATCHER_POLL_CRON"],
        recheck_cron=crons["WATCHER_RECHECK_CRON"],
        poll_timezone=poll_timezone,
        poll_interval=poll_interval,
        rules_reload_interval=number("WATCHER_RULES_RELOAD_INTERVAL", 1.0) or 1.0,
        log_format="json" if log_format == "json" else "text",
        archive_days=int(archive_days),
        # systemd's, not a setting of ours (so not in .env.example): it says where stderr goes.
        journal_stream=environ.get("JOURNAL_STREAM") or None,
        slack_app_token=app_token,
        public_url=public_url,
        http_host=http_host,
        http_port=http_port,
        secret_key=secret_key,
        variables=dict(environ),
    )


def feedback_channels(settings: Settings) -> tuple[FeedbackChannel, ...]:
    """Whether each way of giving feedback is on, as the settings say (the running daemon
    reports the live state: connected or not, listening or not)."""
    if not settings.slack_app_token:
        slack = FeedbackChannel("slack", False, "off: SLACK_APP_TOKEN is not set (no buttons)")
    elif not settings.slack_bot_token:
        slack = FeedbackChannel(
            "slack", False, "off: buttons need SLACK_BOT_TOKEN (webhook posts cannot take clicks)"
        )
    else:
        slack = FeedbackChannel("slack", True, "on: received by `watcher run` over Socket Mode")
    if settings.public_url:
        email = FeedbackChannel(
            "email",
            True,
            f"on: links to {settings.public_url}, served by `watcher run` on "
            f"{settings.http_host}:{settings.http_port}",
        )
    else:
        email = FeedbackChannel("email", False, "off: WATCHER_PUBLIC_URL is not set (no links)")
    return slack, email


def _address(raw: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8765`` for IPv6) of WATCHER_HTTP_ADDRESS."""
    host, sep, port = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(
            f"expected host:port such as 127.0.0.1:8765, got {raw!r}",
            where="WATCHER_HTTP_ADDRESS",
        )
    return host, int(port)


def add_dir_arguments(
    parser: argparse.ArgumentParser, *, rules: str | None = "rules directory", data: bool = True
) -> None:
    """``--rules`` (described as ``rules``; None: no such option) and ``--data`` for a
    command; ``with_dirs`` applies what they name."""
    if rules is not None:
        parser.add_argument(
            "--rules", type=Path, help=f"{rules} (default: WATCHER_RULES_DIR, or ./rules)"
        )
    if data:
        parser.add_argument(
            "--data", type=Path, help="data directory (default: WATCHER_DATA_DIR, or ./data)"
        )


def with_dirs(settings: Settings, rules: Path | None, data: Path | None) -> Settings:
    """``settings`` with the rules and data directories a command line named, if any."""
    if rules is not None:
        settings = replace(settings, rules_dir=rules)
    if data is not None:
        settings = replace(settings, data_dir=data)
    return settings


def read_environment(env_file: Path = Path(".env")) -> dict[str, str]:
    """The process environment with ``.env`` values filled in underneath it (the real
    environment wins, so a systemd EnvironmentFile or ``docker --env-file`` can override)."""
    from dotenv import dotenv_values

    merged = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    merged.update(os.environ)
    return merged
