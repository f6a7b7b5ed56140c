"""Poll one source and say what the poll means: which papers it brings, for which day.

arXiv's daily RSS only ever shows the latest announcement, and sometimes re-serves the
previous one under a fresh date (a *stale* feed). So a poll is classified:

- ``new``: a listing not seen before; its papers are dated by the feed's announcement date;
- ``empty``: no announcement (weekend, holiday);
- ``stale``: the previous listing again under a new date. Its papers are not the day's. If
  it is still stale on a later poll of the same day, the day is filled from the API;
- ``not-modified``: the same listing as the last poll (or HTTP 304);
- ``failed``: with the reason; the feed is tried again next cycle.

A listing of 2,000 items is cut at arXiv's cap: the day's papers are read from the API as
well, and the poll line says so.

Days that were never seen (the watcher was down, a feed failed or was stale all day) are
filled from the API on the next good poll: papers first submitted since shortly before the
last day seen. Papers already seen are dropped later by the store, so overlap costs nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Protocol

from watcher.errors import FeedError, WatcherError
from watcher.fetch import FetchResult
from watcher.models import Feed, FeedReport, FeedState, FeedStatus, Paper
from watcher.parse import parse_feed
from watcher.schedule import ARXIV_TIMEZONE
from watcher.sources import FeedSource, api_url, submitted_between

log = logging.getLogger("watcher.poll")

# How far before the first missing day a fill looks: a day's listing holds papers submitted
# up to a few days earlier (weekends, the submission cut-off the afternoon before).
FILL_MARGIN = timedelta(days=4)
# arXiv serves at most this many items in one listing (ARXIV.md): a whole archive such as
# cs on a busy day is cut there.
ARXIV_FEED_CAP = 2000
# How far back a standing API query looks for papers it has not delivered yet.
QUERY_WINDOW = timedelta(days=7)


class Fetches(Protocol):
    def fetch(self, source: str, *, etag: str | None = None) -> FetchResult: ...


@dataclass(frozen=True)
class Poller:
    """What polling needs besides the source: the fetch edge, how to reach the API, and a
    way to ask whether a paper is already known (where paging may stop)."""

    fetcher: Fetches
    is_known: Callable[[str], bool]
    api_url: str
    api_page_size: int = 500  # the API allows up to 2,000 per request
    api_max_pages: int = 20
    stale_fill_after: int = 2


@dataclass(frozen=True)
class Batch:
    """Papers from one read, and the announcement date they belong to (the digest period)."""

    papers: tuple[Paper, ...]
    period: date


@dataclass(frozen=True)
class Polled:
    """The outcome of polling one source: report lines (the poll, and any API fill), the
    papers each brought, and the feed state to remember (None: leave it as it was)."""

    parts: tuple[tuple[FeedReport, Batch | None], ...]
    state: FeedState | None

    @property
    def batches(self) -> list[Batch]:
        return [batch for _, batch in self.parts if batch is not None]

    def reports(self, new_ids: set[str]) -> list[FeedReport]:
        """Report lines with how many of each part's papers turned out to be new."""
        return [
            replace(report, new=sum(1 for p in batch.papers if p.id in new_ids))
            if batch is not None
            else report
            for report, batch in self.parts
        ]


def announcement_date(moment: datetime) -> date:
    """The date of the arXiv feed current at ``moment`` (feeds turn over at midnight ET)."""
    return moment.astimezone(ARXIV_TIMEZONE).date()


def poll(poller: Poller, source: FeedSource, previous: FeedState, today: date) -> Polled:
    """Fetch, parse and classify one source; fill missed days from the API where needed."""
    if source.kind == "arxiv-query":
        return _poll_query(poller, source, today)
    return _poll_feed(poller, source, previous, today)


# --- the decisions, as functions of values ------------------------------------------------


