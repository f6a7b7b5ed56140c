"""``order: relevance``: the model, its cache, the order and cuts it gives digests in every
format, and what status says when it falls back to score order."""

from __future__ import annotations

import dataclasses
import json
import re
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
    score_papers,
)
from watcher.render import build_message, render_format
from watcher.render.slack import build_messages
from watcher.rules.load import load_rule_file
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


def test_too_few_positives_fall_back_with_a_reason() -> None:
    result = fit_model(training(positives=2), Analyzer(), "fp")
    assert isinstance(result, Fallback) and result.kind == "few-positives"
    assert "2 liked papers" in result.message and "at least 3" in result.message
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


def test_a_model_that_cannot_be_fitted_leaves_score_order_and_the_reason_in_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    seeded_store(data, likes=2)
    ranker = prepared(data)
    sub = subscription("s", topic(), order="relevance")
    ranking = ranker.rank(sub, candidates())
    assert ranking.relevance == {} and "relevance needs at least 3" in (ranking.fallback or "")
    states = read_states(data)
    assert isinstance(states, dict) and not states["s"].active

    from watcher.cli import main

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "s.yaml").write_text(
        "name: s\nfeeds: [cs.LG]\ntopics:\n  - name: Q\n    any: [model*]\norder: relevance\n"
    )
    main(["status", "--rules", str(rules), "--data", str(data)])
    out = capsys.readouterr().out
    assert "s: score order (relevance fell back: 2 liked papers" in out


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
