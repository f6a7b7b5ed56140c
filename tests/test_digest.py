"""digest: display order, one entry per paper, one digest per subscription and destination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import factories
from tests.factories import match, subscription
from watcher.digest import make_digest, merge_digests, order_matches, order_updates, plan_digests
from watcher.models import LOCAL, Destination, Digest, Match, TopicHit
from watcher.store.codec import digest_from_dict, digest_to_dict

T0 = datetime(2024, 9, 18, 12, 0, tzinfo=UTC)


paper = partial(factories.paper, published=T0)


def ids(matches: tuple[Match, ...]) -> list[str]:
    return [m.paper.id for m in matches]


# --- order_matches -----------------------------------------------------------------------


def test_newest_publication_first() -> None:
    ms = [match(paper(f"2409.0000{i}", published=T0 + timedelta(hours=i))) for i in range(4)]
    assert ids(order_matches(ms)) == ["2409.00003", "2409.00002", "2409.00001", "2409.00000"]


def test_equal_times_break_ties_by_id_descending() -> None:
    ms = [match(paper(i)) for i in ("2409.10504", "2409.10593", "2409.10516")]
    assert ids(order_matches(ms)) == ["2409.10593", "2409.10516", "2409.10504"]


def test_papers_without_publication_time_come_last() -> None:
    ms = [
        match(paper("2409.00001", published=None)),
        match(paper("2409.00002", published=T0 - timedelta(days=30))),
        match(paper("2409.00003", published=None)),
        match(paper("2409.00000", published=T0)),
    ]
    assert ids(order_matches(ms)) == ["2409.00000", "2409.00002", "2409.00003", "2409.00001"]


def test_naive_and_aware_times_sort_together_naive_taken_as_utc() -> None:
    eastern = timezone(timedelta(hours=-4))
    ms = [
        match(paper("2409.00001", published=datetime(2024, 9, 18, 10, 0))),  # 10:00 UTC
        match(paper("2409.00002", published=datetime(2024, 9, 18, 7, 0, tzinfo=eastern))),
    ]  # the second is 11:00 UTC
    assert ids(order_matches(ms)) == ["2409.00002", "2409.00001"]


def test_deduplicates_by_id_keeping_the_highest_version() -> None:
    ms = [
        match(paper("2409.00001", version=2)),
        match(paper("2409.00001", version=3, title="Third")),
        match(paper("2409.00001", version=1)),
        match(paper("2409.00002", version=None)),
    ]
    ordered = order_matches(ms)
    assert ids(ordered) == ["2409.00002", "2409.00001"]
    assert ordered[1].paper.version == 3
    assert ordered[1].paper.title == "Third"


def test_equal_versions_keep_the_later_match() -> None:
    first = match(paper("2409.00001"), hits=(TopicHit("Old", ("quantiz*",)),))
    later = match(paper("2409.00001"), hits=(TopicHit("New", ("quantiz*",)),))
    (kept,) = order_matches([first, later])
    assert kept.hits[0].topic == "New"


def test_empty() -> None:
    assert order_matches([]) == ()


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["2409.00001", "2409.00002", "2408.12345", "cs/0101001"]),
            st.integers(1, 4),
            st.one_of(st.none(), st.integers(0, 5)),
        ),
        max_size=20,
    )
)
def test_order_is_a_sorted_unique_selection(entries: list[tuple[str, int, int | None]]) -> None:
    ms = [
        match(paper(i, v, published=None if h is None else T0 + timedelta(hours=h)))
        for i, v, h in entries
    ]
    ordered = order_matches(ms)
    assert sorted(ids(ordered)) == sorted({i for i, _, _ in entries})
    for m in ordered:
        assert m.paper.version == max(v for i, v, _ in entries if i == m.paper.id)
    keys = [(m.paper.published is not None, m.paper.published or T0, m.paper.id) for m in ordered]
    assert keys == sorted(keys, reverse=True)
    assert order_matches(ordered) == ordered


# --- plan_digests ------------------------------------------------------------------------


def test_one_digest_per_subscription_with_matches_and_destination() -> None:
    slack = Destination("slack", ("#efficient-ml",))
    email = Destination("email", ("team@example.org",))
    subs = [
        subscription("efficient-ml", deliver=(slack, email)),
        subscription("nothing-today", deliver=(slack,)),
        subscription("attention"),
    ]
    ms = [
        match(paper("2409.00001", published=T0), "efficient-ml"),
        match(paper("2409.00002", published=T0 + timedelta(1)), "efficient-ml"),
        match(paper("2409.00001"), "attention"),
        match(paper("2409.00009"), "removed-rule-file"),
    ]
    planned = plan_digests(ms, subs, "2024-09-18")
    assert [(d, g.subscription) for d, g in planned] == [
        (slack, "efficient-ml"),
        (email, "efficient-ml"),
        (LOCAL, "attention"),  # empty deliver means local
    ]
    digest = planned[0][1]
    assert digest.period == "2024-09-18"
    assert ids(digest.matches) == ["2409.00002", "2409.00001"]
    assert planned[1][1] == digest
    assert ids(planned[2][1].matches) == ["2409.00001"]


def test_plan_accepts_a_mapping_of_subscriptions() -> None:
    subs = {"b": subscription("b"), "a": subscription("a")}
    ms = [match(paper("2409.00001"), "a"), match(paper("2409.00002"), "b")]
    assert [g.subscription for _, g in plan_digests(ms, subs, "2024-09-18")] == ["b", "a"]


def test_plan_without_matches_is_empty() -> None:
    assert plan_digests([], [subscription("a")], "2024-09-18") == []
    assert plan_digests(iter([match(paper("2409.00001"), "a")]), {}, "2024-09-18") == []


def test_plan_consumes_an_iterator_once() -> None:
    ms = iter([match(paper("2409.00001"), "a"), match(paper("2409.00002"), "b")])
    planned = plan_digests(ms, [subscription("a"), subscription("b")], "2024-09-18")
    assert [ids(g.matches) for _, g in planned] == [["2409.00001"], ["2409.00002"]]


# --- merge_digests -----------------------------------------------------------------------


def test_merge_is_a_union_by_id_reordered() -> None:
    a = Digest("s", "2024-09-18", (match(paper("2409.00001", 1)), match(paper("2409.00003"))))
    b = Digest(
        "s",
        "2024-09-18",
        (match(paper("2409.00001", 2)), match(paper("2409.00002", published=T0 + timedelta(1)))),
    )
    merged = merge_digests(a, b)
    assert (merged.subscription, merged.period) == ("s", "2024-09-18")
    assert ids(merged.matches) == ["2409.00002", "2409.00003", "2409.00001"]
    assert merged.matches[2].paper.version == 2
    assert merge_digests(b, a) == merged


def test_merge_refuses_different_subscriptions_or_periods() -> None:
    a = Digest("s", "2024-09-18", ())
    with pytest.raises(ValueError, match="cannot merge"):
        merge_digests(a, Digest("t", "2024-09-18", ()))
    with pytest.raises(ValueError, match="cannot merge"):
        merge_digests(a, Digest("s", "2024-09-19", ()))


# --- order: score, and max_papers -----------------------------------------------------------


def test_order_by_score_then_newest_then_id() -> None:
    ms = [
        match(paper("2409.00001", published=T0), score=1.0),
        match(paper("2409.00002", published=T0 - timedelta(days=3)), score=3.0),
        match(paper("2409.00003", published=T0 + timedelta(hours=1)), score=1.0),
        match(paper("2409.00004", published=T0), score=1.0),
        match(paper("2409.00005", published=None), score=3.0),
        match(paper("2409.00006", published=T0 + timedelta(days=9)), score=0.5),
    ]
    assert ids(order_matches(ms, "score")) == [
        "2409.00002",  # 3.0, with a publication time
        "2409.00005",  # 3.0, without one: last among equals
        "2409.00003",  # 1.0, newest
        "2409.00004",  # 1.0, same time as ...01: id descending
        "2409.00001",
        "2409.00006",  # lowest score, however new
    ]
    assert ids(order_matches(ms)) == ids(order_matches(ms, "newest"))
    assert ids(order_matches(ms))[0] == "2409.00006"


def test_score_order_keeps_the_highest_version_not_the_highest_score() -> None:
    ms = [match(paper("2409.00001", 1), score=9.0), match(paper("2409.00001", 2), score=1.0)]
    (kept,) = order_matches(ms, "score")
    assert kept.paper.version == 2 and kept.score == 1.0


def test_unknown_order_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown digest order 'oldest'"):
        order_matches([], "oldest")


def test_max_papers_keeps_the_first_n_in_order_and_counts_the_rest() -> None:
    ms = [
        match(paper(f"2409.0000{i}", published=T0 + timedelta(hours=i)), score=float(i % 3))
        for i in range(7)
    ]  # scores 0 1 2 0 1 2 0
    newest = subscription("s", max_papers=3)
    digest = make_digest(newest, "2024-09-18", ms)
    assert ids(digest.matches) == ["2409.00006", "2409.00005", "2409.00004"]
    assert digest.omitted == 4
    best = subscription("s", order="score", max_papers=3)
    digest = make_digest(best, "2024-09-18", ms)
    assert ids(digest.matches) == ["2409.00005", "2409.00002", "2409.00004"]
    assert digest.omitted == 4


def test_max_papers_counts_papers_not_duplicate_matches() -> None:
    ms = [match(paper("2409.00001", v)) for v in (1, 2, 3)] + [match(paper("2409.00002"))]
    digest = make_digest(subscription("s", max_papers=1), "p", ms)
    assert len(digest.matches) == 1 and digest.omitted == 1


@pytest.mark.parametrize("cap", [None, 2, 5])
def test_no_cap_or_a_cap_not_reached_omits_nothing(cap: int | None) -> None:
    ms = [match(paper("2409.00001")), match(paper("2409.00002"))]
    digest = make_digest(subscription("s", max_papers=cap), "p", ms)
    assert len(digest.matches) == 2 and digest.omitted == 0


def test_plan_honours_order_and_cap_per_subscription() -> None:
    ms = [
        match(paper("2409.00001", published=T0), "a", score=5.0),
        match(paper("2409.00002", published=T0 + timedelta(1)), "a", score=1.0),
        match(paper("2409.00003", published=T0 + timedelta(2)), "a", score=1.0),
        match(paper("2409.00001", published=T0), "b"),
        match(paper("2409.00002", published=T0 + timedelta(1)), "b"),
    ]
    subs = [subscription("a", order="score", max_papers=2), subscription("b")]
    (_, a), (_, b) = plan_digests(ms, subs, "2024-09-18")
    assert ids(a.matches) == ["2409.00001", "2409.00003"] and a.omitted == 1
    assert ids(b.matches) == ["2409.00002", "2409.00001"] and b.omitted == 0


@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 3), st.one_of(st.none(), st.integers(0, 5))),
        max_size=20,
    ),
    st.one_of(st.none(), st.integers(1, 6)),
    st.sampled_from(["newest", "score"]),
)
def test_cap_is_a_prefix_of_the_uncapped_order(
    entries: list[tuple[int, int, int | None]], cap: int | None, order: str
) -> None:
    ms = [
        match(
            paper(f"2409.0000{i}", published=None if h is None else T0 + timedelta(hours=h)),
            score=float(score),
        )
        for i, score, h in entries
    ]
    full = order_matches(ms, order)
    digest = make_digest(subscription("s", order=order, max_papers=cap), "p", ms)
    assert digest.matches == full[: len(digest.matches)]
    assert len(digest.matches) + digest.omitted == len(full)
    assert len(digest.matches) == (len(full) if cap is None else min(cap, len(full)))
    if order == "score":
        scores = [m.score for m in digest.matches]
        assert scores == sorted(scores, reverse=True)


# --- updates ---------------------------------------------------------------------------------


def test_updates_newest_version_first() -> None:
    ups = [
        match(paper("2401.00001", 3, published=T0 - timedelta(days=90), updated=T0)),
        match(paper("2402.00002", 2, published=T0 - timedelta(days=60), updated=T0 + timedelta(1))),
        match(paper("2403.00003", 4, published=T0 - timedelta(days=1))),  # no updated: published
        match(paper("2401.00001", 2, published=T0 - timedelta(days=90), updated=T0)),
    ]
    ordered = order_updates(ups)
    assert ids(ordered) == ["2402.00002", "2401.00001", "2403.00003"]
    assert ordered[1].paper.version == 3
    assert ids(order_updates(ups, exclude=["2402.00002"])) == ["2401.00001", "2403.00003"]


def test_plan_adds_updates_only_where_asked_and_never_twice() -> None:
    new = [match(paper("2409.00001"), "on"), match(paper("2409.00001"), "off")]
    ups = [
        match(paper("2401.00001", 3, updated=T0), "on"),
        match(paper("2409.00001", 2), "on"),  # new in this digest: not an update too
        match(paper("2401.00001", 3, updated=T0), "off"),
        match(paper("2402.00002", 2, updated=T0), "only-updates"),
        match(paper("2402.00002", 2, updated=T0), "quiet"),
    ]
    subs = [
        subscription("on", updates=True),
        subscription("off"),
        subscription("only-updates", updates=True),
        subscription("quiet"),  # updates off and nothing new: no digest
    ]
    planned = plan_digests(new, subs, "2024-09-18", updates=ups)
    by_name = {d.subscription: d for _, d in planned}
    assert list(by_name) == ["on", "off", "only-updates"]
    assert ids(by_name["on"].matches) == ["2409.00001"]
    assert ids(by_name["on"].updated) == ["2401.00001"]
    assert by_name["off"].updated == ()
    assert by_name["only-updates"].matches == ()
    assert ids(by_name["only-updates"].updated) == ["2402.00002"]


def test_updates_are_not_capped() -> None:
    ups = [match(paper(f"2401.0000{i}", 2, updated=T0)) for i in range(5)]
    digest = make_digest(subscription("s", updates=True, max_papers=1), "p", [], ups)
    assert len(digest.updated) == 5 and digest.omitted == 0


def test_merge_keeps_updates_and_adds_omitted() -> None:
    up = match(paper("2401.00001", 2, updated=T0))
    up_later = match(paper("2401.00001", 3, updated=T0 + timedelta(1)))
    a = Digest("s", "p", (match(paper("2409.00001")),), (up,), omitted=2)
    b = Digest("s", "p", (match(paper("2409.00002")),), (up_later,), omitted=1)
    merged = merge_digests(a, b)
    assert merged.omitted == 3
    assert [m.paper.versioned_id for m in merged.updated] == ["2401.00001v3"]
    c = Digest("s", "p", (match(paper("2401.00001", 4)),))
    assert merge_digests(a, c).updated == ()  # new in the merged digest: not an update
    scored = Digest("s", "p", (match(paper("2409.00003"), score=9.0),))
    assert ids(merge_digests(a, scored, order="score").matches)[0] == "2409.00003"


def test_codec_keeps_omitted_and_defaults_it() -> None:
    digest = Digest("s", "p", (match(paper("2409.00001")),), omitted=7)
    data = digest_to_dict(digest)
    assert digest_from_dict(data) == digest
    del data["omitted"]
    assert digest_from_dict(data).omitted == 0
