"""``order: relevance``: the model, its cache, the order and cuts it gives digests in every
format, and what status says when it falls back to score order."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factories import paper, subscription, topic
from watcher.digest import make_digest
from watcher.errors import RuleError
from watcher.feedback import Vote
from watcher.models import Match, Paper, Ranking, Relevance, TopicHit
from watcher.ranking import Ranker
from watcher.relevance import (
    Analyzer,
    Fallback,
    RelevanceModel,
    TrainingSet,
    fit_model,
    paper_text,
    young_note,
)
from watcher.render import build_message, render_format
from watcher.render.slack import build_messages
from watcher.rules.load import load_rule_file
from watcher.scoring import REASON_PAPERS, score_papers
from watcher.store import Store
from watcher.store.relevance import model_path, read_model, read_states

NOW = datetime(2024, 9, 18, 12, tzinfo=UTC)
HITS = (TopicHit("Efficient", ("model*",)),)


def liked_kind(i: int) -> Paper:
    return paper(
        f"2409.{10000 + i}",
        title=f"Sparse attention kernels for long context model {i}",
        abstract="We design sparse attention kernels that speed up long context inference "
        f"of the model on GPUs; variant {i}.",
    )


def other_kind(i: int) -> Paper:
    return paper(
        f"2409.{20000 + i}",
        title=f"Reinforcement learning reward model {i}",
        abstract="A reward model for reinforcement learning from human preferences, "
        f"trained with policy gradients; variant {i}.",
    )


def training(positives: int = 4) -> TrainingSet:
    return TrainingSet(
        tuple(paper_text(liked_kind(i)) for i in range(positives)),
        tuple(paper_text(other_kind(i)) for i in range(2)),
        tuple(paper_text(other_kind(i)) for i in range(10, 30)),
    )


def fitted() -> RelevanceModel:
    model = fit_model(training(), Analyzer(), "fp")
    assert isinstance(model, RelevanceModel)
    return model


def candidates() -> list[Paper]:
    return [other_kind(100), liked_kind(100), other_kind(101), liked_kind(101), other_kind(102)]


def test_the_same_feedback_gives_the_same_model_and_order() -> None:
    a, b = fitted(), fitted()
    assert a.terms == b.terms
    assert (a.weights == b.weights).all() and a.intercept == b.intercept
    papers = candidates()
    first = score_papers(a, papers)
    again = score_papers(b, list(reversed(papers)))
    assert first == again
    # The liked kind comes first, with the terms that made it.
    ranked = sorted(papers, key=lambda p: first[p.id].value, reverse=True)
    assert {p.id for p in ranked[:2]} == {liked_kind(100).id, liked_kind(101).id}
    assert first[liked_kind(100).id].value > 0.5 > first[other_kind(100).id].value
    assert any("attention" in t or "sparse" in t for t in first[liked_kind(100).id].terms)


def test_scores_are_what_scikit_learn_gives() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    model, analyzer = fitted(), Analyzer()
    papers = candidates()
    vectorizer = TfidfVectorizer(
        analyzer=analyzer, sublinear_tf=True, vocabulary={t: i for i, t in enumerate(model.terms)}
    )
    vectorizer.fit([paper_text(p) for p in papers])
    vectorizer.idf_ = model.idf
    decision = vectorizer.transform([paper_text(p) for p in papers]) @ model.weights
    expected = 1 / (1 + __import__("numpy").exp(-(decision + model.intercept)))
    got = score_papers(model, papers, analyzer)
    assert [got[p.id].value for p in papers] == pytest.approx(list(expected), abs=1e-5)


def sklearn_decisions(model: RelevanceModel, papers: Sequence[Paper]) -> list[float]:
    """scikit-learn's decision values of ``papers`` under ``model``, in float64."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        analyzer=Analyzer(),
        sublinear_tf=True,
        vocabulary={t: i for i, t in enumerate(model.terms)},
        dtype=np.float64,
    )
    vectorizer.fit([paper_text(p) for p in papers])
    vectorizer.idf_ = model.idf.astype(np.float64)
    matrix = vectorizer.transform([paper_text(p) for p in papers])
    return list(matrix @ model.weights.astype(np.float64) + model.intercept)


def test_decision_values_are_scikit_learns_to_1e9() -> None:
    from watcher.scoring import CompiledModel, Scorer, TermIndex

    model, papers = fitted(), candidates()
    index = TermIndex()
    scorer = Scorer(index, Analyzer(), reason_papers=None, decisions=[])
    scorer.score(CompiledModel.of(model, index), papers)
    assert scorer.decisions is not None
    got = [scorer.decisions[0][p.id] for p in papers]
    assert got == pytest.approx(sklearn_decisions(model, papers), abs=1e-9, rel=0)


