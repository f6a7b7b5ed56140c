"""Tools for the person editing rules: ``watcher rules test`` and ``watcher rules explain``.

``rules test`` runs one rule file over a pool of papers (the archive's recent history, or
given feeds) and reports per topic how much it matches, with a sample and warnings.
``rules explain`` says, for one archived paper, which terms of which topics matched where,
and why every other topic did not. The work is done by pure functions over values
(``backtest``, ``format_backtest``, ``explain``); the ``cmd_*`` functions are the edges.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import yaml

from watcher import app
from watcher.errors import WatcherError
from watcher.library import read_library
from watcher.match import (
    AUTHOR_WEIGHT,
    category_allows,
    compile_matcher,
    field_text,
    field_weight,
    watched_authors,
)
from watcher.models import (
    ANNOUNCEABLE,
    ARXIV_ID,
    FIELDS,
    Paper,
    Ranking,
    Subscription,
    Term,
    Topic,
    TopicHit,
)
from watcher.parse import parse_feed
from watcher.query import TermKey, evaluate_query, query_terms, term_key
from watcher.render import one_line
from watcher.rules import iter_rule_files, load_rule_file, load_rules
from watcher.rules.suggest import edit_rule_text, format_suggestions, rule_diff, suggest
from watcher.settings import (
    Settings,
    add_dir_arguments,
    load_settings,
    read_environment,
    with_dirs,
)
from watcher.sources import (
    CARRIED_FIELDS,
    command_line_feed_problem,
    in_subscription_feeds,
    resolve_source,
)
from watcher.store import Store, read_feedback
from watcher.store.atomic import write_atomically

DEFAULT_DAYS = 90  # the archive's default retention (WATCHER_ARCHIVE_DAYS)
BROAD_SHARE = 0.10  # a topic matching more of the pool than this is "too broad"
SAMPLE_SIZE = 5
_VERSION = re.compile(r"v\d+$")
_ARXIV_PREFIX = re.compile(r"^arxiv:", re.I)  # as papers cite each other: arXiv:2409.12121


# --- progress ------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on a terminal, shown only once a run has taken a second.

    Writes ``\\r``-updated lines to ``out`` when it is a TTY; otherwise prints nothing.
    """

    def __init__(
        self,
        out: TextIO,
        label: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        delay: float = 1.0,
        every: float = 0.1,
    ) -> None:
        self.out = out
        self.label = label
        self.clock = clock
        self.start = clock()
        self.delay = delay
        self.every = every
        self.shown = False
        self._last = 0.0
        self.enabled = bool(getattr(out, "isatty", lambda: False)())

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self.start < self.delay or (self.shown and now - self._last < self.every):
            return
        self._last = now
        self.shown = True
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "." * (width - filled)
        self.out.write(f"\r{self.label} [{bar}] {done:,}/{total:,}")
        self.out.flush()

    def finish(self) -> None:
        if self.shown:
            self.out.write("\r" + " " * (len(self.label) + 50) + "\r")
            self.out.flush()


# --- rules test ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicResult:
    name: str
    matches: tuple[tuple[Paper, TopicHit], ...]
    share: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Backtest:
    subscription: Subscription
    pool: int  # papers looked at
    matched: int  # papers matched by any topic
    topics: tuple[TopicResult, ...]
    source: str  # "the last 90 days" or "3 feed(s)"
    scores: dict[str, float] = field(default_factory=dict)
    empty_hint: str = ""  # what to do when the pool is empty


