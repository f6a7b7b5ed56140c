"""What a poll means, decided from values alone: the new/empty/stale/not-modified state
machine (``classify``) and which days the arXiv API must fill (``missed_days``), table by
table, with no server and no store."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import paper
from watcher.models import FeedState
from watcher.polling import classify, missed_days

MON, TUE, WED, THU, FRI = (date(2024, 12, d) for d in (16, 17, 18, 19, 20))
MON2 = date(2024, 12, 23)
LISTING = (paper("2412.00001"), paper("2412.00002"))
OTHER = (paper("2412.00003"),)
_, SEEN = classify(LISTING, TUE, '"e1"', FeedState())  # the state after Tuesday's listing


@pytest.mark.parametrize(
    ("papers", "announced", "previous", "status", "remembered"),
    [
        # never polled: whatever it lists is new
        (LISTING, TUE, FeedState(), "new", TUE),
        # a new listing the next day
        (OTHER, WED, SEEN, "new", WED),
        # Tuesday's listing again, dated Wednesday: stale (arXiv re-served it)
        (LISTING, WED, SEEN, "stale", TUE),
        # the same listing again, same date: nothing changed
        (LISTING, TUE, SEEN, "not-modified", TUE),
        # a weekend or holiday: no items
        ((), date(2024, 12, 21), SEEN, "empty", TUE),
        # a new version of a paper does not make a listing new (ids, not versions, count)
        ((paper("2412.00001", 2), paper("2412.00002")), WED, SEEN, "stale", TUE),
    ],
)
def test_classify(
    papers: tuple[object, ...],
    announced: date,
    previous: FeedState,
    status: str,
    remembered: date,
) -> None:
    got, state = classify(papers, announced, '"e2"', previous)  # type: ignore[arg-type]
    assert got == status
    assert state.last_status == status and state.etag == '"e2"' and state.last_error is None
    assert state.announced == remembered  # the date of the listing we have


@pytest.mark.parametrize(
    ("previous", "status", "announced", "fill_from", "covered", "stale_count"),
    [
        # first poll ever: nothing to fill, the day is covered
        (FeedState(), "new", TUE, None, TUE, 0),
        # the next weekday: nothing missed
        (FeedState(covered=TUE), "new", WED, None, WED, 0),
        # down from Tuesday to Friday: Wednesday and Thursday come from the API
        (FeedState(covered=TUE), "new", FRI, WED, TUE, 0),
        # Friday to Monday over the weekend: nothing missed (weekends have no listing)
        (FeedState(covered=FRI), "new", MON2, None, MON2, 0),
        # stale once: give arXiv until the next poll
        (FeedState(covered=TUE), "stale", WED, None, TUE, 1),
        # stale on a second poll of the same day: fill that day from the API
        (FeedState(covered=TUE, stale_date=WED, stale_count=1), "stale", WED, WED, TUE, 2),
        # stale, but the day is covered already (filled before): nothing to do
        (FeedState(covered=WED, stale_date=WED, stale_count=1), "stale", WED, None, WED, 2),
        # a failed poll decides nothing
        (FeedState(covered=TUE), "failed", THU, None, TUE, 0),
    ],
)
def test_missed_days(
    previous: FeedState,
    status: str,
    announced: date,
    fill_from: date | None,
    covered: date,
    stale_count: int,
) -> None:
    state, first_missing = missed_days(previous, previous, status, announced, 2)  # type: ignore[arg-type]
    assert first_missing == fill_from
    assert state.covered == covered  # moves only when the day is really covered
    assert state.stale_count == stale_count
