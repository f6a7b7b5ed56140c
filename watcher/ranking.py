"""Relevance for ``order: relevance`` subscriptions, over the store (stage).

``Ranker.prepare`` makes sure every such subscription has a model fitted from what it learns
from now (its likes, dislikes and library: ``Labels``). A model is fitted again only when
that changes (its fingerprint), not per paper or per cycle: in a long-running process it
stays in memory, compiled; otherwise it is read from the cache in the data directory
(``relevance/``, see watcher.store.relevance) and refitted only when the cache is missing,
damaged or of other labels. ``Ranker.rank`` then rates a digest's papers.

A subscription whose model cannot be fitted (too few liked papers with known text, nothing
to compare them with, a failure while fitting or reading) is never an error that stops a
cycle: it gets a ``Ranking`` with the reason, its digest is in score order and says so, and
``relevance/status.json`` tells ``watcher status``.

Liked or disliked papers whose text the archive does not hold (yet) are left out of the fit
and counted; once the archive knows them, the fingerprint changes and the model is refitted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from watcher.errors import WatcherError
from watcher.feedback import SubscriptionFeedback
from watcher.library import read_library
from watcher.models import ModelState, Paper, Ranking, Subscription
from watcher.relevance import (
    BACKGROUND_MAX,
    Analyzer,
    Fallback,
    RelevanceModel,
    TrainingSet,
    fingerprint,
    fit_model,
    paper_text,
    young_note,
)
from watcher.scoring import CompiledModel, Scorer, TermIndex
from watcher.sources import in_subscription_feeds
from watcher.store import Store
from watcher.store.relevance import (
    read_model,
    write_model,
    write_states,
)

log = logging.getLogger("watcher.ranking")

__all__ = [
    "BACKGROUND_DAYS",
    "Labels",
    "LibraryPaper",
    "Ranker",
    "StoreLabels",
    "relevance_subscriptions",
]

# The archive's papers of these last days are a subscription's background (unlabelled).
BACKGROUND_DAYS = 7
# Past this many remembered texts or terms, the analyzer starts afresh (the background moves
# daily; a fit counts terms over the analyzer's whole vocabulary, so it stays this small).
_ANALYZED_MAX = 50_000
_TERMS_MAX = 2_000_000


@dataclass(frozen=True, slots=True)
class LibraryPaper:
    """A paper the reader already knows: by arXiv id (its text from the archive), else by
    its own title and abstract."""

    id: str | None
    title: str = ""
    abstract: str = ""


@dataclass(frozen=True, slots=True)
class Labels:
    """What one subscription learns from: its votes and its library."""

    likes: frozenset[str] = frozenset()
    dislikes: frozenset[str] = frozenset()
    library: tuple[LibraryPaper, ...] = ()
    problem: str | None = None  # the library could not be read: said in status

    def ids(self) -> set[str]:
        """Every arXiv id it names: liked, disliked, in the library."""
        ids = set(self.likes) | set(self.dislikes)
        ids.update(e.id for e in self.library if e.id is not None)
        return ids

    def key(self, known: Iterable[str]) -> list[str]:
        """The labels as fingerprint lines, with which ids have text (``known``)."""
        have = set(known)
        lines = [f"like {pid} {pid in have}" for pid in sorted(self.likes)]
        lines += [f"dislike {pid} {pid in have}" for pid in sorted(self.dislikes)]
        for entry in self.library:
            if entry.id is not None:
                lines.append(f"library {entry.id} {entry.id in have}")
            else:
                lines.append(f"library-text {entry.title}\n{entry.abstract}")
        return lines


def relevance_subscriptions(subscriptions: Iterable[Subscription]) -> list[Subscription]:
    return [s for s in subscriptions if s.order == "relevance"]


LabelsOf = Callable[[Store, Sequence[Subscription]], Mapping[str, Labels]]


class StoreLabels:
    """``LabelsOf`` over the store for a process that asks each cycle: each
    subscription's likes and dislikes, from the store's feedback (one read, ids only), and
    its ``library:`` (a library that cannot be read is left out and said in status). The
    votes reader hands back the same vote sets for an unchanged file, so only the labels of
    subscriptions whose votes or library changed are made again (one new like: one)."""

    def __init__(self) -> None:
        self._made: dict[str, tuple[SubscriptionFeedback | None, object, Labels]] = {}

    def __call__(self, store: Store, subscriptions: Sequence[Subscription]) -> dict[str, Labels]:
        votes = store.vote_sets()
        labels = {}
        for sub in subscriptions:
            mine = votes.get(sub.name)
            library = (sub.library, sub.library_stamp)
            made = self._made.get(sub.name)
            if made is not None and made[0] is mine and made[1] == library:
                labels[sub.name] = made[2]
                continue
            known, problem = _library(sub)
            labels[sub.name] = Labels(
                mine.likes if mine else frozenset(),
                mine.dislikes - mine.likes if mine else frozenset(),
                known,
                problem,
            )
            # Kept only when the library was read: a failed read is tried again next time
            # (a fix such as a chmod leaves the file's stamp as it was).
            if problem is None:
                self._made[sub.name] = (mine, library, labels[sub.name])
        for name in self._made.keys() - labels.keys():
            del self._made[name]
        return labels


# Library files read, by path and stamp (an unchanged file is not parsed again each cycle).
_LIBRARIES: dict[tuple[str, tuple[int, int, int] | None], tuple[LibraryPaper, ...]] = {}


# Versions of library files that could not be read, each warned about once.
_BROKEN_LIBRARIES: set[tuple[str, tuple[int, int, int] | None]] = set()


def _library(sub: Subscription) -> tuple[tuple[LibraryPaper, ...], str | None]:
    if sub.library is None:
        return (), None
    key = (sub.library, sub.library_stamp)
    found = _LIBRARIES.get(key)
    if found is None:
        try:
            library = read_library(Path(sub.library))
        except WatcherError as exc:
            problem = f"library not used: {exc}"
            if key not in _BROKEN_LIBRARIES:
                # Said once per version of the file: status repeats it, the log says it
                # when it happens (a `once` or a cycle would otherwise rank without a word).
                _BROKEN_LIBRARIES.add(key)
                log.warning(
                    "%s: %s (fix the file; until then the likes alone rank it)", sub.name, problem
                )
            return (), problem
        found = tuple(LibraryPaper(e.paper_id, e.title, e.abstract) for e in library.entries)
        if len(_LIBRARIES) > 10_000:
            _LIBRARIES.clear()
        _LIBRARIES[key] = found
    return found, None


@dataclass
class _Fitted:
    fingerprint: str
    model: CompiledModel | Fallback
    state: ModelState
    # What it was prepared from: unchanged labels and feeds, with every labelled paper
    # known then, need no look at the store next cycle (a known paper stays known).
    labels: Labels | None = None
    feeds: tuple[str, ...] = ()
    unknown: frozenset[str] = frozenset()
    note: str | None = None  # a young model's, for its digests


@dataclass
class Ranker:
    """The relevance models of a process, by subscription name. ``labels_of`` reads what
    the subscriptions learn from (feedback and libraries) from the store; it is asked again
    only when the votes file or a subscription's library changed."""

    data_dir: Path
    labels_of: LabelsOf = field(default_factory=StoreLabels)
    index: TermIndex = field(default_factory=TermIndex)
    analyzer: Analyzer = field(default_factory=Analyzer)
    fitted: dict[str, _Fitted] = field(default_factory=dict)
    refits: int = 0  # models fitted by this process (for the benchmark and tests)
    _scorer: Scorer | None = None
    _labels_key: object = None
    _labels: Mapping[str, Labels] = field(default_factory=dict)
    _background: _Background = field(default_factory=lambda: _Background())

    def prepare(self, store: Store, subscriptions: Sequence[Subscription], now: datetime) -> None:
        """Fit what changed; remember each relevance subscription's model or fallback."""
        wanted = relevance_subscriptions(subscriptions)
        self._scorer = Scorer(self.index, Analyzer())  # a cycle's papers, analysed once
        if not wanted:
            return
        try:
            labels = self._read_labels(store, wanted)
        except Exception as exc:  # a cycle never stops for ranking
            log.warning("relevance: feedback could not be read: %s", exc)
            reason = f"the feedback could not be read: {exc}"
            for sub in wanted:
                self._remember(sub.name, "", Fallback("fit-failed", reason), 0)
            self._write_states(store, wanted)
            return
        pending = []
        for sub in wanted:
            mine = labels.get(sub.name, Labels())
            current = self.fitted.get(sub.name)
            if (
                current is None
                or (current.labels is not mine and current.labels != mine)
                or current.feeds != sub.feeds
                or current.unknown
            ):
                pending.append((sub, mine))
        if not pending:
            return
        asked = set().union(*(mine.ids() for _, mine in pending))
        known = store.known_ids(sorted(asked))  # one batched look for every subscription
        self._background.start(store, now)
        changed = False
        for sub, mine in pending:
            try:
                changed |= self._prepare_one(store, sub, mine, known)
            except Exception as exc:  # a cycle never stops for ranking
                log.warning("relevance: %s: %s", sub.name, exc)
                fallback = Fallback("fit-failed", f"the model could not be fitted: {exc}")
                self._remember(sub.name, "", fallback, 0)
                changed = True
        if len(self.analyzer) > _ANALYZED_MAX or len(self.analyzer.vocabulary) > _TERMS_MAX:
            self.analyzer.forget()
        if changed:
            self._write_states(store, wanted)

    def _read_labels(self, store: Store, wanted: Sequence[Subscription]) -> Mapping[str, Labels]:
        key = (
            store.feedback_stamp(),
            tuple((s.name, s.library, s.library_stamp) for s in wanted),
        )
        # A library that could not be read is tried again each cycle (see StoreLabels).
        if key != self._labels_key or any(labels.problem for labels in self._labels.values()):
            self._labels = self.labels_of(store, wanted)
            self._labels_key = key
        return self._labels

    def _prepare_one(
        self, store: Store, sub: Subscription, labels: Labels, known: AbstractSet[str]
    ) -> bool:
        ids = labels.ids()
        have = ids & known
        extra = [f"feeds {' '.join(sub.feeds)}", *labels.key(have)]
        name = fingerprint((), (), extra)
        seen = (labels, sub.feeds, frozenset(ids - have))
        current = self.fitted.get(sub.name)
        if current is not None and current.fingerprint == name:
            current.labels, current.feeds, current.unknown = seen
            return False
        # The cache holds what this process last fitted or read (``current``), unless this
        # is its first look at the subscription: read it only then.
        cached = read_model(self.data_dir, sub.name) if current is None else None
        if isinstance(cached, RelevanceModel) and cached.fingerprint == name:
            missing = labels_missing(labels, have)
            self._remember(sub.name, name, cached, missing, labels.problem, seen)
            return True
        training, missing = _training(store, sub, labels, have, self._background)
        fitted = fit_model(training, self.analyzer, name)
        self.refits += 1
        if isinstance(fitted, RelevanceModel) and not store.read_only:
            write_model(self.data_dir, sub.name, fitted)
        self._remember(sub.name, name, fitted, missing, labels.problem, seen)
        return True

    def _remember(
        self,
        subscription: str,
        name: str,
        model: RelevanceModel | Fallback,
        missing: int,
        problem: str | None = None,
        seen: tuple[Labels, tuple[str, ...], frozenset[str]] | None = None,
    ) -> None:
        labels, feeds, unknown = seen if seen is not None else (None, (), frozenset())
        if isinstance(model, Fallback):
            state = ModelState(subscription, False, model.message, missing, problem)
            self.fitted[subscription] = _Fitted(name, model, state, labels, feeds, unknown)
            return
        note = young_note(model.positives)
        detail = (
            f"fitted on {model.positives} liked, {model.negatives} disliked and "
            f"{model.background} background papers" + (f" ({note})" if note else "")
        )
        state = ModelState(subscription, True, detail, missing, problem)
        compiled = CompiledModel.of(model, self.index)
        self.fitted[subscription] = _Fitted(name, compiled, state, labels, feeds, unknown, note)

    def _write_states(self, store: Store, wanted: Sequence[Subscription]) -> None:
        if store.read_only:
            return
        names = {s.name for s in wanted}
        states = [f.state for n, f in sorted(self.fitted.items()) if n in names]
        try:
            write_states(self.data_dir, states)
        except OSError as exc:
            log.warning("relevance: status not written: %s", exc)

    def state(self, subscription: str) -> ModelState | None:
        found = self.fitted.get(subscription)
        return None if found is None else found.state

    def rank(self, subscription: Subscription, papers: Sequence[Paper]) -> Ranking:
        """The relevance of ``papers`` for ``subscription`` (``prepare`` it first), or
        why there is none."""
        return self.rank_all({subscription.name: (subscription, papers)})[subscription.name]

    def rank_all(
        self, wanted: Mapping[str, tuple[Subscription, Sequence[Paper]]]
    ) -> dict[str, Ranking]:
        """The relevance of each subscription's papers, all scored together (one matrix of
        the cycle's papers, the models in blocks: see watcher.scoring)."""
        rankings: dict[str, Ranking] = {}
        asked: list[tuple[str, CompiledModel, Sequence[Paper], str | None]] = []
        for name, (subscription, papers) in wanted.items():
            found = self.fitted.get(subscription.name)
            if found is None:
                rankings[name] = Ranking(fallback="no relevance model was prepared for it")
            elif isinstance(found.model, Fallback):
                rankings[name] = Ranking(fallback=found.model.message)
            else:
                asked.append((name, found.model, papers, found.note))
        if asked:
            if self._scorer is None:
                self._scorer = Scorer(self.index, Analyzer())
            scored = self._scorer.score_many([(model, papers) for _, model, papers, _ in asked])
            for (name, _, _, note), relevance in zip(asked, scored, strict=True):
                rankings[name] = Ranking(relevance=relevance, note=note)
        return {name: rankings[name] for name in wanted}


