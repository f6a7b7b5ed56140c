"""What a reader said about papers: a like or a dislike per subscription and paper.

Pure values (layer 2): reading an arXiv reference as the reader writes it, one vote, and
the book of all votes that the relevance model learns from and ``watcher feedback list``
shows. Where the votes live is ``watcher.store.feedback``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, get_args

from watcher.errors import WatcherError
from watcher.models import is_arxiv_id

VoteVia = Literal["cli", "slack", "email"]
VIAS: tuple[str, ...] = get_args(VoteVia)

# What may stand around an id: arXiv:, an abs/pdf/html URL of arxiv.org (any mirror
# spelling, http or https), a version, a ".pdf" and a trailing slash.
_URL = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<id>.+?)(?:\.pdf)?/?$",
    re.IGNORECASE,
)
_PREFIX = re.compile(r"^arxiv:\s*", re.IGNORECASE)
_VERSION = re.compile(r"v\d+$")


class PaperRefError(WatcherError):
    """A reference that is not an arXiv paper id (``where`` is the text as given)."""


class Vote(StrEnum):
    LIKE = "like"
    DISLIKE = "dislike"


def parse_paper_ref(text: str) -> str:
    """The arXiv id without version that ``text`` names: ``2409.12121``,
    ``arXiv:2409.12121v2``, ``https://arxiv.org/abs/2409.12121v3``, ``hep-th/9901001``.

    Raises PaperRefError saying what is wrong with anything else."""
    ref = text.strip()
    if not ref:
        raise PaperRefError("an empty paper id", where=repr(text))
    url = _URL.match(ref)
    if url:
        ref = url["id"]
    elif "://" in ref:
        raise PaperRefError(
            "not an arXiv link (expected https://arxiv.org/abs/ID)", where=repr(text)
        )
    ref = _VERSION.sub("", _PREFIX.sub("", ref))
    if not is_arxiv_id(ref):
        raise PaperRefError(
            "not an arXiv id (expected one like 2409.12121, arXiv:2409.12121v2, "
            "hep-th/9901001 or an abs URL)",
            where=repr(text),
        )
    return ref


@dataclass(frozen=True, slots=True)
class VoteRecord:
    """One reader's vote on one paper, for one subscription."""

    subscription: str
    paper_id: str  # arXiv id without version
    vote: Vote
    when: datetime
    via: VoteVia


@dataclass(frozen=True, slots=True)
class VoteChange:
    """What ``record_vote`` did: ``changed`` is False when the vote was already so (a
    second like, forgetting what was never voted); ``previous`` the vote it replaced."""

    subscription: str
    paper_id: str
    vote: Vote | None
    previous: Vote | None

    @property
    def changed(self) -> bool:
        return self.vote != self.previous


@dataclass(frozen=True, slots=True)
class SubscriptionFeedback:
    """The votes of one subscription, as sets of paper ids."""

    subscription: str
    likes: frozenset[str] = frozenset()
    dislikes: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.likes) + len(self.dislikes)


@dataclass(frozen=True, slots=True)
class FeedbackBook:
    """Every vote in the data directory, in the order they were given."""

    votes: tuple[VoteRecord, ...] = ()

    @classmethod
    def of(cls, votes: Iterable[VoteRecord]) -> FeedbackBook:
        return cls(tuple(sorted(votes, key=lambda v: (v.when, v.subscription, v.paper_id))))

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The subscriptions with at least one vote, by name."""
        return tuple(sorted({v.subscription for v in self.votes}))

    def for_subscription(self, subscription: str) -> SubscriptionFeedback:
        mine = [v for v in self.votes if v.subscription == subscription]
        return SubscriptionFeedback(
            subscription,
            frozenset(v.paper_id for v in mine if v.vote is Vote.LIKE),
            frozenset(v.paper_id for v in mine if v.vote is Vote.DISLIKE),
        )

    def by_subscription(self) -> Mapping[str, SubscriptionFeedback]:
        return {name: self.for_subscription(name) for name in self.subscriptions}

    def vote_of(self, subscription: str, paper_id: str) -> Vote | None:
        for v in self.votes:
            if v.subscription == subscription and v.paper_id == paper_id:
                return v.vote
        return None
