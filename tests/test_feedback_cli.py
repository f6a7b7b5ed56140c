"""``watcher feedback`` and the feedback in ``watcher status``, as a user meets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PROJECT, RULES_DIR
from tests.factories import rule_yaml, write_rule
from watcher.cli import main
from watcher.feedback import Vote
from watcher.store import FEEDBACK_DIR, feedback_path, read_feedback

EXAMPLE_FEED = PROJECT / "watcher" / "examples" / "arxiv-rss-sample.xml"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_HOST", "MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)


def feedback(data: Path, *args: str, rules: Path = RULES_DIR) -> int:
    return main(["feedback", *args, "--rules", str(rules), "--data", str(data)])


def test_like_dislike_forget_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert feedback(data, "like", "2409.12121", "arXiv:2409.12122v2", "-s", "efficient-ml") == 0
    assert capsys.readouterr().out.splitlines() == [
        "2409.12121: liked for efficient-ml",
        "2409.12122: liked for efficient-ml",
    ]
    assert feedback(data, "like", "https://arxiv.org/abs/2409.12121v3", "-s", "efficient-ml") == 0
    assert "2409.12121: already liked" in capsys.readouterr().out
    assert feedback(data, "dislike", "2409.12121", "--subscription", "Efficient-ML") == 0
    assert "2409.12121: disliked (was liked) for efficient-ml" in capsys.readouterr().out
    assert feedback(data, "forget", "2409.12122", "2409.99999", "-s", "efficient-ml") == 0
    out = capsys.readouterr().out
    assert "2409.12122: like forgotten" in out and "2409.99999: had no vote" in out

    mine = read_feedback(data).for_subscription("efficient-ml")
    assert (mine.likes, mine.dislikes) == (frozenset(), frozenset({"2409.12121"}))
    assert feedback(data, "list") == 0
    out = capsys.readouterr().out
    assert "efficient-ml: 0 likes, 1 dislike" in out
    assert "dislike  2409.12121" in out and "(not in the archive yet)" in out


def test_a_vote_on_an_archived_paper_is_listed_with_its_title(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    once = ["once", "--feed", str(EXAMPLE_FEED), "--rules", str(RULES_DIR), "--data", str(data)]
    assert main(once) == 0
    assert feedback(data, "like", "2611.04150v2", "-s", "efficient-ml") == 0
    capsys.readouterr()
    assert feedback(data, "list", "--subscription", "efficient-ml") == 0
    out = capsys.readouterr().out
    assert "Knowledge Distillation with Noisy Teachers: When Does the Student Surpass?" in out


def test_an_unknown_subscription_is_exit_2_naming_the_ones_there_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert feedback(data, "like", "2409.12121", "-s", "efficent-ml") == 2
    err = capsys.readouterr().err
    assert "unknown subscription 'efficent-ml'" in err and "have: efficient-ml" in err
    assert feedback(data, "list", "-s", "efficent-ml") == 2
    assert not (data / FEEDBACK_DIR).exists()


def test_a_rule_file_that_does_not_load_is_named_as_the_likely_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    write_rule(rules / "good.yaml", rule_yaml("good"))
    write_rule(rules / "broken.yaml", "name: broken\nfeeds: 3\n")
    assert feedback(tmp_path / "data", "like", "2409.12121", "-s", "broken", rules=rules) == 2
    assert "1 rule file that do not load" in capsys.readouterr().err


def test_a_non_arxiv_id_is_exit_2_naming_it_and_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert feedback(data, "like", "2409.12121", "doi:10.1/x", "-s", "efficient-ml") == 2
    err = capsys.readouterr().err
    assert "'doi:10.1/x': not an arXiv id" in err
    assert not (data / FEEDBACK_DIR).exists()  # not even the good one


def test_status_shows_feedback_per_subscription_and_a_damaged_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert feedback(data, "like", "2409.00001", "2409.00002", "-s", "efficient-ml") == 0
    assert feedback(data, "dislike", "2409.00003", "-s", "efficient-ml") == 0
    capsys.readouterr()
    status = ["status", "--rules", str(RULES_DIR), "--data", str(data)]
    assert main(status) == 0
    assert "  efficient-ml: 2 likes, 1 dislike" in capsys.readouterr().out

    damaged = feedback_path(data, "efficient-ml")
    damaged.write_text("{", encoding="utf-8")
    assert main(status) == 1
    out = capsys.readouterr().out
    assert f"FEEDBACK: {damaged}: corrupt JSON" in out
    assert "a feedback file cannot be read" in out
    # The way back the message names works: the version before the last write returns.
    assert main(["repair", "--previous", "--data", str(data)]) == 0
    book = read_feedback(data).for_subscription("efficient-ml")
    assert book.likes == {"2409.00001", "2409.00002"} and not book.dislikes
    assert read_feedback(data).vote_of("efficient-ml", "2409.00001") is Vote.LIKE


def test_votes_of_a_subscription_whose_file_is_gone_are_listed_and_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules, data = tmp_path / "rules", tmp_path / "data"
    write_rule(rules / "a.yaml", rule_yaml("a"))
    write_rule(rules / "b.yaml", rule_yaml("b"))
    assert feedback(data, "like", "2409.00001", "-s", "b", rules=rules) == 0
    (rules / "b.yaml").unlink()
    capsys.readouterr()
    assert feedback(data, "list", "-s", "b", rules=rules) == 0
    assert "b: 1 like, 0 dislikes" in capsys.readouterr().out
    main(["status", "--rules", str(rules), "--data", str(data)])
    assert "  b: 1 like, 0 dislikes (no rule file has it)" in capsys.readouterr().out
