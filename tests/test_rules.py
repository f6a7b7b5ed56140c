"""Rule files: terms, every kind of error (file, line, field), and directory loading."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import RULES_DIR
from watcher.errors import RuleError, WatcherError
from watcher.models import (
    LOCAL,
    Destination,
    Query,
    QueryAnd,
    QueryNode,
    QueryNot,
    QueryOr,
    Subscription,
    Term,
    Topic,
)
from watcher.rules import (
    QuerySyntaxError,
    RuleSet,
    load_rule_file,
    load_rules,
    parse_query,
    parse_term,
)

DATA = Path(__file__).parent / "data" / "rules"

# --- terms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words", "prefix"),
    [
        ("sparse", ("sparse",), False),
        ("Sparse", ("sparse",), False),
        ("prun*", ("prun",), True),
        ("low-bit", ("low", "bit"), False),
        ("low bit", ("low", "bit"), False),
        ('"low bit"', ("low", "bit"), False),
        ("  LoRA ", ("lora",), False),
        ("mixture-of-expert*", ("mixture", "of", "expert"), True),
        ('"mixture of expert*"', ("mixture", "of", "expert"), True),
        ("1-bit", ("1", "bit"), False),
        ("stat.ML", ("stat", "ml"), False),
        ("Straße", ("strasse",), False),
        ("ﬁne-tun*", ("fine", "tun"), True),
        ("k_means", ("k", "means"), False),
    ],
)
def test_parse_term(text: str, words: tuple[str, ...], prefix: bool) -> None:
    assert parse_term(text) == Term(text=text.strip(), words=words, prefix=prefix)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no letters or digits"),
        ("  ", "no letters or digits"),
        ("--", "no letters or digits"),
        ('""', "no letters or digits"),
        ("*", "must directly follow a word"),
        ("*prun", "only allowed at the end"),
        ("pr*n", "only allowed at the end"),
        ("prun**", "must directly follow a word"),
        ("low* bit", "only allowed at the end"),
        ("prun *", "must directly follow a word"),
        ("low-*", "must directly follow a word"),
        ("a*", "one-character prefix"),
    ],
)
def test_parse_term_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_term(text)


# --- one file: errors with file, line and field ------------------------------------------

VALID_TOPICS = """\
topics:
  - name: T
    any: [x]
