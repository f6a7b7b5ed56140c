"""What ``watcher once`` prints with many subscriptions: a line per digest, and the digests
themselves only when asked (``--show``) or when there is a single subscription."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.factories import rule_yaml, write_rule
from watcher.cli import main

EXAMPLE_FEED = PROJECT / "watcher" / "examples" / "arxiv-rss-sample.xml"
TERMS = {"quant": "quantiz*", "prune": "prun*", "attend": "attention"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_HOST", "MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)


def rules(tmp_path: Path, names: list[str]) -> Path:
    directory = tmp_path / "rules"
    for name in names:
        write_rule(directory / f"{name}.yaml", rule_yaml(name, {"T": [TERMS[name]]}))
    return directory


def once(rules_dir: Path, data: Path, *extra: str) -> int:
    argv = ["once", "--feed", str(EXAMPLE_FEED), "--rules", str(rules_dir), "--data", str(data)]
    return main([*argv, *extra])


def test_many_subscriptions_get_a_line_per_digest_and_no_bodies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert once(rules(tmp_path, list(TERMS)), data) == 0
    out, err = capsys.readouterr()
    assert out == ""  # no digest bodies
    lines = [line for line in err.splitlines() if line.startswith("delivered: ")]
    assert len(lines) == 3
    for name in TERMS:
        [line] = [line for line in lines if line.startswith(f"delivered: {name} ")]
        found = re.fullmatch(
            rf"delivered: {name} 2026-11-10 \((\d+) papers?\) -> local: (.+)", line
        )
        assert found is not None, line
        path = Path(found.group(2))
        assert path.parent == data / "digests" / name and path.is_file()
        assert path.read_text(encoding="utf-8").count("\n# ") + 1 >= int(found.group(1))


def test_show_prints_every_digest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert once(rules(tmp_path, list(TERMS)), tmp_path / "data", "--show") == 0
    out = capsys.readouterr().out
    for name in TERMS:
        assert f" -> {tmp_path / 'data' / 'digests' / name}" in out
    assert "# Structured Pruning of Attention Heads" in out


def test_a_single_subscription_still_prints_its_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert once(rules(tmp_path, ["prune"]), tmp_path / "data") == 0
    assert "# Structured Pruning of Attention Heads" in capsys.readouterr().out
