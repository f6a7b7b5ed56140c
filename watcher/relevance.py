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

A subscription with too little to learn from (fewer than ``MIN_POSITIVES`` positives,
nothing to compare them with, a fit that fails) gets a ``Fallback``: its digest is in
score order and says why.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

from watcher.models import Paper, Relevance

__all__ = [
    "BACKGROUND_MAX",
    "MIN_POSITIVES",
    "MODEL_VERSION",
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
]

# Bumped whenever what a fit produces changes (features, classifier, weights): a cached
# model of another version is then refitted.
MODEL_VERSION = 1
MIN_POSITIVES = 3
# Unlabelled background papers per fit: enough to learn what is merely common in the feeds,
# few enough that a refit stays a few tens of milliseconds.
BACKGROUND_MAX = 300
# A background paper counts this much as a negative (it was not disliked, only not liked).
BACKGROUND_WEIGHT = 0.1
MAX_FEATURES = 4000  # the terms in most training texts
MIN_SHARED_TERMS = 200  # fewer terms in two texts or more: every term counts
SVM_C = 0.5
REASON_TERMS = 3

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int32]

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
    """Text -> its terms (lower-case words of two letters or more, English stop words
    dropped, and each pair of neighbours), remembered per text: a paper liked by many
    subscriptions, or refitted after each like, is analysed once."""

    def __init__(self) -> None:
        # scikit-learn loads in about a second: only processes that rank pay for it.
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._analyze = TfidfVectorizer(
            ngram_range=(1, 2), stop_words="english", strip_accents="unicode"
        ).build_analyzer()
        self._seen: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        terms = self._seen.get(text)
        if terms is None:
            terms = self._analyze(text)
            self._seen[text] = terms
        return terms

    def forget(self) -> None:
        self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)


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
        terms, idf, matrix = _tfidf([analyzer(doc) for doc in docs])
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


def _tfidf(docs: Sequence[list[str]]) -> tuple[tuple[str, ...], Floats, sparse.csr_matrix]:
    """scikit-learn's TfidfVectorizer (smooth idf, sublinear tf, l2 rows) over the
    ``MAX_FEATURES`` terms in most documents (ties by term), terms in one document only left
    out when there are enough others: the same numbers, without its vocabulary sort over
    every bigram (most of a refit's time)."""
    counted = [Counter(doc) for doc in docs]
    df: Counter[str] = Counter()
    for counts in counted:
        df.update(counts.keys())
    shared = [t for t, n in df.items() if n >= 2]
    pool = shared if len(shared) >= MIN_SHARED_TERMS else list(df)
    if not pool:
        raise ValueError("empty vocabulary: the texts have no words to learn from")
    chosen = sorted(pool, key=lambda t: (-df[t], t))[:MAX_FEATURES]
    chosen.sort()
    column = {t: i for i, t in enumerate(chosen)}
    indptr, indices, data = [0], [], []
    for counts in counted:
        for term, n in counts.items():
            at = column.get(term)
            if at is not None:
                indices.append(at)
                data.append(n)
        indptr.append(len(indices))
    n_docs = len(docs)
    idf = np.log((1 + n_docs) / (1 + np.array([df[t] for t in chosen], dtype=np.float64))) + 1
    cols = np.asarray(indices, dtype=np.int32)
    values = (1.0 + np.log(np.asarray(data, dtype=np.float64))) * idf[cols]
    matrix = sparse.csr_matrix(
        (values, cols, np.asarray(indptr, dtype=np.int64)), shape=(n_docs, len(chosen))
    )
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    matrix = sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)
    return tuple(chosen), idf.astype(np.float32), matrix


def _count(n: int, word: str) -> str:
    return f"{'no' if n == 0 else n} {word}{'' if n == 1 else 's'}"


# --- scoring --------------------------------------------------------------------------------


class TermIndex:
    """Every loaded model's terms, each interned once as a number (the columns of the
    matrices ``Scorer`` builds); grows as models are compiled."""

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

    def lookup(self, terms: Iterable[str]) -> list[int]:
        """The ids of the terms any model knows (the others no model can weigh)."""
        get = self._ids.get
        return [i for i in map(get, terms) if i is not None]


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """A model over ``TermIndex`` ids, sorted by id for ``searchsorted``: what a long-running
    process keeps of a model (a few arrays; the term strings live once in the index)."""

    fingerprint: str
    ids: Ints
    idf: Floats
    weights: Floats
    intercept: float

    @classmethod
    def of(cls, model: RelevanceModel, index: TermIndex) -> CompiledModel:
        ids = index.intern(model.terms)
        order = np.argsort(ids, kind="stable")
        return cls(
            model.fingerprint, ids[order], model.idf[order], model.weights[order], model.intercept
        )