def labels_missing(labels: Labels, known: AbstractSet[str]) -> int:
    return sum(pid not in known for pid in labels.ids())


class _Background:
    """The archive's recent papers, newest id first, per set of feeds: read only when a fit
    needs them, and kept (a long-running process) until the archive's files of those days
    change."""

    def __init__(self) -> None:
        self._store: Store | None = None
        self._since = datetime.min
        self._checked = False
        self._stamp: object = None
        self._papers: list[Paper] | None = None
        self._by_feeds: dict[tuple[str, ...], list[Paper]] = {}

    def start(self, store: Store, now: datetime) -> None:
        self._store, self._since = store, now - timedelta(days=BACKGROUND_DAYS)
        self._checked = False

    def of(self, sub: Subscription) -> list[Paper]:
        store = self._store
        if store is None:
            return []
        if not self._checked:
            self._checked = True
            stamp = store.archive_stamp(self._since)
            if stamp != self._stamp:
                self._stamp, self._papers, self._by_feeds = stamp, None, {}
        found = self._by_feeds.get(sub.feeds)
        if found is None:
            if self._papers is None:
                recent = {p.id: p for p in store.recent_papers(self._since)}
                self._papers = sorted(recent.values(), key=lambda p: p.id, reverse=True)
            found = [p for p in self._papers if in_subscription_feeds(sub, p)]
            self._by_feeds[sub.feeds] = found
        return found


