"""Scoring: a cycle's papers under every subscription's relevance model at once (pure).

A paper's relevance under a model (watcher.relevance) is
``(x . idf*w) / sqrt(x^2 . idf^2) + intercept`` through the logistic function, ``x`` its
sublinear term counts: scikit-learn's l2 norm of the tf-idf row over the model's own terms
and its decision function, as two dot products. So the cycle's papers become one sparse
matrix over the terms of the day (each paper analysed once, whichever subscriptions it
matched), the models become dense blocks of ``pull`` (idf x weight) and ``idf2`` over those
terms, and each asked (paper, model) pair's two sums are one sparse matrix-vector product
per block, in float64: the scores are scikit-learn's to 1e-9.

What a cycle pays is what this module is shaped by (bench/relevance.py: 1,000 models, a
1,000-paper day, 66,000 pairs): a paper's terms are found from its words by numbers
(``TermIndex`` numbers every word of every model's terms and looks the pairs of neighbours
up as pairs of numbers), never by building and hashing each bigram's string; the model
blocks are written without masks (a term the day lacks goes to a spare column no pair
reads); and the terms that pushed a paper up are worked out only for each model's
``REASON_PAPERS`` most relevant papers, the ones a digest shows first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain, repeat

import numpy as np
import numpy.typing as npt
from scipy import sparse

from watcher.models import Paper, Relevance
from watcher.relevance import Analyzer, RelevanceModel, paper_text

__all__ = ["REASON_PAPERS", "REASON_TERMS", "CompiledModel", "Scorer", "TermIndex", "score_papers"]

REASON_TERMS = 3
# A digest shows its first papers in full, with the terms that pushed each up: those terms
# are worked out for each subscription's this many most relevant papers of a cycle (the
# others show their relevance alone), which is most of the cost of ranking a cycle.
REASON_PAPERS = 20
# The dense block of model columns ``Scorer`` multiplies at once: at most this many cells
# (float64), so a thousand models over a day's terms take a few tens of MB at a time.
_BLOCK_CELLS = 1_000_000
# And the (pair, term) entries of a block's pairs at most (about 16 bytes each while scored).
_BLOCK_ENTRIES = 600_000
# Blocks worked out at once, each in a thread with its own two blocks of cells.
_WORKERS = 2
_NO_WORD = -1  # a word no model's term has: it still parts its neighbours
_STOP_WORD = -2  # dropped before the pairs are made, as the analyzer drops it

Ints = npt.NDArray[np.int32]
Longs = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]
Doubles = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class _Lookup:
    """A ``TermIndex``'s terms as arrays, for finding them in words by numbers."""

    words: dict[str, int]  # word -> number; stop words -> _STOP_WORD
    unigram: Ints  # word number -> the term that is the word alone, or -1
    pair_codes: Longs  # (first word << 32 | second word) of each two-word term, sorted
    pair_terms: Ints  # the term of each code
    by_text: Longs  # rank (terms in text order) -> term number
    rank: Longs  # term number -> rank
    texts: list[str]  # term number -> term