def classify(
    papers: Sequence[Paper],
    announced: date,
    etag: str | None,
    previous: FeedState,
    *,
    versions: bool = False,
) -> tuple[FeedStatus, FeedState]:
    """What a fetched listing is, and the state to remember: ``new`` (a listing never seen),
    ``empty`` (weekend or holiday), ``stale`` (the last listing again under a fresh date:
    arXiv re-served yesterday's), or ``not-modified`` (the same listing, same date).

    With ``versions`` a listing that differs only in a version is new (a bioRxiv ``v2``
    replacing its ``v1``); arXiv's listings are compared without (a stale one may bump
    versions)."""
    fingerprint = _fingerprint(papers, versions)
    state = replace(previous, etag=etag, last_error=None)
    status: FeedStatus
    if not papers:
        status = "empty"
    elif fingerprint != previous.fingerprint:
        status = "new"
        state = replace(state, fingerprint=fingerprint, announced=announced)
    elif announced != previous.announced:
        status = "stale"
    else:
        status = "not-modified"
    return status, replace(state, last_status=status)


def missed_days(
    previous: FeedState,
    state: FeedState,
    status: FeedStatus,
    announced: date,
    stale_fill_after: int,
) -> tuple[FeedState, date | None]:
    """Which days of an arXiv feed to fill from the API: the first day missing since the
    last day ``covered`` (None: nothing to fill), and the state to remember meanwhile.

    ``covered`` only moves forward when a day is really covered; a stale feed gets
    ``stale_fill_after`` polls to publish the real listing before the API fills the day.
    """
    covered = previous.covered
    if status == "stale":
        same_day = previous.stale_date == announced
        count = previous.stale_count + 1 if same_day else 1
        state = replace(state, stale_date=announced, stale_count=count)
        if count < stale_fill_after or (covered and covered >= announced):
            return state, None
        return state, announced
    if status in ("new", "empty", "not-modified"):
        if covered is None or announced <= covered:
            return replace(state, covered=max(filter(None, (covered, announced)))), None
        missed = [d for d in _days_between(covered, announced) if d.weekday() < 5]
        if not missed:
            return replace(state, covered=announced), None
        return state, missed[0]
    return state, None


# --- RSS and other feeds -----------------------------------------------------------------


def _poll_feed(poller: Poller, source: FeedSource, previous: FeedState, today: date) -> Polled:
    url = source.url
    try:
        fetched = poller.fetcher.fetch(url, etag=previous.etag)
        if fetched.not_modified or fetched.raw is None:
            unchanged = replace(previous, last_status="not-modified", last_error=None)
            return Polled(((FeedReport(url, "not-modified"), None),), unchanged)
        feed = parse_feed(fetched.raw)
    except WatcherError as exc:
        return _failed(url, exc, previous)

    announced = feed.announced or today
    status, state = classify(
        feed.papers, announced, fetched.etag, previous, versions=not _is_arxiv(feed)
    )
    for item in feed.skipped:
        log.warning("feed %s: skipped a damaged item, %s", url, item)
    capped = source.kind == "arxiv-rss" and at_cap(feed) and status in ("new", "not-modified")
    report = FeedReport(
        url,
        status,
        papers=len(feed.papers),
        announced=feed.announced,
        skipped=feed.skipped,
        capped=capped,
    )
    parts: list[tuple[FeedReport, Batch | None]] = [
        (report, Batch(feed.papers, announced) if status == "new" else None)
    ]
    if source.kind == "arxiv-rss":
        state, first_missing = missed_days(
            previous, state, status, announced, poller.stale_fill_after
        )
        fill_cap = capped and (previous.covered is None or previous.covered < announced)
        if fill_cap:
            # The day is covered only once the API has read it: a failed read is tried
            # again on the next poll of the same (unchanged) listing.
            state = replace(state, covered=previous.covered)
            first_missing = first_missing or announced
        if first_missing is not None:
            state, filled = _fill(poller, source, state, first_missing, announced, capped=fill_cap)
            parts.append(filled)
    return Polled(tuple(parts), state)


def _is_arxiv(feed: Feed) -> bool:
    # What the body is decides, not how it was named: a saved arXiv listing is arXiv's.
    return feed.kind in ("arxiv-rss", "arxiv-atom", "arxiv-rss1", "arxiv-api")


def at_cap(feed: Feed) -> bool:
    """Is this arXiv listing cut at arXiv's cap? It serves at most ``ARXIV_FEED_CAP`` items
    (new, then cross-lists, then replacements), so a listing that long lost the rest."""
    return len(feed.papers) + len(feed.skipped) >= ARXIV_FEED_CAP


