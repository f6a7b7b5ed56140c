"""Match papers against subscriptions: pure, and compiled once per rule load.

Why one module of about 670 lines: the index, the bit-set decision, scoring and the
highlighter share the token and term keys of one compiled index, and the hot loop is kept
whole in one place (bench/match.py measures it).

Every term of every subscription goes into one token index, so the cost of a paper is one
pass over its distinct words per field, however many rules there are (no regex per rule per
paper). Topics are then decided all at once with bit sets (one bit per topic), and only the
topics that survive those cheap tests are looked at one by one.

Text and terms are split into words by the same ``tokenize``: NFKC, casefold, and any run of
non-alphanumeric characters is a boundary. So "Low-Bit", "low bit" and "low-bit" are all the
words ``low bit``; ``prun*`` matches the word "pruning" but never "sprung".

Scoring (``Match.score``): every distinct term that made a subscription match counts once
per field it was found in, with weight ``FIELD_WEIGHTS`` (title 3, any other field 1), and
every watched author found counts ``AUTHOR_WEIGHT`` (5). A paper with "pruning" in its title
and abstract scores 4; one with it only in the abstract scores 1.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import NamedTuple, Protocol

from watcher.models import (
    Match,
    Paper,
    Subscription,
    Term,
    Topic,
    TopicHit,
)
from watcher.query import (
    WORD_RUN,
    TermKey,
    evaluate_query,
    query_terms,
    term_key,
    tokenize,
)

FIELD_WEIGHTS: Mapping[str, float] = {"title": 3.0}
DEFAULT_WEIGHT = 1.0
AUTHOR_WEIGHT = 5.0

_CACHE_LIMIT = 200_000  # distinct words remembered per Matcher before starting over


def field_text(paper: Paper, field: str) -> str:
    """The searchable text of one of ``models.FIELDS`` ("" when the paper has none)."""
    if field == "title":
        return paper.title
    if field == "abstract":
        return paper.abstract
    if field == "authors":
        return ", ".join(paper.authors)
    if field == "categories":
        return " ".join(paper.categories)
    if field == "comment":
        return paper.comment or ""
    if field == "journal_ref":
        return paper.journal_ref or ""
    if field == "announce_type":
        return paper.announce_type or ""
    raise ValueError(f"unknown field {field!r}")


def field_weight(field: str) -> float:
    return FIELD_WEIGHTS.get(field, DEFAULT_WEIGHT)


# --- categories ----------------------------------------------------------------------------


def category_allows(allowed: Iterable[str], categories: Iterable[str]) -> bool:
    """True if one of ``categories`` is one of ``allowed``, or in an archive listed there
    (``cs`` allows ``cs.LG``). Case does not matter."""
    wanted = {a.casefold() for a in allowed}
    for category in categories:
        folded = category.casefold()
        if folded in wanted or folded.partition(".")[0] in wanted:
            return True
    return False


# --- author names --------------------------------------------------------------------------

# TeX as arXiv RSS writes names: Bornd\"orfer, R\'emi, Kla\v{s}ka, Stanis{\l}aw, {\ss}.
_TEX_LETTERS = {
    "ss": "ss",
    "aa": "a",
    "AA": "A",
    "ae": "ae",
    "AE": "AE",
    "oe": "oe",
    "OE": "OE",
    "o": "o",
    "O": "O",
    "l": "l",
    "L": "L",
    "i": "i",
    "j": "j",
    "dj": "d",
    "DJ": "D",
    "dh": "d",
    "DH": "D",
    "th": "th",
    "TH": "Th",
    "ng": "ng",
    "NG": "NG",
}
_TEX_LETTER = re.compile(
    r"\\(" + "|".join(sorted(_TEX_LETTERS, key=len, reverse=True)) + r")(?![A-Za-z])"
)
_TEX_SYMBOL_ACCENT = re.compile(r"\\[`'^\"~=.]\s*")  # \'e \"{o}: the accent goes, the letter stays
_TEX_LETTER_ACCENT = re.compile(r"\\[uvHtcdbkr](?:\s*(?=\{)|\s+(?=[A-Za-z]))")  # \v{c} \c c
_PARENS = re.compile(r"\([^()]*\)")
# Letters NFKD does not take apart; casefold handles ß.
_PLAIN = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D"}
    | {"þ": "th", "Þ": "Th", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "\u0131": "i"}
)


def name_words(name: str) -> tuple[str, ...]:
    """The words of a person's name with affiliations, accents, TeX and case removed.

    ``"R\\'emi Gribonval (OCKHAM)"`` -> ``("remi", "gribonval")``; hyphens and other
    punctuation separate words, like everywhere else.
    """
    text = name
    while True:  # nested parentheses: (Dept. of X (Y), Z)
        stripped = _PARENS.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    if "\\" in text:
        text = _TEX_LETTER.sub(lambda m: _TEX_LETTERS[m.group(1)], text)
        text = _TEX_SYMBOL_ACCENT.sub("", text)
        text = _TEX_LETTER_ACCENT.sub("", text)
    text = text.replace("{", "").replace("}", "").replace("\\", " ").translate(_PLAIN)
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return tuple(WORD_RUN.findall(text.casefold()))


def author_keys(name: str) -> frozenset[str]:
    """Keys under which a name is found; two names are the same person if keys intersect.

    A key is the first name, a space, and the rest of the name without spaces, so "Yann
    LeCun" and "Yann Le Cun" share "yann lecun". Single-letter middle initials may be
    left out on either side: "Samuel R. Bowman" also has the key "samuel bowman". A first
    name is never expanded from an initial: "Y. LeCun" and "Yann LeCun" are different keys.
    """
    words = name_words(name)
    if not words:
        return frozenset()
    if len(words) == 1:
        return frozenset({words[0]})
    first, rest = words[0], words[1:]
    keys = {f"{first} {''.join(rest)}"}
    for i in range(len(rest) - 1):
        if len(rest[i]) != 1:
            break
        keys.add(f"{first} {''.join(rest[i + 1 :])}")
    return frozenset(keys)


def watched_authors(watch: Sequence[str], authors: Iterable[str]) -> tuple[str, ...]:
    """The names of ``watch`` (as written) that are among ``authors``."""
    found: set[str] = set()
    for author in authors:
        found |= author_keys(author)
    return tuple(name for name in watch if author_keys(name) & found)


# --- highlighting --------------------------------------------------------------------------


def _normalized_with_offsets(text: str) -> tuple[str, list[int], list[int]]:
    """``normalize(text)`` and, for each of its characters, the span of the original
    characters it came from. A base character and its combining marks normalise together."""
    if text.isascii():
        n = len(text)
        return text.lower(), list(range(n)), list(range(1, n + 1))
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        piece = unicodedata.normalize("NFKC", text[i:j]).casefold()
        out.append(piece)
        starts += [i] * len(piece)
        ends += [j] * len(piece)
        i = j
    return "".join(out), starts, ends


def _spans_of(key: TermKey, folded: str) -> list[tuple[int, int]]:
    """Every occurrence of a term, overlapping ones included: str.find (in C) proposes
    where the first word starts, and the rest is checked in place: whole tokens (runs of
    letters and digits), phrase words separated by anything else, the last word open-ended
    for a prefix. (A regex per term did the same, but compiling ten thousand subscriptions'
    terms cost more than all the finding.)"""
    words, prefix = key
    first, spans, n = words[0], [], len(folded)
    at = folded.find(first)
    while at != -1:
        if at == 0 or not folded[at - 1].isalnum():
            end = _term_end(folded, at + len(first), words, prefix, n)
            if end >= 0:
                spans.append((at, end))
        at = folded.find(first, at + 1)
    return spans


def _term_end(folded: str, pos: int, words: tuple[str, ...], prefix: bool, n: int) -> int:
    """Where a term whose first word ends at ``pos`` ends, or -1 if it does not occur."""
    for word in words[1:]:
        start = pos
        while pos < n and not folded[pos].isalnum():
            pos += 1
        if pos == start or not folded.startswith(word, pos):
            return -1
        pos += len(word)
    if prefix:
        while pos < n and folded[pos].isalnum():
            pos += 1
        return pos
    return -1 if pos < n and folded[pos].isalnum() else pos


def highlight_spans(text: str, terms: Sequence[Term]) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of ``text`` where any of ``terms`` occurs.

    Offsets index the original ``text`` (before normalisation), so ``text[start:end]`` is
    what to mark. Occurrences follow the matcher's rules (whole words, case-insensitive,
    hyphen and space variants of phrases, a prefix term marks the whole word). A phrase
    spans from its first word to its last, separators included. Overlapping spans are
    merged; the result is sorted.
    """
    keys = [term_key(t) for t in terms if t.words]
    if not keys or not text:
        return []
    found: list[tuple[int, int]] = []
    if text.isascii():  # lower-casing keeps every offset: no mapping needed
        folded = text.lower()
        for key in dict.fromkeys(keys):
            found += _spans_of(key, folded)
    else:
        folded, starts, ends = _normalized_with_offsets(text)
        for key in dict.fromkeys(keys):
            found += [(starts[a], ends[b - 1]) for a, b in _spans_of(key, folded)]
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