"""


def write(tmp_path: Path, text: str, name: str = "rule.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> RuleError:
    with pytest.raises(RuleError) as info:
        load_rule_file(path)
    return info.value


ERROR_CASES = [
    # (id, file text, line, field, part of the message)
    ("yaml-unclosed-list", "feeds: [cs.LG, cs.AI\n" + VALID_TOPICS, 2, "", "invalid YAML"),
    ("yaml-tab", "feeds:\n\t- cs.LG\n", 2, "", "invalid YAML"),
    (
        "yaml-two-documents",
        "feeds: [cs.LG]\n---\nfeeds: [cs.AI]\n",
        2,
        "",
        "invalid YAML: expected a single document in the stream (from line 1), "
        "but found another document",
    ),
    ("empty-file", "", 1, "", "the file is empty"),
    ("only-comments", "# nothing here\n", 1, "", "the file is empty"),
    ("top-is-list", "- feeds\n- topics\n", 1, "", "must be a mapping"),
    ("top-is-text", "\n\njust some words\n", 3, "", "must be a mapping"),
    (
        "unknown-top-key",
        "feeds: [cs.LG]\ntopic:\n  - name: T\n    any: [x]\n",
        2,
        "topic",
        "unknown key 'topic' (did you mean 'topics'?); allowed: name, description, feeds, "
        "topics, deliver, schedule, timezone, updates, order, max_papers",
    ),
    (
        "unknown-topic-key",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x]\n    filds: [title]\n",
        5,
        "topics[0].filds",
        "unknown key 'filds' (did you mean 'fields'?); allowed: name, any, all, none, query, "
        "authors, categories, fields",
    ),
    (
        "unknown-deliver-kind",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - teams: '#x'\n",
        6,
        "deliver[0].teams",
        "unknown key 'teams'; allowed: local, slack, email",
    ),
    (
        "unknown-deliver-word",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - stdout\n",
        6,
        "deliver[0]",
        "unknown destination 'stdout'",
    ),
    (
        "unknown-slack-option",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - slack: {channel: '#x', colour: red}\n",
        6,
        "deliver[0].slack.colour",
        "allowed: channel, webhook_env",
    ),
    ("duplicate-key", "feeds: [cs.LG]\n" + VALID_TOPICS + "feeds: [cs.AI]\n", 5, "feeds", "twice"),
    ("missing-feeds", "\n" + VALID_TOPICS, 2, "feeds", "missing required key 'feeds'"),
    ("missing-topics", "feeds: [cs.LG]\n", 1, "topics", "missing required key 'topics'"),
    ("empty-topics", "feeds: [cs.LG]\ntopics: []\n", 2, "topics", "the topic list is empty"),
    ("null-topics", "feeds: [cs.LG]\ntopics:\n", 2, "topics", "the topic list is empty"),
    ("empty-feeds", "feeds: []\n" + VALID_TOPICS, 1, "feeds", "the feed list is empty"),
    (
        "topic-without-name",
        "feeds: [cs.LG]\ntopics:\n  - any: [x]\n",
        3,
        "topics[0].name",
        "missing required key 'name'",
    ),
    (
        "topic-not-mapping",
        "feeds: [cs.LG]\ntopics:\n  - pruning\n",
        3,
        "topics[0]",
        "topics[0] must be a mapping",
    ),
    ("feeds-mapping", "feeds: {cs: LG}\n" + VALID_TOPICS, 1, "feeds", "expected a list"),
    ("topics-text", "feeds: [cs.LG]\ntopics: pruning\n", 2, "topics", "expected a list"),
    ("name-list", "name: [a]\nfeeds: [cs.LG]\n" + VALID_TOPICS, 1, "name", "expected text"),
    ("name-pipe", "name: a|b\nfeeds: [cs.LG]\n" + VALID_TOPICS, 1, "name", "without '|'"),
    (
        "fields-number",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x]\n    fields: 3\n",
        5,
        "topics[0].fields",
        "expected a list, got int '3'",
    ),
    (
        "empty-any",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: []\n    none: [y]\n",
        4,
        "topics[0].any",
        "the term list is empty",
    ),
    (
        "null-all",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x]\n    all:\n",
        5,
        "topics[0].all",
        "the term list is empty",
    ),
    (
        "null-term",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any:\n      - x\n      -\n",
        6,
        "topics[0].any[1]",
        "expected text, got nothing",
    ),
    (
        "invalid-term",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x, 'pr*n']\n",
        4,
        "topics[0].any[1]",
        "invalid term 'pr*n': '*' is only allowed at the end of the last word",
    ),
    (
        "term-without-words",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any:\n      - x\n    none:\n      - '--'\n",
        7,
        "topics[0].none[0]",
        "has no letters or digits",
    ),
    (
        "unknown-field",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x]\n    fields: [title, body]\n",
        5,
        "topics[0].fields[1]",
        "unknown field 'body'; allowed: title, abstract, authors, categories",
    ),
    (
        "empty-fields",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x]\n    fields: []\n",
        5,
        "topics[0].fields",
        "the field list is empty",
    ),
    (
        "neither-any-nor-all",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x]\n  - name: U\n    none: [y]\n",
        5,
        "topics[1]",
        "a topic needs 'any'",
    ),
    (
        "duplicate-topic",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x]\n  - name: t\n    any: [y]\n",
        5,
        "topics[1].name",
        "topic 't' is defined twice",
    ),
    (
        "schedule-word",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "schedule: hourly\n",
        5,
        "schedule",
        "use daily, weekly or a 5-field cron line",
    ),
    (
        "schedule-cron",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "schedule: '0 25 * * *'\n",
        5,
        "schedule",
        "not a valid cron line",
    ),
    (
        "timezone",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "timezone: Mars/Olympus\n",
        5,
        "timezone",
        "unknown time zone 'Mars/Olympus'",
    ),
    (
        "timezone-path",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "timezone: ../../etc/passwd\n",
        5,
        "timezone",
        "unknown time zone",
    ),
    (
        "updates-text",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "updates: sometimes\n",
        5,
        "updates",
        "expected true or false, got str 'sometimes'",
    ),
    ("feed-empty", "feeds: [cs.LG, '']\n" + VALID_TOPICS, 1, "feeds[1]", "must not be empty"),
    (
        "feed-space",
        "feeds:\n  - cs.LG\n  - cs LG\n" + VALID_TOPICS,
        3,
        "feeds[1]",
        "contains spaces",
    ),
    ("feed-scheme", "feeds: ['ftp://x.org/f']\n" + VALID_TOPICS, 1, "feeds[0]", "http(s)"),
    ("feed-junk", "feeds: ['cs.LG!']\n" + VALID_TOPICS, 1, "feeds[0]", "not an arXiv category"),
    ("feed-twice", "feeds: [cs.LG, cs.LG]\n" + VALID_TOPICS, 1, "feeds[1]", "listed twice"),
    (
        "email-address",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - email: [a@b.org, not-an-address]\n",
        6,
        "deliver[0].email[1]",
        "'not-an-address' is not an email address",
    ),
    (
        "two-kinds-in-one-entry",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - slack: '#x'\n    email: a@b.org\n",
        6,
        "deliver[0]",
        "each entry names one destination",
    ),
    (
        "local-false",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - local: false\n",
        6,
        "deliver[0].local",
        "remove the entry",
    ),
    (
        "deliver-empty",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver: []\n",
        5,
        "deliver",
        "leave 'deliver' out",
    ),
    (
        "deliver-twice",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - local\n  - local: true\n",
        7,
        "deliver[1]",
        "local is listed twice",
    ),
    (
        "slack-without-channel",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - slack: {webhook_env: HOOK}\n",
        6,
        "deliver[0].slack.channel",
        "missing required key 'channel'",
    ),
    (
        "webhook-env-is-a-url",
        "feeds: [cs.LG]\n"
        + VALID_TOPICS
        + "deliver:\n  - slack:\n      channel: '#x'\n      webhook_env: https://example.org/hook\n",
        8,
        "deliver[0].slack.webhook_env",
        "not an environment variable name",
    ),
]

SECRET_CASES = [
    ("top-token", "slack_token: xoxb-123\n", 1, "slack_token"),
    ("top-password", "feeds: [cs.LG]\nsmtp_password: hunter2\n", 2, "smtp_password"),
    (
        "slack-webhook-url",
        "feeds: [cs.LG]\n"
        + VALID_TOPICS
        + "deliver:\n  - slack:\n      channel: '#x'\n      webhook_url: https://hooks.slack.com/x\n",
        8,
        "deliver[0].slack.webhook_url",
    ),
    (
        "slack-webhook-as-channel",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - slack: https://hooks.slack.com/T/B/x\n",
        6,
        "deliver[0].slack",
    ),
    (
        "slack-token-as-channel",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - slack: xoxb-1234-abcd\n",
        6,
        "deliver[0].slack",
    ),
    (
        "email-password",
        "feeds: [cs.LG]\n" + VALID_TOPICS + "deliver:\n  - email: a@b.org\n    password: pw\n",
        7,
        "deliver[0].password",
    ),
    (
        "topic-api-key",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    api_key: k\n",
        4,
        "topics[0].api_key",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_rule_file_errors(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert message in error.message
    assert isinstance(error, WatcherError)
    assert str(error).startswith(f"{path}:{line}: {field + ': ' if field else ''}")


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [case[1:] for case in SECRET_CASES],
    ids=[case[0] for case in SECRET_CASES],
)
def test_secrets_are_refused(tmp_path: Path, text: str, line: int, field: str) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    assert (error.line, error.field) == (line, field)
    assert "environment" in error.message
    assert ".env" in error.message
    # The secret itself is not echoed back into logs.
    for secret in ("xoxb-", "hunter2", "hooks.slack.com"):
        assert secret not in str(error)


def test_error_reads_like_rules_check_output() -> None:
    path = DATA / "mixed" / "e-empty-terms.yaml"
    error = load_error(path)
    assert str(error) == f"{path}:7: topics[1].any: the term list is empty"


def test_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"feeds: [\xff\xfe]\n")
    error = load_error(binary)
    assert (error.path, error.line, error.field) == (str(binary), None, "")
    assert "not UTF-8" in error.message

    missing = load_error(tmp_path / "missing.yaml")
    assert "cannot read" in missing.message


# --- one file: what a valid file becomes -------------------------------------------------

FULL = """\
# Every feature at once.
name: Full example
description: >
  Free text that is not used for matching.
