"""Relevance: a per-subscription model of what its reader likes, and the order it gives (pure).

As arxiv-sanity-lite does: TF-IDF of title and abstract (unigrams and bigrams, sublinear tf,
English stop words dropped), and a linear SVM trained on the liked papers and the library
(positives) against the disliked ones (negatives), with the other papers the subscription's
feeds brought lately as unlabelled background, weighted as weak negatives. Everything is
deterministic (a fixed ``random_state``, inputs in a fixed order), offline and explainable:
a paper's relevance is the classifier's decision value mapped to 0..1 by the logistic
function (above 0.5: on the liked side of the boundary), and the terms that pushed it up are
the largest ``tf-idf x weight`` products of its text.

A model is its vocabulary, idf and weights (``RelevanceModel``): written as plain JSON by
``watcher.store.relevance``, never pickled. Scoring does not need scikit-learn's vectorizer:
``Scorer`` builds one sparse matrix of a cycle's papers over the ``TermIndex`` every loaded
model's terms are interned in, and each model then scores its own rows with a few array
operations, so a thousand subscriptions cost a thousand small numpy calls, not a thousand
vectorizers.

A subscription with too little to learn from (no liked paper yet, nothing to compare the
liked ones with, a fit that fails) gets a ``Fallback``: its digest is in score order and
says why. From the first liked paper on, with dislikes or the feeds' other papers as
contrast, it is ranked; below ``SETTLED_POSITIVES`` the model is *young* (``young_note``),
and its digests and status say so. Waiting for three likes from a score-ordered top 10 can
mean waiting for ever when the rule's best scores are not what the reader wants: one like
already moves papers like it up, where the next likes come from.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, pairwise
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

from watcher.models import Paper, Relevance

__all__ = [
    "BACKGROUND_MAX",
    "MIN_POSITIVES",
    "MODEL_VERSION",
    "SETTLED_POSITIVES",
    "Analyzer",
    "CompiledModel",
    "Fallback",
    "FallbackKind",
    "RelevanceModel",
    "Scorer",
    "TermIndex",
    "TrainingSet",
    "fingerprint",
    "fit_model",
    "paper_text",
    "young_note",
]

# Bumped whenever what a fit produces changes (features, classifier, weights): a cached
# model of another version is then refitted.
MODEL_VERSION = 1
MIN_POSITIVES = 1
SETTLED_POSITIVES = 3  # fewer liked papers: a young model, said in digests and status
# Unlabelled background papers per fit: enough to learn what is merely common in the feeds,
# few enough that a refit stays a few tens of milliseconds.
BACKGROUND_MAX = 300
# A background paper counts this much as a negative (it was not disliked, only not liked).
BACKGROUND_WEIGHT = 0.1
MAX_FEATURES = 4000  # the terms in most training texts
MIN_SHARED_TERMS = 200  # fewer terms in two texts or more: every term counts
SVM_C = 0.5
REASON_TERMS = 3
# A digest shows its first papers in full, with the terms that pushed each up: those terms
# are worked out for each subscription's this many most relevant papers of a cycle (the
# others show their relevance alone), which is most of the cost of ranking a cycle.
REASON_PAPERS = 20

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int32]
Longs = npt.NDArray[np.int64]
Doubles = npt.NDArray[np.float64]

FallbackKind = Literal["few-positives", "nothing-to-compare", "fit-failed"]


@dataclass(frozen=True, slots=True)
class Fallback:
    """Why a subscription's digest is in score order instead of relevance order."""

    kind: FallbackKind
    message: str  # for the digest footer and status: "only 2 liked papers; ..."


def paper_text(paper: Paper) -> str:
    """What the model reads of a paper: its title and abstract."""
    return f"{paper.title}\n{paper.abstract}"


