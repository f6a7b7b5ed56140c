"""Load and validate rule files: one YAML file under ``rules/`` is one Subscription.

Why one module of about 600 lines: it is one reader (``_Reader``) whose every method checks
one field, so every error of every field has the same ``file:line: field: message`` form;
the language of terms and queries it reads lives apart, in watcher.query.

Validation works on PyYAML's node tree (``yaml.compose``), not on plain dicts, so every
error names the file, the line of the offending node and the field, in the form
``rules/x.yaml:7: topics[1].any: the term list is empty`` (``str(RuleError)``). List
indexes in field names count from 0.

The rule language (see ``rules/efficient-ml.yaml`` for a commented example):

    name: efficient-ml                  # optional; default: the file name without .yaml
    description: free text              # optional
    feeds: [cs.LG, cs.CL+cs.AI, https://example.org/feed.xml]
    topics:
      - name: Quantization
        any: [quantiz*, low-bit]        # at least one must occur (if given)
        all: [neural]                   # every one must occur
        none: [quantum]                 # none may occur
        query: '(quantiz* OR "low-bit") AND NOT quantum'   # a boolean form (if given)
        authors: [Song Han]             # a watch list: one of them is an author (if given)
        categories: [cs.LG, stat]       # the paper is in one of these (or their archive)
        fields: [title, abstract]       # default; also authors, categories, comment,
                                        # journal_ref, announce_type
    deliver:                            # default: [local]
      - slack: "#efficient-ml"          # or {channel: "#x", webhook_env: SLACK_WEBHOOK_X}
      - email: [team@example.org]
      - apprise: DISCORD_URL            # the variable holding an Apprise URL (discord://...)
      - webhook: N8N_URL                # the variable holding a URL to POST paper JSON to
      - atom: efficient-ml.xml          # an Atom feed file under data/atom/ (or a path)
      - local
    schedule: daily                     # daily, weekly, or a 5-field cron line
    timezone: America/New_York          # default UTC
    updates: false                      # also announce replaced versions
    order: newest                       # or score: best matches first; or relevance:
                                        # ranked by what you liked (watcher feedback)
    min_relevance: 0.4                  # relevance only: drop papers rated below (0..1)
    keep_at_least: 5                    # ... but never keep fewer than this many
    max_papers: 30                      # cap a digest; the rest is "+N more"
    backfill: 7d                        # when new: also match the last 7 days (once)
    library: refs.bib                   # papers you know (BibTeX, or arXiv ids one a
                                        # line), relative to this file: watcher.library

Every condition a topic gives must hold; it needs at least one of any, all, query, authors.

Terms are case-insensitive words: ``prun*`` is a word prefix, several words are a phrase,
and hyphens equal spaces (``low-bit`` matches "low bit"). Secrets never belong here.

A query combines terms with AND, OR, NOT (in capitals) and parentheses; NOT binds tighter
than AND, AND tighter than OR; two terms side by side without an operator are an error
(quote a phrase instead). A query must need at least one term to occur: ``NOT quantum``
alone is an error.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import stat
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import yaml
from apscheduler.triggers.cron import CronTrigger
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from watcher.errors import RuleError
from watcher.logs import PLACEHOLDER, is_secret_param
from watcher.match import name_words
from watcher.models import (
    FIELDS,
    LOCAL,
    Destination,
    DigestOrder,
    Query,
    Subscription,
    Term,
    Topic,
)
from watcher.query import QuerySyntaxError, parse_query, parse_term
from watcher.sources import (
    QUERY_PREFIX,
    category_problem,
    feed_name_problem,
    is_categories,
    is_category,
    placeholder_problem,
)

# Where the never-fires check of a cron schedule starts (any fixed time does: cron repeats).
_CRON_CHECK_FROM = datetime(2000, 1, 1, tzinfo=UTC)

TOP_KEYS = (
    "name",
    "description",
    "feeds",
    "topics",
    "deliver",
    "schedule",
    "timezone",
    "updates",
    "order",
    "max_papers",
    "backfill",
    "min_relevance",
    "keep_at_least",
    "library",
)
TOPIC_KEYS = ("name", "any", "all", "none", "query", "authors", "categories", "fields")
ORDERS: tuple[DigestOrder, ...] = ("newest", "score", "relevance")
DELIVER_KINDS = ("local", "slack", "email", "apprise", "webhook", "atom")
SLACK_KEYS = ("channel", "webhook_env")
ATOM_KEYS = ("path", "entries")
ATOM_SUFFIXES = (".xml", ".atom")
MAX_ATOM_ENTRIES = 10_000
SCHEDULES = ("daily", "weekly")
DEFAULT_FIELDS: tuple[str, ...] = ("title", "abstract")
MAX_BACKFILL_DAYS = 365
RULE_SUFFIXES = (".yaml", ".yml")

_SECRET_KEY = re.compile(r"token|passw|secret|api_?key|webhook_?url|^webhook$|credential", re.I)
_SECRET_VALUE = re.compile(r"^(xox[a-z]-|https?://hooks\.slack\.com/)", re.I)
_SECRET_ANYWHERE = re.compile(
    r"\bxox[a-z]-[A-Za-z0-9-]{8,}|hooks\.slack\.com/services/"
    # Discord and Telegram webhooks: the URL is the secret (as Apprise URLs carry it).
    r"|discord(?:app)?\.com/api/webhooks/|api\.telegram\.org/bot",
    re.I,
)
# An Apprise or webhook URL where a variable name belongs: the URL carries the secret.
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SECRET_HINT = (
    "secrets never go in rule files (they are shared and committed); "
    "set it in the environment or in .env (see .env.example)"
)
_URL_SECRET_HINT = (
    "put the secret in the environment or in .env (it is filled in only to fetch the feed); "
    "secrets never go in rule files (they are shared and committed)"
)
_EMAIL = re.compile(r"^[^@\s<>,;:\"]+@[^@\s<>,;:\"]+\.[^@\s<>,;:\"]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Destinations named by the variable that holds their URL: what it holds, and an example.
_URL_VARIABLES = {
    "apprise": ("an Apprise URL", "- apprise: DISCORD_URL"),
    "webhook": ("a webhook URL", "- webhook: N8N_URL"),
}
_STR_TAGS = {"str", "int", "float", "bool", "timestamp"}  # read as the text the user typed
# libyaml's parser when PyYAML was built with it: ten times faster (10,000 rule files).
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- files ---------------------------------------------------------------------------------

Stamp = tuple[int, int, int]  # st_mtime_ns, st_size, st_ino


def library_stamp(path: str) -> Stamp | None:
    """A library file's stamp now (None when it is missing or not a file): a subscription
    whose ``library_stamp`` differs must be loaded again."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino) if stat.S_ISREG(st.st_mode) else None


