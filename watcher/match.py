"""Match papers against subscriptions: pure, and compiled once per rule load.

Every term of every subscription goes into one token index, so the cost of a paper is one
pass over its tokens per field, however many rules there are (no regex per rule per paper).

Text and terms are split into words by the same ``tokenize``: NFKC, casefold, and any run of
non-alphanumeric characters is a boundary. So "Low-Bit", "low bit" and "low-bit" are all the
words ``low bit``; ``prun*`` matches the word "pruning" but never "sprung".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from watcher.models import Match, Paper, Subscription, Term, Topic, TopicHit

# Runs of alphanumerics (Unicode-aware): ``\w`` minus the underscore.
_WORD = re.compile(r"[^\W_]+")

# A term's identity in the index: its words and whether the last word is a prefix.
TermKey = tuple[tuple[str, ...], bool]


def normalize(text: str) -> str:
    """NFKC and casefold: the one normal form shared by rule terms and paper text."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokenize(text: str) -> list[str]:
    """Split ``text`` into normalised words; every non-alphanumeric character separates."""
    return _WORD.findall(normalize(text))


def field_text(paper: Paper, field: str) -> str:
    """The searchable text of one of ``models.FIELDS``."""
    if field == "title":
        return paper.title
    if field == "abstract":
        return paper.abstract
    if field == "authors":
        return ", ".join(paper.authors)
    if field == "categories":
        return " ".join(paper.categories)
    raise ValueError(f"unknown field {field!r}")


def term_key(term: Term) -> TermKey:
    return (term.words, term.prefix)


@dataclass(frozen=True, slots=True)
class _CompiledTopic:
    topic: Topic
    any: tuple[TermKey, ...]
    all: tuple[TermKey, ...]
    none: tuple[TermKey, ...]

    def hit_terms(self, hits: set[TermKey]) -> tuple[str, ...] | None:
        """The terms (as written) that made this topic match, or None if it does not."""
        if self.any and not any(key in hits for key in self.any):
            return None
        if not all(key in hits for key in self.all):
            return None
        if any(key in hits for key in self.none):
            return None
        written = [t.text for t in (*self.topic.any, *self.topic.all) if term_key(t) in hits]
        return tuple(dict.fromkeys(written))


class _TokenIndex:
    """All terms, keyed by what their first word must be.

    ``exact`` maps a word to the terms starting with it (phrases, or single exact words);
    ``prefixes`` maps a prefix string to single-word prefix terms (``prun*`` under "prun"),
    probed with each token's leading slices of the lengths that occur.
    """

    def __init__(self, keys: Iterable[TermKey]) -> None:
        self.exact: dict[str, list[TermKey]] = {}
        self.prefixes: dict[str, list[TermKey]] = {}
        for key in dict.fromkeys(keys):
            words, prefix = key
            if not words:  # only a hand-built Term can be empty; it matches nothing
                continue
            if prefix and len(words) == 1:
                self.prefixes.setdefault(words[0], []).append(key)
            else:
                self.exact.setdefault(words[0], []).append(key)
        self.prefix_lengths = sorted({len(p) for p in self.prefixes})

    def find(self, tokens: Sequence[str]) -> set[TermKey]:
        """The terms that occur in ``tokens`` (whole words, phrases as consecutive words)."""
        found: set[TermKey] = set()
        for i, token in enumerate(tokens):
            for key in self.exact.get(token, ()):
                if key not in found and _phrase_at(tokens, i, key):
                    found.add(key)
            for length in self.prefix_lengths:
                if length > len(token):
                    break
                found.update(self.prefixes.get(token[:length], ()))
        return found


def _phrase_at(tokens: Sequence[str], start: int, key: TermKey) -> bool:
    words, prefix = key
    if start + len(words) > len(tokens):
        return False
    # words[0] == tokens[start] is known; check the rest, the last one maybe as a prefix.
    for offset in range(1, len(words) - 1):
        if tokens[start + offset] != words[offset]:
            return False
    if len(words) == 1:
        return True
    last = tokens[start + len(words) - 1]
    return last.startswith(words[-1]) if prefix else last == words[-1]


class Matcher:
    """Subscriptions compiled for matching; build with ``compile_matcher``."""

    def __init__(self, subscriptions: Sequence[Subscription]) -> None:
        self.subscriptions = tuple(subscriptions)
        self._topics: list[tuple[str, list[_CompiledTopic]]] = []
        fields: dict[str, None] = {}
        keys: list[TermKey] = []
        for sub in self.subscriptions:
            compiled = []
            for topic in sub.topics:
                ct = _CompiledTopic(
                    topic,
                    any=tuple(map(term_key, topic.any)),
                    all=tuple(map(term_key, topic.all)),
                    none=tuple(map(term_key, topic.none)),
                )
                compiled.append(ct)
                keys += [*ct.any, *ct.all, *ct.none]
                fields.update(dict.fromkeys(topic.fields))
            self._topics.append((sub.name, compiled))
        self._fields = tuple(fields)
        self._index = _TokenIndex(keys)

    def match(self, paper: Paper) -> tuple[Match, ...]:
        """One Match per subscription with a matching topic, in subscription order."""
        by_field = {f: self._index.find(tokenize(field_text(paper, f))) for f in self._fields}
        matches = []
        for name, topics in self._topics:
            hits = []
            for ct in topics:
                found: set[TermKey] = set().union(*(by_field[f] for f in ct.topic.fields))
                terms = ct.hit_terms(found)
                if terms is not None:
                    hits.append(TopicHit(ct.topic.name, terms))
            if hits:
                matches.append(Match(paper=paper, subscription=name, hits=tuple(hits)))
        return tuple(matches)


def compile_matcher(subscriptions: Sequence[Subscription]) -> Matcher:
    """Index every term of ``subscriptions`` once; the result matches any number of papers."""
    return Matcher(subscriptions)