def _training(
    store: Store,
    sub: Subscription,
    labels: Labels,
    known: AbstractSet[str],
    background: _Background,
) -> tuple[TrainingSet, int]:
    """The texts a subscription's model learns from, and how many labelled papers have no
    text here (yet)."""

    def text_of(pid: str) -> str | None:
        if pid not in known:
            return None
        paper = store.paper(pid)
        return None if paper is None else paper_text(paper)

    missing = 0
    positives: dict[str, str] = {}
    for pid in sorted(labels.likes - labels.dislikes):
        text = text_of(pid)
        if text is None:
            missing += 1
        else:
            positives[pid] = text
    for entry in labels.library:
        if entry.id is not None and entry.id in labels.dislikes:
            continue
        text = text_of(entry.id) if entry.id is not None else None
        if text is None and (entry.title or entry.abstract):
            text = f"{entry.title}\n{entry.abstract}"
        if text is None:
            missing += 1
        else:
            positives.setdefault(entry.id or f"text:{len(positives)}", text)
    negatives: dict[str, str] = {}
    for pid in sorted(labels.dislikes):
        text = text_of(pid)
        if text is None:
            missing += 1
        else:
            negatives[pid] = text
    labelled = set(positives) | set(negatives)
    others = [p for p in background.of(sub) if p.id not in labelled][:BACKGROUND_MAX]
    training = TrainingSet(
        tuple(positives.values()), tuple(negatives.values()), tuple(map(paper_text, others))
    )
    return training, missing
