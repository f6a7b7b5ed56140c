"""``watcher rules suggest``: turn a subscription's feedback into edits of its rule file.

Two kinds of proposal, each measured with the real matcher before it is shown:

- ``none:`` candidates: words and two-word phrases frequent in the disliked papers the rule
  matches and rare in the liked ones. Each is added to the ``none:`` of the topics that
  matched those disliked papers; it says how many disliked and liked papers it would drop,
  and how many of the archive's matches a day.
- ``any:`` candidates: words and phrases frequent in the liked papers (and the library)
  and rare in the archive, that no topic names. They go together into one new topic; each
  says how many more papers a day it alone would bring, measured on the archive.

Pure: the caller gives the papers (the archive, the liked and disliked ones) and the rule
file's text; out come the proposals, the edited text (ruamel.yaml round trip, so comments
and layout stay) and its diff. The edit is loaded back and must mean exactly what was
measured.
"""

from __future__ import annotations

import copy
import difflib
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from watcher.errors import WatcherError
from watcher.match import compile_matcher
from watcher.models import Paper, Subscription, Topic
from watcher.query import parse_term, query_terms
from watcher.rules.load import load_rule_text

NEW_TOPIC = "More like your likes"
# A candidate must occur in at least this many (and this share) of the papers it stands for.
MIN_PAPERS = 2
MIN_SHARE = 0.25
# ...and in at most this share of the other side: liked papers (none:), the archive (any:).
MAX_LIKED_SHARE = 0.10
MAX_ARCHIVE_SHARE = 0.05
_WORD = re.compile(r"[^\W\d_][^\W_]*(?:'[^\W_]+)?")
# Words that say nothing about a topic, never part of a term: English function words.
# (scikit-learn has such a list, but importing it costs seconds for a few hundred words.)
_FUNCTION_WORDS = """a about above across after again against all almost alone along already
    also although always am among an and another any are around as at be became because
    been before being
    below between both but by can cannot could did do does done down due during each either
    else enough etc even ever every few for from further had has have having he her here
    hers him his how however i if in into is it its itself just least less many may me might
    more most much must my neither never no nor not now of off often on once one only onto or
    other others our out over own per perhaps rather same several she should show shows shown
    since so some such than that the their them then there these they this those though
    through thus to too toward towards under until up upon us very via was we well were what
    when where whether which while who whom whose why will with within without would yet you
    your"""
# The stock words of abstracts: no term alone, but part of a phrase ("language models").
_STOCK_WORDS = """paper papers propose proposed approach approaches method methods results
    result work study new novel using based use used also existing state art task tasks model models
    performance achieve achieves demonstrate demonstrates framework significantly significant
    first two three large different various however furthermore experiments experimental
    extensive code available github com https http www"""
_FUNCTION = frozenset(_FUNCTION_WORDS.split())
_STOCK = frozenset(_STOCK_WORDS.split())


class SuggestError(WatcherError):
    """Too little to go on, or an edit that would not load (a bug: reported, not written)."""


@dataclass(frozen=True, slots=True)
class NoneCandidate:
    term: str
    topics: tuple[str, ...]  # the topics it goes into (those the disliked papers matched)
    disliked_with: int  # disliked matches containing it
    liked_with: int
    drops_disliked: int  # disliked papers the edit would no longer match
    drops_liked: int
    fewer_per_day: float  # archive matches a day the edit would remove


@dataclass(frozen=True, slots=True)
class AnyCandidate:
    term: str
    liked_with: int  # liked papers containing it
    archive_share: float  # share of the archive's papers containing it
    more_per_day: float  # papers a day it alone would add, measured on the archive
    liked_gained: int  # liked papers the rule misses now and would match with it


@dataclass(frozen=True, slots=True)
class Suggestions:
    subscription: Subscription
    liked: int
    disliked: int  # disliked papers the rule matches
    archive: int
    days: int
    none: tuple[NoneCandidate, ...] = ()
    any: tuple[AnyCandidate, ...] = ()
    notes: tuple[str, ...] = ()  # why a kind has no candidates


def words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text.replace("-", " "))]


