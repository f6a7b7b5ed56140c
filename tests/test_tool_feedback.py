"""What the tools say to the person using them: quiet default output, honest poll lines,
exit codes that agree with `watcher status`, and rule tools that say how to go on.

Feeds come from the local feed server, Slack from the local Slack stand-in; the noise tests
run `python -m watcher` as a user would, so logging is configured as in real use.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests import factories
from tests.fakes import DaemonSetup, Recorder, Run
from tests.feeds import ApiEntry, Item, api_atom, rss
from tests.feedserver import FeedServer, Reply
from tests.slackserver import Reply as SlackReply
from tests.slackserver import SlackServer
from tests.smtpserver import SmtpServer, smtp_server
from watcher.cli import main
from watcher.fetch import FetchConfig, Fetcher
from watcher.match import compile_matcher
from watcher.pipeline import Cycle, run_cycle
from watcher.sources import resolve_source
from watcher.status import feed_line
from watcher.store import Store

__all__ = ["smtp_server"]  # a fixture, used by name

EXAMPLE = Path(__file__).parent.parent / "watcher" / "examples" / "arxiv-rss-sample.xml"
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
        "SLACK_BOT_TOKEN": slack.token,
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


# --- poll lines of API fills and queries ----------------------------------------------------

MONDAY, TUESDAY, THURSDAY = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 5)
A = Item("2611.01001", "Quantization for speech models")
B = Item("2611.02002", "Pruning graph networks")
C = Item("2611.03003", "Sparse attention kernels")
EFFICIENT = factories.subscription(
    "efficient", factories.topic("Efficient", "quantiz*", "prun*", "sparse")
)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 6, tzinfo=UTC)


def poll_lines(server: FeedServer, data: Path, now: datetime, feed: str = "cs.LG") -> list[str]:
    """What `watcher once` prints for the feeds (and the daemon logs) after one cycle."""
    api = server.url("/api/query")
    source = resolve_source(feed, server.url("/rss/"), api)
    config = FetchConfig(min_interval=0, extra_polite_hosts=("127.0.0.1",))
    with Store.open(data) as store, Fetcher(config) as fetcher:
        cycle = Cycle(
            fetcher, store, compile_matcher([EFFICIENT]), [EFFICIENT],
            {source: [EFFICIENT.name]}, api_url=api,
        )  # fmt: skip
        report = run_cycle(cycle, {"local": Recorder()}, now)
    return [feed_line(f).replace(source.url, "URL") for f in report.feeds]


def test_a_stale_day_filled_from_the_api_says_so(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.set_routes({"/rss/cs.LG": Reply.feed(rss(MONDAY, [A]))})
        poll_lines(server, tmp_path, at(MONDAY))
        # Tuesday: Monday's listing again under Tuesday's date, on both polls of the day;
        # the second fills Tuesday from the API, which has nothing for it.
        server.set_routes(
            {
                "/rss/cs.LG": Reply.feed(rss(TUESDAY, [A])),
                "/api/query": Reply.feed(api_atom([]), content_type="application/atom+xml"),
            }
        )
        poll_lines(server, tmp_path, at(TUESDAY))
        lines = poll_lines(server, tmp_path, at(TUESDAY).replace(hour=9))
    assert lines == [
        "feed URL: stale: yesterday's listing re-served, ignored 2026-11-03",
        "feed URL: filled from the arXiv API: 0 papers for 2026-11-03 (the feed stayed stale)",
    ]


def test_days_missed_while_down_filled_from_the_api_say_so(tmp_path: Path) -> None:
    api = api_atom([ApiEntry(B.id, B.title, "2026-11-03T15:00:00Z")])
    with FeedServer() as server:
        server.set_routes({"/rss/cs.LG": Reply.feed(rss(MONDAY, [A]))})
        poll_lines(server, tmp_path, at(MONDAY))
        server.set_routes(
            {
                "/rss/cs.LG": Reply.feed(rss(THURSDAY, [C])),
                "/api/query": Reply.feed(api, content_type="application/atom+xml"),
            }
        )
        lines = poll_lines(server, tmp_path, at(THURSDAY))
    assert lines == [
        "feed URL: new announcement 2026-11-05, 1 papers, 1 new",
        "feed URL: filled from the arXiv API: 1 paper, 1 new for the days since 2026-11-03 "
        "(missed: the watcher was down or the feed failed)",
    ]


def test_a_query_with_only_older_papers_says_nothing_new(tmp_path: Path) -> None:
    old = api_atom([ApiEntry("2609.01001", "Quantization, long ago", "2026-09-01T15:00:00Z")])
    with FeedServer() as server:
        server.set_routes({"/api/query": Reply.feed(old, content_type="application/atom+xml")})
        lines = poll_lines(server, tmp_path, at(TUESDAY), feed="query:abs:quantization")
    assert lines == ["feed URL: query: nothing new since the last poll"]
    assert not [line for line in lines if "weekend or holiday" in line]


# --- silence after a fix --------------------------------------------------------------------


def test_a_fixed_rule_file_is_logged_as_loaded_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = factories.rule_yaml("papers", {"Q": ["quantiz*"]})
    with DaemonSetup(tmp_path) as setup:
        path = setup.write("papers.yaml", good)
        daemon = setup.daemon()
        caplog.set_level(logging.INFO, logger="watcher.daemon")
        setup.write("papers.yaml", factories.rule_yaml("papers", {"Q": []}))
        daemon.check_rules()
        assert f"{path}:5: topics[0].any: the term list is empty" in caplog.text
        caplog.clear()
        setup.write("papers.yaml", good)  # back as it was: the same subscription
        daemon.check_rules()
        assert f"{path}: loaded again (fixed): subscription papers" in caplog.text
        # A fix that also changes the file: one line, not "reloaded" beside it.
        setup.write("papers.yaml", factories.rule_yaml("papers", {"Q": []}))
        daemon.check_rules()
        caplog.clear()
        setup.write("papers.yaml", factories.rule_yaml("papers", {"Q": ["prun*"]}))
        daemon.check_rules()
        lines = [r.getMessage() for r in caplog.records if r.name == "watcher.daemon"]
        assert lines == [f"{path}: loaded again (fixed): subscription papers"]


# --- preview: what each destination gets ----------------------------------------------------

LONG = "We quantize every weight of the network. " * 70  # ~2.9 KB: 60 papers overflow a mail
BIG_FEED = rss(DAY, [Item(f"2611.{10000 + i}", f"Quantization study {i}", LONG) for i in range(60)])


def all_destinations_rule(rules: Path) -> None:
    rules.mkdir(exist_ok=True)
    text = """\
        name: big
        feeds: [cs.LG]
        topics:
          - name: Q
            any: ["quantiz*"]
        deliver:
          - local: true
          - email: [team@example.org]
          - slack: "#c"
        """
    (rules / "big.yaml").write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def delivered(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[tuple[Path, dict[str, str]]]:
    """A user's folder with a rule file for all three destinations, SMTP and Slack on
    127.0.0.1, and the environment to reach them."""
    all_destinations_rule(tmp_path / "rules")
    with FeedServer() as feeds, SlackServer() as slack:
        feeds.route("/rss/cs.LG", Reply.feed(BIG_FEED))
        env = {
            **environment(feeds, slack),
            "SMTP_HOST": smtp_server.host,
            "SMTP_PORT": str(smtp_server.port),
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "papers@example.org",
        }
        yield tmp_path, env


def test_preview_of_a_destination_is_what_its_notifier_sends(
    delivered: tuple[Path, dict[str, str]], smtp_server: SmtpServer
) -> None:
    tmp, env = delivered
    args = ("--rules", "rules", "--data", "data")
    mail = watcher(
        tmp, env, "preview", *args, "--format", "html", "--destination", "email:team@example.org"
    )
    slack = watcher(tmp, env, "preview", *args, "--format", "slack", "--destination", "slack:#c")
    text = watcher(
        tmp, env, "preview", *args, "--format", "text", "--destination", "email:team@example.org"
    )
    assert mail.code == slack.code == text.code == 0, mail.err + slack.err
    # The mail's size budget: some papers in full, the rest listed by title — said before it.
    assert "the mail shows " in mail.err and " of 60 papers in full and lists " in mail.err
    assert mail.out.count("<!DOCTYPE html>") == 1

    ran = watcher(tmp, env, "once", *args)
    assert ran.code == 0, ran.err
    [sent] = smtp_server.messages
    html = sent.message.get_body(("html",))
    plain = sent.message.get_body(("plain",))
    assert html is not None and plain is not None
    # (SMTP carries CRLF line ends; the preview prints the same lines with the terminal's.)
    assert mail.out == html.get_content().replace("\r\n", "\n")
    assert text.out == plain.get_content().replace("\r\n", "\n")


def test_preview_slack_is_the_block_kit_json_slack_gets(tmp_path: Path) -> None:
    all_destinations_rule(tmp_path / "rules")
    with FeedServer() as feeds, SlackServer() as slack:
        feeds.route("/rss/cs.LG", Reply.feed(BIG_FEED))
        env = environment(feeds, slack)
        args = ("--rules", "rules", "--data", "data")
        shown = watcher(
            tmp_path, env, "preview", *args, "--format", "slack", "--destination", "slack:#c"
        )
        assert shown.code == 0, shown.err
        assert "Slack: a summary and " in shown.err
        ran = watcher(tmp_path, env, "once", *args)
        assert ran.code == 0, ran.err
        posted = [call.body for call in slack.posts()]
    messages = json.loads(shown.out)
    assert len(messages) == len(posted) > 1  # split as Slack gets it: a summary, then replies
    for previewed, sent in zip(messages, posted, strict=True):
        blocks = sent["blocks"] if isinstance(sent["blocks"], list) else json.loads(sent["blocks"])
        assert previewed["blocks"] == blocks
        assert previewed["text"] == sent["text"]


def test_preview_writes_one_document_per_output(
    user: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    all_destinations_rule(user / "rules")
    (user / "rules" / "big.yaml").write_text(
        (user / "rules" / "big.yaml").read_text().replace("[cs.LG]", f"[{EXAMPLE}]"),
        encoding="utf-8",
    )
    args = ("preview", "--rules", str(user / "rules"), "--data", str(user / "data"))
    several = run(capsys, *args, "--format", "html")
    assert several.code == 2
    assert several.out == ""  # not three pages in a row
    assert "3 digests would print 3 HTML documents" in several.err
    assert "--out DIR" in several.err

    out = user / "previews"
    written = run(capsys, *args, "--format", "html", "--out", str(out))
    assert written.code == 0, written.err
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    assert files == [
        "big/2026-11-10--email_team@example.org.html",
        "big/2026-11-10--local.html",
        "big/2026-11-10--slack_c.html",
    ]
    for path in out.rglob("*.html"):
        assert path.read_text(encoding="utf-8").count("<!DOCTYPE html>") == 1

    plain = run(capsys, *args, "--plain", "--format", "html")
    assert plain.code == 2
    assert "--plain is the classic Markdown layout: it does not apply to --format html" in plain.err