# --- the compiled matcher ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CompiledTopic:
    """A topic as the matcher needs it; terms are ids (``Matcher._ids``)."""

    topic: Topic
    subscription: int  # index into Matcher.subscriptions
    fields: tuple[str, ...]
    all: frozenset[int]
    positive: tuple[tuple[str, int], ...]  # (written, id) of the terms that make it match
    positive_ids: frozenset[int]  # the ids of ``positive``, for one `&`
    # The hit of a paper in which exactly one positive term was found, per term; empty when
    # two written terms share a key ("low-bit", "low bit"), since both must then be shown.
    hit_of_id: Mapping[int, TopicHit] = dataclass_field(default_factory=dict)
    check: bool = False  # has an ``all`` list or a query, to be checked term by term
    # The subscription has only this topic and it watches no authors: its score is simply
    # the sum of its found terms' field weights, and its hit is its only one.
    simple: bool = False


class _Found:
    """What one subscription matched in one paper, gathered topic by topic."""

    __slots__ = ("authors", "hits", "score", "scored")

    def __init__(self) -> None:
        self.hits: list[TopicHit] = []
        self.scored: set[tuple[int, str]] = set()  # (term id, field) pairs counted once
        self.authors: set[str] = set()
        self.score = 0.0

    def match(self, paper: Paper, subscription: str) -> Match:
        score = self.score + AUTHOR_WEIGHT * len(self.authors)
        return Match(paper, subscription, tuple(self.hits), score)


