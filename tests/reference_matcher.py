"""The slow, obviously correct matcher: the oracle for tests and the baseline of bench/match.py.

One regex per term per field per topic per paper over a normalised copy of the text, every
condition of a topic checked literally, names compared by trying every way to drop middle
initials. It shares no code with ``watcher.match.Matcher`` beyond the text of fields and the
normalisation of a name into words (``name_words``, tested on its own).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from watcher.match import field_text, name_words
from watcher.models import (
    Match,
    Paper,
    QueryAnd,
    QueryNode,
    QueryNot,
    QueryOr,
    Subscription,
    Term,
    Topic,
    TopicHit,
)

TITLE_WEIGHT = 3.0
OTHER_WEIGHT = 1.0
AUTHOR_WEIGHT = 5.0


def oracle_text(text: str) -> str:
    """Lower-cased words separated by single spaces, with a space at both ends."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " " + " ".join(re.sub(r"[\W_]+", " ", folded).split()) + " "


def oracle_hits(term: Term, text: str) -> bool:
    if not term.words:
        return False
    pattern = " " + " ".join(map(re.escape, term.words)) + (r"[^ ]*" if term.prefix else "") + " "
    return re.search(pattern, oracle_text(text)) is not None


def same_person(watched: str, author: str) -> bool:
    """First names equal, and the rest equal once spaces go and any leading single-letter
    middle words are dropped on either side; one-word names must be equal."""
    w, a = name_words(watched), name_words(author)
    if not w or not a:
        return False
    if len(w) == 1 or len(a) == 1:
        return w == a
    if w[0] != a[0]:
        return False
    for i in range(1, len(w)):
        for j in range(1, len(a)):
            dropped = [*w[1:i], *a[1:j]]
            if any(len(x) != 1 for x in dropped):
                continue
            if "".join(w[i:]) == "".join(a[j:]):
                return True
    return False


def in_categories(allowed: Sequence[str], categories: Sequence[str]) -> bool:
    for category in categories:
        for wanted in allowed:
            if category.lower() == wanted.lower():
                return True
            if category.lower().startswith(wanted.lower() + "."):
                return True
    return False


def evaluate(node: QueryNode, hit: dict[Term, bool]) -> bool:
    if isinstance(node, Term):
        return hit[node]
    if isinstance(node, QueryNot):
        return not evaluate(node.part, hit)
    if isinstance(node, QueryAnd):
        return all(evaluate(p, hit) for p in node.parts)
    if isinstance(node, QueryOr):
        return any(evaluate(p, hit) for p in node.parts)
    raise TypeError(node)


def leaves(node: QueryNode, positive: bool = True) -> list[tuple[Term, bool]]:
    if isinstance(node, Term):
        return [(node, positive)]
    if isinstance(node, QueryNot):
        return leaves(node.part, not positive)
    return [leaf for p in node.parts for leaf in leaves(p, positive)]


def reference_match(subscriptions: Sequence[Subscription], paper: Paper) -> tuple[Match, ...]:
    matches = []
    for sub in subscriptions:
        hits = []
        scored: set[tuple[tuple[tuple[str, ...], bool], str]] = set()
        authors_found: set[str] = set()
        for topic in sub.topics:

            def hit(term: Term, topic: Topic = topic) -> bool:
                return any(oracle_hits(term, field_text(paper, f)) for f in topic.fields)

            if topic.categories and not in_categories(topic.categories, paper.categories):
                continue
            if topic.any and not any(map(hit, topic.any)):
                continue
            if not all(map(hit, topic.all)) or any(map(hit, topic.none)):
                continue
            query_leaves = leaves(topic.query.root) if topic.query else []
            if topic.query is not None:
                values = {term: hit(term) for term, _ in query_leaves}
                if not evaluate(topic.query.root, values):
                    continue
            watched = [n for n in topic.authors if any(same_person(n, a) for a in paper.authors)]
            if topic.authors and not watched:
                continue
            positive = [*topic.any, *topic.all, *(t for t, p in query_leaves if p)]
            found = [t for t in positive if hit(t)]
            # A term written twice ("low-bit", "low bit": the same words) is one term.
            first: dict[tuple[tuple[str, ...], bool], str] = {}
            for t in found:
                first.setdefault((t.words, t.prefix), t.text)
            written = dict.fromkeys([*first.values(), *watched])
            hits.append(TopicHit(topic.name, tuple(written)))
            for term in found:
                for f in topic.fields:
                    if oracle_hits(term, field_text(paper, f)):
                        scored.add(((term.words, term.prefix), f))
            authors_found.update(watched)
        if hits:
            score = sum(TITLE_WEIGHT if f == "title" else OTHER_WEIGHT for _, f in scored)
            score += AUTHOR_WEIGHT * len(authors_found)
            matches.append(Match(paper, sub.name, tuple(hits), score=score))
    return tuple(matches)
