"""Settings from the environment (and a ``.env`` file beside the working directory).

The only module that knows variable names. Secrets live here and nowhere else: rule files
name destinations, never tokens, and ``Settings.__repr__`` hides every secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from watcher import __version__
from watcher.errors import SettingsError

DEFAULT_RSS_URL = "https://rss.arxiv.org/rss/"
DEFAULT_API_URL = "https://export.arxiv.org/api/query"
Security = Literal["starttls", "ssl", "none"]
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
    )


def read_environment(env_file: Path = Path(".env")) -> dict[str, str]:
    """The process environment with ``.env`` values filled in underneath it (the real
    environment wins, so a systemd EnvironmentFile or ``docker --env-file`` can override)."""
    from dotenv import dotenv_values

    merged = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    merged.update(os.environ)
    return merged
