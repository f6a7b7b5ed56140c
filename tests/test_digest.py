"""digest: display order, one entry per paper, one digest per subscription and destination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watcher.digest import merge_digests, order_matches, plan_digests
from watcher.models import LOCAL, Destination, Digest, Match, Paper, Subscription, TopicHit

T0 = datetime(2024, 9, 18, 12, 0, tzinfo=UTC)


def paper(
    id: str, version: int | None = 1, published: datetime | None = T0, title: str = ""
) -> Paper:
    return Paper(
        id,
        version,
        title or f"Paper {id}",
        ("A. Author",),
        "An abstract.",
        ("cs.LG",),
        published=published,
    )


def match(p: Paper, subscription: str = "efficient-ml", topic: str = "Quantization") -> Match:
    return Match(p, subscription, (TopicHit(topic, ("quantiz*",)),))


def subscription(name: str, *deliver: Destination) -> Subscription:
    return Subscription(
        name=name, path=f"rules/{name}.yaml", feeds=("cs.LG",), topics=(), deliver=deliver
    )


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
    first = match(paper("2409.00001"), topic="Old")
    later = match(paper("2409.00001"), topic="New")
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
    ms = [match(paper(i, v, None if h is None else T0 + timedelta(hours=h))) for i, v, h in entries]
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
        subscription("efficient-ml", slack, email),
        subscription("nothing-today", slack),
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
