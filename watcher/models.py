"""The values that flow through a cycle, named by where they travel.

RawFeed -> Feed (of Paper) -> Match -> Digest -> Message -> Receipt, summed up in a CycleReport.
All frozen: stages take values and return new ones, so any stage can be tested alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

# New-style (2409.12121, 0704.0001) and old-style (astro-ph/0601001, math.GT/0309136) ids.
ARXIV_ID = re.compile(r"^(?:\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})$")

AnnounceType = Literal["new", "cross", "replace", "replace-cross"]
FeedKind = Literal["arxiv-rss", "arxiv-atom", "arxiv-rss1", "arxiv-api", "rss", "atom"]
FIELDS: tuple[str, ...] = (
    "title",
    "abstract",
    "authors",
    "categories",
    "comment",
    "journal_ref",
    "announce_type",
)
DigestOrder = Literal["newest", "score", "relevance"]
# Announce types that mean "announced today"; replacements are not new papers. API and
# generic feeds carry no announce type.
ANNOUNCEABLE: frozenset[AnnounceType | None] = frozenset({"new", "cross", None})


def is_arxiv_id(value: str) -> bool:
    return bool(ARXIV_ID.match(value))


def versioned(paper_id: str, version: int | None) -> str:
    """``2409.12121v2``; the bare id when the version is unknown."""
    return f"{paper_id}v{version}" if version else paper_id


@dataclass(frozen=True, slots=True)
class RawFeed:
    """Bytes of one feed as the fetch edge got them, before any parsing."""

    source: str
    body: bytes
    content_type: str = ""
    etag: str | None = None
    status: int = 200


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper. ``id`` is the arXiv id without version, the identity across feeds and days.

    Items of non-arXiv feeds are known by their DOI when they carry one
    (``"doi:10.1101/2024.09.02.610001"``, lower case), else by a stable ``id`` derived from
    their guid or link (``"feed:<sha1>"``), and keep their own ``link``.
    """

    id: str
    version: int | None
    title: str
    authors: tuple[str, ...]
    abstract: str
    categories: tuple[str, ...] = ()  # primary first
    announce_type: AnnounceType | None = None  # only in arXiv RSS
    published: datetime | None = None  # v1 time (API); announcement time (RSS)
    updated: datetime | None = None  # this version's time (API)
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    link: str | None = None  # only for non-arXiv items: a validated http(s) URL

    @property
    def is_arxiv(self) -> bool:
        return is_arxiv_id(self.id)

    @property
    def versioned_id(self) -> str:
        return versioned(self.id, self.version)

    @property
    def abs_url(self) -> str:
        """Link to the abstract page, built only from a validated id (never from feed text)."""
        if self.is_arxiv:
            return f"https://arxiv.org/abs/{self.versioned_id}"  # as the RSS feeds give it
        return self.link or ""


@dataclass(frozen=True, slots=True)
class Feed:
    """A parsed feed. ``announced`` is the arXiv announcement date (RSS channel pubDate)."""

    source: str
    kind: FeedKind
    title: str
    papers: tuple[Paper, ...]
    announced: date | None = None
    total_results: int | None = None  # arXiv API: opensearch:totalResults
    # Items left out because they were damaged (a NUL, a byte that is not UTF-8), each as
    # 'item 7 (2412.13227v1 "Its title"): a NUL byte'; the rest of the feed is in ``papers``.
    skipped: tuple[str, ...] = ()


# --- rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """One search term as the user wrote it, and its normalised words.

    ``words`` are lower-case tokens (a phrase has several; hyphens split like spaces);
    ``prefix`` means the last word matches any word it begins (``prun*``).
    """

    text: str
    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class QueryAnd:
    parts: tuple[QueryNode, ...]


@dataclass(frozen=True, slots=True)
class QueryOr:
    parts: tuple[QueryNode, ...]


@dataclass(frozen=True, slots=True)
class QueryNot:
    part: QueryNode


# A boolean query's tree: terms at the leaves (see watcher.rules.parse_query).
QueryNode = Term | QueryAnd | QueryOr | QueryNot


@dataclass(frozen=True, slots=True)
class Query:
    """A topic's boolean ``query:`` as written, and its parsed tree."""

    text: str
    root: QueryNode