@dataclass(frozen=True)
class RuleSet:
    """Every rule file of a directory: the good subscriptions and one error per bad file."""

    subscriptions: tuple[Subscription, ...]
    errors: tuple[RuleError, ...]
    # The line of each good file's ``name:`` key (None: named by the file), by path.
    name_lines: Mapping[str, int | None] = dataclass_field(default_factory=dict, compare=False)


# A loaded file known already (watcher.rules.index: unchanged since it was last loaded).
Known = Callable[[Path], tuple[Subscription, int | None] | None]


def load_rules(directory: Path, known: Known = lambda path: None) -> RuleSet:
    """Load every ``*.yaml``/``*.yml`` file in ``directory`` (sorted by name).

    A bad file becomes an error in the result and the others still load; a subscription
    name used by an earlier file is an error on the later one. A missing directory raises.
    ``known`` gives what a file loaded as, if that is known without reading it.
    """
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise RuleError(f"the rules directory {problem}", path=str(directory))
    subscriptions: list[Subscription] = []
    errors: list[RuleError] = []
    first_file: dict[str, str] = {}
    name_lines: dict[str, int | None] = {}
    for path in iter_rule_files(directory):
        try:
            sub, name_line = known(path) or _load(path)
        except RuleError as error:
            errors.append(error)
            continue
        name_lines[sub.path] = name_line
        other = first_file.setdefault(sub.name.casefold(), sub.path)
        if other != sub.path:
            how = "" if name_line else " (taken from the file name)"
            message = f"subscription name {sub.name!r}{how} is already used by {other}"
            errors.append(RuleError(message, path=sub.path, line=name_line, field="name"))
            continue
        subscriptions.append(sub)
    return RuleSet(tuple(subscriptions), tuple(errors), name_lines)