def backtest(
    sub: Subscription,
    papers: Sequence[Paper],
    source: str,
    progress: Callable[[int, int], None] | None = None,
    *,
    empty_hint: str = "",
) -> Backtest:
    """Match ``papers`` against one subscription and sum up each topic."""
    matcher = compile_matcher([sub])
    per_topic: dict[str, list[tuple[Paper, TopicHit]]] = {t.name: [] for t in sub.topics}
    matched = 0
    scores: dict[str, float] = {}
    for done, paper in enumerate(papers, 1):
        for match in matcher.match(paper):
            matched += 1
            scores[paper.id] = match.score
            for hit in match.hits:
                per_topic[hit.topic].append((paper, hit))
        if progress is not None and (done % 200 == 0 or done == len(papers)):
            progress(done, len(papers))
    pool = len(papers)
    results = []
    for topic in sub.topics:
        found = per_topic[topic.name]
        share = len(found) / pool if pool else 0.0
        warnings = []
        if pool and share > BROAD_SHARE:
            warnings.append(
                f"too broad: matches {share:.1%} of the pool (more than {BROAD_SHARE:.0%})"
            )
        if pool and not found:
            warnings.append(f"dead: nothing matched in {source}")
        # The sample: best scores first, then newest ids, so it shows the typical hit.
        found.sort(key=lambda ph: (-scores.get(ph[0].id, 0.0), ph[0].id), reverse=False)
        results.append(TopicResult(topic.name, tuple(found), share, tuple(warnings)))
    return Backtest(sub, pool, matched, tuple(results), source, scores, empty_hint)


def format_backtest(result: Backtest, sample: int = SAMPLE_SIZE) -> str:
    sub = result.subscription
    lines = [
        f"{sub.name} ({sub.path}): {result.pool:,} papers in {result.source}; "
        f"{result.matched:,} matched ({_share(result.matched, result.pool)})"
    ]
    if not result.pool:
        lines.append(
            "  nothing to test against: the pool is empty"
            + (f"; {result.empty_hint}" if result.empty_hint else "")
        )
        return "\n".join(lines) + "\n"
    for topic in result.topics:
        lines.append("")
        count = len(topic.matches)
        noun = "match" if count == 1 else "matches"
        lines.append(f'Topic "{topic.name}": {count:,} {noun} ({_share(count, result.pool)})')
        lines += [f"  WARNING: {w}" for w in topic.warnings]
        for paper, hit in topic.matches[:sample]:
            title = one_line(paper.title)
            if len(title) > 72:
                title = title[:71] + "…"
            terms = ", ".join(hit.terms)
            score = result.scores.get(paper.id, 0.0)
            paper_id = one_line(paper.versioned_id)
            lines.append(f"  {paper_id:<18} {title}  [{terms}] score {score:g}")
        if count > sample:
            lines.append(f"  ... and {count - sample:,} more")
    return "\n".join(lines) + "\n"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def papers_from_store(data_dir: Path, since: datetime) -> list[Paper]:
    with Store.open(data_dir, read_only=True) as store:
        return list(store.recent_papers(since))


def papers_from_feeds(settings: Settings, feeds: Sequence[str]) -> list[Paper]:
    """Every paper the given feeds announce (files, URLs or arXiv categories, as
    ``watcher once --feed`` reads them), one copy per id. Replacements are left out: a cycle
    never announces them as new either."""
    papers: dict[str, Paper] = {}
    with app.build_fetcher(settings) as fetcher:
        for name in feeds:
            source = resolve_source(name, settings.arxiv_rss_url, settings.arxiv_api_url)
            result = fetcher.fetch(source.url)
            if result.raw is None:
                continue
            for paper in parse_feed(result.raw).papers:
                if paper.announce_type not in ANNOUNCEABLE:
                    continue
                kept = papers.get(paper.id)
                if kept is None or (paper.version or 0) > (kept.version or 0):
                    papers[paper.id] = paper
    return list(papers.values())


# --- rules explain -------------------------------------------------------------------------


def _found_in(key: TermKey, hits: dict[str, set[TermKey]], fields: Iterable[str]) -> list[str]:
    return [f for f in fields if key in hits.get(f, set())]


def _terms_where(terms: Iterable[Term], hits: dict[str, set[TermKey]], topic: Topic) -> str:
    parts = []
    for term in terms:
        where = _found_in(term_key(term), hits, topic.fields)
        if where:
            parts.append(f"{term.text} in {', '.join(where)}")
    return "; ".join(parts)