def candidate_terms(paper: Paper) -> set[str]:
    """The words and two-word phrases of a paper's title and abstract that could be rule
    terms: no function words, no numbers, adjacent words only (as a phrase matches)."""
    found: set[str] = set()
    tokens = words(f"{paper.title}\n{paper.abstract}")
    for word, after in zip(tokens, [*tokens[1:], ""], strict=True):
        if word in _FUNCTION or len(word) < 2:
            continue
        if word not in _STOCK:
            found.add(word)
        phrase = after and after not in _FUNCTION and len(after) >= 2
        if phrase and not (word in _STOCK and after in _STOCK):
            found.add(f"{word} {after}")
    return found


def suggest(
    sub: Subscription,
    liked: Sequence[Paper],
    disliked: Sequence[Paper],
    archive: Sequence[Paper],
    days: int,
    *,
    top: int = 3,
) -> Suggestions:
    """Proposals for ``sub`` from the papers the reader liked (library included) and
    disliked, measured on ``archive`` (the papers of the subscription's feeds over ``days``
    announcement days)."""
    days = max(days, 1)
    current = compile_matcher([sub])
    hits = {p.id: m.hits for p in (*liked, *disliked, *archive) for m in current.match(p)}
    disliked_matches = [p for p in disliked if p.id in hits]
    liked_terms = [candidate_terms(p) for p in liked]
    named = _named_by(sub)
    notes: list[str] = []

    none_ranked: list[tuple[float, str]] = []
    if len(disliked_matches) < MIN_PAPERS:
        notes.append(
            f"none: needs at least {MIN_PAPERS} disliked papers that the rule matches "
            f"(has {len(disliked_matches)})"
        )
    else:
        counts = _doc_counts(candidate_terms(p) for p in disliked_matches)
        in_liked = _doc_counts(liked_terms)
        for term, n in counts.items():
            liked_share = in_liked.get(term, 0) / len(liked) if liked else 0.0
            if (
                n >= MIN_PAPERS
                and n / len(disliked_matches) >= MIN_SHARE
                and liked_share <= MAX_LIKED_SHARE
                and not named(term)
            ):
                none_ranked.append((n / len(disliked_matches) - liked_share, term))
    any_ranked: list[tuple[float, str]] = []
    background = [candidate_terms(p) for p in archive]
    in_archive = _doc_counts(background)
    if len(liked) < MIN_PAPERS:
        notes.append(f"any: needs at least {MIN_PAPERS} liked papers (has {len(liked)})")
    else:
        for term, n in _doc_counts(liked_terms).items():
            share = in_archive.get(term, 0) / len(archive) if archive else 0.0
            if (
                n >= MIN_PAPERS
                and n / len(liked) >= MIN_SHARE
                and share <= MAX_ARCHIVE_SHARE
                and not named(term)
            ):
                lift = (n / len(liked)) / (share + 1 / max(len(archive), 1))
                any_ranked.append((n * math.log1p(lift), term))

    nones = []
    for term in _distinct(none_ranked, top):
        topics = tuple(
            sorted(
                {
                    h.topic
                    for p in disliked_matches
                    if term in candidate_terms(p)
                    for h in hits[p.id]
                }
            )
        )
        nones.append((term, topics))
        # counted below, with one matcher for every variant
    anys = _distinct(any_ranked, top)
    variants = [with_none(sub, term, topics, f"none:{term}") for term, topics in nones]
    variants += [with_any(sub, (term,), f"any:{term}") for term in anys]
    matched = _matched_by(variants, (*liked, *disliked, *archive))
    base = set(hits)
    liked_ids = {p.id for p in liked}
    disliked_ids = {p.id for p in disliked_matches}
    archive_ids = {p.id for p in archive}
    none_found = []
    for term, topics in nones:
        dropped = base - matched.get(f"none:{term}", set())
        none_found.append(
            NoneCandidate(
                term,
                topics,
                sum(term in candidate_terms(p) for p in disliked_matches),
                sum(term in t for t in liked_terms),
                len(dropped & disliked_ids),
                len(dropped & liked_ids),
                len(dropped & archive_ids) / days,
            )
        )
    any_found = []
    for term in anys:
        gained = matched.get(f"any:{term}", set()) - base
        any_found.append(
            AnyCandidate(
                term,
                sum(term in t for t in liked_terms),
                in_archive.get(term, 0) / len(archive) if archive else 0.0,
                len(gained & archive_ids) / days,
                len(gained & liked_ids),
            )
        )
    if len(liked) >= MIN_PAPERS and not any_found:
        notes.append("any: no term is frequent in your liked papers and rare in the archive")
    if len(disliked_matches) >= MIN_PAPERS and not none_found:
        notes.append("none: no term is frequent in your disliked papers and rare in the liked")
    return Suggestions(
        sub,
        len(liked),
        len(disliked_matches),
        len(archive),
        days,
        tuple(none_found),
        tuple(any_found),
        tuple(notes),
    )