@dataclass(frozen=True, slots=True)
class Topic:
    """What counts as a match: every condition given must hold (see watcher.rules).

    ``categories`` filters papers by arXiv category (``cs`` is the whole archive);
    ``authors`` is a watch list of names as written, matched by watcher.match.author_key.
    """

    name: str
    any: tuple[Term, ...] = ()
    all: tuple[Term, ...] = ()
    none: tuple[Term, ...] = ()
    fields: tuple[str, ...] = ("title", "abstract")
    categories: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    query: Query | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a digest goes: ``kind`` is a notifier name (local, slack, email, apprise,
    webhook, atom). ``target``: the channel, the addresses, the variable holding an Apprise
    or webhook URL, the Atom file."""

    kind: str
    target: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()

    @property
    def secret_variable(self) -> str | None:
        """The environment variable whose value is this destination's secret (a URL that
        carries a token): an Apprise or webhook destination's, a Slack ``webhook_env``."""
        if self.kind in ("apprise", "webhook") and self.target:
            return self.target[0]
        if self.kind == "slack":
            return dict(self.options).get("webhook_env")
        return None

    @property
    def key(self) -> str:
        return f"{self.kind}:{','.join(self.target)}" if self.target else self.kind


LOCAL = Destination("local")


@dataclass(frozen=True, slots=True)
class Subscription:
    """One rule file: what to watch, what counts as a match, where and when to send it."""

    name: str
    path: str
    feeds: tuple[str, ...]
    topics: tuple[Topic, ...]
    deliver: tuple[Destination, ...] = (LOCAL,)
    schedule: str = "daily"
    timezone: str = "UTC"
    updates: bool = False
    order: DigestOrder = "newest"  # "score": best matches first; "relevance": the model's
    max_papers: int | None = None  # cap a digest's length; the rest is "+N more"
    # ``order: relevance`` only: papers the model rates below this are dropped and counted,
    # but never so many that fewer than ``keep_at_least`` remain.
    min_relevance: float | None = None
    keep_at_least: int | None = None
    # A new subscription first seen by the daemon also matches the archive's last N days.
    backfill_days: int | None = None
    # ``library: refs.bib``: the papers the reader already knows (watcher.library), its path
    # resolved against the rule file's folder, and its stamp (mtime_ns, size, inode) when the
    # rule file loaded: an edited library is a changed subscription, as an edited rule is.
    library: str | None = None
    library_stamp: tuple[int, int, int] | None = None


# --- matching, digests, delivery ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicHit:
    topic: str
    terms: tuple[str, ...]  # the terms as written in the rule file


@dataclass(frozen=True, slots=True)
class Relevance:
    """What a subscription's relevance model (watcher.relevance) says of one paper: its
    value from 0 to 1 (the classifier's decision value through the logistic function; above
    0.5 it is on the liked side) and the few terms that pushed it up most, strongest first."""

    value: float
    terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    paper: Paper
    subscription: str
    hits: tuple[TopicHit, ...]
    # Relevance (watcher.match: title hit 3, other fields 1, watched author 5); 0 = unscored.
    # Derived from the hits, so left out of equality: a stored match equals a fresh one.
    score: float = field(default=0.0, compare=False)
    # Set for ``order: relevance`` digests whose model could be fitted; derived, like score.
    relevance: Relevance | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Ranking:
    """What ``order: relevance`` knows of one subscription in a cycle: the relevance of
    each paper by id, or why there is none (``fallback``: the digest is in score order)."""

    relevance: Mapping[str, Relevance] = field(default_factory=dict)
    fallback: str | None = None
    note: str | None = None  # e.g. "a young model, from 1 liked paper so far: ..."


@dataclass(frozen=True, slots=True)
class TopicCount:
    """How many of a digest's matched papers are shown under one topic (their first)."""

    topic: str
    papers: int


@dataclass(frozen=True, slots=True)
class Digest:
    """What one subscription sends for one period, papers in display order."""

    subscription: str
    period: str  # announcement date, YYYY-MM-DD
    matches: tuple[Match, ...]
    # Replacements (new versions) of papers this subscription was sent before; only for
    # subscriptions with ``updates: true``.
    updated: tuple[Match, ...] = ()
    # Papers that matched but were left out by the subscription's ``max_papers`` ("+N more").
    omitted: int = 0
    # Every matched paper (those left out too) counted under its first topic, in the rule
    # file's topic order; () for a digest stored before it was kept (derived from matches).
    topics: tuple[TopicCount, ...] = ()
    # ``order: relevance``: papers dropped by ``min_relevance`` ("+N below your relevance
    # threshold"), and why the digest is in score order instead when the model could not
    # be used (too few liked papers, a fit that failed); None when it was used.
    below_threshold: int = 0
    fallback: str | None = None
    # The order the papers are in (a digest grown by a later cycle keeps it), and what the
    # digest says of its relevance model (a young one) when it was used.
    order: DigestOrder = "newest"
    ranking_note: str | None = None