class Analyzer:
    """Text -> its terms, exactly as scikit-learn's ``TfidfVectorizer(ngram_range=(1, 2),
    stop_words="english", strip_accents="unicode")`` analyses it (lower-case words of two
    letters or more, English stop words dropped, then each pair of neighbours): its own
    preprocessor, tokenizer and stop words, with the pairs joined here in one pass (its
    n-gram loop was half of the time).

    ``counts`` remembers each text it has seen as its distinct terms (numbers in this
    analyzer's own vocabulary) and how often each occurs, so a refit after one like does
    not analyse or count its other texts again."""

    def __init__(self) -> None:
        # scikit-learn loads in about a second: only processes that rank pay for it.
        from sklearn.feature_extraction.text import TfidfVectorizer

        reference = TfidfVectorizer(
            ngram_range=(1, 2), stop_words="english", strip_accents="unicode"
        )
        self._preprocess = reference.build_preprocessor()
        self._tokenize = reference.build_tokenizer()
        self._stop = frozenset(reference.get_stop_words() or ())
        self._ids: dict[str, int] = {}
        self.vocabulary: list[str] = []  # term -> number, for ``counts``
        self._seen: dict[str, TextCounts] = {}

    def __call__(self, text: str) -> list[str]:
        stop = self._stop
        words = [w for w in self._tokenize(self._preprocess(text)) if w not in stop]
        words.extend([f"{a} {b}" for a, b in pairwise(words)])
        return words

    def counts(self, text: str) -> TextCounts:
        found = self._seen.get(text)
        if found is None:
            counted = Counter(self(text))
            ids, vocabulary = self._ids, self.vocabulary
            numbers = np.empty(len(counted), dtype=np.int32)
            for i, term in enumerate(counted):
                number = ids.get(term)
                if number is None:
                    number = ids[term] = len(vocabulary)
                    vocabulary.append(term)
                numbers[i] = number
            occurrences = np.fromiter(counted.values(), dtype=np.float64, count=len(counted))
            found = self._seen[text] = TextCounts(numbers, occurrences)
        return found

    def number_of(self, term: str) -> int:
        return self._ids[term]

    @property
    def numbers(self) -> Mapping[str, int]:
        return self._ids

    def forget(self) -> None:
        """Start afresh (the vocabulary too): a long-running process sees new texts daily."""
        self._seen.clear()
        self._ids.clear()
        self.vocabulary = []

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True, eq=False)
class TextCounts:
    """One text's distinct terms (numbers in its ``Analyzer``'s vocabulary) and how often
    each occurs."""

    terms: Ints
    occurrences: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """Texts to learn from, each in a fixed order (the fit is then the same every time)."""

    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    background: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class RelevanceModel:
    """A fitted model: ``decision(x) = weights . l2(sublinear_tf(x) * idf) + intercept``
    over ``terms``. ``fingerprint`` names what it was fitted from (``fingerprint``)."""

    fingerprint: str
    terms: tuple[str, ...]
    idf: Floats
    weights: Floats
    intercept: float
    positives: int
    negatives: int
    background: int
    version: int = MODEL_VERSION

    def __post_init__(self) -> None:
        if not (len(self.terms) == len(self.idf) == len(self.weights)):
            raise ValueError("a model needs one idf and one weight per term")
        if not (np.all(np.isfinite(self.idf)) and np.all(np.isfinite(self.weights))):
            raise ValueError("a model's idf and weights must be finite numbers")
        if not math.isfinite(self.intercept):
            raise ValueError("a model's intercept must be a finite number")


def fingerprint(
    positives: Iterable[str], negatives: Iterable[str], extra: Iterable[str] = ()
) -> str:
    """A stable name for what a model learns from: the labelled texts (order-free) and
    anything else that changes the fit (``extra``), with the model version."""
    digest = hashlib.sha256(f"v{MODEL_VERSION}|C{SVM_C}|{MAX_FEATURES}\n".encode())
    for label, texts in (("+", positives), ("-", negatives), ("x", extra)):
        for text in sorted(hashlib.sha256(t.encode()).hexdigest() for t in texts):
            digest.update(f"{label}{text}\n".encode())
    return digest.hexdigest()[:32]