def _fill(
    poller: Poller,
    source: FeedSource,
    state: FeedState,
    first_missing: date,
    announced: date,
    capped: bool = False,
) -> tuple[FeedState, tuple[FeedReport, Batch | None]]:
    """Read the days since ``first_missing`` from the API; the day is covered only if the
    whole read succeeded."""
    query = submitted_between(source.categories, first_missing - FILL_MARGIN, announced)
    papers, error = read_api(poller, query, stop_at_known=False)
    filled = partial(
        FeedReport,
        source.url,
        origin="api-fill",
        announced=announced,
        fill_since=first_missing,
        capped=capped,
    )
    if error is not None:
        return state, (filled("failed", error=error), None)
    report = filled("new" if papers else "empty", papers=len(papers))
    return replace(state, covered=announced), (report, Batch(papers, announced))


# --- arXiv API ---------------------------------------------------------------------------


def _poll_query(poller: Poller, source: FeedSource, today: date) -> Polled:
    # Only recent submissions: a standing query run for the first time (or after a long
    # pause) must not flood its subscription with the search's whole history.
    since = datetime.combine(today - QUERY_WINDOW, time(0), tzinfo=ARXIV_TIMEZONE)
    papers, error = read_api(poller, source.query, stop_at_known=True, since=since)
    if error is not None:
        report = FeedReport(source.url, "failed", error=error, origin="api-query")
        return Polled(((report, None),), None)
    status: FeedStatus = "new" if papers else "empty"
    report = FeedReport(source.url, status, papers=len(papers), origin="api-query")
    return Polled(((report, Batch(papers, today)),), None)


def read_api(
    poller: Poller,
    query: str,
    *,
    stop_at_known: bool,
    since: datetime | None = None,
) -> tuple[tuple[Paper, ...], str | None]:
    """Page through an API search (newest submissions first), politely and boundedly.

    With ``stop_at_known`` paging stops at the first page holding a paper seen before, and
    with ``since`` at the first paper published before then: the rest is older. Otherwise
    every result is read; a search with more results than ``api_max_pages`` pages is an
    error rather than a silent cut (the cut would drop the oldest papers, the missed ones).
    Any failed page is an error too (then no papers: a half-read day is retried whole).
    """
    papers: list[Paper] = []
    start, size = 0, poller.api_page_size
    for _ in range(poller.api_max_pages):
        url = api_url(poller.api_url, query, start, size)
        try:
            feed = _read_page(poller, url)
            if not feed.papers and start < (feed.total_results or 0):
                feed = _read_page(poller, url)  # arXiv sometimes serves an empty page: retry
        except WatcherError as exc:
            return (), str(exc)
        fresh = [p for p in feed.papers if since is None or _published_since(p, since)]
        papers.extend(fresh)
        start += size
        reached_known = stop_at_known and any(poller.is_known(p.id) for p in feed.papers)
        reached_old = len(fresh) < len(feed.papers)
        if reached_known or reached_old or not feed.papers:
            return tuple(papers), None
        if start >= (feed.total_results or 0):
            return tuple(papers), None
    if stop_at_known:
        return tuple(papers), None  # the newest pages are what a standing query is for
    return (), (
        f"the arXiv API has more than {start:,} results for {query!r}; "
        "not delivering a partial list"
    )


def _published_since(paper: Paper, since: datetime) -> bool:
    return paper.published is None or paper.published >= since


def _read_page(poller: Poller, url: str) -> Feed:
    fetched = poller.fetcher.fetch(url)
    if fetched.raw is None:  # we sent no validator, so a 304 is the server's confusion
        raise FeedError("the API answered 304 Not Modified to a fresh query", where=url)
    return parse_feed(fetched.raw)


# --- helpers -----------------------------------------------------------------------------


def _failed(url: str, exc: WatcherError, previous: FeedState) -> Polled:
    state = replace(previous, last_status="failed", last_error=exc.message)
    return Polled(((FeedReport(url, "failed", error=exc.message), None),), state)


def _fingerprint(papers: Sequence[Paper], versions: bool = False) -> str:
    """Identity of a listing by its ids, unversioned unless ``versions``."""
    ids = (p.versioned_id if versions else p.id for p in papers)
    digest = hashlib.sha256("\n".join(sorted(ids)).encode())
    return digest.hexdigest()


def _days_between(first: date, last: date) -> Iterable[date]:
    """The days strictly between ``first`` and ``last``."""
    day = first + timedelta(days=1)
    while day < last:
        yield day
        day += timedelta(days=1)