class _TokenIndex:
    """All terms (by id), keyed by what their first word must be.

    ``exact`` maps a word to the single-word terms equal to it; ``phrases`` maps a word to
    the phrases starting with it; ``prefixes`` maps a prefix string to single-word prefix
    terms (``prun*`` under "prun"). What a word finds is worked out once and cached.
    """

    def __init__(self, ids: Mapping[TermKey, int]) -> None:
        self.exact: dict[str, list[int]] = {}
        self.phrases: dict[str, list[tuple[TermKey, int]]] = {}
        self.prefixes: dict[str, list[int]] = {}
        for key, term_id in ids.items():
            words, prefix = key
            if not words:  # only a hand-built Term can be empty; it matches nothing
                continue
            if len(words) > 1:
                self.phrases.setdefault(words[0], []).append((key, term_id))
            elif prefix:
                self.prefixes.setdefault(words[0], []).append(term_id)
            else:
                self.exact.setdefault(words[0], []).append(term_id)
        self.prefix_lengths = sorted({len(p) for p in self.prefixes})
        self._cache: dict[str, tuple[frozenset[int], tuple[_Phrase, ...]]] = {}
        # Words known to start no term ("the", "results"): most of any text. One set
        # difference (in C) drops them before the loop.
        self._inert: set[str] = set()

    def _probe(self, token: str) -> tuple[frozenset[int], tuple[_Phrase, ...]]:
        singles = list(self.exact.get(token, ()))
        for length in self.prefix_lengths:
            if length > len(token):
                break
            singles += self.prefixes.get(token[:length], ())
        phrases = tuple(
            _Phrase(
                term_id,
                " " + " ".join(key[0]) + ("" if key[1] else " "),
                frozenset(key[0][1:-1] if key[1] else key[0][1:]),
            )
            for key, term_id in self.phrases.get(token, ())
        )
        return frozenset(singles), phrases

    def find(self, tokens: Sequence[str]) -> set[int]:
        """The ids of the terms that occur in ``tokens`` (whole words, phrases as
        consecutive words)."""
        found: set[int] = set()
        cache = self._cache
        if len(cache) + len(self._inert) > _CACHE_LIMIT:
            cache.clear()
            self._inert.clear()
        padded: str | None = None
        words = set(tokens)
        for token in words.difference(self._inert):
            entry = cache.get(token)
            if entry is None:
                entry = self._probe(token)
                if not entry[0] and not entry[1]:
                    self._inert.add(token)
                    continue
                cache[token] = entry
            singles, phrases = entry
            if singles:
                found |= singles
            for phrase in phrases:
                # Most phrases fail for want of a word, which a set answers before any search.
                if phrase.other_words <= words:
                    if padded is None:
                        padded = " " + " ".join(tokens) + " "
                    if phrase.needle in padded:
                        found.add(phrase.term)
        return found