class TermIndex:
    """Every loaded model's terms, each interned once as a number; grows as models are
    compiled. It also numbers each word of the terms, so a paper's terms are found from its
    words (``Scorer``)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.terms: list[str] = []
        self._words: dict[str, int] = {}
        self._unigram: list[int] = []  # word number -> term number, or -1
        self._pairs: list[tuple[int, int, int]] = []  # (first word, second word, term)
        self._lookup: _Lookup | None = None
        self._stop: frozenset[str] = frozenset()

    def intern(self, terms: Sequence[str]) -> Ints:
        ids = self._ids
        out = np.empty(len(terms), dtype=np.int32)
        for i, term in enumerate(terms):
            found = ids.get(term)
            if found is None:
                found = ids[term] = len(self.terms)
                self.terms.append(term)
                self._number_words(term, found)
            out[i] = found
        return out

    def _number_words(self, term: str, number: int) -> None:
        words = term.split(" ")
        # The analyzer's terms are one word or two: a string of other shape (a hand-edited
        # cache) is in no text, so it needs no way to be found.
        if len(words) == 1:
            self._unigram[self._word(words[0])] = number
        elif len(words) == 2:
            self._pairs.append((self._word(words[0]), self._word(words[1]), number))
        self._lookup = None

    def _word(self, word: str) -> int:
        found = self._words.get(word)
        if found is None:
            found = self._words[word] = len(self._unigram)
            self._unigram.append(-1)
        return found

    def lookup(self, stop_words: frozenset[str]) -> _Lookup:
        """The terms as arrays (made again only after new terms were interned)."""
        if self._lookup is None or stop_words != self._stop:
            # Stop words last: the analyzer drops them before it makes terms, so a model's
            # term with one (a hand-edited cache) must not make it a word for every model.
            words = dict(self._words)
            words.update(dict.fromkeys(stop_words, _STOP_WORD))
            pairs = np.array(self._pairs, dtype=np.int64).reshape(-1, 3)
            codes = (pairs[:, 0] << 32) | pairs[:, 1]
            order = np.argsort(codes, kind="stable")
            by_text = np.array(
                sorted(range(len(self.terms)), key=self.terms.__getitem__), dtype=np.int64
            )
            rank = np.empty(len(by_text), dtype=np.int64)
            rank[by_text] = np.arange(len(by_text))
            self._lookup = _Lookup(
                words,
                np.array(self._unigram, dtype=np.int32),
                codes[order],
                pairs[order, 2].astype(np.int32),
                by_text,
                rank,
                self.terms,
            )
            self._stop = stop_words
        return self._lookup


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """A model over ``TermIndex`` ids: what a long-running process keeps of a model (three
    arrays; the term strings live once in the index). Its idf and weights stay the fitted
    float32 numbers: scoring multiplies them in float64, where the product of two float32
    numbers is exact, so the scores are scikit-learn's to 1e-9, not to float32's 1e-6."""

    fingerprint: str
    ids: Ints
    idf: Floats
    weights: Floats
    intercept: float

    @classmethod
    def of(cls, model: RelevanceModel, index: TermIndex) -> CompiledModel:
        return cls(
            model.fingerprint,
            index.intern(model.terms),
            model.idf.astype(np.float32),
            model.weights.astype(np.float32),
            model.intercept,
        )


@dataclass
class Scorer:
    """The papers of one cycle, and their relevance under many models at once."""

    index: TermIndex
    analyzer: Analyzer
    # The reasons (terms) are worked out for each model's this many most relevant papers
    # (those a digest shows first); None: for all.
    reason_papers: int | None = REASON_PAPERS
    rows: dict[str, int] = field(default_factory=dict)  # paper id -> row
    # When set: each request's unrounded decision values by paper id (for tests that hold
    # them to scikit-learn's), filled by ``score_many``.
    decisions: list[dict[str, float]] | None = None
    _words: list[list[str]] = field(default_factory=list)  # each row's words, stop words too
    _day: _DayMatrix | None = None

    def add(self, papers: Iterable[Paper]) -> None:
        rows, tokens = self.rows, self.analyzer.tokens
        for paper in papers:
            if paper.id not in rows:
                rows[paper.id] = len(rows)
                self._words.append(tokens(paper_text(paper)))
                self._day = None

    def score(self, model: CompiledModel, papers: Sequence[Paper]) -> dict[str, Relevance]:
        """Each paper's relevance under ``model`` and its strongest terms."""
        return self.score_many([(model, papers)])[0]

    def score_many(
        self, requests: Sequence[tuple[CompiledModel, Sequence[Paper]]]
    ) -> list[dict[str, Relevance]]:
        """For each (model, papers): each paper's relevance and its strongest terms. Exactly
        what scikit-learn's transform and decision_function give, whatever else is asked."""
        for _, papers in requests:
            self.add(papers)
        results: list[dict[str, Relevance]] = [{} for _ in requests]
        if self.decisions is not None:
            self.decisions[:] = [{} for _ in requests]
        if not self.rows or not any(papers for _, papers in requests):
            return results
        if self._day is None or len(self._day.column) != len(self.index.terms):
            self._day = _DayMatrix.of(self._words, self.index.lookup(self.analyzer.stop_words))
        day, rows = self._day, self.rows
        blocks = _blocks(day, [[rows[p.id] for p in papers] for _, papers in requests])
        workers = min(_WORKERS, os.cpu_count() or 1, len(blocks))
        with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            # numpy and scipy let go of the interpreter in their loops: the blocks' numbers
            # are worked out side by side, and each block's results are made here, in order,
            # while the next ones are worked out.
            def work(block: tuple[int, int, Longs]) -> _BlockScores:
                start, end, pair_rows = block
                return self._score_block(day, requests[start:end], pair_rows)

            scored = pool.map(work, blocks) if pool is not None else map(work, blocks)
            for (start, end, _), scores in zip(blocks, scored, strict=True):
                block = requests[start:end]
                self._collect(day, start, block, scores, results)
        return results

    def _collect(
        self,
        day: _DayMatrix,
        start: int,
        block: Sequence[tuple[CompiledModel, Sequence[Paper]]],
        scores: _BlockScores,
        results: list[dict[str, Relevance]],
    ) -> None:
        """A block's scores as each request's ``Relevance`` by paper id."""
        values = scores.values.tolist()
        reasons: list[tuple[str, ...]] = [()] * len(values)
        # Term strings by column, and None for "no term" (-1: the last).
        named = day.names[scores.reasons].tolist()
        for k, found in zip(scores.explained.tolist(), named, strict=True):
            # None only at the end: a round that finds no term leaves none for the next.
            reasons[k] = (
                tuple(found) if found[-1] is not None else tuple(t for t in found if t is not None)
            )
        pair = 0
        for k, (_, papers) in enumerate(block, start):
            end = pair + len(papers)
            ids = [p.id for p in papers]
            relevance = map(Relevance, values[pair:end], reasons[pair:end])
            results[k].update(zip(ids, relevance, strict=True))
            if self.decisions is not None:
                chosen = scores.decisions[pair:end].tolist()
                self.decisions[k].update(zip(ids, chosen, strict=True))
            pair = end

    def _score_block(
        self,
        day: _DayMatrix,
        block: Sequence[tuple[CompiledModel, Sequence[Paper]]],
        pair_rows: Longs,
    ) -> _BlockScores:
        stride = day.width + 1  # a spare column per model for the terms the day lacks
        models = [model for model, _ in block]
        # Each model as a dense row over the day's terms (model-major, so one pair's
        # look-ups stay in one row). Fresh zeroed buffers: the system hands out zero pages.
        offsets = np.arange(0, len(models) * stride, stride, dtype=np.int32)
        cells = day.column[np.concatenate([model.ids for model in models])]
        cells += np.repeat(offsets, [len(model.ids) for model in models])
        pull = np.zeros(len(models) * stride, dtype=np.float64)
        idf2 = np.zeros(len(models) * stride, dtype=np.float64)
        idf = np.concatenate([model.idf for model in models]).astype(np.float64)
        pull[cells] = idf * np.concatenate([model.weights for model in models])
        idf2[cells] = idf * idf
        intercepts = np.array([model.intercept for model in models], dtype=np.float64)
        pair_models = np.repeat(np.arange(len(block)), [len(papers) for _, papers in block])
        pairs = _pair_cells(day, pair_rows, offsets[pair_models], len(models) * stride)
        dots = pairs @ pull
        np.square(pairs.data, out=pairs.data)  # the same cells, for the norms
        norms = np.sqrt(pairs @ idf2)
        del pairs
        norms[norms == 0] = 1.0
        decision = dots / norms + intercepts[pair_models]
        values = np.round(1.0 / (1.0 + np.exp(-decision)), 6)  # 0.5: the boundary
        explained = _most_relevant(decision, pair_models, self.reason_papers)
        pushed = _pair_cells(
            day, pair_rows[explained], offsets[pair_models[explained]], len(models) * stride
        )
        return _BlockScores(values, decision, explained, _reasons(pushed, pull, stride))