def explain_topic(topic: Topic, paper: Paper, hits: dict[str, set[TermKey]]) -> tuple[bool, str]:
    """Whether ``topic`` matches ``paper`` (whose found terms per field are ``hits``), and
    in words why or why not. Every failed condition is named, not just the first."""
    fields = ", ".join(topic.fields)
    reasons: list[str] = []
    if topic.categories and not category_allows(topic.categories, paper.categories):
        cats = ", ".join(one_line(c) for c in paper.categories) or "none"
        reasons.append(
            f"category filter: the paper's categories ({cats}) are not in "
            f"{', '.join(topic.categories)}"
        )

    def found(term: Term) -> bool:
        return bool(_found_in(term_key(term), hits, topic.fields))

    # A field the paper does not have at all (arXiv's RSS carries no comment) is named as
    # such: "no term found in comment" would send the editor looking for a typo.
    absent = [f for f in topic.fields if not field_text(paper, f).strip()]
    has_none = f"this paper has no {_words(absent)}"
    if len(absent) == len(topic.fields):
        if topic.any or topic.all:
            reasons.append(has_none)
    else:
        looked = fields + (f" ({has_none})" if absent else "")
        if topic.any and not any(map(found, topic.any)):
            reasons.append(f"no 'any' term found in {looked}")
        for term in topic.all:
            if not found(term):
                reasons.append(f"'all' term {term.text} missing from {looked}")
    for term in topic.none:
        where = _found_in(term_key(term), hits, topic.fields)
        if where:
            reasons.append(f"excluded by 'none' term {term.text} (in {', '.join(where)})")
    query_found: list[Term] = []
    if topic.query is not None:
        union = set().union(*(hits.get(f, set()) for f in topic.fields))
        if not evaluate_query(topic.query.root, union):
            present = [t.text for t, _ in query_terms(topic.query.root) if found(t)]
            seen = ", ".join(dict.fromkeys(present)) or "none of its terms"
            reasons.append(f"query {topic.query.text!r} is false (found: {seen})")
        query_found = [t for t, positive in query_terms(topic.query.root) if positive]
    watched: tuple[str, ...] = ()
    if topic.authors:
        watched = watched_authors(topic.authors, paper.authors)
        if not watched:
            reasons.append("no watched author among the paper's authors")
    if reasons:
        return False, "; ".join(reasons)
    why = _terms_where([*topic.any, *topic.all, *query_found], hits, topic)
    if watched:
        why = "; ".join(filter(None, [why, "by " + ", ".join(watched)]))
    return True, why


def _words(names: Sequence[str]) -> str:
    """``comment``, ``comment or journal_ref``, ``title, comment or journal_ref``."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


def never_carried(sub: Subscription) -> list[tuple[int, str]]:
    """The topics (by index) whose terms look only in fields that none of the
    subscription's feeds carries, with why: such a topic can never match. Feeds that may
    carry anything (other RSS/Atom feeds, files) make no warning."""
    kinds = {
        resolve_source(f, "https://rss.invalid/", "https://api.invalid/").kind for f in sub.feeds
    }
    carried: set[str] = set()
    for kind in kinds:
        fields = CARRIED_FIELDS[kind]
        if fields is None:
            return []
        carried |= fields
    found = []
    for index, topic in enumerate(sub.topics):
        if not (topic.any or topic.all or topic.query is not None):
            continue  # an authors-only topic looks at the authors, which every feed has
        missing = [f for f in topic.fields if f not in carried]
        if missing and len(missing) == len(topic.fields):
            what = " and ".join(
                {"arxiv-rss": "arXiv's RSS feeds", "arxiv-query": "arXiv API queries"}[k]
                for k in sorted(kinds)
            )
            found.append(
                (
                    index,
                    f"{what} carry no {_words(missing)}: topic {topic.name!r} can never match "
                    "(add a field they carry, such as abstract, or a `- query:` feed)",
                )
            )
    return found


def field_warnings(sub: Subscription) -> list[str]:
    """``never_carried`` as ``file:line: topics[i].fields: warning: …`` lines."""
    problems = never_carried(sub)
    if not problems:
        return []
    lines = _fields_lines(Path(sub.path))
    return [
        f"{sub.path}:{lines[index]}: topics[{index}].fields: warning: {message}"
        if index in lines
        else f"{sub.path}: topics[{index}].fields: warning: {message}"
        for index, message in problems
    ]


def _fields_lines(path: Path) -> dict[int, int]:
    """The line of each topic's ``fields:`` key (or of the topic), by topic index."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    if not isinstance(root, yaml.MappingNode):
        return {}
    topics = next((v for k, v in root.value if k.value == "topics"), None)
    if not isinstance(topics, yaml.SequenceNode):
        return {}
    lines = {}
    for index, item in enumerate(topics.value):
        node = item
        if isinstance(item, yaml.MappingNode):
            node = next((k for k, _ in item.value if k.value == "fields"), item)
        lines[index] = node.start_mark.line + 1
    return lines