@dataclass
class Scorer:
    """The papers of one cycle as one sparse matrix of raw term counts over a TermIndex
    (each paper analysed once, whichever subscriptions it matched)."""

    index: TermIndex
    analyzer: Analyzer
    rows: dict[str, int] = field(default_factory=dict)  # paper id -> row
    _matrix: sparse.csr_matrix | None = None
    _pending: list[list[int]] = field(default_factory=list)

    def add(self, papers: Iterable[Paper]) -> None:
        for paper in papers:
            if paper.id in self.rows:
                continue
            self.rows[paper.id] = len(self.rows)
            self._pending.append(self.index.lookup(self.analyzer(paper_text(paper))))
            self._matrix = None

    def _counts(self) -> sparse.csr_matrix:
        if self._matrix is None or self._matrix.shape[0] != len(self.rows):
            lengths = [len(ids) for ids in self._pending]
            indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=indptr[1:])
            flat = [i for ids in self._pending for i in ids]
            indices = np.asarray(flat, dtype=np.int32)
            data = np.ones(len(indices), dtype=np.float32)
            shape = (len(lengths), max(len(self.index.terms), 1))
            matrix = sparse.csr_matrix((data, indices, indptr), shape=shape)
            matrix.sum_duplicates()  # also sorts each row's ids
            self._matrix = matrix
        return self._matrix

    def score(self, model: CompiledModel, papers: Sequence[Paper]) -> dict[str, Relevance]:
        """Each paper's relevance under ``model`` and its strongest terms (``add`` them
        first). Exactly what scikit-learn's transform and decision_function give."""
        if not papers:
            return {}
        self.add(p for p in papers if p.id not in self.rows)
        sub = self._counts()[[self.rows[p.id] for p in papers]]
        row_of = np.repeat(np.arange(len(papers)), np.diff(sub.indptr))
        ids = sub.indices
        at = np.searchsorted(model.ids, ids)
        at[at >= len(model.ids)] = 0
        known = model.ids[at] == ids if len(model.ids) else np.zeros(len(ids), dtype=bool)
        rows, cols = row_of[known], at[known]
        tfidf = (1.0 + np.log(sub.data[known])) * model.idf[cols]
        norms = np.sqrt(np.bincount(rows, weights=tfidf * tfidf, minlength=len(papers)))
        norms[norms == 0] = 1.0
        tfidf = tfidf / norms[rows]
        contributions = tfidf * model.weights[cols]
        decision = np.bincount(rows, weights=contributions, minlength=len(papers))
        values = 1.0 / (1.0 + np.exp(-(decision + model.intercept)))  # 0.5: the boundary
        # The strongest positive contributions of each row, largest first (ties by term).
        up = contributions > 0
        up_rows, up_ids, up_values = rows[up], model.ids[cols[up]], contributions[up]
        order = np.lexsort((up_ids, -up_values, up_rows))
        sorted_rows = up_rows[order]
        starts = np.searchsorted(sorted_rows, sorted_rows)  # first position of each row
        top = order[np.arange(len(order)) - starts < REASON_TERMS]
        reasons: list[list[str]] = [[] for _ in papers]
        terms = self.index.terms
        for row, term in zip(up_rows[top].tolist(), up_ids[top].tolist(), strict=True):
            reasons[row].append(terms[term])
        return {
            paper.id: Relevance(round(float(values[i]), 6), tuple(reasons[i]))
            for i, paper in enumerate(papers)
        }


def score_papers(
    model: RelevanceModel, papers: Sequence[Paper], analyzer: Analyzer | None = None
) -> dict[str, Relevance]:
    """One model's relevance of ``papers`` (for `rules explain` and tests)."""
    index = TermIndex()
    compiled = CompiledModel.of(model, index)
    scorer = Scorer(index, analyzer or Analyzer())
    return scorer.score(compiled, papers)


def model_fallbacks(
    models: Mapping[str, RelevanceModel | Fallback],
) -> dict[str, str]:
    """Subscription -> why it is in score order, for those that are."""
    return {name: m.message for name, m in models.items() if isinstance(m, Fallback)}