WORDS = [
    "sparse",
    "attention",
    "kernel",
    "gradient",
    "policy",
    "reward",
    "diffusion",
    "image",
    "token",
    "graph",
    "quantum",
    "robot",
    "speech",
    "protein",
    "retrieval",
    "pruning",
    "distillation",
    "transformer",
    "vision",
    "language",
]


def random_paper(rng: random.Random, i: int) -> Paper:
    words = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))  # noqa: E731
    return paper(f"2409.{30000 + i}", title=words(6), abstract=f"{words(30)}.")


def test_rank_all_gives_what_each_model_gives_alone_on_random_data(tmp_path: Path) -> None:
    """Many subscriptions ranked together (one matrix of every model, a row replaced on a
    refit) give each paper the relevance and terms its model gives it alone, and decision
    values within 1e-9 of scikit-learn's."""
    from watcher.scoring import CompiledModel, Scorer, TermIndex

    rng = random.Random(11)
    pool = [random_paper(rng, i) for i in range(80)]
    data = tmp_path / "data"
    subs = [subscription(f"s{k}", topic(), order="relevance") for k in range(5)]
    with Store.open(data) as store:
        store.record_papers(pool, NOW - timedelta(days=1))
        store.commit(now=NOW - timedelta(days=1))
        for sub in subs:
            for k, p in enumerate(rng.sample(pool[:60], 7)):
                store.record_vote(sub.name, p.id, Vote.LIKE if k < 5 else Vote.DISLIKE, "cli", NOW)
    ranker = Ranker(data)
    day = pool[40:]
    for round_ in range(2):
        with Store.open(data) as store:
            ranker.prepare(store, subs, NOW)
        matched = {s.name: (s, rng.sample(day, rng.randint(1, len(day)))) for s in subs}
        together = ranker.rank_all(matched)
        for sub in subs:
            # The model this process fitted, as a model of its own (the cache rounds).
            compiled = ranker.fitted[sub.name].model
            assert isinstance(compiled, CompiledModel)
            model = RelevanceModel(
                "fp", tuple(ranker.index.terms[i] for i in compiled.ids.tolist()),
                compiled.idf, compiled.weights, compiled.intercept, 5, 2, 0,
            )  # fmt: skip
            papers = matched[sub.name][1]
            alone = score_papers(model, papers)
            assert together[sub.name].fallback is None
            ranked = together[sub.name].relevance
            assert {i: r.value for i, r in ranked.items()} == {i: r.value for i, r in alone.items()}
            # A cycle explains each subscription's most relevant papers, as alone.
            best = sorted(papers, key=lambda p: -alone[p.id].value)[:REASON_PAPERS]
            assert [ranked[p.id].terms for p in best] == [alone[p.id].terms for p in best]
            index = TermIndex()
            scorer = Scorer(index, Analyzer(), reason_papers=None, decisions=[])
            scorer.score(CompiledModel.of(model, index), papers)
            assert scorer.decisions is not None
            got = [scorer.decisions[0][p.id] for p in papers]
            assert got == pytest.approx(sklearn_decisions(model, papers), abs=1e-9, rel=0)
        if round_ == 0:  # one more like for one subscription: its model is refitted
            with Store.open(data) as store:
                store.record_vote("s2", pool[61].id, Vote.LIKE, "cli", NOW)
    assert ranker.refits == len(subs) + 1


def test_the_words_are_scikit_learns_on_any_text() -> None:
    """The analyzer's own splitting of ASCII text gives exactly scikit-learn's words."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    reference = TfidfVectorizer(ngram_range=(1, 2), stop_words="english", strip_accents="unicode")
    rng = random.Random(5)
    alphabet = "ab_Z09 -'.,;:()[]{}$\\^/\t\n\"x\u00e9\u03b1"
    texts = [
        "".join(rng.choice(alphabet[: -2 if k % 2 else None]) for _ in range(rng.randint(0, 80)))
        for k in range(400)
    ]
    texts += ["", "a", "ab", "_ab_", "O(n^2) 3D-U-Net's x_1", "re-ranking, e.g. LLMs' k=5"]
    analyzer = Analyzer()
    assert [analyzer(t) for t in texts] == [reference.build_analyzer()(t) for t in texts]
    assert 100 < sum(t.isascii() for t in texts) < 300  # both ways of splitting are tried


def test_the_fit_sees_what_scikit_learn_sees() -> None:
    """The analyzer gives scikit-learn's terms, and the fit's matrix is its tf-idf."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from watcher.relevance import _tfidf

    texts = [*training().positives, *training().negatives, *training().background]
    texts.append("Caf\u00e9 na\u00efve r\u00e9sum\u00e9: the model's accents, stripped")
    analyzer = Analyzer()
    reference = TfidfVectorizer(ngram_range=(1, 2), stop_words="english", strip_accents="unicode")
    assert [analyzer(t) for t in texts] == [reference.build_analyzer()(t) for t in texts]
    terms, idf, matrix = _tfidf(
        [analyzer.counts(t) for t in texts], analyzer.vocabulary, analyzer.numbers.__getitem__
    )
    expected = TfidfVectorizer(
        analyzer=analyzer, sublinear_tf=True, vocabulary={t: i for i, t in enumerate(terms)}
    )
    wanted = expected.fit_transform(texts)
    assert list(terms) == sorted(terms)
    assert idf == pytest.approx(expected.idf_, rel=1e-6)
    assert abs(matrix - wanted).max() < 1e-9


