"""When things happen: arXiv's rhythm, and when each subscription's digest goes out (pure).

Digest periods are derived from announcement dates, never from the wall clock at send time:
papers announced on a date belong to the first delivery slot of their subscription at or
after that announcement, so a restart, a catch-up run or a DST change lands the same papers
in the same period, and the outbox (keyed by period) never sends a period twice.

- ``daily``: one digest per announcement date, sent right after the poll that found it;
- ``weekly``: Mondays at 08:00 in the subscription's timezone, gathering the week;
- a cron line (``"0 8 * * mon-fri"``): its own slots, in the subscription's timezone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from watcher.models import Subscription

# arXiv dates its feeds by the midnight US-Eastern after each announcement.
ARXIV_TIMEZONE = ZoneInfo("America/New_York")
WEEKLY = "0 8 * * mon"


class SafeCronTrigger(CronTrigger):  # type: ignore[misc]  # APScheduler ships no types
    """APScheduler 3's CronTrigger, minus a DST bug: when its search steps over a spring-
    forward night it adds 24 h to a 23-hour day and skips a whole day (agronholm/apscheduler
    #529, #606): "mon-fri at 00:10 New York" asked on a Friday answers Tuesday. We also ask
    from each local midnight up to its answer and keep the earliest fire time found."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        answer: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        if answer is None:
            return None
        start = now if previous_fire_time is None else min(now, previous_fire_time)
        zone = self.timezone
        day = start.astimezone(zone).date() + timedelta(days=1)
        while day <= answer.astimezone(zone).date():
            midnight = datetime.combine(day, time(0, 0), tzinfo=zone)
            earlier: datetime | None = super().get_next_fire_time(None, midnight)
            if earlier is not None and start < earlier < answer:
                return earlier
            day += timedelta(days=1)
        return answer


def cron_trigger(cron: str, zone: str | ZoneInfo) -> SafeCronTrigger:
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    trigger: SafeCronTrigger = SafeCronTrigger.from_crontab(cron, timezone=tz)
    return trigger


def schedule_cron(subscription: Subscription) -> str | None:
    """The cron line of a subscription's delivery slots; None for ``daily``."""
    if subscription.schedule == "daily":
        return None
    if subscription.schedule == "weekly":
        return WEEKLY
    return subscription.schedule


def announcement_moment(announced: date) -> datetime:
    """When a day's listing becomes readable: arXiv rebuilds its feeds at midnight ET."""
    return datetime.combine(announced, time(0, 0), tzinfo=ARXIV_TIMEZONE)


def delivery_slot(subscription: Subscription, announced: date) -> tuple[str, datetime | None]:
    """The period key and due time of papers announced on ``announced``.

    Daily subscriptions use the announcement date and are due at once. Others use their
    first slot at or after the announcement, named by its local date and time.
    """
    cron = schedule_cron(subscription)
    if cron is None:
        return announced.isoformat(), None
    zone = ZoneInfo(subscription.timezone)
    trigger = cron_trigger(cron, zone)
    start = announcement_moment(announced).astimezone(zone)
    due = trigger.get_next_fire_time(None, start)  # the first fire at or after ``start``
    if due is None:  # a line that never fires (rules.py refuses those): send with the poll
        return announced.isoformat(), None
    return due.strftime("%Y-%m-%d %H:%M"), due


def next_fire(cron: str, zone: str | ZoneInfo, after: datetime) -> datetime:
    """The first time ``cron`` (read in ``zone``) fires strictly after ``after``."""
    trigger = cron_trigger(cron, zone)
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    assert fire is not None
    return fire
