"""The ``watcher`` command as a user meets it: output, files, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT, RULES_DIR
from tests.factories import rule_yaml, write_rule
from watcher.cli import main

EXAMPLE_FEED = PROJECT / "watcher" / "examples" / "arxiv-rss-sample.xml"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No developer's .env or Slack/SMTP settings may leak into these runs.
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_HOST", "MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)


def once(data: Path, *extra: str) -> int:
    return main(
        [
            "once",
            "--feed",
            str(EXAMPLE_FEED),
            "--rules",
            str(RULES_DIR),
            "--data",
            str(data),
            *extra,
        ]
    )


def test_once_prints_the_digest_saves_it_and_a_second_run_says_nothing_is_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert once(data) == 0
    out, err = capsys.readouterr()
    assert "# Sparse Mixture-of-Experts Routing Under 4-bit Weight Quantization" in out
    assert "> https://arxiv.org/abs/2611.04150v2" in out
    assert "Self-Supervised Depth Estimation" not in out  # matches no topic
    assert "Sparsity-Aware Training Schedules" not in out  # a replacement, not a new paper
    saved = list((data / "digests").glob("**/*.md"))
    assert [str(p.relative_to(data / "digests")) for p in saved] == ["efficient-ml/2026-11-10.md"]
    assert saved[0].read_text(encoding="utf-8") in out
    assert "7 new papers, 4 matches" in err  # the replacement is not a new paper

    assert once(data) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert [line for line in err.splitlines() if line.startswith("No new papers")] == [
        "No new papers: the 8 papers in 1 feed(s) were all seen before."
    ]


def test_preview_renders_every_format_and_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    base = ["preview", "--feed", str(EXAMPLE_FEED), "--rules", str(RULES_DIR), "--data", str(data)]
    assert main(base) == 0
    assert "# Structured Pruning of Attention Heads" in capsys.readouterr().out
    assert main([*base, "--format", "html"]) == 0
    html = capsys.readouterr().out
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "p&lt;s/d" in html
    assert main([*base, "--format", "text"]) == 0
    assert "Structured Pruning of Attention Heads" in capsys.readouterr().out
    assert not data.exists() or not any(data.rglob("*.json"))

    assert once(data) == 0  # preview consumed nothing: the real cycle still delivers
    assert "Structured Pruning" in capsys.readouterr().out


def test_preview_after_once_says_the_papers_were_seen_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README's order: `once` on the sample, then `preview` on it. Empty, and it says why.
    data = tmp_path / "data"
    assert once(data) == 0
    capsys.readouterr()
    base = ["preview", "--feed", str(EXAMPLE_FEED), "--rules", str(RULES_DIR), "--data", str(data)]
    assert main(base) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        "Nothing to send: the 8 papers in 1 feed(s) were all seen before (a preview shows "
        "what the next `watcher once` would send)." in err.splitlines()
    )


def test_rules_check_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    write_rule(rules / "good.yaml", rule_yaml("good", {"T": ["prun*"]}))
    write_rule(rules / "bad.yaml", rule_yaml("bad", {"T": []}))
    write_rule(rules / "typo.yaml", "name: typo\nfeeds: [cs.LG]\ntopic:\n  - name: T\n")
    assert main(["rules", "check", str(rules)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{rules / 'bad.yaml'}:5: topics[0].any: the term list is empty" in out
    assert any(line.startswith(f"{rules / 'typo.yaml'}:3: topic:") for line in out)
    assert out[-1].endswith("1 valid subscription (good); with errors")


def test_rules_check_passes_on_the_shipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(RULES_DIR)]) == 0
    assert "efficient-ml" in capsys.readouterr().out


def test_a_bad_rule_file_is_skipped_and_the_rest_still_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "efficient-ml.yaml").write_bytes((RULES_DIR / "efficient-ml.yaml").read_bytes())
    (rules / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    code = main(
        ["once", "--feed", str(EXAMPLE_FEED), "--rules", str(rules), "--data", str(tmp_path / "d")]
    )
    out, err = capsys.readouterr()
    assert code == 1  # something needs attention...
    assert "broken.yaml:" in err
    assert "# Structured Pruning of Attention Heads" in out  # ...but the good rules ran


def test_no_rules_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["once", "--rules", str(tmp_path / "missing"), "--data", str(tmp_path)]) == 1
    assert "missing" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["once"], ["preview"], ["rules"], ["rules", "check"]])
def test_every_command_explains_itself(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "watcher.cli", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "usage: watcher" in result.stdout
    assert len(result.stdout.splitlines()) > 4


@pytest.mark.parametrize(
    ("feed", "hint"), [("cs.LGG", "did you mean cs.LG?"), ("cs.ML", "did you mean stat.ML?")]
)
def test_a_mistyped_category_given_as_feed_is_refused_with_the_likely_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], feed: str, hint: str
) -> None:
    # Not a path, not a category: before, it was looked for as a local file of that name.
    with pytest.raises(SystemExit) as exit_:
        main(["once", "--feed", feed, "--rules", str(RULES_DIR), "--data", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --feed: '{feed}' is not an arXiv category" in err and hint in err
    assert not (tmp_path / "state.json").exists()  # refused before anything ran


@pytest.mark.parametrize(
    "command",
    [["retry", "k"], ["confirm", "k"], ["drop", "k"], ["repair"], ["repair", "--previous"]],
)
def test_commands_on_a_mistyped_data_directory_say_so_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    typo = tmp_path / "dta"
    assert main([*command, "--data", str(typo)]) == 1
    err = capsys.readouterr().err
    assert f"{typo}: no data directory here: nothing has run with it" in err
    assert not typo.exists()