feeds:
  - cs.LG
  - cs
  - cs.LG+stat.ML
  - https://example.org/feed.atom
  - feeds/local.xml
topics:
  - name: Quantization
    any: ["quantiz*", low-bit, '"binary weights"']
    none: quantum
    fields: [title, abstract, title]
  - name: Han lab
    all: [song han]
    fields: [authors]
  - name: no
    any: [on, 1.5]
    all: [yes]
deliver:
  - slack: "#efficient-ml"
  - slack: {channel: "#alerts", webhook_env: SLACK_WEBHOOK_ALERTS}
  - email: team@example.org
  - email: [a@example.org, b@example.org]
  - local
schedule: "30 7 * * mon-fri"
timezone: Europe/Berlin
updates: yes
"""


def test_full_featured_file(tmp_path: Path) -> None:
    path = write(tmp_path, FULL, "full.yml")
    assert load_rule_file(path) == Subscription(
        name="Full example",
        path=str(path),
        feeds=("cs.LG", "cs", "cs.LG+stat.ML", "https://example.org/feed.atom", "feeds/local.xml"),
        topics=(
            Topic(
                "Quantization",
                any=(
                    Term("quantiz*", ("quantiz",), True),
                    Term("low-bit", ("low", "bit")),
                    Term('"binary weights"', ("binary", "weights")),
                ),
                none=(Term("quantum", ("quantum",)),),
                fields=("title", "abstract"),
            ),
            Topic("Han lab", all=(Term("song han", ("song", "han")),), fields=("authors",)),
            # YAML 1.1 would read these as booleans and a float; terms keep the typed text.
            Topic(
                "no",
                any=(Term("on", ("on",)), Term("1.5", ("1", "5"))),
                all=(Term("yes", ("yes",)),),
            ),
        ),
        deliver=(
            Destination("slack", ("#efficient-ml",)),
            Destination("slack", ("#alerts",), (("webhook_env", "SLACK_WEBHOOK_ALERTS"),)),
            Destination("email", ("team@example.org",)),
            Destination("email", ("a@example.org", "b@example.org")),
            LOCAL,
        ),
        schedule="30 7 * * mon-fri",
        timezone="Europe/Berlin",
        updates=True,
    )


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds: cs.AI\n" + VALID_TOPICS, "my-papers.yaml")
    assert load_rule_file(path) == Subscription(
        name="my-papers",
        path=str(path),
        feeds=("cs.AI",),
        topics=(Topic("T", any=(Term("x", ("x",)),)),),
        deliver=(LOCAL,),
        schedule="daily",
        timezone="UTC",
        updates=False,
    )


@pytest.mark.parametrize("schedule", ["daily", "weekly", "0 8 * * *", "*/30 6-18 * * 1-5"])
def test_schedules(tmp_path: Path, schedule: str) -> None:
    path = write(tmp_path, f"feeds: [cs.LG]\n{VALID_TOPICS}schedule: '{schedule}'\n")
    assert load_rule_file(path).schedule == schedule


def test_unquoted_cron_line_is_read_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, f"feeds: [cs.LG]\n{VALID_TOPICS}schedule: 0 8 * * 1\n")
    assert load_rule_file(path).schedule == "0 8 * * 1"


# --- directories -------------------------------------------------------------------------


def test_load_rules_collects_errors_and_keeps_good_files() -> None:
    directory = DATA / "mixed"
    ruleset = load_rules(directory)
    assert isinstance(ruleset, RuleSet)
    assert [s.name for s in ruleset.subscriptions] == ["alpha", "d-good"]
    assert [(Path(e.path).name, e.line, e.field) for e in ruleset.errors] == [
        ("b-bad-yaml.yaml", 4, ""),
        ("c-duplicate-name.yml", 4, "name"),
        ("e-empty-terms.yaml", 7, "topics[1].any"),
    ]
    bad_yaml, duplicate, _ = ruleset.errors
    assert str(bad_yaml) == (
        f"{directory / 'b-bad-yaml.yaml'}:4: invalid YAML: while parsing a flow sequence "
        "(from line 3), expected ',' or ']', but got ':'"
    )
    assert str(duplicate) == (
        f"{directory / 'c-duplicate-name.yml'}:4: name: "
        f"subscription name 'alpha' is already used by {directory / 'a-good.yaml'}"
    )


def test_duplicate_name_from_file_stem(tmp_path: Path) -> None:
    write(tmp_path, "name: b\nfeeds: [cs.LG]\n" + VALID_TOPICS, "a.yaml")
    write(tmp_path, "feeds: [cs.LG]\n" + VALID_TOPICS, "b.yml")
    ruleset = load_rules(tmp_path)
    assert [s.path for s in ruleset.subscriptions] == [str(tmp_path / "a.yaml")]
    (error,) = ruleset.errors
    assert (error.path, error.line, error.field) == (str(tmp_path / "b.yml"), None, "name")
    assert "taken from the file name" in error.message


def test_empty_directory(tmp_path: Path) -> None:
    assert load_rules(tmp_path) == RuleSet((), ())


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path / "nope")
    assert info.value.path == str(tmp_path / "nope")
    assert "does not exist" in str(info.value)

    file = write(tmp_path, "feeds: [cs.LG]\n")
    with pytest.raises(RuleError, match="not a directory"):
        load_rules(file)


def test_shipped_rules_load_without_errors() -> None:
    ruleset = load_rules(RULES_DIR)
    assert ruleset.errors == ()
    (sub,) = [s for s in ruleset.subscriptions if s.name == "efficient-ml"]
    assert sub.feeds == ("cs.LG", "cs.CL", "cs.CV", "cs.AI")
    assert sub.schedule == "daily"
    assert sub.timezone == "America/New_York"
    assert sub.deliver == (LOCAL,)
    assert sub.updates is False
    names = [t.name for t in sub.topics]
    for expected in ("Sparsity", "Pruning", "Quantization", "Model compression", "Attention"):
        assert expected in names


# --- the issue-6 keys: query, authors, categories, order, max_papers ---------------------

NEW_KEYS = """\
feeds: [cs.LG]
order: score
max_papers: 25
topics:
  - name: Quantization
    query: '(quantiz* OR "low-bit") AND NOT quantum'
    categories: [cs.LG, stat]
  - name: Han lab
    authors: ["Song Han", "  Ji   Lin "]