@dataclass(frozen=True, slots=True)
class DigestCounts:
    """The one account of a digest's papers that every reader-facing line uses: the
    subject, each format's header and footer, log lines and ``watcher status``
    (``watcher.digest.digest_counts``)."""

    matched: int  # new papers that matched the rules: in_full + by_title + left_out
    in_full: int  # shown with their abstract
    by_title: int  # listed by title and link only (a mail over its size budget)
    left_out: int  # matched but not in this message (max_papers, or past the mail's budget)
    capped: int  # of left_out, those cut by max_papers
    below_threshold: int  # of left_out, those under min_relevance (order: relevance)
    updated: int  # new versions of papers sent before, listed
    updated_left_out: int  # new versions not listed (a mail over its size budget)
    topics: tuple[TopicCount, ...]  # every matched paper under its first topic


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    markdown: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class ModelState:
    """How one subscription's relevance stands, for ``watcher status``: ``active`` with what
    it was fitted on, or why its digests are in score order."""

    subscription: str
    active: bool
    detail: str
    missing: int = 0  # liked/disliked/library papers whose text the archive lacks (yet)
    problem: str | None = None  # e.g. the library file could not be read


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that a destination accepted a message: Slack ts, Message-ID, file path."""

    destination: str
    reference: str
    delivered_at: datetime


DeliveryStatus = Literal["pending", "delivered", "failed", "unknown"]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A digest waiting for (or done with) one destination. Self-contained: it carries the
    papers, so delivery never depends on the archive."""

    destination: Destination
    digest: Digest
    status: DeliveryStatus = "pending"
    attempts: int = 0
    last_error: str | None = None
    receipt: Receipt | None = None
    # Not sent before this time (a weekly or cron schedule's slot); None: at once.
    due: datetime | None = None
    # Where a partly sent digest stopped (a Slack thread: its ts and the next message).
    resume: str | None = None

    @property
    def key(self) -> str:
        return f"{self.digest.subscription}|{self.destination.key}|{self.digest.period}"


FeedStatus = Literal["new", "empty", "stale", "failed", "not-modified"]
FeedOrigin = Literal["feed", "api-fill", "api-query"]


@dataclass(frozen=True, slots=True)
class FeedReport:
    source: str
    status: FeedStatus
    papers: int = 0
    new: int = 0
    announced: date | None = None
    error: str | None = None
    skipped: tuple[str, ...] = ()  # damaged items left out of the feed (Feed.skipped)
    # Where the papers came from: the feed itself, the arXiv API filling days the feed
    # never showed (from ``fill_since``, dated ``announced``), or a standing API query.
    origin: FeedOrigin = "feed"
    fill_since: date | None = None
    # An arXiv listing of 2,000 items, arXiv's cap: cut short, the day filled from the API
    # (on the feed's line, and on the line of that fill).
    capped: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    subscription: str
    destination: str
    period: str
    papers: int  # matched (DigestCounts.matched)
    status: DeliveryStatus
    detail: str = ""  # receipt reference or error
    updated: int = 0


@dataclass(frozen=True, slots=True)
class CycleReport:
    feeds: tuple[FeedReport, ...] = ()
    new_papers: int = 0
    matches: int = 0
    deliveries: tuple[DeliveryReport, ...] = ()
    rule_errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # things the user should know that are not failures
    digests: tuple[tuple[Destination, Digest], ...] = field(default=())


# --- what the store remembers ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedState:
    """What is remembered of one feed between polls (``feeds.json``).

    ``fingerprint`` identifies the last listing by its ids (a stale feed re-serves it under
    a fresh date); ``announced`` is that listing's announcement date; ``covered`` the last
    announcement date whose papers we have, from the feed or the API; ``stale_date`` and
    ``stale_count`` count the polls that found the same stale listing.
    """

    etag: str | None = None
    last_status: FeedStatus | None = None
    last_error: str | None = None
    fingerprint: str | None = None
    announced: date | None = None
    covered: date | None = None
    stale_date: date | None = None
    stale_count: int = 0


