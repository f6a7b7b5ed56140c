"""Rule files naming the Apprise, webhook and Atom destinations: what loads, and what is
refused with ``file:line: field`` (a URL, which carries the secret, never stands in YAML and
is never repeated in the error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import rule_yaml
from watcher.errors import RuleError
from watcher.models import Destination
from watcher.rules import load_rule_file

DISCORD = "https://discord.com/api/webhooks/1234567890/abcdefghijklmnopqrstuvwxyz"


def load(tmp_path: Path, *deliver: str) -> tuple[Destination, ...]:
    path = tmp_path / "r.yaml"
    path.write_text(rule_yaml("r", deliver=deliver), encoding="utf-8")
    return load_rule_file(path).deliver


def refused(tmp_path: Path, *deliver: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        load(tmp_path, *deliver)
    return caught.value


def test_the_three_destinations_load(tmp_path: Path) -> None:
    assert load(
        tmp_path,
        "apprise: DISCORD_URL",
        "webhook: N8N_URL",
        "atom: efficient-ml.xml",
        "atom: {path: /srv/feeds/ml.atom, entries: 50}",
    ) == (
        Destination("apprise", ("DISCORD_URL",)),
        Destination("webhook", ("N8N_URL",)),
        Destination("atom", ("efficient-ml.xml",)),
        Destination("atom", ("/srv/feeds/ml.atom",), (("entries", "50"),)),
    )


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("apprise: discord://1234567890/abcdefghijklmnopqrstuvwxyz", "deliver[0].apprise"),
        ("apprise: tgram://123456789:AAbbccddeeffgghh/12315544", "deliver[0].apprise"),
        ("webhook: https://n8n.example.org/webhook/abcdefghijklmnop", "deliver[0].webhook"),
        (f"apprise: {DISCORD}", "deliver[0]"),
        (
            "slack: {channel: '#x', webhook_env: https://example.org/abcdefghijklmnop}",
            "deliver[0].slack.webhook_env",
        ),
        ("slack: {channel: '#x', webhook_env: xoxb-abcdefghijklmnop}", "deliver[0]"),
    ],
)
def test_a_url_in_place_of_the_variable_is_refused_without_repeating_it(
    tmp_path: Path, item: str, field: str
) -> None:
    error = refused(tmp_path, item)
    assert error.line == 7 and error.field.startswith(field), str(error)
    assert "environment" in str(error)
    assert item.split(": ", 1)[1] not in str(error)
    assert "abcdefghijklmnop" not in str(error), str(error)


def test_a_discord_or_telegram_webhook_anywhere_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(rule_yaml("r") + f"description: post to {DISCORD}\n", encoding="utf-8")
    with pytest.raises(RuleError, match="looks like a token or webhook URL") as caught:
        load_rule_file(path)
    assert caught.value.field == "description" and DISCORD not in str(caught.value)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("apprise: discord url", "is not an environment variable name"),
        ("apprise", "say where"),
        ("atom: feed.html", "ends in .xml or .atom"),
        ("atom: ../../etc/feed.xml", "no '..'"),
        ("atom: https://example.org/feed.xml", "a file the watcher writes"),
        ("atom: {path: a.xml, entries: 0}", "from 1 to 10000"),
        ("atom: {entries: 5}", "missing required key 'path'"),
    ],
)
def test_bad_destinations_say_what_is_wrong(tmp_path: Path, item: str, message: str) -> None:
    error = refused(tmp_path, item)
    assert message in str(error) and error.line is not None and error.line >= 7, str(error)