class _Phrase(NamedTuple):
    term: int  # the term's id
    needle: str  # the words between spaces, as they occur in " ".join(tokens)
    other_words: frozenset[str]  # the whole words after the first: all must be present


class Matcher:
    """Subscriptions compiled for matching; build with ``compile_matcher``.

    Each topic has a bit. Per field, every term maps to four bit sets: the topics it is an
    ``any`` term of, an ``all`` term of, a ``none`` term of, or a positive query term of.
    A paper's found terms OR those together; a few ANDs then leave the topics that can
    match, and only those with an ``all`` list or a query are checked one by one.
    """

    def __init__(self, subscriptions: Sequence[Subscription]) -> None:
        self.subscriptions = tuple(subscriptions)
        self._names = tuple(sub.name for sub in self.subscriptions)
        self._hit_cache: dict[tuple[int, tuple[str, ...]], TopicHit] = {}
        self._topics: list[_CompiledTopic] = []
        # Every distinct term gets a small int id: sets and dicts of ids hash far faster
        # than of the nested tuples that TermKeys are.
        self._ids: dict[TermKey, int] = {}
        # field -> term id -> [any, all, none, query] topic bits
        self._tables: dict[str, dict[int, list[int]]] = {}
        self._category_bits: dict[str, int] = {}
        self._author_bits: dict[str, int] = {}
        self._author_names: list[tuple[tuple[str, frozenset[str]], ...]] = []
        everyone = no_any = no_all = no_query = no_category = no_authors = 0
        ids = self._ids

        def id_of(term: Term) -> int:
            return ids.setdefault(term_key(term), len(ids))

        for s, sub in enumerate(self.subscriptions):
            for topic in sub.topics:
                bit = 1 << len(self._topics)
                everyone |= bit
                query = query_terms(topic.query.root) if topic.query else []
                kinds: list[tuple[int, Iterable[Term]]] = [
                    (0, topic.any),
                    (1, topic.all),
                    (2, topic.none),
                    (3, (t for t, positive in query if positive)),
                ]
                for kind, terms in kinds:
                    for term in terms:
                        term_id = id_of(term)
                        for field in topic.fields:
                            table = self._tables.setdefault(field, {})
                            table.setdefault(term_id, [0, 0, 0, 0])[kind] |= bit
                for term, _ in query:
                    id_of(term)
                if query or topic.none:  # terms that only exclude still need their fields read
                    for field in topic.fields:
                        self._tables.setdefault(field, {})
                if not topic.any:
                    no_any |= bit
                if not topic.all:
                    no_all |= bit
                if topic.query is None or evaluate_query(topic.query.root, frozenset()):
                    no_query |= bit  # (a hand-built query true without any term is no filter)
                if topic.categories:
                    for category in topic.categories:
                        folded = category.casefold()
                        self._category_bits[folded] = self._category_bits.get(folded, 0) | bit
                else:
                    no_category |= bit
                watch = tuple((name, author_keys(name)) for name in topic.authors)
                if topic.authors:
                    for _, name_keys in watch:
                        for k in name_keys:
                            self._author_bits[k] = self._author_bits.get(k, 0) | bit
                else:
                    no_authors |= bit
                self._author_names.append(watch)
                positive = [*topic.any, *topic.all, *(t for t, p in query if p)]
                # One text per term: "retrieval-augmented" and "retrieval augmented" are the
                # same words, so one term (one score, one chip), shown as first written.
                first_text: dict[int, str] = {}
                for t in positive:
                    first_text.setdefault(id_of(t), t.text)
                written = tuple((text, i) for i, text in first_text.items())
                self._topics.append(
                    _CompiledTopic(
                        topic=topic,
                        subscription=s,
                        fields=topic.fields,
                        all=frozenset(map(id_of, topic.all)),
                        positive=written,
                        positive_ids=frozenset(i for _, i in written),
                        hit_of_id={i: TopicHit(topic.name, (text,)) for text, i in written},
                        check=bool(topic.all) or topic.query is not None,
                        simple=len(sub.topics) == 1 and not topic.authors,
                    )
                )
        self._everyone = everyone
        self._no_any, self._no_all, self._no_query = no_any, no_all, no_query
        self._no_category, self._no_authors = no_category, no_authors
        self._fields = tuple(self._tables)
        self._keys = list(ids)  # id -> TermKey
        self._index = _TokenIndex(ids)
        self._author_key_cache: dict[str, frozenset[str]] = {}

    def field_hits(
        self, paper: Paper, fields: Iterable[str] | None = None
    ) -> dict[str, set[TermKey]]:
        """The compiled terms found in each field of ``paper`` (for explanations and tests)."""
        keys = self._keys
        return {f: {keys[i] for i in ids} for f, ids in self._field_ids(paper, fields).items()}

    def _field_ids(self, paper: Paper, fields: Iterable[str] | None = None) -> dict[str, set[int]]:
        wanted = self._fields if fields is None else tuple(fields)
        return {f: self._index.find(tokenize(field_text(paper, f))) for f in wanted}

    def _paper_author_keys(self, paper: Paper) -> set[str]:
        keys: set[str] = set()
        cache = self._author_key_cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        for name in paper.authors:
            found = cache.get(name)
            if found is None:
                found = cache[name] = author_keys(name)
            keys |= found
        return keys

    def match(self, paper: Paper) -> tuple[Match, ...]:
        """One Match per subscription with a matching topic, in subscription order."""
        if not self._topics:
            return ()
        by_field = self._field_ids(paper)
        any_hit = all_hit = none_hit = query_hit = 0
        for field, found in by_field.items():
            table = self._tables[field]
            for key in found:
                bits = table.get(key)
                if bits is not None:
                    any_hit |= bits[0]
                    all_hit |= bits[1]
                    none_hit |= bits[2]
                    query_hit |= bits[3]
        candidates = self._everyone & ~none_hit
        candidates &= self._no_any | any_hit
        candidates &= self._no_all | all_hit
        candidates &= self._no_query | query_hit
        if candidates and self._no_category != self._everyone:
            allowed = self._no_category
            for category in paper.categories:
                folded = category.casefold()
                allowed |= self._category_bits.get(folded, 0)
                allowed |= self._category_bits.get(folded.partition(".")[0], 0)
            candidates &= allowed
        author_keys_found: set[str] = set()
        if candidates and self._no_authors != self._everyone:
            author_keys_found = self._paper_author_keys(paper)
            allowed = self._no_authors
            for name_key in author_keys_found:
                allowed |= self._author_bits.get(name_key, 0)
            candidates &= allowed
        if not candidates:
            return ()

        # Matches come out in subscription order because topics are numbered in that order.
        results: list[Match] = []
        names = self._names
        # Many topics search the same fields (title and abstract): per field set, once, the
        # terms found there and what each scores (its field weights summed).
        views: dict[tuple[str, ...], tuple[set[int] | frozenset[int], dict[int, float]]]
        views = {}
        gathering: _Found | None = None  # a subscription of several topics, topic by topic
        gathering_sub = -1
        topics = self._topics
        fields: tuple[str, ...] = ()
        hits: set[int] | frozenset[int] = _NONE
        weight_of: dict[int, float] = {}
        while candidates:
            low = candidates & -candidates
            candidates ^= low
            index = low.bit_length() - 1
            ct = topics[index]
            if ct.fields != fields:  # (usually the same fields as the topic before)
                fields = ct.fields
                view = views.get(fields)
                if view is None:
                    view = views[fields] = _view(by_field, fields)
                hits, weight_of = view
            if ct.check:
                if not ct.all <= hits:
                    continue
                query = ct.topic.query
                if query is not None and not evaluate_query(query.root, _KeysOf(hits, self._ids)):
                    continue
            matched = ct.positive_ids & hits
            if ct.simple:
                # The usual shape, kept short: a subscription of one topic without authors.
                if gathering is not None:
                    results.append(gathering.match(paper, names[gathering_sub]))
                    gathering = None
                if len(matched) == 1:
                    (term,) = matched
                    hit = ct.hit_of_id.get(term) or self._topic_hit(index, ct, matched)
                    score = weight_of[term]
                else:
                    hit = self._topic_hit(index, ct, matched)
                    score = sum([weight_of[term] for term in matched], 0.0)
                results.append(Match(paper, names[ct.subscription], (hit,), score))
                continue
            if gathering_sub != ct.subscription or gathering is None:
                if gathering is not None:
                    results.append(gathering.match(paper, names[gathering_sub]))
                gathering, gathering_sub = _Found(), ct.subscription
            for term in matched:
                for f in ct.fields:
                    if term in by_field.get(f, _NONE) and (term, f) not in gathering.scored:
                        gathering.scored.add((term, f))
                        gathering.score += field_weight(f)
            hit = self._topic_hit(index, ct, matched)
            if author_keys_found:
                names_found = [
                    n for n, keys in self._author_names[index] if keys & author_keys_found
                ]
                if names_found:
                    terms = tuple(dict.fromkeys([*hit.terms, *names_found]))
                    hit = self._cached_hit(index, ct, terms)
                    gathering.authors.update(names_found)
            gathering.hits.append(hit)
        if gathering is not None:
            results.append(gathering.match(paper, names[gathering_sub]))
        return tuple(results)

    def _topic_hit(self, index: int, ct: _CompiledTopic, matched: frozenset[int]) -> TopicHit:
        """The hit of topic ``index`` for the positive terms ``matched``, as written."""
        if len(matched) == 1 and (hit := ct.hit_of_id.get(next(iter(matched)))) is not None:
            return hit
        return self._cached_hit(index, ct, tuple(t for t, i in ct.positive if i in matched))

    def _cached_hit(self, index: int, ct: _CompiledTopic, terms: tuple[str, ...]) -> TopicHit:
        # The same topic finds the same few terms in paper after paper: share the value.
        hit = self._hit_cache.get((index, terms))
        if hit is None:
            if len(self._hit_cache) > _CACHE_LIMIT:
                self._hit_cache.clear()
            hit = self._hit_cache[(index, terms)] = TopicHit(ct.topic.name, terms)
        return hit


