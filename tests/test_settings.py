"""Settings from the environment and .env: defaults, validation, no secrets in repr, and no
error naming a variable the settings do not read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from watcher.errors import SettingsError
from watcher.notify.email import SmtpConfig
from watcher.settings import load_settings, read_environment


def test_defaults_need_nothing_configured() -> None:
    settings = load_settings({})
    assert settings.data_dir == Path("data")
    assert settings.arxiv_rss_url == "https://rss.arxiv.org/rss/"
    assert settings.arxiv_min_interval == 3.0
    assert not settings.slack_configured and not settings.email_configured
    assert settings.smtp_port == 587


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMTP_PORT", "smtp"),
        ("SMTP_PORT", "70000"),
        ("SMTP_SECURITY", "tls"),
        ("WATCHER_ARXIV_MIN_INTERVAL", "-1"),
        ("WATCHER_ARXIV_MIN_INTERVAL", "fast"),
        ("WATCHER_POLL_CRON", "at midnight"),
        ("WATCHER_POLL_TIMEZONE", "Mars/Olympus"),
        ("WATCHER_LOG_FORMAT", "xml"),
        ("WATCHER_ARCHIVE_DAYS", "1.5"),
    ],
)
def test_a_malformed_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value})
    assert str(caught.value).startswith(f"{name}: ")
    assert value in str(caught.value)


def test_secrets_never_appear_in_repr() -> None:
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-secret-token",
            "SLACK_WEBHOOK_URL": "https://hooks.example/secret-path",
            "SMTP_PASSWORD": "hunter2",
            "SMTP_HOST": "mail.example.org",
            "MAIL_FROM": "w@example.org",
        }
    )
    assert settings.slack_configured and settings.email_configured
    shown = repr(settings)
    for secret in ("xoxb-secret-token", "secret-path", "hunter2"):
        assert secret not in shown


def test_env_file_fills_in_under_the_real_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SMTP_HOST=from-file\nWATCHER_CONTACT=me@example.org\n", encoding="utf-8")
    monkeypatch.setenv("SMTP_HOST", "from-environment")
    monkeypatch.delenv("WATCHER_CONTACT", raising=False)
    settings = load_settings(read_environment(env_file))
    assert settings.smtp_host == "from-environment"
    assert settings.user_agent.endswith("(mailto:me@example.org)")


def test_a_bad_smtp_timeout_names_no_made_up_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        SmtpConfig(host="127.0.0.1", port=25, mail_from="me@example.org", timeout=0)
    assert caught.value.where == "SMTP"
    assert "SMTP_TIMEOUT" not in str(caught.value)
    assert "timeout must be positive" in str(caught.value)


def test_every_variable_an_error_names_is_one_the_settings_read() -> None:
    settings = (PROJECT / "watcher" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', settings))
    named = set()
    for path in (PROJECT / "watcher").rglob("*.py"):
        named |= set(re.findall(r'where="([A-Z][A-Z0-9_]*_[A-Z0-9_]+)"', path.read_text()))
    assert named and named <= read, named - read