def relevance_line(ranking: Ranking, paper_id: str) -> str:
    """What ``rules explain`` says of an ``order: relevance`` subscription's model."""
    if ranking.fallback is not None:
        return f"  relevance: not used, score order instead: {one_line(ranking.fallback)}"
    found = ranking.relevance.get(paper_id)
    if found is None:
        return "  relevance: not rated"
    side = "liked" if found.value >= 0.5 else "not liked"
    terms = ", ".join(one_line(t) for t in found.terms) or "none"
    young = f"; {one_line(ranking.note)}" if ranking.note else ""
    return (
        f"  relevance {found.value:.2f} (on the {side} side of 0.5{young}); "
        f"terms that pushed it up: {terms}"
    )


def explain(
    subs: Sequence[Subscription], paper: Paper, rankings: Mapping[str, Ranking] | None = None
) -> str:
    """The text of ``watcher rules explain`` for one paper and some subscriptions;
    ``rankings``: what each ``order: relevance`` subscription's model says of it."""
    authors = ", ".join(one_line(a) for a in paper.authors)
    lines = [
        f"{one_line(paper.versioned_id)}: {one_line(paper.title)}",
        f"  authors: {authors or '-'}",
        f"  categories: {', '.join(one_line(c) for c in paper.categories) or '-'}",
    ]
    for sub in subs:
        matcher = compile_matcher([sub])
        hits = matcher.field_hits(paper, FIELDS)
        matches = matcher.match(paper)
        lines.append("")
        if not matches:
            lines.append(f"{sub.name} ({sub.path}): not matched")
        else:
            lines.append(f"{sub.name} ({sub.path}): matched, score {matches[0].score:g}")
        for topic in sub.topics:
            ok, why = explain_topic(topic, paper, hits)
            lines.append(f"  {'+' if ok else '-'} {topic.name}: {why}")
        if rankings is not None and sub.name in rankings:
            lines.append(relevance_line(rankings[sub.name], paper.id))
    lines += [
        "",
        f"Score: each matched term counts once per field it is in "
        f"(title {field_weight('title'):g}, other fields {field_weight('abstract'):g}); "
        f"each watched author {AUTHOR_WEIGHT:g}.",
    ]
    return "\n".join(lines) + "\n"


# --- the commands --------------------------------------------------------------------------