def fit_model(training: TrainingSet, analyzer: Analyzer, name: str) -> RelevanceModel | Fallback:
    """Fit a subscription's model, or say why it cannot be fitted. ``name``: its
    fingerprint (``fingerprint``), kept with the model so a cache can tell it is current."""
    positives, negatives, background = training.positives, training.negatives, training.background
    if len(positives) < MIN_POSITIVES:
        return Fallback(
            "few-positives",
            f"{_count(len(positives), 'liked paper')} (likes and library) with known text; "
            f"relevance needs at least {MIN_POSITIVES}",
        )
    if not negatives and not background:
        return Fallback(
            "nothing-to-compare",
            "no disliked paper and no other paper of its feeds in the archive to compare "
            "the liked ones with",
        )
    from sklearn.svm import LinearSVC

    docs = [*positives, *negatives, *background]
    labels = np.array([1] * len(positives) + [0] * (len(negatives) + len(background)))
    # Liked and disliked papers weigh the same in all; the background weighs little each.
    negative_weight = len(positives) / max(len(negatives), 1)
    weights = np.array(
        [1.0] * len(positives)
        + [max(negative_weight, 1.0)] * len(negatives)
        + [BACKGROUND_WEIGHT] * len(background)
    )
    try:
        terms, idf, matrix = _tfidf(
            [analyzer.counts(doc) for doc in docs],
            analyzer.vocabulary,
            analyzer.numbers.__getitem__,
        )
        svm = LinearSVC(C=SVM_C, random_state=0, max_iter=5000)
        svm.fit(matrix, labels, sample_weight=weights)
    except ValueError as exc:  # an empty vocabulary: no text has a word to learn from
        return Fallback("fit-failed", f"the model could not be fitted: {exc}")
    return RelevanceModel(
        fingerprint=name,
        terms=terms,
        idf=idf,
        weights=np.asarray(svm.coef_[0], dtype=np.float32),
        intercept=float(svm.intercept_[0]),
        positives=len(positives),
        negatives=len(negatives),
        background=len(background),
    )


def _tfidf(
    docs: Sequence[TextCounts], vocabulary: Sequence[str], number_of: Callable[[str], int]
) -> tuple[tuple[str, ...], Floats, sparse.csr_matrix]:
    """scikit-learn's TfidfVectorizer (smooth idf, sublinear tf, l2 rows) over the
    ``MAX_FEATURES`` terms in most documents (ties by term), terms in one document only left
    out when there are enough others: the same numbers, from counts the analyzer kept, with
    array operations instead of its vocabulary sort over every bigram."""
    n_docs = len(docs)
    lengths = np.fromiter((len(d.terms) for d in docs), dtype=np.int64, count=n_docs)
    numbers = np.concatenate([d.terms for d in docs]) if n_docs else np.empty(0, np.int32)
    occurrences = (
        np.concatenate([d.occurrences for d in docs]) if n_docs else np.empty(0, np.float64)
    )
    df = np.bincount(numbers, minlength=len(vocabulary))  # the analyzer keeps it small
    pool = np.flatnonzero(df >= 2)
    if len(pool) < MIN_SHARED_TERMS:
        pool = np.flatnonzero(df)
    if not len(pool):
        raise ValueError("empty vocabulary: the texts have no words to learn from")
    if len(pool) > MAX_FEATURES:
        # The MAX_FEATURES-th largest document frequency: every term above it is in, and
        # the terms at it fill the rest in the order of their text.
        pool_df = df[pool]
        cutoff = np.partition(pool_df, len(pool) - MAX_FEATURES)[len(pool) - MAX_FEATURES]
        above = [vocabulary[i] for i in pool[pool_df > cutoff].tolist()]
        tied = sorted([vocabulary[i] for i in pool[pool_df == cutoff].tolist()])
        terms = sorted(above + tied[: MAX_FEATURES - len(above)])  # columns by term
    else:
        terms = sorted([vocabulary[i] for i in pool.tolist()])
    chosen = np.fromiter(map(number_of, terms), dtype=np.int64, count=len(terms))
    column = np.full(len(vocabulary), -1, dtype=np.int64)
    column[chosen] = np.arange(len(chosen))
    cols = column[numbers]
    keep = cols >= 0
    rows = np.repeat(np.arange(n_docs), lengths)[keep]
    cols = cols[keep]
    idf = np.log((1 + n_docs) / (1 + df[chosen].astype(np.float64))) + 1
    values = (1.0 + np.log(occurrences[keep])) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n_docs))
    norms[norms == 0] = 1.0
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_docs), out=indptr[1:])
    matrix = sparse.csr_matrix((values / norms[rows], cols, indptr), shape=(n_docs, len(chosen)))
    matrix.sort_indices()  # each row by term: the same sums whatever the numbering
    return tuple(terms), idf.astype(np.float32), matrix


