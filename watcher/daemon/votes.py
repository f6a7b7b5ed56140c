"""One desk for the feedback that arrives while the daemon runs: a click in Slack
(watcher.daemon.clicks) or a confirmed email link (watcher.daemon.web).

It decides whether a vote counts and records it exactly like ``watcher feedback`` does
(``watcher.store.feedback.record_vote``), then says in one sentence what happened, for the
person who clicked. A vote counts when its subscription is still in the rules, the paper is
one the store matched for that subscription (so it was in one of its digests), and, for a
click in Slack, the click came from a channel the subscription's digests go to. Anything
else is answered politely and recorded nowhere.

Called from several threads at once (Socket Mode workers, the web server's threads):
nothing here holds state but what it is given; the store's feedback file takes care of its
own writers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from watcher.errors import WatcherError
from watcher.feedback import Vote, VoteChange
from watcher.models import Subscription
from watcher.render.links import VoteName
from watcher.store import record_vote
from watcher.store.papers import matched_on_disk

log = logging.getLogger("watcher.daemon.feedback")

Via = Literal["slack", "email"]
VOTE_WORDS: dict[VoteName, str] = {"like": "more like this", "dislike": "less like this"}
# The same vote said of one paper, in a sentence ("you want more papers like arXiv:…").
PAPERS_LIKE: dict[VoteName, str] = {"like": "more papers like", "dislike": "fewer papers like"}


class RecordVote(Protocol):
    """``watcher.store.feedback.record_vote``'s shape: what records a vote."""

    def __call__(
        self, data_dir: Path, subscription: str, paper_id: str, vote: Vote | None, via: str,
        now: datetime,
    ) -> VoteChange: ...  # fmt: skip


@dataclass(frozen=True, slots=True)
class Channel:
    """Where a Slack click came from: the channel's id and, when Slack gives it, its name."""

    id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """What became of one vote, and the sentence the person who gave it reads."""

    recorded: bool
    text: str


class TakesVotes(Protocol):
    """What the listeners hand a vote to (:class:`FeedbackDesk`); ``channel``: where a Slack
    click was made."""

    def take(
        self,
        subscription: str,
        paper_id: str,
        vote: VoteName,
        via: Via,
        who: str,
        channel: Channel | None = None,
    ) -> Answer: ...


def posts_to(subscription: Subscription, channel: Channel) -> bool:
    """Does one of the subscription's Slack destinations name this channel (``#name``,
    ``name`` or its id)?"""
    for destination in subscription.deliver:
        if destination.kind != "slack" or len(destination.target) != 1:
            continue
        target = destination.target[0].strip()
        if target == channel.id or (
            channel.name and target.lstrip("#").lower() == channel.name.lower()
        ):
            return True
    return False


def _channels(subscription: Subscription) -> str:
    names = [d.target[0] for d in subscription.deliver if d.kind == "slack" and d.target]
    return ", ".join(names) or "no Slack channel"


class FeedbackDesk:
    """Checks and records votes; ``subscriptions`` gives the rules in use at each call."""

    def __init__(
        self,
        data_dir: Path,
        subscriptions: Callable[[], Sequence[Subscription]],
        clock: Callable[[], datetime],
        record: RecordVote = record_vote,
    ) -> None:
        self.data_dir = data_dir
        self.subscriptions = subscriptions
        self.clock = clock
        self.record = record

    def take(
        self,
        subscription: str,
        paper_id: str,
        vote: VoteName,
        via: Via,
        who: str,
        channel: Channel | None = None,
    ) -> Answer:
        """Record ``vote`` if it counts. ``via``: where it came from, ``who``: the Slack
        user or the mail's recipients (for the log), ``channel``: where a Slack click was
        made (it must be one the subscription's digests go to)."""
        found = next((s for s in self.subscriptions() if s.name == subscription), None)
        if found is None:
            return Answer(
                False,
                f"There is no subscription {subscription} any more, so this was not recorded.",
            )
        if channel is not None and not posts_to(found, channel):
            return Answer(
                False,
                f"Feedback for {subscription} counts only in the channel its digest goes to "
                f"({_channels(found)}); nothing was recorded.",
            )
        try:
            matched = matched_on_disk(self.data_dir, paper_id)
            if matched is None or subscription not in matched:
                return Answer(
                    False,
                    f"Paper {paper_id} is not one {subscription} was sent, so this was "
                    "not recorded.",
                )
            change = self.record(
                self.data_dir, subscription, paper_id, Vote(vote), via, self.clock()
            )
        except (WatcherError, OSError, ValueError) as error:
            log.error(
                "feedback %s on %s for %s not recorded: %s",
                vote,
                paper_id,
                subscription,
                error,
                extra={"event": "feedback"},
            )
            return Answer(False, "Sorry, this could not be recorded just now: try again later.")
        log.info(
            "feedback: %s %s in %s (%s, %s)",
            PAPERS_LIKE[vote],
            paper_id,
            subscription,
            via,
            who,
            extra={"event": "feedback", "subscription": subscription},
        )
        if not change.changed:  # a second click, or Slack delivering a click again
            return Answer(True, f"Already noted: {VOTE_WORDS[vote]} in {subscription}.")
        return Answer(True, f"Noted: {VOTE_WORDS[vote]} in {subscription}.")