def test_many_models_scored_together_give_what_each_gives_alone() -> None:
    from watcher.scoring import CompiledModel, Scorer, TermIndex

    papers = [*(liked_kind(300 + i) for i in range(8)), *(other_kind(300 + i) for i in range(8))]
    likes_other = TrainingSet(
        tuple(paper_text(other_kind(i)) for i in range(4)),
        tuple(paper_text(liked_kind(i)) for i in range(2)),
        tuple(paper_text(liked_kind(i)) for i in range(10, 30)),
    )
    models = [fitted(), fit_model(likes_other, Analyzer(), "other")]
    assert all(isinstance(m, RelevanceModel) for m in models)
    index = TermIndex()
    compiled = [CompiledModel.of(m, index) for m in models]  # type: ignore[arg-type]
    together = Scorer(index, Analyzer(), reason_papers=None).score_many(
        [(compiled[0], papers), (compiled[1], papers[::-1]), (compiled[0], papers[:3])]
    )
    alone = [score_papers(m, papers) for m in models]  # type: ignore[arg-type]
    assert together[0] == alone[0] and together[1] == alone[1]
    assert together[2] == {p.id: alone[0][p.id] for p in papers[:3]}
    # The two models disagree: each puts its own liked kind first.
    assert max(alone[0], key=lambda i: alone[0][i].value).startswith("2409.1")
    assert max(alone[1], key=lambda i: alone[1][i].value).startswith("2409.2")
    # A cycle works out the reasons of each model's most relevant papers only.
    few = Scorer(index, Analyzer(), reason_papers=2).score_many([(compiled[0], papers)])[0]
    best = sorted(papers, key=lambda p: -alone[0][p.id].value)
    assert [few[p.id].terms for p in best[:2]] == [alone[0][p.id].terms for p in best[:2]]
    assert all(few[p.id].terms == () for p in best[2:])
    assert [few[p.id].value for p in papers] == [alone[0][p.id].value for p in papers]


