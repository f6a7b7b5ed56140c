"""Schedule computations across DST changes and arXiv holidays, without waiting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories import subscription
from watcher.models import Subscription
from watcher.schedule import delivery_slot, next_fire

DAYS = {"sun": 6, "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5}


def field_values(spec: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """The values one cron field allows (enough of cron for these tests: *, a-b, lists)."""
    values: set[int] = set()
    for part in spec.split(","):
        if part == "*":
            values |= set(range(low, high + 1))
            continue
        ends = [names[p] if names and p in names else int(p) for p in part.split("-")]
        values |= set(range(ends[0], ends[-1] + 1))
    return values


def brute_force_next(cron: str, zone: str, after: datetime) -> datetime:
    """Walk real minutes one by one and read the wall clock: obviously right, and slow."""
    minute, hour, _, _, dow = cron.split()
    minutes, hours = field_values(minute, 0, 59), field_values(hour, 0, 23)
    weekdays = field_values(dow, 0, 6, DAYS)
    tz = ZoneInfo(zone)
    t = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(60 * 24 * 9):
        local = t.astimezone(tz)
        if local.minute in minutes and local.hour in hours and local.weekday() in weekdays:
            return local
        t += timedelta(minutes=1)
    raise AssertionError("no fire time within 9 days")


# Hours clear of the 01:00-03:00 window in which clocks jump, where "the wall clock shows
# 02:30" has no single answer; weekday sets that make the day arithmetic matter.
CRONS = ["10 0 * * mon-fri", "0 8 * * mon", "30 23 * * *", "0 12 * * sat", "15 6 * * tue,thu"]
# The UTC moments clocks change: spring forward, fall back.
TRANSITIONS = {
    "America/New_York": [datetime(2024, 3, 10, 7), datetime(2024, 11, 3, 6)],
    "Europe/Berlin": [datetime(2024, 3, 31, 1), datetime(2024, 10, 27, 1)],
    "Australia/Sydney": [datetime(2024, 4, 6, 16), datetime(2024, 10, 5, 16)],
}


@pytest.mark.parametrize("cron", CRONS)
@pytest.mark.parametrize("zone", list(TRANSITIONS))
def test_next_fire_is_right_around_every_dst_change(cron: str, zone: str) -> None:
    for naive in TRANSITIONS[zone]:
        change = naive.replace(tzinfo=UTC)
        for hours_before in range(-30, 8 * 24, 7):
            after = change - timedelta(hours=hours_before)
            assert next_fire(cron, zone, after) == brute_force_next(cron, zone, after), after


def test_the_monday_poll_after_spring_forward_is_not_skipped() -> None:
    # APScheduler 3 on its own answers Tuesday here (it adds 24 h to a 23-hour Sunday).
    friday_after_poll = datetime(2024, 3, 8, 6, 0, tzinfo=UTC)
    monday = next_fire("10 0 * * mon-fri", "America/New_York", friday_after_poll)
    assert monday == datetime(2024, 3, 11, 0, 10, tzinfo=ZoneInfo("America/New_York"))


def sub(schedule: str, timezone: str = "UTC") -> Subscription:
    return subscription("s", schedule=schedule, timezone=timezone)


def test_daily_periods_are_announcement_dates_and_due_at_once() -> None:
    assert delivery_slot(sub("daily"), date(2024, 12, 24)) == ("2024-12-24", None)


def test_a_weekly_digest_gathers_a_holiday_week_across_the_clock_change() -> None:
    weekly = sub("weekly", "Europe/Berlin")
    # Announced Tuesday 29 October to Friday 1 November (Berlin left summer time on the
    # 27th); Monday the 28th's listing went out in that Monday's own 08:00 slot.
    assert delivery_slot(weekly, date(2024, 10, 28))[0] == "2024-10-28 08:00"
    slots = {delivery_slot(weekly, date(2024, m, d)) for m, d in ((10, 29), (10, 31), (11, 1))}
    [(period, due)] = slots
    assert period == "2024-11-04 08:00"
    assert due is not None and due.utcoffset() == timedelta(hours=1)
    # A paper announced at the slot's own day goes in that day's slot, not a week later.
    assert delivery_slot(weekly, date(2024, 11, 4))[0] == "2024-11-04 08:00"


def test_the_same_announcement_always_lands_in_the_same_period() -> None:
    # Restarts and catch-up runs recompute the slot: it depends on the date alone.
    cron = sub("0 7 * * mon-fri", "America/Los_Angeles")
    first = delivery_slot(cron, date(2024, 3, 8))
    assert first == delivery_slot(cron, date(2024, 3, 8))
    assert first[0] == "2024-03-08 07:00"
    # Saturday's (empty) and Sunday's announcement dates fall in Monday's slot, after the
    # clocks changed on Sunday.
    assert delivery_slot(cron, date(2024, 3, 10))[0] == "2024-03-11 07:00"