@dataclass(frozen=True, slots=True)
class PaperRecord:
    """A paper's identity as the store keeps it forever (``papers/<shard>.json``): the
    version last seen, when it was first seen, the subscriptions that matched it (and were
    sent it), and the feeds that brought it (``read_from``: source URLs; a subscription
    reading one of them has read the paper). ``read_by`` names subscriptions instead: what
    earlier versions kept, one name per reader of every paper, still honoured."""

    id: str
    version: int | None
    first_seen: datetime
    matched_by: frozenset[str] = frozenset()
    read_from: frozenset[str] = frozenset()
    read_by: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class EntryView:
    """An outbox entry as ``watcher status``, ``retry`` and ``confirm`` see it: everything
    but the papers' text, which stays in the archive."""

    key: str
    destination: Destination
    subscription: str
    period: str
    papers: int  # matched (DigestCounts.matched)
    status: DeliveryStatus
    attempts: int = 0
    last_error: str | None = None
    due: datetime | None = None
    resume: str | None = None
    updated: int = 0


@dataclass(frozen=True, slots=True)
class DeliveredEntry:
    """A delivered outbox entry as kept (``outbox/delivered/<period>.json``): its receipt
    and the ids of the papers it carried, never their text."""

    key: str
    destination: Destination
    subscription: str
    period: str
    paper_ids: tuple[str, ...]
    update_ids: tuple[str, ...]  # versioned ids (2409.12121v2): one update per version
    receipt: Receipt
    omitted: int = 0
    attempts: int = 1
    due: datetime | None = None


@dataclass(frozen=True, slots=True)
class DestinationTally:
    """Deliveries a destination accepted, ever, and the last receipt (for status)."""

    destination: str
    delivered: int
    last_receipt: Receipt | None = None


# --- what the daemon tells `watcher status` (daemon.json) ---------------------------------

JobOutcome = Literal["ok", "attention", "error"]


@dataclass(frozen=True, slots=True)
class NextJob:
    """When one scheduled job runs next (``next_run`` in the job's own time zone)."""

    id: str
    name: str  # poll, recheck, deliver <subscription>
    next_run: datetime | None
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class RunningJob:
    job: str
    since: datetime


@dataclass(frozen=True, slots=True)
class JobRun:
    """How one finished job went: ``attention`` when a feed or a delivery failed."""

    job: str
    started: datetime
    finished: datetime | None
    outcome: JobOutcome
    summary: str = ""


@dataclass(frozen=True, slots=True)
class RuleFileError:
    """A rule file that does not load; ``kept``: its last good version still runs."""

    path: str
    error: str
    kept: bool = False


@dataclass(frozen=True, slots=True)
class FeedbackChannel:
    """One way feedback reaches the running daemon (``slack`` buttons, ``email`` links):
    whether it is on, and in words how it stands ("connected over Socket Mode", "off:
    SLACK_APP_TOKEN is not set", the last error)."""

    name: str
    on: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The daemon's heartbeat: who runs, how the last job went, what runs next."""

    pid: int | None  # None only in a file this daemon did not write whole
    started: datetime | None
    updated: datetime | None
    stopped: datetime | None = None  # set by a clean stop
    data_dir: str = ""
    rules_dir: str = ""
    rules_dir_error: str | None = None
    subscriptions: tuple[str, ...] = ()
    rule_errors: tuple[RuleFileError, ...] = ()
    jobs: tuple[NextJob, ...] = ()
    running: RunningJob | None = None
    last_job: JobRun | None = None
    last_cycle: JobRun | None = None  # the last poll or recheck
    feedback: tuple[FeedbackChannel, ...] = ()


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a digest of several messages stands (an outbox entry's ``resume``): the
    messages before ``next`` were accepted; ``total`` messages in all (None: not known, a
    token of an earlier version). Slack threads carry their channel and the summary's ts.
    Written ``channel|ts|next|total``."""

    channel: str
    ts: str | None
    next: int
    total: int | None = None

    def token(self) -> str:
        total = "" if self.total is None else str(self.total)
        return f"{self.channel}|{self.ts or ''}|{self.next}|{total}".removesuffix("|")

    @classmethod
    def parse(cls, token: str | None) -> ResumePoint | None:
        """The point a token names, or None (none, or one that does not parse: start
        afresh rather than lose messages)."""
        parts = (token or "").split("|")
        if len(parts) not in (3, 4) or not parts[2].isdigit():
            return None
        total = int(parts[3]) if len(parts) == 4 and parts[3].isdigit() else None
        return cls(parts[0], parts[1] or None, int(parts[2]), total)