def _pair_cells(day: _DayMatrix, pair_rows: Longs, offsets: Ints, cells: int) -> sparse.csr_matrix:
    """One sparse row per pair over a block's (model, term) cells: its paper's tf, each
    term at its column of the pair's model (``offsets``). A pair's dot products are then
    one matrix-vector product (gather, multiply and sum in C)."""
    pairs = day.tf[pair_rows]
    indptr = pairs.indptr.astype(np.int32)
    indices = pairs.indices.astype(np.int32, copy=False)
    indices += np.repeat(offsets, np.diff(indptr))
    return sparse.csr_matrix((pairs.data, indices, indptr), shape=(len(pair_rows), cells))


@dataclass(frozen=True, eq=False)
class _BlockScores:
    """What a block of models says of its pairs (in request order), as arrays."""

    values: Doubles  # relevance, rounded
    decisions: Doubles
    explained: Longs  # the pairs whose reasons were worked out
    reasons: Longs  # (pair, REASON_TERMS): the day's columns of their terms; -1: none


@dataclass(frozen=True, eq=False)
class _DayMatrix:
    """A cycle's papers as sublinear term counts over the terms of the day (columns in
    the order of the terms' text, so ties between terms break the same in every process)."""

    tf: sparse.csr_matrix
    column: Ints  # TermIndex id -> column; the day's width for terms no paper of it has
    terms: list[str]  # column -> term

    @property
    def width(self) -> int:
        return len(self.terms)

    @cached_property
    def names(self) -> npt.NDArray[np.object_]:
        """The terms by column, and None after them (column -1: no term)."""
        names = np.empty(len(self.terms) + 1, dtype=object)
        names[: len(self.terms)] = self.terms
        return names

    @classmethod
    def of(cls, words: Sequence[list[str]], lookup: _Lookup) -> _DayMatrix:
        """The papers' terms from their words, by numbers: each word's number, the words
        that are terms alone, and each pair of neighbours (stop words dropped first, as
        the analyzer drops them) that is a two-word term, counted per paper."""
        total = sum(map(len, words))
        numbers = np.fromiter(
            map(lookup.words.get, chain.from_iterable(words), repeat(_NO_WORD)),
            dtype=np.int64,
            count=total,
        )
        owner = np.repeat(np.arange(len(words), dtype=np.int64), [len(w) for w in words])
        kept = numbers != _STOP_WORD
        numbers, owner = numbers[kept], owner[kept]
        known = numbers >= 0
        alone = np.full(len(numbers), -1, dtype=np.int64)
        alone[known] = lookup.unigram[numbers[known]]
        neighbours = known[:-1] & known[1:] & (owner[:-1] == owner[1:])
        codes = (numbers[:-1][neighbours] << 32) | numbers[1:][neighbours]
        at = np.minimum(np.searchsorted(lookup.pair_codes, codes), len(lookup.pair_codes) - 1)
        paired = lookup.pair_codes[at] == codes if len(lookup.pair_codes) else codes < 0
        term_rows = np.concatenate([owner[alone >= 0], owner[:-1][neighbours][paired]])
        term_ids = np.concatenate([alone[alone >= 0], lookup.pair_terms[at[paired]]])
        # Each (paper, term) once with its count, papers in order, terms by text.
        size = max(len(lookup.by_text), 1)
        keys, counts = np.unique(term_rows * size + lookup.rank[term_ids], return_counts=True)
        ranks = keys % size
        seen = np.zeros(size, dtype=bool)
        seen[ranks] = True
        present = np.flatnonzero(seen)
        columns = (np.cumsum(seen, dtype=np.int32) - 1)[ranks]
        indptr = np.zeros(len(words) + 1, dtype=np.int32)
        np.cumsum(np.bincount(keys // size, minlength=len(words)), out=indptr[1:])
        tf = sparse.csr_matrix(
            (1.0 + np.log(counts), columns, indptr), shape=(len(words), max(len(present), 1))
        )
        column = np.full(len(lookup.by_text), len(present), dtype=np.int32)
        column[lookup.by_text[present]] = np.arange(len(present), dtype=np.int32)
        texts = lookup.texts
        return cls(tf, column, [texts[t] for t in lookup.by_text[present].tolist()])


def _blocks(day: _DayMatrix, rows: Sequence[list[int]]) -> list[tuple[int, int, Longs]]:
    """The requests in blocks, each ``(start, end, the pairs' paper rows)``: as many requests
    in a row as keep both the block's dense cells (a row of the day's terms per model)
    and its pairs' term entries within bounds, so memory stays a few tens of MB a block."""
    lengths = np.diff(day.tf.indptr)
    stride = day.width + 1
    blocks = []
    start, cells, entries = 0, 0, 0
    for k, mine in enumerate(rows):
        count = int(lengths[mine].sum()) if mine else 0
        if k > start and (cells + stride > _BLOCK_CELLS or entries + count > _BLOCK_ENTRIES):
            blocks.append((start, k, np.array(list(chain(*rows[start:k])), dtype=np.int64)))
            start, cells, entries = k, 0, 0
        cells += stride
        entries += count
    blocks.append((start, len(rows), np.array(list(chain(*rows[start:])), dtype=np.int64)))
    return blocks


def _most_relevant(decision: Doubles, models: Longs, limit: int | None) -> Longs:
    """The pairs among each model's ``limit`` highest decisions (ties: the first asked)."""
    if limit is None:
        return np.arange(len(decision), dtype=np.int64)
    order = np.lexsort((np.arange(len(decision)), -decision, models))
    grouped = models[order]
    first = np.searchsorted(grouped, grouped)
    return np.sort(order[np.arange(len(order)) - first < limit])


def _reasons(pushed: sparse.csr_matrix, pull: Doubles, stride: int) -> Longs:
    """For each pair (a row of ``pushed``: its terms' tf at their cells of the models'
    block ``pull``): the day's columns of the ``REASON_TERMS`` terms with the largest
    positive push (tf x idf x weight), largest first, ties to the first term by text;
    -1 past the last."""
    count = pushed.shape[0]
    lengths = np.diff(pushed.indptr)
    picked = np.full((count, REASON_TERMS), -1, dtype=np.int64)
    if not pushed.nnz:
        return picked
    # The pushes as rows of a table, each from its first column (the term first by text):
    # argmax then finds the largest, and the first of equal ones.
    widest = int(lengths.max())
    table = np.zeros(count * widest, dtype=np.float64)
    starts = pushed.indptr[:-1]
    place = np.arange(pushed.nnz) + np.repeat(np.arange(count) * widest - starts, lengths)
    table[place] = pushed.data * pull[pushed.indices]
    rows = table.reshape(count, widest)
    everyone = np.arange(count)
    last = len(pushed.indices) - 1
    for k in range(REASON_TERMS):
        best = rows.argmax(axis=1)
        up = rows[everyone, best] > 0
        at = np.minimum(starts + best, last)  # a row of none: not up
        picked[:, k] = np.where(up, pushed.indices[at] % stride, -1)
        rows[everyone, best] = 0.0
    return picked


def score_papers(
    model: RelevanceModel, papers: Sequence[Paper], analyzer: Analyzer | None = None
) -> dict[str, Relevance]:
    """One model's relevance of ``papers`` (for `rules explain` and tests)."""
    index = TermIndex()
    compiled = CompiledModel.of(model, index)
    scorer = Scorer(index, analyzer or Analyzer(), reason_papers=None)
    return scorer.score(compiled, papers)