def test_models_scored_in_many_blocks_and_threads_give_what_each_gives_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a block of one model each, worked out in two threads or one, every request gets
    what its model gives alone (a request with no papers among them)."""
    import watcher.scoring as scoring
    from watcher.scoring import CompiledModel, Scorer, TermIndex

    rng = random.Random(3)
    pool = [random_paper(rng, i) for i in range(60)]
    models = []
    for k in range(6):
        liked = rng.sample(pool[:40], 5)
        training = TrainingSet(
            tuple(map(paper_text, liked)),
            (),
            tuple(paper_text(p) for p in pool[:40] if p not in liked),
        )
        model = fit_model(training, Analyzer(), f"m{k}")
        assert isinstance(model, RelevanceModel)
        models.append(model)
    asked = [rng.sample(pool[40:], rng.randint(0, 20)) for _ in models]
    asked[2] = []
    alone = [score_papers(m, papers) for m, papers in zip(models, asked, strict=True)]
    # One model a block (by the cells a model's row takes, or by its pairs' term entries).
    for cells, entries, workers in ((10, 10**9, 2), (10**9, 1, 2), (10, 10**9, 1)):
        monkeypatch.setattr(scoring, "_BLOCK_CELLS", cells)
        monkeypatch.setattr(scoring, "_BLOCK_ENTRIES", entries)
        monkeypatch.setattr(scoring, "_WORKERS", workers)
        index = TermIndex()
        compiled = [CompiledModel.of(m, index) for m in models]
        together = Scorer(index, Analyzer(), reason_papers=None).score_many(
            list(zip(compiled, asked, strict=True))
        )
        assert together == alone


def test_a_model_term_with_a_stop_word_changes_no_other_models_scores() -> None:
    """A term the analyzer can never make (a stop word: a hand-edited cache, another
    scikit-learn's list) matches nothing, and leaves the others' terms as they are."""
    import numpy as np

    from watcher.scoring import CompiledModel, Scorer, TermIndex

    def model(name: str, terms: tuple[str, ...]) -> RelevanceModel:
        ones = np.ones(len(terms), dtype=np.float32)
        return RelevanceModel(name, terms, ones, ones, 0.0, 1, 1, 1)

    ordinary, odd = model("a", ("deep learning",)), model("b", ("the", "deep the"))
    papers = [paper("2409.00001", title="Deep the learning", abstract="The deep learning.")]
    index = TermIndex()
    together = Scorer(index, Analyzer(), reason_papers=None).score_many(
        [(CompiledModel.of(odd, index), papers), (CompiledModel.of(ordinary, index), papers)]
    )
    assert together[1] == score_papers(ordinary, papers)
    assert together[1]["2409.00001"].terms == ("deep learning",)
    assert together[0]["2409.00001"] == Relevance(0.5, ())


def test_no_liked_paper_falls_back_and_few_make_a_young_model() -> None:
    result = fit_model(training(positives=0), Analyzer(), "fp")
    assert isinstance(result, Fallback) and result.kind == "few-positives"
    assert "no liked paper" in result.message and "at least 1" in result.message
    young = fit_model(training(positives=1), Analyzer(), "fp")
    assert isinstance(young, RelevanceModel) and young.positives == 1
    assert young_note(1) is not None and "1 liked paper so far" in (young_note(1) or "")
    assert young_note(3) is None
    # One like already puts papers like it first.
    scores = score_papers(young, candidates())
    assert max(scores, key=lambda i: scores[i].value) in {liked_kind(100).id, liked_kind(101).id}
    empty = fit_model(TrainingSet(("", "", ""), ("",)), Analyzer(), "fp")
    assert isinstance(empty, Fallback) and empty.kind == "fit-failed"


def ranked_digest(**options: object) -> tuple[list[Match], object]:
    model = fitted()
    papers = candidates()
    scores = score_papers(model, papers)
    # Scores from the rule run the other way: score order would put the other kind first.
    matches = [
        Match(p, "s", HITS, score=10.0 if p.id.startswith("2409.2") else 1.0) for p in papers
    ]
    sub = subscription("s", topic(), order="relevance", **options)
    return matches, make_digest(sub, "2024-09-18", matches, ranking=Ranking(scores))


def test_relevance_orders_and_the_threshold_keeps_at_least_the_minimum() -> None:
    _, digest = ranked_digest()
    ids = [m.paper.id for m in digest.matches]  # type: ignore[attr-defined]
    assert set(ids[:2]) == {liked_kind(100).id, liked_kind(101).id}
    values = [m.relevance.value for m in digest.matches]  # type: ignore[attr-defined]
    assert values == sorted(values, reverse=True)

    _, cut = ranked_digest(min_relevance=0.5)
    assert [m.paper.id for m in cut.matches] == ids[:2]  # type: ignore[attr-defined]
    assert cut.below_threshold == 3  # type: ignore[attr-defined]
    _, kept = ranked_digest(min_relevance=0.99, keep_at_least=3)
    assert [m.paper.id for m in kept.matches] == ids[:3]  # type: ignore[attr-defined]
    assert kept.below_threshold == 2  # type: ignore[attr-defined]
    text = render_format(kept, "text")  # type: ignore[arg-type]
    assert "+2 below your relevance threshold" in text


def test_a_fallback_digest_is_in_score_order_and_says_why_in_every_format() -> None:
    matches = [Match(paper(f"2409.0000{i}"), "s", HITS, score=float(i)) for i in range(4)]
    sub = subscription("s", topic(), order="relevance")
    reason = "1 liked paper (likes and library) with known text; relevance needs at least 3"
    digest = make_digest(sub, "2024-09-18", matches, ranking=Ranking(fallback=reason))
    assert [m.score for m in digest.matches] == [3.0, 2.0, 1.0, 0.0]
    for fmt in ("markdown", "text", "html"):
        assert "Ranked by score, not relevance: 1 liked paper" in render_format(digest, fmt)
    blocks = json.dumps([m.blocks for m in build_messages(digest)])
    assert "Ranked by score, not relevance" in blocks


def test_cuts_keep_the_first_in_relevance_order_in_every_format() -> None:
    model = fitted()
    papers = [*(other_kind(200 + i) for i in range(12)), *(liked_kind(200 + i) for i in range(3))]
    scores = score_papers(model, papers)
    best = sorted(papers, key=lambda p: (scores[p.id].value, p.id), reverse=True)[:3]
    # Newest ids and the highest rule scores are the other kind: only relevance picks these.
    matches = [Match(p, "s", HITS, score=5.0 if p in best else 9.0) for p in papers]
    sub = subscription("s", topic(), order="relevance", max_papers=3)
    digest = make_digest(sub, "2024-09-18", matches, ranking=Ranking(scores))
    assert [m.paper for m in digest.matches] == best and digest.omitted == 12

    def positions(body: str, wanted: list[Paper]) -> list[int]:
        return [body.index(p.title) for p in wanted]

    for fmt in ("markdown", "text", "html"):
        body = render_format(digest, fmt)
        assert positions(body, best) == sorted(positions(body, best)), fmt
        assert re.search(r"Why:\s+relevance 0\.\d\d: \w", body), fmt
        assert all(p.title not in body for p in papers if p not in best), fmt

    # The mail's size budget: the whole ranked digest (no max_papers), cut to a few in full.
    whole = make_digest(
        dataclasses.replace(sub, max_papers=None), "2024-09-18", matches, ranking=Ranking(scores)
    )
    full = build_message(whole, mail_from="a@example.org", to=["b@example.org"], now=NOW,
                         message_id="<x@example.org>")  # fmt: skip
    small = build_message(whole, mail_from="a@example.org", to=["b@example.org"], now=NOW,
                          message_id="<x@example.org>", max_bytes=len(full.data) // 2)  # fmt: skip
    assert 2 <= small.shown < len(papers)
    text = small.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    in_full = text.split("titles and links only")[0]
    assert [m.paper.title in in_full for m in whole.matches[: small.shown]] == [True] * small.shown
    assert best[0].title in in_full and all(p.title in text for p in best)

    # Slack's limits: a thread, the papers in digest order and the best in the first reply.
    messages = build_messages(whole, max_blocks=6)
    assert len(messages) > 2
    flat = json.dumps([m.blocks for m in messages[1:]])
    order = [flat.index(m.paper.title) for m in whole.matches]
    assert order == sorted(order)
    first_reply = json.dumps(messages[1].blocks)
    assert all(p.title in first_reply for p in best)
    assert "_Why:_ relevance" in first_reply


# --- the rule fields ----------------------------------------------------------------------


def rule(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text("feeds: [cs.LG]\ntopics:\n  - name: Q\n    any: [quantiz*]\n" + extra)
    return path


def test_rule_fields_are_read_and_checked_with_file_and_line(tmp_path: Path) -> None:
    sub = load_rule_file(rule(tmp_path, "order: relevance\nmin_relevance: 0.6\nkeep_at_least: 4\n"))
    assert (sub.order, sub.min_relevance, sub.keep_at_least) == ("relevance", 0.6, 4)
    with pytest.raises(RuleError, match=r"r.yaml:6: min_relevance: must be between 0 and 1"):
        load_rule_file(rule(tmp_path, "order: relevance\nmin_relevance: 1.5\n"))
    with pytest.raises(RuleError, match=r"r.yaml:5: keep_at_least: expected a whole number"):
        load_rule_file(rule(tmp_path, "keep_at_least: many\n"))
    with pytest.raises(RuleError, match=r"min_relevance needs order: relevance"):
        load_rule_file(rule(tmp_path, "min_relevance: 0.5\n"))


# --- over a store: cache, refit, fallback in status ------------------------------------------


def seeded_store(data: Path, likes: int) -> None:
    with Store.open(data) as store:
        store.record_papers(
            [*(liked_kind(i) for i in range(6)), *(other_kind(i) for i in range(40))],
            NOW - timedelta(days=1),
        )
        store.commit(now=NOW - timedelta(days=1))
        for i in range(likes):
            store.record_vote("s", liked_kind(i).id, Vote.LIKE, "cli", NOW)
        store.record_vote("s", other_kind(0).id, Vote.DISLIKE, "cli", NOW)


def relevance_rule(tmp_path: Path) -> Path:
    """rules/s.yaml: subscription ``s`` over cs.LG in relevance order."""
    rule = tmp_path / "rules" / "s.yaml"
    rule.parent.mkdir()
    rule.write_text(
        "name: s\nfeeds: [cs.LG]\ntopics:\n  - name: Q\n    any: [model*]\norder: relevance\n"
    )
    return rule


def status_output(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """What `watcher status` prints for ``relevance_rule``'s subscription over ``data``."""
    from watcher.cli import main

    main(["status", "--rules", str(relevance_rule(tmp_path).parent), "--data", str(data)])
    return capsys.readouterr().out


def prepared(data: Path) -> Ranker:
    ranker = Ranker(data)
    with Store.open(data) as store:
        ranker.prepare(store, [subscription("s", topic(), order="relevance")], NOW)
    return ranker


def test_a_model_is_fitted_once_cached_and_rebuilt_when_its_cache_is_damaged(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    seeded_store(data, likes=4)
    first = prepared(data)
    assert first.refits == 1 and isinstance(read_model(data, "s"), RelevanceModel)
    sub = subscription("s", topic(), order="relevance")
    ranking = first.rank(sub, candidates())
    assert ranking.fallback is None and len(ranking.relevance) == 5

    assert prepared(data).refits == 0  # the cache is current: read, not refitted
    model_path(data, "s").write_text('{"version": 1, "terms": [')
    rebuilt = prepared(data)
    assert rebuilt.refits == 1
    assert rebuilt.rank(sub, candidates()) == ranking
    assert isinstance(read_model(data, "s"), RelevanceModel)
    model_path(data, "s").write_text(json.dumps({"version": 1, "subscription": "s"}))
    assert prepared(data).refits == 1

    with Store.open(data) as store:  # one more like: a refit
        store.record_vote("s", liked_kind(4).id, Vote.LIKE, "cli", NOW)
    first.prepare(Store.open(data, read_only=True), [sub], NOW)
    assert first.refits == 2


def test_the_cache_gives_back_the_fitted_numbers_bit_for_bit_and_a_damaged_one_is_a_miss(
    tmp_path: Path,
) -> None:
    from watcher.store.relevance import CacheMiss, write_model

    model = fitted()
    assert isinstance(model, RelevanceModel)
    write_model(tmp_path, "s", model)
    back = read_model(tmp_path, "s")
    assert isinstance(back, RelevanceModel) and back.terms == model.terms
    assert back.idf.tobytes() == model.idf.tobytes()
    assert back.weights.tobytes() == model.weights.tobytes()
    document = json.loads(model_path(tmp_path, "s").read_text())
    for damage, said in (
        ({"weights": document["weights"][:-8]}, "weights holds"),
        ({"idf": "not base64!"}, "damaged"),
        ({"idf": [0.5] * len(model.terms)}, "idf must be base64 text"),
        ({"intercept": 10**400}, "damaged"),
    ):
        model_path(tmp_path, "s").write_text(json.dumps({**document, **damage}))
        miss = read_model(tmp_path, "s")
        assert isinstance(miss, CacheMiss) and said in miss.reason


def test_a_model_that_cannot_be_fitted_leaves_score_order_and_the_reason_in_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    seeded_store(data, likes=0)
    ranker = prepared(data)
    sub = subscription("s", topic(), order="relevance")
    ranking = ranker.rank(sub, candidates())
    assert ranking.relevance == {} and "relevance needs at least 1" in (ranking.fallback or "")
    states = read_states(data)
    assert isinstance(states, dict) and not states["s"].active

    out = status_output(tmp_path, data, capsys)
    assert "s: score order (relevance fell back: no liked paper" in out


def test_a_young_model_ranks_and_says_so_in_status_and_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    seeded_store(data, likes=2)
    ranker = prepared(data)
    sub = subscription("s", topic(), order="relevance")
    papers = candidates()
    ranking = ranker.rank(sub, papers)
    assert ranking.fallback is None and "2 liked papers so far" in (ranking.note or "")
    matches = [Match(p, "s", HITS, score=9.0 if p.id.startswith("2409.2") else 1.0) for p in papers]
    digest = make_digest(sub, "2024-09-18", matches, ranking=ranking)
    assert {m.paper.id for m in digest.matches[:2]} == {liked_kind(100).id, liked_kind(101).id}
    for fmt in ("markdown", "text", "html"):
        assert "Ranked by relevance from a young model, from 2 liked papers" in render_format(
            digest, fmt
        )
    assert "a young model" in json.dumps([m.blocks for m in build_messages(digest)])

    out = status_output(tmp_path, data, capsys)
    assert "a young model, from 2 liked papers so far" in out


def test_relevance_value_round_trips_through_the_outbox(tmp_path: Path) -> None:
    data = tmp_path / "data"
    p, q = liked_kind(1), liked_kind(2)
    sub = subscription("s", topic(), order="relevance", min_relevance=0.9)
    ranking = Ranking({p.id: Relevance(0.95, ("x",)), q.id: Relevance(0.7, ())})
    digest = make_digest(
        sub, "2024-09-18", [Match(p, "s", HITS), Match(q, "s", HITS)], ranking=ranking
    )
    with Store.open(data) as store:
        store.record_papers([p, q], NOW)
        store.enqueue(sub.deliver[0], digest)
        store.commit(now=NOW)
    with Store.open(data) as store:
        (entry,) = store.pending(NOW)
    assert entry.digest.matches[0].relevance == Relevance(0.95, ("x",))
    assert entry.digest.below_threshold == 1 and entry.digest.matches == digest.matches


def test_a_pending_digest_grown_by_a_later_cycle_keeps_its_order_for_every_cut(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    sub = subscription("s", topic(), order="relevance")
    early = [liked_kind(i) for i in range(1, 4)]
    late = [liked_kind(i) for i in range(4, 7)]
    given = [0.4, 0.3, 0.2, 0.95, 0.1, 0.6]
    values = {p.id: v for p, v in zip([*early, *late], given, strict=True)}

    def digest_of(papers: list[Paper]) -> object:
        ranking = Ranking({p.id: Relevance(values[p.id], ("kernels",)) for p in papers})
        return make_digest(
            sub, "2024-09-18", [Match(p, "s", HITS) for p in papers], ranking=ranking
        )

    for papers in (early, late):  # two cycles of one period, the entry still pending
        with Store.open(data) as store:
            store.record_papers(papers, NOW)
            store.enqueue(sub.deliver[0], digest_of(papers))  # type: ignore[arg-type]
            store.commit(now=NOW)
    with Store.open(data) as store:
        (entry,) = store.pending(NOW)
    grown = entry.digest
    assert [m.relevance.value for m in grown.matches] == [0.95, 0.6, 0.4, 0.3, 0.2, 0.1]  # type: ignore[union-attr]
    assert grown.order == "relevance"
    # The mail's size budget keeps the most relevant in full, not the first to arrive.
    full = build_message(grown, mail_from="a@example.org", to=["b@example.org"], now=NOW,
                         message_id="<x@example.org>")  # fmt: skip
    budget = len(full.data) * 2 // 3
    small = build_message(grown, mail_from="a@example.org", to=["b@example.org"], now=NOW,
                          message_id="<x@example.org>", max_bytes=budget)  # fmt: skip
    assert 1 <= small.shown < 6
    text = small.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    in_full = text.split("titles and links only")[0]
    assert late[0].title in in_full and early[2].title not in in_full


# --- library: as a cold start, and reloaded ---------------------------------------------------


def bibtex(papers: list[Paper]) -> str:
    return "\n".join(
        f"@article{{k{i},\n  title = {{{p.title}}},\n  eprint = {{{p.id}}},\n"
        f"  archivePrefix = {{arXiv}},\n}}\n"
        for i, p in enumerate(papers)
    )


def library_rule(tmp_path: Path) -> Path:
    path = tmp_path / "rules" / "s.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        "name: s\nfeeds: [cs.LG]\ntopics:\n  - name: Q\n    any: [model*]\n"
        "order: relevance\nlibrary: refs.bib\n"
    )
    return path


def test_a_library_alone_ranks_a_digest_and_an_edited_library_refits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seeded_store(data, likes=0)  # no likes: only a dislike, so no model without the library
    rule = library_rule(tmp_path)
    library = rule.parent / "refs.bib"
    library.write_text(bibtex([liked_kind(i) for i in range(3)]))
    papers = candidates()
    # The rule's scores favour the other kind: score order puts it first.
    matches = [Match(p, "s", HITS, score=9.0 if p.id.startswith("2409.2") else 1.0) for p in papers]

    def digest_ids(ranker: Ranker, sub: object) -> list[str]:
        with Store.open(data) as store:
            ranker.prepare(store, [sub], NOW)  # type: ignore[list-item]
        ranking = ranker.rank(sub, papers)  # type: ignore[arg-type]
        assert ranking.fallback is None, ranking.fallback
        digest = make_digest(sub, "2024-09-18", matches, ranking=ranking)  # type: ignore[arg-type]
        return [m.paper.id for m in digest.matches]

    ranker = Ranker(data)
    first = digest_ids(ranker, load_rule_file(rule))
    assert set(first[:2]) == {liked_kind(100).id, liked_kind(101).id}
    assert ranker.refits == 1
    states = read_states(data)
    assert isinstance(states, dict) and "fitted on 3 liked" in states["s"].detail

    # The reader edits the library: now the other kind. Reloaded (a new stamp): refitted.
    library.write_text(bibtex([other_kind(i) for i in range(1, 6)]))
    second = digest_ids(ranker, load_rule_file(rule))
    assert ranker.refits == 2
    assert set(second[:3]) == {other_kind(100).id, other_kind(101).id, other_kind(102).id}
    # Unchanged library and votes: nothing is fitted again.
    digest_ids(ranker, load_rule_file(rule))
    assert ranker.refits == 2


def test_a_library_broken_after_loading_is_warned_about_once_and_shown_in_status(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    seeded_store(data, likes=3)
    rule = library_rule(tmp_path)
    library = rule.parent / "refs.bib"
    library.write_text(bibtex([liked_kind(i) for i in range(3)]))
    sub = load_rule_file(rule)  # loads: the file exists
    library.write_text(library.read_text() + "@article{b,\n  title = {x,\n")
    sub = load_rule_file(rule)
    ranker = Ranker(data)
    with caplog.at_level(logging.WARNING, logger="watcher"):
        for _ in range(2):  # two cycles on the same broken file: one warning
            with Store.open(data) as store:
                ranker.prepare(store, [sub], NOW)
    warnings = [r.getMessage() for r in caplog.records if r.name == "watcher.ranking"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("s: library not used: ") and str(library) in warnings[0]
    states = read_states(data)
    assert isinstance(states, dict) and "library not used" in (states["s"].problem or "")


def test_a_library_that_could_not_be_read_is_tried_again_next_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that failed (here an I/O error, as a permission fixed by chmod would be)
    is tried again by the next cycle, though the file's stamp did not change."""
    import watcher.ranking as ranking
    from watcher.errors import WatcherError
    from watcher.library import read_library

    data = tmp_path / "data"
    seeded_store(data, likes=0)
    rule = library_rule(tmp_path)
    (rule.parent / "refs.bib").write_text(bibtex([liked_kind(i) for i in range(3)]))
    sub = load_rule_file(rule)
    failing = [True]

    def flaky(path: Path) -> object:
        if failing[0]:
            raise WatcherError(f"{path}: cannot read: Input/output error")
        return read_library(path)

    monkeypatch.setattr(ranking, "read_library", flaky)
    ranker = Ranker(data)
    with Store.open(data) as store:
        ranker.prepare(store, [sub], NOW)
    assert ranker.rank(sub, candidates()).fallback is not None
    failing[0] = False
    with Store.open(data) as store:
        ranker.prepare(store, [sub], NOW)
    assert ranker.rank(sub, candidates()).fallback is None
    states = read_states(data)
    assert isinstance(states, dict) and states["s"].problem is None


# --- rules explain ----------------------------------------------------------------------------


def test_rules_explain_prints_the_relevance_and_its_terms_or_why_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from watcher.cli import main

    data = tmp_path / "data"
    seeded_store(data, likes=4)
    rule = relevance_rule(tmp_path)
    with Store.open(data) as store:
        store.record_papers([liked_kind(5), other_kind(39)], NOW)
        store.commit(now=NOW)
    assert main(["rules", "explain", liked_kind(5).id, str(rule), "--data", str(data)]) == 0
    liked = capsys.readouterr().out
    found = re.search(r"relevance (0\.\d\d) \(on the liked side of 0\.5\); terms that pushed "
                      r"it up: (.+)", liked)  # fmt: skip
    assert found, liked
    assert any(w in found.group(2) for w in ("sparse", "attention", "kernels"))
    assert main(["rules", "explain", other_kind(39).id, str(rule), "--data", str(data)]) == 0
    assert "on the not liked side of 0.5" in capsys.readouterr().out
    assert not (data / "relevance").exists() or list((data / "relevance").glob("*.json")) == []

    with Store.open(data) as store:  # forget the likes: the reason for score order
        for i in range(4):
            store.record_vote("s", liked_kind(i).id, None, "cli", NOW)
    assert main(["rules", "explain", liked_kind(5).id, str(rule), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "relevance: not used, score order instead: no liked paper" in out


def test_the_models_read_the_same_votes_as_the_book_and_refuse_a_damaged_one(
    tmp_path: Path,
) -> None:
    from watcher.errors import StoreError
    from watcher.store.feedback import feedback_path, read_feedback, read_vote_sets

    data = tmp_path / "data"
    seeded_store(data, likes=3)
    with Store.open(data) as store:
        store.record_vote("t", other_kind(1).id, Vote.LIKE, "cli", NOW)
        store.record_vote("s", liked_kind(2).id, Vote.DISLIKE, "cli", NOW)  # replaces a like
    sets = read_vote_sets(data)
    book = read_feedback(data).by_subscription()
    assert sets == dict(book)
    assert sets["s"].dislikes == {other_kind(0).id, liked_kind(2).id}
    path = feedback_path(data, "s")
    raw = json.loads(path.read_text())
    key = f"s|{liked_kind(0).id}"
    raw["votes"][key]["vote"] = "love"
    path.write_text(json.dumps(raw))
    with pytest.raises(StoreError, match=r"damaged vote.*love") as caught:
        read_vote_sets(data)
    assert key in str(caught.value)


def test_a_cycle_without_order_relevance_loads_no_ranking(tmp_path: Path) -> None:
    """Subscriptions in newest or score order pay nothing for relevance: a `watcher once`
    over them imports neither scikit-learn nor the ranking modules."""
    import subprocess
    import sys

    from tests.conftest import PROJECT

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "q.yaml").write_text(
        "name: q\nfeeds: [cs.LG]\ntopics:\n  - name: Q\n    any: [quantiz*, model*]\norder: score\n"
    )
    feed = PROJECT / "watcher" / "examples" / "arxiv-rss-sample.xml"
    script = (
        "import sys\nfrom watcher.cli import main\n"
        f"code = main(['once', '--feed', {str(feed)!r}, '--rules', {str(rules)!r}, "
        f"'--data', {str(tmp_path / 'data')!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn' "
        "or m in ('watcher.ranking', 'watcher.relevance', 'watcher.scoring', 'scipy'))\n"
        "print('loaded:', loaded)\nsys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(PROJECT)}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "delivered: q " in done.stderr
    assert "loaded: []" in done.stdout
