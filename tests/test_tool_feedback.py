"""What the tools say to the person using them: quiet default output, honest poll lines,
exit codes that agree with `watcher status`, and rule tools that say how to go on.

Feeds come from the local feed server, Slack from the local Slack stand-in; the noise tests
run `python -m watcher` as a user would, so logging is configured as in real use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests import factories
from tests.fakes import Run
from tests.feeds import Item, rss
from tests.feedserver import FeedServer, Reply
from tests.slackserver import Reply as SlackReply
from tests.slackserver import SlackServer
from watcher.cli import main
from watcher.store import Store

DAY = date(2026, 11, 10)
FEED = rss(DAY, [Item("2611.00001", "Quantization now"), Item("2611.00002", "Pruning too")])


def slack_rule(rules: Path, name: str = "a") -> None:
    rules.mkdir(exist_ok=True)
    text = f"""\
        name: {name}
        feeds: [cs.LG]
        topics:
          - name: Q
            any: ["quantiz*"]
        deliver:
          - slack: "#c"
        """
    (rules / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def servers() -> Iterator[tuple[FeedServer, SlackServer]]:
    with FeedServer() as feeds, SlackServer() as slack:
        feeds.route("/rss/cs.LG", Reply.feed(FEED))
        yield feeds, slack


def environment(feeds: FeedServer, slack: SlackServer) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("WATCHER_", "SLACK_"))},
        "WATCHER_ARXIV_RSS_URL": feeds.url("/rss/"),
        "WATCHER_ARXIV_API_URL": feeds.url("/api/query"),
        "WATCHER_ARXIV_MIN_INTERVAL": "0",
        "SLACK_BOT_TOKEN": "xoxb-test-token-1234",
        "SLACK_API_URL": slack.api_url,
    }


def watcher(tmp: Path, env: dict[str, str], *argv: str) -> Run:
    ran = subprocess.run(
        [sys.executable, "-m", "watcher", *argv],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return Run(ran.returncode, ran.stdout, ran.stderr)


# --- noise ---------------------------------------------------------------------------------


def test_once_prints_the_products_lines_only(
    tmp_path: Path, servers: tuple[FeedServer, SlackServer]
) -> None:
    feeds, slack = servers
    slack.script(SlackReply.server_error(), SlackReply.server_error(), SlackReply.server_error())
    slack_rule(tmp_path / "rules")
    env = environment(feeds, slack)
    ran = watcher(tmp_path, env, "once", "--rules", "rules", "--data", "data")
    lines = ran.err.splitlines()
    assert ran.code == 1, ran.err
    # One line for the poll, one for the delivery, one summary: no HTTP line per request,
    # no line of slack_sdk's own.
    assert [line.split(":")[0] for line in lines] == [
        "feed http",
        "failed",
        "2 new papers, 1 match, 0 digests delivered.",
    ]
    assert not [line for line in lines if "HTTP 200" in line or "slack_sdk" in line]

    verbose = watcher(tmp_path, env, "once", "--rules", "rules", "--data", "data", "--verbose")
    assert "DEBUG watcher.fetch" in verbose.err  # the request detail is there when asked for


# --- exit codes ----------------------------------------------------------------------------


def test_once_exits_1_while_a_permanent_failure_waits_as_status_does(
    tmp_path: Path, servers: tuple[FeedServer, SlackServer]
) -> None:
    feeds, slack = servers
    slack.script(SlackReply.slack_error("invalid_auth"))
    slack_rule(tmp_path / "rules")
    env = environment(feeds, slack)
    first = watcher(tmp_path, env, "once", "--rules", "rules", "--data", "data")
    assert first.code == 1
    assert "invalid_auth" in first.err
    # Nothing new and nothing retried on its own: the failure still waits for a person.
    again = watcher(tmp_path, env, "once", "--rules", "rules", "--data", "data")
    status = watcher(tmp_path, env, "status", "--rules", "rules", "--data", "data")
    assert status.code == 1
    assert again.code == 1, again.err
    assert "1 earlier delivery failed, waiting for you: see `watcher status`" in again.err


# --- rules test, check, explain -------------------------------------------------------------


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's folder: no .env, no WATCHER_ settings of the developer's."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("WATCHER_", "SLACK_", "SMTP_"))]:
        monkeypatch.delenv(name)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse: wrong arguments
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return Run(code, out, err)


def comment_rule(rules: Path, feeds: str = "[cs.LG]") -> Path:
    rules.mkdir(exist_ok=True)
    path = rules / "talks.yaml"
    text = f"""\
        name: talks
        feeds: {feeds}
        topics:
          - name: Accepted at NeurIPS
            any: [neurips]
            fields: [comment]
          - name: Quantization
            any: ["quantiz*"]
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_rules_test_takes_a_category_as_once_does(
    user: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = comment_rule(user / "rules")
    with FeedServer() as feeds:
        feeds.route("/rss/cs.LG", Reply.feed(FEED))
        monkeypatch.setenv("WATCHER_ARXIV_RSS_URL", feeds.url("/rss/"))
        monkeypatch.setenv("WATCHER_ARXIV_MIN_INTERVAL", "0")
        ran = run(capsys, "rules", "test", str(rule), "--feed", "cs.LG")
    assert ran.code == 0, ran.err
    assert "2 papers in 1 feed(s); 1 matched" in ran.out
    assert "2611.00001v1" in ran.out
    # A mistyped category is a usage error, as for once, not "no such file".
    typo = run(capsys, "rules", "test", str(rule), "--feed", "cs.LGG")
    assert typo.code == 2
    assert "did you mean cs.LG?" in typo.err


def test_rules_test_on_an_empty_archive_says_how_to_fill_it(
    user: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = comment_rule(user / "rules")
    ran = run(capsys, "rules", "test", str(rule), "--data", str(user / "data"))
    assert ran.code == 0
    assert "nothing to test against: the pool is empty; " in ran.out
    assert "run `watcher once` first" in ran.out
    assert f"`watcher rules test {rule} --feed cs.LG`" in ran.out


def test_rules_explain_with_a_wrong_id_is_a_usage_error(
    user: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, "rules", "explain", "foo", "--data", str(user / "data"))
    assert ran.code == 2
    assert "'foo' is not an arXiv id" in ran.err


def test_rules_check_on_a_folder_without_rule_files_fails_as_once_does(
    user: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (user / "rules").mkdir()
    checked = run(capsys, "rules", "check", str(user / "rules"))
    assert checked.code == 1
    assert f"no usable rule files in {user / 'rules'}" in checked.out
    ran = run(capsys, "once", "--rules", str(user / "rules"), "--data", str(user / "data"))
    assert ran.code == 1
    assert f"no usable rule files in {user / 'rules'}" in ran.err


def test_rules_check_warns_of_a_field_the_feeds_never_carry(
    user: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = comment_rule(user / "rules")
    checked = run(capsys, "rules", "check", str(user / "rules"))
    assert checked.code == 0  # a warning, not an error: the file loads and runs
    assert checked.out.splitlines()[0] == (
        f"{rule}:6: topics[0].fields: warning: arXiv's RSS feeds carry no comment: topic "
        "'Accepted at NeurIPS' can never match (add a field they carry, such as abstract, "
        "or a `- query:` feed)"
    )
    assert checked.out.splitlines()[-1].endswith("(talks); OK, 1 warning")
    # An API query carries comments: then the topic can match.
    comment_rule(user / "rules", feeds="[cs.LG, {query: 'co:NeurIPS'}]")
    with_query = run(capsys, "rules", "check", str(user / "rules"))
    assert with_query.code == 0, with_query.out
    assert with_query.out.splitlines() == [f"{user / 'rules'}: 1 valid subscription (talks); OK"]


def test_rules_explain_says_the_paper_has_no_comment(
    user: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = comment_rule(user / "rules")
    with Store.open(user / "data") as store:
        store.record_papers(
            [factories.paper("2611.00001", title="Quantized nets")], datetime.now(UTC)
        )
        store.commit()
    ran = run(capsys, "rules", "explain", "2611.00001", str(rule), "--data", str(user / "data"))
    assert ran.code == 0, ran.err
    assert "  - Accepted at NeurIPS: this paper has no comment\n" in ran.out
    assert "no 'any' term found in comment" not in ran.out