def load_rule_file(path: Path, *, folder: Path | None = None) -> Subscription:
    """Load and validate one rule file; raise RuleError naming file, line and field.

    ``folder`` is where a relative ``library:`` path starts (default: the file's own; a
    copy kept elsewhere gives its original's)."""
    return _load(path, folder)[0]


def _load(path: Path, folder: Path | None = None) -> tuple[Subscription, int | None]:
    """The subscription, and the line of its ``name`` key (None when named by the file)."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RuleError(f"not UTF-8 text ({error.reason})", path=where) from None
    except OSError as error:
        raise RuleError(f"cannot read the file ({error.strerror or error})", path=where) from None
    return _from_text(text, path, folder)


def load_rule_text(text: str, path: Path) -> Subscription:
    """What ``text`` would load as, were it the contents of ``path`` (an edit checked
    before it is written); RuleError as for the file."""
    return _from_text(text, path, None)[0]


def _from_text(text: str, path: Path, folder: Path | None) -> tuple[Subscription, int | None]:
    where = str(path)
    try:
        try:
            root = yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            # libyaml words some errors differently: the messages are the pure loader's.
            root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        context = error.context or ""
        if context and error.context_mark and error.context_mark.line + 1 != line:
            context += f" (from line {error.context_mark.line + 1})"
        problem = ", ".join(filter(None, [context, error.problem])) or "unreadable"
        raise RuleError(f"invalid YAML: {problem}", path=where, line=line) from None
    except yaml.YAMLError as error:
        raise RuleError(f"invalid YAML: {error}", path=where) from None
    if root is None:
        raise RuleError("the file is empty; it needs at least feeds and topics", path=where, line=1)
    return _Reader(where, folder or path.parent).subscription(root, default_name=path.stem)


class _Reader:
    """Turns a composed YAML node tree into a Subscription, or raises a RuleError."""

    def __init__(self, path: str, folder: Path) -> None:
        self.path = path
        self.folder = folder  # where relative paths in the file start

    def error(self, message: str, node: Node | None, field: str = "") -> RuleError:
        line = node.start_mark.line + 1 if node is not None and node.start_mark else None
        return RuleError(message, path=self.path, line=line, field=field)

    # -- shapes --

    def mapping(self, node: Node, field: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        """A mapping with string keys from ``allowed``; values by key, keys' nodes kept."""
        what = f"{field} " if field else "the file "
        if not isinstance(node, MappingNode):
            raise self.error(f"{what}must be a mapping of keys to values", node, field)
        values: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str) or key_node.tag.rsplit(":", 1)[-1] == "null":
                raise self.error("keys must be plain words", key_node, field)
            inner = f"{field}.{key}" if field else key
            # ``webhook`` names a destination (its value is a variable name, checked there).
            if _SECRET_KEY.search(key) and not (key == "webhook" and allowed is DELIVER_KINDS):
                raise self.error(f"{key!r} looks like a secret: {_SECRET_HINT}", key_node, inner)
            if key not in allowed:
                raise self.error(_unknown("key", key, allowed), key_node, inner)
            if key in values:
                raise self.error(f"{key!r} is given twice", key_node, inner)
            values[key] = value_node
        return values

    def required(self, values: dict[str, Node], key: str, node: Node, field: str) -> Node:
        if key not in values:
            inner = f"{field}.{key}" if field else key
            raise self.error(f"missing required key {key!r}", node, inner)
        return values[key]

    def string(self, node: Node, field: str) -> str:
        """A non-empty scalar as the user typed it (so ``no`` and ``1.0`` stay text)."""
        if not isinstance(node, ScalarNode) or node.tag.rsplit(":", 1)[-1] not in _STR_TAGS:
            raise self.error(f"expected text, got {_kind(node)}", node, field)
        value = str(node.value).strip()
        if not value:
            raise self.error("must not be empty", node, field)
        return value

    def items(self, node: Node, field: str, *, single: bool = True) -> list[tuple[Node, str]]:
        """A list's items with their fields (``feeds[2]``); a lone scalar is a 1-item list."""
        if single and isinstance(node, ScalarNode) and node.tag.endswith(":str"):
            return [(node, field)]
        if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
            return []
        if not isinstance(node, SequenceNode):
            raise self.error(f"expected a list, got {_kind(node)}", node, field)
        return [(item, f"{field}[{i}]") for i, item in enumerate(node.value)]

    # -- the file --

    def subscription(self, root: Node, default_name: str) -> tuple[Subscription, int | None]:
        self.refuse_secrets(root)
        top = self.mapping(root, "", TOP_KEYS)
        name, name_line = default_name, None
        if "name" in top:
            name = self.name(top["name"], "name")
            name_line = top["name"].start_mark.line + 1
        if "description" in top:
            self.string(top["description"], "description")
        feeds = self.feeds(self.required(top, "feeds", root, ""))
        topics = self.topics(self.required(top, "topics", root, ""))
        deliver = self.deliver(top["deliver"]) if "deliver" in top else (LOCAL,)
        timezone = self.timezone(top["timezone"]) if "timezone" in top else "UTC"
        schedule = self.schedule(top["schedule"], timezone) if "schedule" in top else "daily"
        updates = self.boolean(top["updates"], "updates") if "updates" in top else False
        order = self.order(top["order"]) if "order" in top else "newest"
        max_papers = self.max_papers(top["max_papers"]) if "max_papers" in top else None
        backfill = self.backfill(top["backfill"]) if "backfill" in top else None
        min_relevance, keep_at_least = self.relevance_cut(top, order)
        library, library_stamp = self.library(top["library"]) if "library" in top else (None, None)
        sub = Subscription(
            name=name,
            path=self.path,
            feeds=feeds,
            topics=topics,
            deliver=deliver,
            schedule=schedule,
            timezone=timezone,
            updates=updates,
            order=order,
            max_papers=max_papers,
            min_relevance=min_relevance,
            keep_at_least=keep_at_least,
            backfill_days=backfill,
            library=library,
            library_stamp=library_stamp,
        )
        return sub, name_line

    def relevance_cut(
        self, top: dict[str, Node], order: DigestOrder
    ) -> tuple[float | None, int | None]:
        """``min_relevance: 0.4`` (0 to 1) and ``keep_at_least: 5``, for ``order: relevance``."""
        threshold = keep = None
        if "min_relevance" in top:
            node = top["min_relevance"]
            if not (isinstance(node, ScalarNode) and node.tag.endswith((":float", ":int"))):
                raise self.error(
                    f"expected a number from 0 to 1, got {_kind(node)}", node, "min_relevance"
                )
            threshold = float(str(node.value).replace("_", ""))
            if not 0.0 <= threshold <= 1.0:
                raise self.error(
                    f"must be between 0 and 1 (relevance runs from 0 to 1, 0.5 is the "
                    f"model's boundary), got {node.value}",
                    node,
                    "min_relevance",
                )
        if "keep_at_least" in top:
            node = top["keep_at_least"]
            if not (isinstance(node, ScalarNode) and node.tag.endswith(":int")):
                raise self.error(
                    f"expected a whole number, got {_kind(node)}", node, "keep_at_least"
                )
            keep = int(str(node.value).replace("_", ""), 0)
            if keep < 0:
                raise self.error("must be 0 or more", node, "keep_at_least")
        for key in ("min_relevance", "keep_at_least"):
            if key in top and order != "relevance":
                raise self.error(
                    f"{key} needs order: relevance (it cuts by the relevance model)",
                    top[key],
                    key,
                )
        return threshold, keep

    def library(self, node: Node) -> tuple[str, Stamp]:
        """``library: refs.bib``, relative to the rule file: the path and its stamp (its
        contents are read where they are used, by watcher.library)."""
        value = self.string(node, "library")
        path = self.folder / Path(value).expanduser()
        stamp = library_stamp(str(path))
        if stamp is None:
            problem = "is not a file" if path.exists() else "does not exist"
            raise self.error(
                f"the library {path} {problem} (a .bib export, or a list of arXiv ids one a "
                "line; a relative path starts at the rule file's folder)",
                node,
                "library",
            )
        return str(path), stamp

    def backfill(self, node: Node) -> int | None:
        """``backfill: 7d``: days of archived papers a new subscription also matches."""
        if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
            return None
        value = str(node.value).strip() if isinstance(node, ScalarNode) else ""
        found = re.fullmatch(r"(\d+)\s*d", value)
        if found is None:
            raise self.error(
                f"expected a number of days like 7d, got {_kind(node)}", node, "backfill"
            )
        days = int(found.group(1))
        if not 1 <= days <= MAX_BACKFILL_DAYS:
            raise self.error(
                f"must be between 1d and {MAX_BACKFILL_DAYS}d (the archive keeps "
                "WATCHER_ARCHIVE_DAYS days, 90 by default)",
                node,
                "backfill",
            )
        return days

    def order(self, node: Node) -> DigestOrder:
        value = self.string(node, "order")
        for order in ORDERS:
            if value == order:
                return order
        raise self.error(_unknown("order", value, ORDERS), node, "order")

    def max_papers(self, node: Node) -> int | None:
        if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
            return None
        if not (isinstance(node, ScalarNode) and node.tag.endswith(":int")):
            raise self.error(f"expected a whole number, got {_kind(node)}", node, "max_papers")
        value = int(str(node.value).replace("_", ""), 0)
        if value < 1:
            raise self.error("must be at least 1 (leave it out for no limit)", node, "max_papers")
        return value

    def refuse_secrets(self, root: Node) -> None:
        """A Slack token or webhook URL anywhere in the file is an error that names its line
        and never repeats the value (rule files are shared, committed, printed)."""
        pending: list[tuple[Node, str]] = [(root, "")]
        while pending:
            node, field = pending.pop()
            if isinstance(node, ScalarNode):
                if _SECRET_ANYWHERE.search(str(node.value)):
                    what = "this value looks like a token or webhook URL"
                    raise self.error(f"{what}: {_SECRET_HINT}", node, field or "(top level)")
            elif isinstance(node, SequenceNode):
                pending += [(item, f"{field}[{i}]") for i, item in enumerate(node.value)]
            elif isinstance(node, MappingNode):
                for key, value in node.value:
                    inner = f"{field}.{key.value}" if field else str(key.value)
                    pending.append((value, inner))

    def name(self, node: Node, field: str) -> str:
        value = self.string(node, field)
        if "|" in value or not value.isprintable():
            raise self.error("a name is one line of printable text without '|'", node, field)
        return value

    def feeds(self, node: Node) -> tuple[str, ...]:
        feeds: dict[str, None] = {}
        for item, field in self.items(node, "feeds"):
            if isinstance(item, MappingNode):
                # An arXiv API query, for topics that cut across categories.
                values = self.mapping(item, field, ("query",))
                query = self.string(self.required(values, "query", item, field), f"{field}.query")
                feed = QUERY_PREFIX + " ".join(query.split())
                if feed in feeds:
                    raise self.error("this query is listed twice", item, field)
                feeds[feed] = None
                continue
            feed = self.string(item, field)
            if any(ch.isspace() for ch in feed):
                raise self.error(f"{feed!r} contains spaces; join categories with '+'", item, field)
            if "://" in feed and not feed.lower().startswith(("http://", "https://")):
                raise self.error(f"{feed!r}: only http(s) URLs can be fetched", item, field)
            if "://" not in feed and "/" not in feed and not is_categories(feed):
                raise self.error(feed_name_problem(feed), item, field)
            if "://" in feed and (problem := _url_secret_problem(feed)):
                raise self.error(problem, item, field)
            if feed in feeds:
                raise self.error(f"{feed!r} is listed twice", item, field)
            feeds[feed] = None
        if not feeds:
            raise self.error("the feed list is empty", node, "feeds")
        return tuple(feeds)

    def topics(self, node: Node) -> tuple[Topic, ...]:
        topics: list[Topic] = []
        seen: dict[str, None] = {}
        for item, field in self.items(node, "topics", single=False):
            topic = self.topic(item, field)
            if topic.name.casefold() in seen:
                name_node = self.mapping(item, field, TOPIC_KEYS)["name"]
                raise self.error(
                    f"topic {topic.name!r} is defined twice", name_node, f"{field}.name"
                )
            seen[topic.name.casefold()] = None
            topics.append(topic)
        if not topics:
            raise self.error("the topic list is empty", node, "topics")
        return tuple(topics)

    def topic(self, node: Node, field: str) -> Topic:
        values = self.mapping(node, field, TOPIC_KEYS)
        name = self.name(self.required(values, "name", node, field), f"{field}.name")
        if not any(key in values for key in ("any", "all", "query", "authors")):
            raise self.error(
                "a topic needs 'any' (one of these terms), 'all' (every one of them), "
                "a 'query', or 'authors' (a watch list)",
                node,
                field,
            )
        terms = {
            key: self.terms(values[key], f"{field}.{key}") if key in values else ()
            for key in ("any", "all", "none")
        }
        fields = self.fields(values["fields"], f"{field}.fields") if "fields" in values else None
        query = self.query(values["query"], f"{field}.query") if "query" in values else None
        authors = self.authors(values["authors"], f"{field}.authors") if "authors" in values else ()
        categories = (
            self.categories(values["categories"], f"{field}.categories")
            if "categories" in values
            else ()
        )
        return Topic(
            name=name,
            any=terms["any"],
            all=terms["all"],
            none=terms["none"],
            fields=fields or DEFAULT_FIELDS,
            categories=categories,
            authors=authors,
            query=query,
        )

    def query(self, node: Node, field: str) -> Query:
        text = self.string(node, field)
        try:
            root = parse_query(text)
        except QuerySyntaxError as error:
            raise self.error(f"{error} in {text!r}", node, field) from None
        return Query(text=text, root=root)

    def authors(self, node: Node, field: str) -> tuple[str, ...]:
        names: dict[str, None] = {}
        for item, inner in self.items(node, field):
            name = " ".join(self.string(item, inner).split())
            if not name_words(name):
                raise self.error(f"{name!r} has no letters to match", item, inner)
            names[name] = None
        if not names:
            raise self.error("the author list is empty", node, field)
        return tuple(names)

    def categories(self, node: Node, field: str) -> tuple[str, ...]:
        categories: dict[str, None] = {}
        for item, inner in self.items(node, field):
            value = self.string(item, inner)
            if not is_category(value):
                raise self.error(category_problem(value), item, inner)
            categories[value] = None
        if not categories:
            raise self.error("the category list is empty", node, field)
        return tuple(categories)

    def terms(self, node: Node, field: str) -> tuple[Term, ...]:
        terms = []
        for item, inner in self.items(node, field):
            try:
                terms.append(_parse_term(self.string(item, inner)))
            except ValueError as error:
                raise self.error(f"invalid term {error}", item, inner) from None
        if not terms:
            raise self.error("the term list is empty", node, field)
        return tuple(terms)

    def fields(self, node: Node, field: str) -> tuple[str, ...]:
        names: dict[str, None] = {}
        for item, inner in self.items(node, field):
            value = self.string(item, inner)
            if value not in FIELDS:
                raise self.error(_unknown("field", value, FIELDS), item, inner)
            names[value] = None
        if not names:
            raise self.error("the field list is empty", node, field)
        return tuple(names)

    def deliver(self, node: Node) -> tuple[Destination, ...]:
        destinations: dict[Destination, None] = {}
        for item, field in self.items(node, "deliver", single=False):
            destination = self.destination(item, field)
            if destination in destinations:
                raise self.error(f"{destination.key} is listed twice", item, field)
            destinations[destination] = None
        if not destinations:
            raise self.error(
                "the list is empty; leave 'deliver' out for local files", node, "deliver"
            )
        return tuple(destinations)

    def destination(self, node: Node, field: str) -> Destination:
        if isinstance(node, ScalarNode):
            kind = self.string(node, field)
            if kind == "local":
                return LOCAL
            if kind in DELIVER_KINDS:
                raise self.error(f"say where: '- {kind}: ...'", node, field)
            raise self.error(_unknown("destination", kind, DELIVER_KINDS), node, field)
        values = self.mapping(node, field, DELIVER_KINDS)
        if len(values) != 1:
            raise self.error(
                "each entry names one destination, like '- slack: \"#x\"'", node, field
            )
        kind, value = next(iter(values.items()))
        inner = f"{field}.{kind}"
        if kind == "local":
            if not (isinstance(value, ScalarNode) and value.tag.endswith(":bool")):
                raise self.error("write '- local' or '- local: true'", value, inner)
            if not self.boolean(value, inner):
                raise self.error("'local: false' means nothing; remove the entry", value, inner)
            return LOCAL
        if kind == "slack":
            return self.slack(value, inner)
        if kind in _URL_VARIABLES:
            what, example = _URL_VARIABLES[kind]
            return Destination(kind, (self.secret_variable(value, inner, what, example),))
        if kind == "atom":
            return self.atom(value, inner)
        addresses = []
        for item, item_field in self.items(value, inner):
            address = self.string(item, item_field)
            if not _EMAIL.match(address):
                raise self.error(f"{address!r} is not an email address", item, item_field)
            addresses.append(address)
        if not addresses:
            raise self.error("no email address given", value, inner)
        return Destination("email", tuple(dict.fromkeys(addresses)))

    def slack(self, node: Node, field: str) -> Destination:
        options: tuple[tuple[str, str], ...] = ()
        channel_node = node
        channel_field = field
        if isinstance(node, MappingNode):
            values = self.mapping(node, field, SLACK_KEYS)
            channel_field = f"{field}.channel"
            channel_node = self.required(values, "channel", node, field)
            if "webhook_env" in values:
                env = self.secret_variable(
                    values["webhook_env"],
                    f"{field}.webhook_env",
                    "a webhook URL",
                    "webhook_env: SLACK_WEBHOOK_X",
                )
                options = (("webhook_env", env),)
        channel = self.string(channel_node, channel_field)
        if _SECRET_VALUE.match(channel):
            raise self.error(
                f"this looks like a token or webhook: {_SECRET_HINT}", channel_node, channel_field
            )
        if any(ch.isspace() for ch in channel):
            raise self.error(
                f'{channel!r} is not a Slack channel, like "#papers"', channel_node, channel_field
            )
        return Destination("slack", (channel,), options)

    def secret_variable(self, node: Node, field: str, what: str, example: str) -> str:
        """The name of the environment variable holding ``what`` (an Apprise URL, a webhook
        URL); never the URL or a token itself (it carries the secret), and the error never
        repeats one. ``example``: the line as it should read."""
        value = self.string(node, field)
        if _URL_LIKE.match(value) or _SECRET_VALUE.match(value) or "/" in value or "@" in value:
            raise self.error(
                f"this looks like {what} itself, not an environment variable name: "
                f"{_SECRET_HINT}, and name the variable here, like '{example}'",
                node,
                field,
            )
        if not _ENV_NAME.match(value):
            raise self.error(
                f"{value!r} is not an environment variable name; name the variable that "
                f"holds {what}, like '{example}'",
                node,
                field,
            )
        return value

    def atom(self, node: Node, field: str) -> Destination:
        """``atom: efficient-ml.xml`` or ``atom: {path: /srv/feeds/x.xml, entries: 500}``."""
        path_node, path_field = node, field
        options: tuple[tuple[str, str], ...] = ()
        if isinstance(node, MappingNode):
            values = self.mapping(node, field, ATOM_KEYS)
            path_field = f"{field}.path"
            path_node = self.required(values, "path", node, field)
            if "entries" in values:
                entries_node = values["entries"]
                entries = _whole_number(entries_node)
                if entries is None or not 1 <= entries <= MAX_ATOM_ENTRIES:
                    raise self.error(
                        f"expected a number of entries from 1 to {MAX_ATOM_ENTRIES}, "
                        f"got {_kind(entries_node)}",
                        entries_node,
                        f"{field}.entries",
                    )
                options = (("entries", str(entries)),)
        path = self.string(path_node, path_field)
        if _URL_LIKE.match(path):
            raise self.error(
                "the Atom feed is a file the watcher writes: give a file name (kept under "
                "the data directory's atom/ folder) or an absolute path, and serve it from there",
                path_node,
                path_field,
            )
        if not path.endswith(ATOM_SUFFIXES) or path.endswith(("/.xml", "/.atom")):
            raise self.error(
                f"{path!r}: an Atom feed file name ends in .xml or .atom, like efficient-ml.xml",
                path_node,
                path_field,
            )
        if ".." in Path(path).parts or not path.isprintable():
            raise self.error(
                f"{path!r}: no '..' in the path (a relative path stays under data/atom/)",
                path_node,
                path_field,
            )
        return Destination("atom", (path,), options)

    def schedule(self, node: Node, timezone: str) -> str:
        value = self.string(node, "schedule")
        if value in SCHEDULES:
            return value
        if len(value.split()) != 5:
            raise self.error(
                f"{value!r}: use daily, weekly or a 5-field cron line like '0 8 * * mon-fri'",
                node,
                "schedule",
            )
        problem = _cron_problem(value, timezone)
        if problem is not None:
            raise self.error(f"{value!r} {problem}", node, "schedule")
        return value

    def timezone(self, node: Node) -> str:
        value = self.string(node, "timezone")
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise self.error(
                f"unknown time zone {value!r}; use an IANA name like Europe/Berlin or UTC",
                node,
                "timezone",
            ) from None
        return value

    def boolean(self, node: Node, field: str) -> bool:
        if not (isinstance(node, ScalarNode) and node.tag.endswith(":bool")):
            raise self.error(f"expected true or false, got {_kind(node)}", node, field)
        return str(node.value).lower() in ("true", "yes", "on", "y")