"""


def test_query_authors_categories_order_and_max_papers(tmp_path: Path) -> None:
    sub = load_rule_file(write(tmp_path, NEW_KEYS))
    assert (sub.order, sub.max_papers) == ("score", 25)
    quantization, lab = sub.topics
    assert quantization.query == Query(
        '(quantiz* OR "low-bit") AND NOT quantum',
        QueryAnd(
            (
                QueryOr((parse_term("quantiz*"), parse_term('"low-bit"'))),
                QueryNot(parse_term("quantum")),
            )
        ),
    )
    assert quantization.categories == ("cs.LG", "stat")
    assert (quantization.any, quantization.all) == ((), ())
    assert lab.authors == ("Song Han", "Ji Lin")
    assert lab.fields == ("title", "abstract")
    default = load_rule_file(write(tmp_path, "feeds: [cs.LG]\n" + VALID_TOPICS, "d.yaml"))
    assert (default.order, default.max_papers) == ("newest", None)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("prun*", parse_term("prun*")),
        ("a OR b AND c", QueryOr((parse_term("a"), QueryAnd((parse_term("b"), parse_term("c")))))),
        (
            "(a OR b) AND c",
            QueryAnd((QueryOr((parse_term("a"), parse_term("b"))), parse_term("c"))),
        ),
        ("a AND NOT b", QueryAnd((parse_term("a"), QueryNot(parse_term("b"))))),
        ("NOT NOT a", QueryNot(QueryNot(parse_term("a")))),
        ('"a AND b" OR c', QueryOr((parse_term('"a AND b"'), parse_term("c")))),
        ("((x))", parse_term("x")),
        ("low-bit OR stat.ML", QueryOr((parse_term("low-bit"), parse_term("stat.ML")))),
    ],
)
def test_parse_query(text: str, tree: QueryNode) -> None:
    assert parse_query(text) == tree


@pytest.mark.parametrize(
    ("text", "position", "problem"),
    [
        ("", 1, "the query is empty"),
        ("   ", 1, "the query is empty"),
        ("low bit", 5, "expected AND or OR before 'bit'"),
        ("prun* AND", 10, "expected a term or '(' after 'AND', found the end"),
        ("prun* AND OR x", 11, "expected a term or '(' after 'AND', found 'OR'"),
        ("OR x", 1, "expected a term or '(', found 'OR'"),
        ("(a OR b", 1, "this '(' is never closed"),
        ("a OR b)", 7, "')' without a matching '('"),
        ("a AND ()", 8, "found ')'"),
        ('a OR "low bit', 6, "this quote is never closed"),
        ("a and b", 3, "write the operator AND in capitals"),
        ("a OR *x", 6, "invalid term '*x'"),
        ("NOT quantum", 1, "matches papers containing none of its terms"),
        ("a OR NOT b", 1, "matches papers containing none of its terms"),
    ],
)
def test_parse_query_errors(text: str, position: int, problem: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(text)
    assert info.value.position == position
    assert str(info.value).startswith(f"character {position}: ")
    assert problem in str(info.value)


NEW_KEY_ERRORS = [
    (
        "query-error-names-file-line-field-position",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    query: 'a AND (b OR'\n",
        4,
        "topics[0].query",
        "character 12: expected a term or '(' after 'OR', found the end in 'a AND (b OR'",
    ),
    (
        "query-list",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    query: [a]\n",
        4,
        "topics[0].query",
        "expected text",
    ),
    (
        "authors-empty",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    authors: []\n",
        4,
        "topics[0].authors",
        "the author list is empty",
    ),
    (
        "authors-no-letters",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    authors: ['--']\n",
        4,
        "topics[0].authors[0]",
        "has no letters",
    ),
    (
        "bad-category",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x]\n    categories: [cs.LG, 'c s']\n",
        5,
        "topics[0].categories[1]",
        "'c s' is not an arXiv category",
    ),
    (
        "categories-only",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    categories: [cs.LG]\n",
        3,
        "topics[0]",
        "a topic needs 'any'",
    ),
    (
        "unknown-field",
        "feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [x]\n    fields: [comments]\n",
        5,
        "topics[0].fields[0]",
        "unknown field 'comments' (did you mean 'comment'?); allowed: title, abstract, "
        "authors, categories, comment, journal_ref, announce_type",
    ),
    (
        "order",
        "feeds: [cs.LG]\norder: best\n" + VALID_TOPICS,
        2,
        "order",
        "unknown order 'best'",
    ),
    (
        "max-papers-zero",
        "feeds: [cs.LG]\nmax_papers: 0\n" + VALID_TOPICS,
        2,
        "max_papers",
        "at least 1",
    ),
    (
        "max-papers-text",
        "feeds: [cs.LG]\nmax_papers: many\n" + VALID_TOPICS,
        2,
        "max_papers",
        "expected a whole number, got str 'many'",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [case[1:] for case in NEW_KEY_ERRORS],
    ids=[case[0] for case in NEW_KEY_ERRORS],
)
def test_new_key_errors(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert message in error.message


def test_a_cron_schedule_that_never_fires_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "feb30.yaml"
    path.write_text(
        'feeds: [cs.LG]\ntopics:\n  - name: T\n    any: [prun*]\nschedule: "0 8 30 2 *"\n',
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as caught:
        load_rule_file(path)
    assert str(caught.value) == f"{path}:5: schedule: '0 8 30 2 *' never fires (no such date)"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('description: "ours: xoxb-1234567890-abcdefgh"\n', ":1: description:"),
        ('feeds: ["https://hooks.slack.com/services/T0/B0/SECRETPART"]\n', ":1: feeds[0]:"),
        (
            'deliver:\n  - slack: {channel: "#x", webhook_env: '
            '"https://hooks.slack.com/services/T0/B0/SECRETPART"}\n',
            ":2: deliver[0].slack.webhook_env:",
        ),
    ],
)
def test_a_secret_anywhere_in_a_rule_file_is_refused_and_never_repeated(
    tmp_path: Path, body: str, where: str
) -> None:
    path = tmp_path / "leaky.yaml"
    rest = "feeds: [cs.LG]\n" if "feeds" not in body else ""
    path.write_text(body + rest + "topics:\n  - name: T\n    any: [prun*]\n", encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rule_file(path)
    message = str(caught.value)
    assert where in message and "environment" in message
    assert "SECRETPART" not in message and "abcdefgh" not in message


@pytest.mark.parametrize("feed", ["foo", "cs.LG+sci.AI", "csx.LG"])
def test_a_feed_naming_no_arxiv_archive_is_an_error(tmp_path: Path, feed: str) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(f"feeds: [{feed}]\ntopics:\n  - name: T\n    any: [prun*]\n", encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rule_file(path)
    assert str(caught.value).startswith(f"{path}:1: feeds[0]: '{feed}' is not an arXiv category")
    assert "./my-feed.xml" in str(caught.value)


@pytest.mark.parametrize(
    ("where", "written", "expected"),
    [
        (
            "feeds",
            "cs.LGG",
            "'cs.LGG' is not an arXiv category: cs has no subject class 'LGG' "
            "(did you mean cs.LG?)",
        ),
        ("feeds", "cs.LG+stat.MLL", "stat has no subject class 'MLL' (did you mean stat.ML?)"),
        ("categories", "math.OCC", "math has no subject class 'OCC' (did you mean math.OC?)"),
        ("feeds", "cs.ML", "cs has no subject class 'ML' (did you mean stat.ML?)"),
        ("categories", "cond-mat.stat", "(did you mean cond-mat.stat-mech?)"),
        ("categories", "math.PH", "(did you mean math-ph?)"),
        (
            "categories",
            "physic",
            "'physic' is not an arXiv category or archive, like cs.LG or cs "
            "(did you mean physics?)",
        ),
    ],
)
def test_a_mistyped_category_is_an_error_that_suggests_the_right_one(
    tmp_path: Path, where: str, written: str, expected: str
) -> None:
    # Unchecked, a typo would poll a feed that does not exist every day, or filter a topic
    # down to nothing without a word.
    path = tmp_path / "typo.yaml"
    topic = "  - name: T\n    any: [prun*]\n"
    if where == "feeds":
        path.write_text(f"feeds: [{written}]\ntopics:\n{topic}", encoding="utf-8")
    else:
        path.write_text(f"feeds: [cs]\ntopics:\n{topic}    categories: [{written}]\n")
    with pytest.raises(RuleError) as caught:
        load_rule_file(path)
    assert expected in str(caught.value)


def test_every_category_of_the_taxonomy_and_any_case_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    feeds = "[cs.LG+stat.ML, cond-mat.mes-hall, physics.optics, hep-th, q-fin.ST, eess.IV]"
    path.write_text(
        f"feeds: {feeds}\ntopics:\n  - name: T\n    any: [prun*]\n"
        "    categories: [CS.lg, math, astro-ph.GA, nlin.CD, econ.EM, q-bio.NC]\n",
        encoding="utf-8",
    )
    sub = load_rule_file(path)
    assert sub.topics[0].categories == (
        "CS.lg",
        "math",
        "astro-ph.GA",
        "nlin.CD",
        "econ.EM",
        "q-bio.NC",
    )
