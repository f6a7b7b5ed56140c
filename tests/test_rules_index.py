"""`watcher status` beside ten thousand rule files: what the last cycle found in each file is
remembered (rules-index.json), and status reads only the files changed since."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT
from tests.factories import rule_yaml, write_rule
from watcher.cli import main
from watcher.rules import load
from watcher.rules.index import INDEX_FILE, load_rules_indexed

EXAMPLE = PROJECT / "watcher" / "examples" / "arxiv-rss-sample.xml"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("WATCHER_", "SLACK_", "SMTP_")):
            monkeypatch.delenv(name)


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    real = load._load

    def counting(path: Path, folder: Path | None = None) -> Any:
        parsed.append(path.name)
        return real(path, folder)

    monkeypatch.setattr(load, "_load", counting)
    return parsed


def test_status_reads_only_the_rule_files_changed_since_the_last_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rules, data = tmp_path / "rules", tmp_path / "data"
    for n in range(30):
        write_rule(rules / f"s{n:02d}.yaml", rule_yaml(f"s{n:02d}", {"Q": ["quantiz*"]}))
    write_rule(rules / "broken.yaml", "name: [unclosed\n")
    args = ["--rules", str(rules), "--data", str(data)]
    assert main(["once", *args, "--feed", str(EXAMPLE)]) == 1  # a rule file is broken
    assert (data / INDEX_FILE).exists()
    capsys.readouterr()

    parsed = count_parses(monkeypatch)
    assert main(["status", *args]) == 1  # the broken file needs attention
    out = capsys.readouterr().out
    assert parsed == []  # nothing changed since the cycle: no file read
    assert "broken.yaml" in out and "30 " in out

    write_rule(rules / "broken.yaml", rule_yaml("fixed"))  # the user fixes it...
    (rules / "s00.yaml").unlink()  # ...and removes another
    assert main(["status", *args]) == 0
    out = capsys.readouterr().out
    assert parsed == ["broken.yaml"]  # only the changed file is read again
    assert "broken.yaml" not in out

    (data / INDEX_FILE).write_text("{not json")  # a damaged cache is rebuilt, never trusted
    assert main(["status", *args]) == 0
    assert len(parsed) == 1 + 30


def test_once_reads_again_only_the_rule_files_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rules, data = tmp_path / "rules", tmp_path / "data"
    for n in range(20):
        write_rule(rules / f"s{n:02d}.yaml", rule_yaml(f"s{n:02d}", {"Q": ["quantiz*"]}))
    args = ["once", "--rules", str(rules), "--data", str(data), "--feed", str(EXAMPLE)]
    assert main(args) == 0
    capsys.readouterr()
    parsed = count_parses(monkeypatch)
    assert main(args) == 0  # nothing new in the feed; the rules as they were
    assert parsed == []

    # An edit is seen at once: the file is read again, and the others are not.
    write_rule(rules / "s03.yaml", rule_yaml("s03", {"Q": ["sparse"]}, feeds=["cs.CL"]))
    write_rule(rules / "s05.yaml", rule_yaml("s03"))  # now a duplicate name: an error
    assert main(args) == 1
    err = capsys.readouterr().err
    assert sorted(parsed) == ["s03.yaml", "s05.yaml"]
    assert "s05.yaml:1: name: subscription name 's03' is already used by" in err
    ruleset, _ = load_rules_indexed(rules, data)  # from the cache the last run wrote...
    assert sorted(parsed) == ["s03.yaml", "s05.yaml", "s05.yaml"]  # (an error: read again)
    [edited] = [s for s in ruleset.subscriptions if s.name == "s03"]
    assert edited.feeds == ("cs.CL",)  # ...is what the file says now
    assert ruleset.subscriptions == load.load_rules(rules).subscriptions  # as if read afresh