def young_note(positives: int) -> str | None:
    """What a digest and status say of a model fitted on few liked papers, else None."""
    if positives >= SETTLED_POSITIVES:
        return None
    return (
        f"a young model, from {_count(positives, 'liked paper')} so far: each like sharpens "
        f"it (settled from {SETTLED_POSITIVES})"
    )


def _count(n: int, word: str) -> str:
    return f"{'no' if n == 0 else n} {word}{'' if n == 1 else 's'}"


# --- scoring --------------------------------------------------------------------------------


class TermIndex:
    """Every loaded model's terms, each interned once as a number; grows as models are
    compiled."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.terms: list[str] = []

    def intern(self, terms: Sequence[str]) -> Ints:
        ids = self._ids
        out = np.empty(len(terms), dtype=np.int32)
        for i, term in enumerate(terms):
            found = ids.get(term)
            if found is None:
                found = ids[term] = len(self.terms)
                self.terms.append(term)
            out[i] = found
        return out

    @property
    def known_get(self) -> Callable[[str], int | None]:
        return self._ids.get

    def lookup(self, terms: Iterable[str]) -> list[int]:
        """The ids of the terms any model knows (the others no model can weigh)."""
        get = self._ids.get
        return [i for i in map(get, terms) if i is not None]


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


# The dense block of model columns ``Scorer`` multiplies at once: at most this many cells
# (float64), so a thousand models over a day's terms take a few tens of MB at a time.
_BLOCK_CELLS = 2_000_000


@dataclass
class Scorer:
    """The papers of one cycle, and their relevance under many models at once.

    A paper's relevance under a model is ``(x . idf*w) / sqrt(x^2 . idf^2) + intercept``
    through the logistic function, ``x`` its sublinear term counts (scikit-learn's l2 norm
    of the tf-idf row, over the model's own terms): two products, so the cycle's papers
    become one sparse matrix ``X`` over the terms of the day (each paper analysed once,
    whichever subscriptions it matched), the models' ``pull`` (idf x weight) and ``idf2``
    dense blocks over those terms, and each asked (paper, model) pair's two sums a gather
    from them, in float64.
    The terms that pushed a paper up are its largest ``x * pull`` products (the norm does
    not change their order), found for all the requested papers at once."""

    index: TermIndex
    analyzer: Analyzer
    # The reasons (terms) are worked out for each model's this many most relevant papers
    # (those a digest shows first); None: for all.
    reason_papers: int | None = REASON_PAPERS
    rows: dict[str, int] = field(default_factory=dict)  # paper id -> row
    # When set: each request's unrounded decision values by paper id (for tests that hold
    # them to scikit-learn's), filled by ``score_many``.
    decisions: list[dict[str, float]] | None = None
    _pending: list[tuple[list[int], list[int]]] = field(default_factory=list)
    _pull: Doubles | None = None  # the dense blocks, reused (each zero between blocks)
    _idf2: Doubles | None = None

    def add(self, papers: Iterable[Paper]) -> None:
        get = self.index.known_get
        for paper in papers:
            if paper.id in self.rows:
                continue
            self.rows[paper.id] = len(self.rows)
            counted = Counter(self.analyzer(paper_text(paper)))
            ids, counts = [], []
            for term, n in counted.items():
                found = get(term)
                if found is not None:
                    ids.append(found)
                    counts.append(n)
            self._pending.append((ids, counts))

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
        day = _DayMatrix.of(self._pending, self.index)
        width = max(1, _BLOCK_CELLS // max(day.width, 1))
        for start in range(0, len(requests), width):
            block = range(start, min(start + width, len(requests)))
            wanted = [(results[i], requests[i][0], requests[i][1]) for i in block]
            decided = self._score_block(day, wanted)
            if self.decisions is not None:
                pairs = iter(decided.tolist())
                for i in block:
                    self.decisions[i].update((p.id, next(pairs)) for p in requests[i][1])
        return results

    def _score_block(
        self,
        day: _DayMatrix,
        wanted: Sequence[tuple[dict[str, Relevance], CompiledModel, Sequence[Paper]]],
    ) -> Doubles:
        width, block = day.width, len(wanted)
        # Each model of the block as a dense row over the day's terms (model-major, so one
        # pair's look-ups stay in one row).
        ids = np.concatenate([model.ids for _, model, _ in wanted])
        owner = np.repeat(np.arange(block, dtype=np.int64), [len(m.ids) for _, m, _ in wanted])
        at = day.column[ids]
        known = at >= 0
        cells = owner[known] * width + at[known]
        pull, idf2 = self._buffers(block * width)
        idf = np.concatenate([model.idf for _, model, _ in wanted])[known]
        weights = np.concatenate([model.weights for _, model, _ in wanted])[known]
        pull[cells] = np.multiply(idf, weights, dtype=np.float64)
        idf2[cells] = np.square(idf, dtype=np.float64)
        intercepts = np.array([model.intercept for _, model, _ in wanted], dtype=np.float64)
        # The pairs (paper row, model) asked for, and each pair's terms: its paper's row.
        pair_rows = np.fromiter(
            (self.rows[p.id] for _, _, papers in wanted for p in papers), dtype=np.int64
        )
        if not len(pair_rows):
            return np.empty(0, np.float64)
        pair_models = np.repeat(np.arange(block, dtype=np.int64), [len(p) for _, _, p in wanted])
        terms = day.tf[pair_rows]
        lengths = np.diff(terms.indptr)
        # One sparse row per pair over the block's (model, term) cells: a pair's dot
        # products are then one matrix-vector product (gather, multiply and sum in C).
        cells_of = np.repeat(pair_models * width, lengths) + terms.indices
        pairs = sparse.csr_matrix(
            (terms.data, cells_of, terms.indptr), shape=(len(pair_rows), block * width)
        )
        dots = np.asarray(pairs @ pull, dtype=np.float64)
        pairs.data = terms.data * terms.data
        norms = np.sqrt(np.asarray(pairs @ idf2, dtype=np.float64))
        norms[norms == 0] = 1.0
        decision = dots / norms + intercepts[pair_models]
        values = np.round(1.0 / (1.0 + np.exp(-decision)), 6).tolist()  # 0.5: the boundary
        # The terms that pushed it up: for each model's most relevant papers.
        explained = _most_relevant(decision, pair_models, self.reason_papers)
        starts, counts = terms.indptr[explained], lengths[explained]
        offsets = np.cumsum(counts) - counts
        entries = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
        push = terms.data[entries] * pull[cells_of[entries]]
        indptr = np.zeros(len(explained) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        found = _reasons(day, indptr, terms.indices[entries], push)
        reasons: list[tuple[str, ...]] = [()] * len(pair_rows)
        for k, terms_of in zip(explained.tolist(), found, strict=True):
            reasons[k] = terms_of
        pair = 0
        for result, _, papers in wanted:
            for paper in papers:
                result[paper.id] = Relevance(values[pair], reasons[pair])
                pair += 1
        pull[cells] = 0  # zero again for the next block (cheaper than new buffers)
        idf2[cells] = 0
        return decision

    def _buffers(self, size: int) -> tuple[Doubles, Doubles]:
        if self._pull is None or len(self._pull) < size:
            self._pull = np.zeros(size, dtype=np.float64)
            self._idf2 = np.zeros(size, dtype=np.float64)
        assert self._idf2 is not None
        return self._pull[:size], self._idf2[:size]


@dataclass(frozen=True, eq=False)
class _DayMatrix:
    """A cycle's papers as sublinear term counts over the terms of the day (columns in
    the order of the terms' text, so ties between terms break the same in every process)."""

    tf: sparse.csr_matrix
    column: Ints  # TermIndex id -> column, -1 for terms no paper of the day has
    terms: list[str]  # column -> term

    @property
    def width(self) -> int:
        return len(self.terms)

    @classmethod
    def of(cls, pending: Sequence[tuple[list[int], list[int]]], index: TermIndex) -> _DayMatrix:
        lengths = np.fromiter((len(ids) for ids, _ in pending), dtype=np.int64)
        ids = np.fromiter(chain.from_iterable(row for row, _ in pending), dtype=np.int64)
        counts = np.fromiter(chain.from_iterable(row for _, row in pending), dtype=np.float64)
        present = np.unique(ids)
        texts = [index.terms[i] for i in present.tolist()]
        by_text = sorted(range(len(texts)), key=texts.__getitem__)
        column = np.full(len(index.terms), -1, dtype=np.int32)
        column[present[by_text]] = np.arange(len(by_text), dtype=np.int32)
        indptr = np.zeros(len(pending) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        tf = sparse.csr_matrix(
            (1.0 + np.log(counts), column[ids], indptr),
            shape=(len(pending), max(len(texts), 1)),
        )
        tf.sort_indices()
        return cls(tf, column, [texts[k] for k in by_text])


def _most_relevant(decision: npt.NDArray[np.float64], models: Longs, limit: int | None) -> Longs:
    """The pairs among each model's ``limit`` highest decisions (ties: the first asked)."""
    if limit is None:
        return np.arange(len(decision), dtype=np.int64)
    order = np.lexsort((np.arange(len(decision)), -decision, models))
    grouped = models[order]
    first = np.searchsorted(grouped, grouped)
    return np.sort(order[np.arange(len(order)) - first < limit])


def _reasons(day: _DayMatrix, indptr: Longs, columns: Ints, push: Floats) -> list[tuple[str, ...]]:
    """For each pair (its entries ``indptr[k]:indptr[k + 1]``, in column order): the
    ``REASON_TERMS`` terms with the largest positive push, largest first (ties: the first
    term by text)."""
    count = len(indptr) - 1
    up = np.flatnonzero(push > 0)
    pair = np.searchsorted(indptr, up, side="right") - 1
    cols, push = columns[up], push[up]
    chosen_pairs, chosen_cols = [], []
    for _ in range(REASON_TERMS):
        if not len(push):
            break
        first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        best = np.maximum.reduceat(push, first)
        top = np.flatnonzero(push == np.repeat(best, np.diff(np.r_[first, len(push)])))
        top = top[np.r_[True, pair[top[1:]] != pair[top[:-1]]]]  # the first best of each
        chosen_pairs.append(pair[top])
        chosen_cols.append(cols[top])
        rest = np.ones(len(push), dtype=bool)
        rest[top] = False
        pair, cols, push = pair[rest], cols[rest], push[rest]
    reasons: list[list[str]] = [[] for _ in range(count)]
    terms = day.terms
    for pairs, picked in zip(chosen_pairs, chosen_cols, strict=True):
        for p, c in zip(pairs.tolist(), picked.tolist(), strict=True):
            reasons[p].append(terms[c])
    return [tuple(r) for r in reasons]


def score_papers(
    model: RelevanceModel, papers: Sequence[Paper], analyzer: Analyzer | None = None
) -> dict[str, Relevance]:
    """One model's relevance of ``papers`` (for `rules explain` and tests)."""
    index = TermIndex()
    compiled = CompiledModel.of(model, index)
    scorer = Scorer(index, analyzer or Analyzer(), reason_papers=None)
    return scorer.score(compiled, papers)


def model_fallbacks(
    models: Mapping[str, RelevanceModel | Fallback],
) -> dict[str, str]:
    """Subscription -> why it is in score order, for those that are."""
    return {name: m.message for name, m in models.items() if isinstance(m, Fallback)}