# Many rule files share terms and schedules: each is parsed or checked once per process.
_parse_term = functools.lru_cache(maxsize=65536)(parse_term)


@functools.lru_cache(maxsize=4096)
def _url_secret_problem(url: str) -> str | None:
    """Why a feed URL may not stand in a rule file: a placeholder that is none, or a literal
    credential (``user:pass@``, a value of ``?token=``, ``&api_key=``...). Never repeats the
    value: rule files are shared, committed, printed."""
    problem = placeholder_problem(url)
    if problem:
        return problem
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo and PLACEHOLDER.sub("", userinfo).strip(":"):
        return (
            "the URL holds a literal user:password@: write it as "
            f"${{FEED_USER}}:${{FEED_PASSWORD}}@{parts.hostname or 'host'} (any variable "
            f"names) and {_URL_SECRET_HINT}"
        )
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if value and is_secret_param(name) and not PLACEHOLDER.fullmatch(value):
            return (
                f"the URL's query parameter {name!r} holds a literal secret: write it as "
                f"{name}=${{FEED_TOKEN}} (any variable name) and {_URL_SECRET_HINT}"
            )
    return None


def _cron_problem(value: str, timezone: str) -> str | None:
    """What is wrong with a 5-field cron line in ``timezone``, or None."""
    try:
        trigger = CronTrigger.from_crontab(value, timezone=timezone)
    except ValueError as error:
        return f"is not a valid cron line: {error}"
    # A valid line can still name no real time (30 February): it would never send.
    if trigger.get_next_fire_time(None, _CRON_CHECK_FROM) is None:
        return "never fires (no such date)"
    return None


def _whole_number(node: Node) -> int | None:
    if isinstance(node, ScalarNode) and node.tag.endswith(":int"):
        try:
            return int(str(node.value))
        except ValueError:
            return None
    return None


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    return "nothing" if tag == "null" else f"{tag} {node.value!r}"


def _unknown(what: str, value: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {value!r}{hint}; allowed: {', '.join(allowed)}"


def iter_rule_files(directory: Path) -> Iterator[Path]:
    """The rule files ``load_rules`` reads, in order (for ``watcher rules check`` listings)."""
    yield from sorted(
        p
        for p in directory.iterdir()
        if p.suffix in RULE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