def with_none(sub: Subscription, term: str, topics: Iterable[str], name: str = "") -> Subscription:
    """``sub`` with ``term`` added to the ``none:`` of ``topics``."""
    chosen = set(topics)
    return replace(
        sub,
        name=name or sub.name,
        topics=tuple(
            replace(t, none=(*t.none, parse_term(term))) if t.name in chosen else t
            for t in sub.topics
        ),
    )


def with_any(sub: Subscription, terms: Sequence[str], name: str = "") -> Subscription:
    """``sub`` with a new topic whose ``any:`` is ``terms`` (or those added to it)."""
    extra = tuple(parse_term(term) for term in terms)
    topics = list(sub.topics)
    for i, topic in enumerate(topics):
        if topic.name == NEW_TOPIC:
            topics[i] = replace(topic, any=(*topic.any, *extra))
            break
    else:
        topics.append(Topic(NEW_TOPIC, any=extra))
    return replace(sub, name=name or sub.name, topics=tuple(topics))


def edited(sub: Subscription, suggestions: Suggestions) -> Subscription:
    """What the rule file means once every proposal is taken."""
    result = sub
    for n in suggestions.none:
        result = with_none(result, n.term, n.topics)
    if suggestions.any:
        result = with_any(result, [a.term for a in suggestions.any])
    return result


def edit_rule_text(text: str, path: Path, suggestions: Suggestions) -> str:
    """``text`` with the proposals written in, comments and layout kept (ruamel.yaml round
    trip). Raises SuggestError when the result would not load as what was measured."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc: Any = yaml.load(text)
    topics: Any = doc["topics"]
    by_name = {str(t.get("name")): t for t in topics}

    def flow(items: Iterable[str]) -> CommentedSeq:
        seq = CommentedSeq(items)
        seq.fa.set_flow_style()
        return seq

    for n in suggestions.none:
        for name in n.topics:
            node = by_name[name]
            if "none" in node:
                node["none"].append(n.term)
            else:
                keys = list(node.keys())
                after = max(
                    (keys.index(k) for k in ("any", "all", "query") if k in keys), default=0
                )
                node.insert(after + 1, "none", flow([n.term]))
                _carry_comment(node, keys[after], "none")
    if suggestions.any:
        terms = [a.term for a in suggestions.any]
        if NEW_TOPIC in by_name:
            by_name[NEW_TOPIC]["any"].extend(terms)
        else:
            topic = CommentedMap()
            topic["name"] = NEW_TOPIC
            topic["any"] = flow(terms)
            last = topics[-1]
            topics.append(topic)
            if isinstance(last, CommentedMap) and last:
                _carry_comment(last, list(last.keys())[-1], "any", topic)
    out = io.StringIO()
    yaml.dump(doc, out)
    result = out.getvalue()
    try:
        loaded = load_rule_text(result, path)
    except WatcherError as error:
        raise SuggestError(f"the edited file would not load ({error}); nothing written") from None
    wanted = edited(load_rule_text(text, path), suggestions)
    if loaded != wanted:
        raise SuggestError("the edited file would not mean what was measured; nothing written")
    return result


def _carry_comment(node: Any, before: str, key: str, target: Any = None) -> None:
    """ruamel.yaml keeps the comment lines that follow a key's value with that key; when a
    key is put after it, the lines below the value's own line go with the new key, so that a
    comment introducing the next topic still comes right before it."""
    slot = node.ca.items.get(before)
    token = slot[2] if slot and len(slot) > 2 else None
    if token is None or "\n" not in token.value.rstrip("\n"):
        return
    own, below = token.value.split("\n", 1)
    moved = copy.copy(token)
    token.value = own + "\n"
    moved.value = "\n" + below  # no comment on the new line itself, then the lines below
    (target if target is not None else node).ca.items[key] = [None, None, moved, None]


def rule_diff(before: str, after: str, path: Path) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=str(path),
            tofile=f"{path} (suggested)",
        )
    )


def _n(n: int, noun: str) -> str:
    """``1 day``, ``9 days``, ``3,383 archived papers``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def format_suggestions(s: Suggestions) -> str:
    sub = s.subscription
    lines = [
        f"{sub.name} ({sub.path}): {_n(s.liked, 'liked paper')}, {s.disliked} disliked that "
        f"the rule matches; measured on {_n(s.archive, 'archived paper')} of its feeds over "
        f"{_n(s.days, 'day')}"
    ]
    if s.none:
        lines += ["", "none: candidates (frequent in what you disliked, rare in what you liked)"]
        for n in s.none:
            lines.append(
                f"  {n.term!r:<28} in {n.disliked_with} of {s.disliked} disliked, "
                f"{n.liked_with} of {s.liked} liked; drops {n.drops_disliked} disliked and "
                f"{n.drops_liked} liked papers, {n.fewer_per_day:.1f} fewer a day "
                f"(into {', '.join(n.topics)})"
            )
    if s.any:
        lines += ["", "any: candidates (frequent in what you liked, named by no topic)"]
        for a in s.any:
            lines.append(
                f"  {a.term!r:<28} in {a.liked_with} of {s.liked} liked, "
                f"{a.archive_share:.1%} of the archive; {a.more_per_day:.1f} more papers a day"
                f", {a.liked_gained} liked papers the rule misses now"
            )
    lines += [f"  ({note})" for note in s.notes]
    return "\n".join(lines) + "\n"


