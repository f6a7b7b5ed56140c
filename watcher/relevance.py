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
watcher.scoring scores a cycle's papers under every model at once.

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
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

from watcher.models import Paper

__all__ = [
    "BACKGROUND_MAX",
    "MIN_POSITIVES",
    "MODEL_VERSION",
    "SETTLED_POSITIVES",
    "Analyzer",
    "Fallback",
    "FallbackKind",
    "RelevanceModel",
    "TrainingSet",
    "fingerprint",
    "fit_model",
    "paper_text",
    "young_note",
]

# Bumped whenever what a fit produces changes (features, classifier, weights): a cached
# model of another version is then refitted.
MODEL_VERSION = 2
MIN_POSITIVES = 1
SETTLED_POSITIVES = 3  # fewer liked papers: a young model, said in digests and status
# Unlabelled background papers per fit: enough to learn what is merely common in the feeds,
# few enough that a refit stays a few tens of milliseconds.
BACKGROUND_MAX = 300
# A background paper counts this much as a negative (it was not disliked, only not liked).
BACKGROUND_WEIGHT = 0.1
# The terms in most training texts: 4,000 ranked no better in bench/relevance.py (0.76 both)
# and cost twice the memory, scoring and refit time.
MAX_FEATURES = 2000
MIN_SHARED_TERMS = 200  # fewer terms in two texts or more: every term counts
SVM_C = 0.5

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


# Every ASCII character that is not a word character of a regular expression's ``\w``.
_NOT_WORD = {c: " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")}


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
        words = [w for w in self.tokens(text) if w not in stop]
        words.extend([f"{a} {b}" for a, b in pairwise(words)])
        return words

    def tokens(self, text: str) -> list[str]:
        """The text's words before the stop words are dropped (``stop_words``)."""
        text = self._preprocess(text)
        if text.isascii():
            # scikit-learn's pattern, ``\b\w\w+\b``, on ASCII text: runs of letters, digits
            # and underscores of two or more; split on the rest in C, twice its regex's speed.
            return [w for w in text.translate(_NOT_WORD).split() if len(w) > 1]
        return self._tokenize(text)  # type: ignore[no-any-return]

    @property
    def stop_words(self) -> frozenset[str]:
        return self._stop

    def counts(self, text: str) -> TextCounts:
        found = self._seen.get(text)
        if found is None:
            counted = Counter(self(text))
            ids = self._ids
            numbers = list(map(ids.get, counted))
            if None in numbers:  # terms this analyzer has not seen: numbered now
                vocabulary = self.vocabulary
                for i, term in enumerate(counted):
                    if numbers[i] is None:
                        numbers[i] = ids[term] = len(vocabulary)
                        vocabulary.append(term)
            occurrences = np.fromiter(counted.values(), dtype=np.float64, count=len(counted))
            terms = np.array(numbers, dtype=np.int32)
            found = self._seen[text] = TextCounts(terms, occurrences)
        return found

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


def model_fallbacks(
    models: Mapping[str, RelevanceModel | Fallback],
) -> dict[str, str]:
    """Subscription -> why it is in score order, for those that are."""
    return {name: m.message for name, m in models.items() if isinstance(m, Fallback)}