_NONE: frozenset[int] = frozenset()


class _KeysOf:
    """Term ids seen as the TermKeys they stand for, for ``evaluate_query``."""

    __slots__ = ("ids", "ids_of")

    def __init__(self, ids: set[int] | frozenset[int], ids_of: Mapping[TermKey, int]) -> None:
        self.ids, self.ids_of = ids, ids_of

    def __contains__(self, key: object) -> bool:
        return self.ids_of.get(key, -1) in self.ids  # type: ignore[call-overload]


def _view(
    by_field: Mapping[str, set[int]], fields: Sequence[str]
) -> tuple[set[int] | frozenset[int], dict[int, float]]:
    """The terms found in any of ``fields``, and each one's score: the weights of the
    fields it was found in, summed."""
    weight_of: dict[int, float] = {}
    for field in fields:
        weight = field_weight(field)
        for term in by_field.get(field, _NONE):
            weight_of[term] = weight_of.get(term, 0.0) + weight
    if len(fields) == 1:
        return by_field.get(fields[0], _NONE), weight_of
    return set(weight_of), weight_of


def compile_matcher(subscriptions: Sequence[Subscription]) -> Matcher:
    """Index every term of ``subscriptions`` once; the result matches any number of papers."""
    return Matcher(subscriptions)


class PaperMatcher(Protocol):
    def match(self, paper: Paper) -> tuple[Match, ...]: ...


class LazyMatcher:
    """A Matcher compiled on the first paper it is asked about: a weekend's cycle, with no
    paper to match, never pays for indexing ten thousand subscriptions' terms."""

    def __init__(self, subscriptions: Sequence[Subscription]) -> None:
        self._subscriptions = subscriptions
        self._matcher: Matcher | None = None

    def match(self, paper: Paper) -> tuple[Match, ...]:
        if self._matcher is None:
            self._matcher = compile_matcher(self._subscriptions)
        return self._matcher.match(paper)