def _doc_counts(docs: Iterable[set[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for doc in docs:
        for term in doc:
            counts[term] = counts.get(term, 0) + 1
    return counts


def _distinct(ranked: list[tuple[float, str]], top: int) -> list[str]:
    """The best ``top`` terms, best first (ties: the phrase before its words, being the more
    precise, then alphabetical), leaving out a word of a phrase already chosen and a phrase
    of a word already chosen."""
    chosen: list[str] = []
    for _, term in sorted(ranked, key=lambda st: (-st[0], -term_len(st[1]), st[1])):
        parts = set(term.split())
        if any(parts & set(c.split()) for c in chosen):
            continue
        chosen.append(term)
        if len(chosen) == top:
            break
    return chosen


def term_len(term: str) -> int:
    return len(term.split())


def _named_by(sub: Subscription) -> Callable[[str], bool]:
    """A test: does a topic of ``sub`` already name this candidate (an any, all, none or
    query term of it would match the candidate written as a title)?"""
    terms = [
        *(term for t in sub.topics for term in (*t.any, *t.all, *t.none)),
        *(term for t in sub.topics if t.query for term, _ in query_terms(t.query.root)),
    ]
    if not terms:
        return lambda term: False
    probe = compile_matcher(
        [Subscription("probe", "", (), (Topic("named", any=tuple(terms), fields=("title",)),))]
    )
    # A word or a phrase inside a rule's phrase ("cache" of "kv cache") is named too: it
    # stands for the same papers the rule already chose.
    parts: set[str] = set()
    for term in terms:
        found = words(term.text.replace("*", ""))
        parts.update(" ".join(found[i : i + n]) for n in (1, 2) for i in range(len(found)))

    def named(term: str) -> bool:
        return term in parts or bool(probe.match(Paper("probe", None, term, (), "")))

    return named


def _matched_by(variants: Sequence[Subscription], papers: Iterable[Paper]) -> dict[str, set[str]]:
    if not variants:
        return {}
    matcher = compile_matcher(variants)
    found: dict[str, set[str]] = {v.name: set() for v in variants}
    for paper in papers:
        for match in matcher.match(paper):
            found[match.subscription].add(paper.id)
    return found