def add_commands(rules_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rules test``, ``rules suggest`` and ``rules explain`` to ``watcher rules``."""
    test = rules_sub.add_parser(
        "test",
        help="run one rule file against recent history or given feeds",
        description="Run one rule file against the papers first seen in the last N days "
        "(the archive in the data directory) or against the given feed files, and print per "
        "topic the number of matches, the share of the pool, a sample with the matched terms, "
        "and warnings for topics that match too much (over 10 percent) or nothing. "
        "Exit code 1 if the rule file is invalid.",
    )
    test.add_argument("file", type=Path, help="the rule file")
    pool = test.add_mutually_exclusive_group()
    pool.add_argument(
        "--days",
        type=int,
        default=None,
        metavar="N",
        help=f"papers first seen in the last N days (default {DEFAULT_DAYS})",
    )
    pool.add_argument(
        "--feed",
        action="append",
        default=[],
        type=feed_argument,
        metavar="PATH_OR_URL",
        help="test against this feed instead of the history (repeatable): a local file, a "
        "URL, or an arXiv category such as cs.LG, as for `watcher once --feed`",
    )
    add_dir_arguments(test, rules=None)
    test.set_defaults(handler=cmd_rules_test)

    suggest = rules_sub.add_parser(
        "suggest",
        help="propose rule edits from your likes and dislikes",
        description="Read the subscription's feedback (`watcher feedback`), its library and "
        "the archive, and propose edits to the rule file: none: terms frequent in the papers "
        "you disliked and rare in those you liked (with what each would drop), and any: terms "
        "frequent in what you liked that no topic names (with how many more papers a day "
        "each would bring, measured on the archive). Prints a diff of the file; --write "
        "applies it, keeping the file's comments.",
    )
    suggest.add_argument("file", type=Path, help="the rule file")
    suggest.add_argument("--write", action="store_true", help="apply the edits to the file")
    suggest.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        metavar="N",
        help=f"measure on the papers first seen in the last N days (default {DEFAULT_DAYS})",
    )
    suggest.add_argument(
        "--top", type=int, default=3, metavar="N", help="at most N terms of each kind (default 3)"
    )
    add_dir_arguments(suggest, rules=None)
    suggest.set_defaults(handler=cmd_rules_suggest)

    why = rules_sub.add_parser(
        "explain",
        help="say why a stored paper matched, or did not",
        description="For one paper in the archive: which terms of which topics matched in "
        "which field (and the score), and why the other topics did not.",
    )
    why.add_argument(
        "id", type=paper_id_argument, help="an arXiv id, such as 2409.12121 (a version is ignored)"
    )
    why.add_argument("file", nargs="?", type=Path, help="a rule file (default: every rule file)")
    add_dir_arguments(why)
    why.set_defaults(handler=cmd_rules_explain)


def feed_argument(value: str) -> str:
    """A ``--feed`` as ``watcher once`` takes it; a wrong one is a usage error (exit 2)."""
    problem = command_line_feed_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


_FEED_ID = re.compile(r"^feed:[0-9a-f]{6,40}$")  # a paper of a non-arXiv feed


def paper_id_argument(value: str) -> str:
    """The paper id of ``rules explain``, without ``arXiv:`` or a version; anything that is
    no arXiv id (nor a ``feed:`` id) is a usage error (exit 2)."""
    paper_id = _VERSION.sub("", _ARXIV_PREFIX.sub("", value.strip()))
    if ARXIV_ID.match(paper_id) or _FEED_ID.match(paper_id):
        return paper_id
    raise argparse.ArgumentTypeError(
        f"{value!r} is not an arXiv id (like 2409.12121, 2409.12121v2 or hep-th/9901001)"
    )


def _settings(args: argparse.Namespace) -> Settings:
    rules, data = getattr(args, "rules", None), getattr(args, "data", None)
    return with_dirs(load_settings(read_environment()), rules, data)


def cmd_rules_test(args: argparse.Namespace, now: datetime | None = None) -> int:
    sub = load_rule_file(args.file)  # a RuleError ends the command with file:line: field
    settings = _settings(args)
    if args.feed:
        papers = papers_from_feeds(settings, args.feed)
        source = f"{len(args.feed)} feed(s)"
        hint = "the feeds held no papers (not even ones announced before)"
    else:
        days = DEFAULT_DAYS if args.days is None else args.days
        if days < 1:
            raise WatcherError("--days must be at least 1")
        since = (now or datetime.now(UTC)) - timedelta(days=days)
        pool = papers_from_store(settings.data_dir, since)
        papers = [p for p in pool if in_subscription_feeds(sub, p)]
        source = f"the last {days} days of {settings.data_dir}"
        feeds = " ".join(f"--feed {f}" for f in sub.feeds if not f.startswith("query:"))
        hint = (
            f"the archive holds no papers of this file's feeds for that time: run `watcher "
            f"once` first (it fills the archive), or test against a feed: `watcher rules test "
            f"{args.file} {feeds or '--feed cs.LG'}`"
        )
    papers.sort(key=lambda p: p.id, reverse=True)
    bar = Progress(sys.stderr, "matching")
    try:
        result = backtest(sub, papers, source, bar.update, empty_hint=hint)
    finally:
        bar.finish()
    sys.stdout.write(format_backtest(result))
    return 0


def cmd_rules_explain(args: argparse.Namespace, now: datetime | None = None) -> int:
    settings = _settings(args)
    if args.file is not None:
        subs: list[Subscription] = [load_rule_file(args.file)]
    else:
        ruleset = load_rules(settings.rules_dir)
        for error in ruleset.errors:
            print(f"rule error (file skipped): {error}", file=sys.stderr)
        subs = list(ruleset.subscriptions)
        if not subs:
            files = list(iter_rule_files(settings.rules_dir))
            raise WatcherError(f"no usable rule files in {settings.rules_dir} ({len(files)} found)")
    paper_id = args.id  # without arXiv: and version (paper_id_argument)
    rankings: dict[str, Ranking] | None = None
    with Store.open(settings.data_dir, read_only=True) as store:
        paper = store.paper(paper_id)
        first_seen = store.first_seen(paper_id)
        ranked = [s for s in subs if s.order == "relevance"]
        if paper is not None and ranked:
            # The model as the next cycle would have it (read from its cache, or fitted
            # here without writing anything: the store is opened read-only).
            ranker = app.build_ranker(settings)
            ranker.prepare(store, ranked, now or datetime.now(UTC))
            rankings = ranker.rank_all({s.name: (s, [paper]) for s in ranked})
    if paper is None and first_seen is None:
        raise WatcherError(
            f"paper {paper_id} is not in the archive of {settings.data_dir}: no feed polled "
            "with this data directory ever brought it (run `watcher once` first, or check the id)"
        )
    if paper is None:
        raise WatcherError(
            f"paper {paper_id} was seen (first on {first_seen:%Y-%m-%d}) but its text is not "
            f"in the archive of {settings.data_dir}: older than the archive keeps "
            "(WATCHER_ARCHIVE_DAYS), or it only ever came as a new version of an older paper"
        )
    sys.stdout.write(explain(subs, paper, rankings))
    return 0


def cmd_rules_suggest(args: argparse.Namespace, now: datetime | None = None) -> int:
    path: Path = args.file
    sub = load_rule_file(path)  # a RuleError ends the command with file:line: field
    if args.days < 1 or args.top < 1:
        raise WatcherError("--days and --top must be at least 1")
    settings = _settings(args)
    votes = read_feedback(settings.data_dir).for_subscription(sub.name)
    library = read_library(Path(sub.library)) if sub.library else None
    since = (now or datetime.now(UTC)) - timedelta(days=args.days)
    if not settings.data_dir.exists():
        raise WatcherError(f"no data directory at {settings.data_dir}: run `watcher once` first")
    with Store.open(settings.data_dir, read_only=True) as store:
        archive = [p for p in store.recent_papers(since) if in_subscription_feeds(sub, p)]
        liked, unknown = _texts(store, votes.likes)
        disliked, unknown_disliked = _texts(store, votes.dislikes)
        if library is not None:
            known, missing = _texts(store, library.paper_ids - votes.likes)
            liked += known
            unknown += missing
            liked += [
                Paper(f"library:{n}", None, entry.title, (), entry.abstract)
                for n, entry in enumerate(library.entries)
                if entry.paper_id is None
            ]
    days = len({p.published.date() for p in archive if p.published}) or args.days
    result = suggest(sub, liked, disliked, archive, days, top=args.top)
    sys.stdout.write(format_suggestions(result))
    if unknown or unknown_disliked:
        print(
            f"  ({unknown + unknown_disliked} voted or library papers are not in the archive: "
            "their text is unknown, so they count once a cycle has seen them)"
        )
    if not result.none and not result.any:
        print("No edit to propose.")
        return 0
    text = path.read_text(encoding="utf-8")
    new_text = edit_rule_text(text, path, result)
    print()
    sys.stdout.write(rule_diff(text, new_text, path))
    if args.write:
        write_atomically(path, new_text.encode("utf-8"))
        print(f"\nWritten to {path} (a running daemon picks it up within seconds).")
    else:
        print("\nNothing written: run again with --write to apply (comments are kept).")
    return 0


def _texts(store: Store, ids: Iterable[str]) -> tuple[list[Paper], int]:
    """The archived papers of ``ids``, and how many the archive has no text of."""
    found = [paper for paper_id in sorted(ids) if (paper := store.paper(paper_id)) is not None]
    return found, len(set(ids)) - len(found)
