"""A whole cycle end to end over local feed files: new vs seen, outbox, failures, routing."""

from __future__ import annotations

import gc
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.factories import rule_yaml, write_rule
from tests.fakes import Recorder
from tests.feeds import Item, rss
from watcher.app import build_cycle, source_map
from watcher.errors import DeliveryError
from watcher.fetch import Fetcher
from watcher.match import compile_matcher
from watcher.models import CycleReport, Destination, Digest, Receipt, Subscription
from watcher.notify import Registry
from watcher.pipeline import Cycle, run_cycle
from watcher.rules import load_rules
from watcher.settings import Settings
from watcher.sources import FeedSource
from watcher.store import Store

NOW = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
DAY = date(2026, 11, 10)

QUANT = Item("2611.00001", "Four-bit quantization of transformers")
PRUNE = Item("2611.00002", "Pruning attention heads", category="cs.CL")
OTHER = Item("2611.00003", "Bird migration and weather")


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    topics = {"Quantization": ["quantiz*"], "Pruning": ["prun*"]}
    write_rule(
        rules / "compression.yaml", rule_yaml("compression", topics, feeds=["cs.LG", "cs.CL"])
    )
    return rules


def feed_file(tmp_path: Path, name: str, day: date, items: list[Item]) -> str:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(rss(day, items))
    return str(path)


def cycle(
    data: Path,
    rules: Path,
    feeds: list[str],
    notifiers: Registry,
    *,
    per_subscription: dict[str, list[str]] | None = None,
    now: datetime = NOW,
) -> CycleReport:
    ruleset = load_rules(rules)
    subs: tuple[Subscription, ...] = ruleset.subscriptions
    sources: dict[FeedSource, list[str]]
    if per_subscription is None:
        sources = source_map(subs, Settings(), feeds)
    else:
        sources = {}
        for sub, names in per_subscription.items():
            for name in names:
                sources.setdefault(FeedSource(name, "feed"), []).append(sub)
    with Store.open(data) as store, Fetcher() as fetcher:
        return run_cycle(
            Cycle(fetcher, store, compile_matcher(subs), subs, sources), notifiers, now
        )


def test_a_second_run_over_the_same_feed_finds_nothing_new(tmp_path: Path, rules_dir: Path) -> None:
    feed = feed_file(tmp_path, "lg", DAY, [QUANT, PRUNE, OTHER])
    local = Recorder()
    first = cycle(tmp_path / "data", rules_dir, [feed], {"local": local})
    assert first.new_papers == 3
    assert sorted(local.paper_ids()) == ["2611.00001", "2611.00002"]
    assert local.sent[0][1].period == "2026-11-10"

    second = cycle(tmp_path / "data", rules_dir, [feed], {"local": local})
    assert second.new_papers == 0
    assert second.deliveries == ()
    assert len(local.sent) == 1


def test_a_paper_in_two_feeds_and_later_as_a_new_version_is_delivered_once(
    tmp_path: Path, rules_dir: Path
) -> None:
    lg = feed_file(tmp_path, "lg", DAY, [QUANT])
    cl = feed_file(tmp_path, "cl", DAY, [Item(QUANT.id, QUANT.title, announce="cross")])
    local = Recorder()
    cycle(tmp_path / "data", rules_dir, [lg, cl], {"local": local})
    assert local.paper_ids() == [QUANT.id]

    later = date(2026, 11, 11)
    replaced = Item(QUANT.id, QUANT.title, version=2, announce="replace")
    lg2 = feed_file(tmp_path, "lg2", later, [replaced, PRUNE])
    cycle(tmp_path / "data", rules_dir, [lg2], {"local": local})
    assert local.paper_ids() == [QUANT.id, PRUNE.id]


def test_a_replacement_never_seen_before_is_not_announced(tmp_path: Path, rules_dir: Path) -> None:
    old = Item("2501.00042", "Quantization revisited", version=3, announce="replace")
    feed = feed_file(tmp_path, "lg", DAY, [old])
    local = Recorder()
    report = cycle(tmp_path / "data", rules_dir, [feed], {"local": local})
    assert report.matches == 0 and local.sent == []


def test_a_subscription_only_gets_papers_from_its_own_feeds(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    for name in ("vision", "language"):
        write_rule(rules / f"{name}.yaml", rule_yaml(name, {"Everything": ["quantiz*", "prun*"]}))
    vision = feed_file(tmp_path, "cv", DAY, [QUANT])
    language = feed_file(tmp_path, "cl", DAY, [PRUNE])
    local = Recorder()
    cycle(
        tmp_path / "data",
        rules,
        [],
        {"local": local},
        per_subscription={"vision": [vision], "language": [language]},
    )
    got = {d.subscription: [m.paper.id for m in d.matches] for _, d in local.sent}
    assert got == {"vision": [QUANT.id], "language": [PRUNE.id]}


def test_a_broken_feed_is_reported_and_the_others_still_deliver(
    tmp_path: Path, rules_dir: Path
) -> None:
    good = feed_file(tmp_path, "lg", DAY, [QUANT])
    truncated = tmp_path / "cut.xml"
    truncated.write_bytes(rss(DAY, [PRUNE])[:300])
    missing = str(tmp_path / "nowhere.xml")
    local = Recorder()
    report = cycle(tmp_path / "data", rules_dir, [good, str(truncated), missing], {"local": local})
    status = {Path(f.source).name: (f.status, f.error or "") for f in report.feeds}
    assert status["lg.xml"][0] == "new"
    assert status["cut.xml"][0] == "failed" and "truncated" in status["cut.xml"][1]
    assert status["nowhere.xml"][0] == "failed" and "nowhere.xml" in status["nowhere.xml"][1]
    assert local.paper_ids() == [QUANT.id]


def test_a_failed_destination_is_retried_next_cycle_without_resending_the_others(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    deliver = ['slack: "#papers"', "email: [team@example.org]"]
    write_rule(rules / "both.yaml", rule_yaml("both", deliver=deliver))
    feed = feed_file(tmp_path, "lg", DAY, [QUANT])
    slack = Recorder("slack", fail=[DeliveryError("HTTP 500", where="slack:#papers")])
    email = Recorder("email")
    first = cycle(tmp_path / "data", rules, [feed], {"slack": slack, "email": email})
    assert {d.destination: d.status for d in first.deliveries} == {
        "slack:#papers": "failed",
        "email:team@example.org": "delivered",
    }
    second = cycle(tmp_path / "data", rules, [feed], {"slack": slack, "email": email})
    assert [d.status for d in second.deliveries] == ["delivered"]
    assert slack.paper_ids() == [QUANT.id]
    assert email.paper_ids() == [QUANT.id]


def test_an_unconfigured_destination_falls_back_to_the_local_digest(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    write_rule(rules / "slacky.yaml", rule_yaml("slacky", deliver=['slack: "#papers"']))
    feed = feed_file(tmp_path, "lg", DAY, [QUANT])
    local = Recorder()
    report = cycle(tmp_path / "data", rules, [feed], {"local": local})
    assert local.paper_ids() == [QUANT.id]
    assert any("slack is not configured" in note for note in report.notes)


def test_a_stale_feed_is_recognised_and_sends_nothing(tmp_path: Path, rules_dir: Path) -> None:
    local = Recorder()
    monday = feed_file(tmp_path, "mon", DAY, [QUANT, OTHER])
    # Same listing re-served the next day under a fresh date, with a bumped version.
    bumped = Item(QUANT.id, QUANT.title, version=2)
    tuesday = feed_file(tmp_path, "tue", date(2026, 11, 11), [bumped, OTHER])
    data = tmp_path / "data"
    cycle(data, rules_dir, [monday], {"local": local})
    # Both polls are of the same source: copy Tuesday's bytes over Monday's file.
    Path(monday).write_bytes(Path(tuesday).read_bytes())
    report = cycle(data, rules_dir, [monday], {"local": local})
    assert [f.status for f in report.feeds] == ["stale"]
    assert len(local.sent) == 1


CRASHING_CYCLE = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from watcher.app import build_cycle
from watcher.fetch import Fetcher
from watcher.pipeline import run_cycle
from watcher.rules import load_rules
from watcher.settings import Settings
from watcher.store import Store

class Killed:
    def send(self, destination, digest, resume=None):
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies mid-delivery

data, rules, feed = map(Path, sys.argv[1:4])
subs = load_rules(rules).subscriptions
with Store.open(data) as store, Fetcher() as fetcher:
    run_cycle(build_cycle(Settings(), store, fetcher, subs, [str(feed)]), {"local": Killed()},
              datetime(2026, 11, 10, 6, tzinfo=UTC))
"""


def test_a_cycle_killed_between_recording_and_delivering_delivers_exactly_once_on_rerun(
    tmp_path: Path, rules_dir: Path
) -> None:
    feed = feed_file(tmp_path, "lg", DAY, [QUANT, PRUNE, OTHER])
    data = tmp_path / "data"
    killed = subprocess.run(
        [sys.executable, "-c", CRASHING_CYCLE, str(data), str(rules_dir), feed],
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr.decode()

    local = Recorder()
    rerun = cycle(data, rules_dir, [feed], {"local": local})
    assert rerun.new_papers == 0  # the papers were recorded before the kill
    assert sorted(local.paper_ids()) == [QUANT.id, PRUNE.id]  # and still delivered, once

    again = cycle(data, rules_dir, [feed], {"local": local})
    assert again.deliveries == ()
    assert len(local.sent) == 1


def test_updates_true_announces_new_versions_of_papers_sent_before(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    for name, updates in (("follows", True), ("ignores", False)):
        write_rule(rules / f"{name}.yaml", rule_yaml(name, updates=updates))
    local = Recorder()
    data = tmp_path / "data"
    cycle(data, rules, [feed_file(tmp_path, "d1", DAY, [QUANT])], {"local": local})
    assert sorted(d.subscription for _, d in local.sent) == ["follows", "ignores"]

    v2 = Item(QUANT.id, QUANT.title, version=2, announce="replace")
    later = date(2026, 11, 11)
    cycle(data, rules, [feed_file(tmp_path, "d2", later, [v2, OTHER])], {"local": local})
    [(_, update)] = local.sent[2:]
    assert update.subscription == "follows" and update.period == "2026-11-11"
    assert update.matches == ()
    assert [(m.paper.id, m.paper.version) for m in update.updated] == [(QUANT.id, 2)]

    # The same version again (a stale re-serve, another feed) is not a second update...
    cycle(data, rules, [feed_file(tmp_path, "d3", date(2026, 11, 12), [v2])], {"local": local})
    assert len(local.sent) == 3
    # ...but a paper the subscription never matched is never an update.
    other_v2 = Item(OTHER.id, OTHER.title, version=2, announce="replace")
    cycle(
        data, rules, [feed_file(tmp_path, "d4", date(2026, 11, 13), [other_v2])], {"local": local}
    )
    assert len(local.sent) == 3


def test_a_weekly_subscription_gathers_the_week_and_sends_it_at_its_slot(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    weekly = rule_yaml(
        "weekly", {"Q": ["quantiz*", "prun*"]}, schedule="weekly", timezone="Europe/Berlin"
    )
    write_rule(rules / "weekly.yaml", weekly)
    local = Recorder()
    data = tmp_path / "data"
    tuesday, wednesday = date(2026, 11, 10), date(2026, 11, 11)
    cycle(data, rules, [feed_file(tmp_path, "tue", tuesday, [QUANT])], {"local": local},
          now=datetime(2026, 11, 10, 6, tzinfo=UTC))  # fmt: skip
    cycle(data, rules, [feed_file(tmp_path, "wed", wednesday, [PRUNE])], {"local": local},
          now=datetime(2026, 11, 11, 6, tzinfo=UTC))  # fmt: skip
    assert local.sent == []  # the week is still being gathered

    # Monday 16 November, 08:00 in Berlin is 07:00 UTC: one digest with the whole week.
    sunday_night = datetime(2026, 11, 16, 6, 59, tzinfo=UTC)
    cycle(data, rules, [feed_file(tmp_path, "wed", wednesday, [PRUNE])], {"local": local},
          now=sunday_night)  # fmt: skip
    assert local.sent == []
    monday = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)
    cycle(
        data, rules, [feed_file(tmp_path, "wed", wednesday, [PRUNE])], {"local": local}, now=monday
    )
    [(_, digest)] = local.sent
    assert digest.period == "2026-11-16 08:00"
    assert sorted(m.paper.id for m in digest.matches) == [QUANT.id, PRUNE.id]


def test_a_subscription_whose_feed_failed_still_gets_a_cross_list_when_it_returns(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    for name in ("learning", "vision"):
        write_rule(rules / f"{name}.yaml", rule_yaml(name))
    lg = feed_file(tmp_path, "lg", DAY, [QUANT])
    cv = str(tmp_path / "cv.xml")  # fails at first: not there yet
    local = Recorder()
    feeds = {"learning": [lg], "vision": [cv]}
    data = tmp_path / "data"
    first = cycle(data, rules, [], {"local": local}, per_subscription=feeds)
    assert {Path(f.source).name: f.status for f in first.feeds} == {
        "lg.xml": "new",
        "cv.xml": "failed",
    }
    assert [(d.subscription, [m.paper.id for m in d.matches]) for _, d in local.sent] == [
        ("learning", [QUANT.id])
    ]

    # The vision feed comes back (a re-check later that morning) with the paper cross-listed.
    Path(cv).write_bytes(
        rss(DAY, [Item(QUANT.id, QUANT.title, announce="cross", category="cs.CV")])
    )
    second = cycle(data, rules, [], {"local": local}, per_subscription=feeds)
    assert second.new_papers == 0  # not a new paper...
    assert [(d.subscription, [m.paper.id for m in d.matches]) for _, d in local.sent] == [
        ("learning", [QUANT.id]),
        ("vision", [QUANT.id]),  # ...but news to the subscription that had not read it
    ]
    third = cycle(data, rules, [], {"local": local}, per_subscription=feeds)
    assert third.deliveries == ()  # and only once


@dataclass
class Resumable:
    """A channel that sends several messages: the first attempt stops halfway."""

    kind: str = "local"
    calls: list[str | None] = field(default_factory=list)

    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        self.calls.append(resume)
        if len(self.calls) == 1:
            raise DeliveryError("HTTP 503 on message 3", where="local", resume="thread|2")
        return Receipt(destination.key, "done", NOW)


def test_a_digest_cut_short_is_resumed_where_it_stopped_next_cycle(
    tmp_path: Path, rules_dir: Path
) -> None:
    feed = feed_file(tmp_path, "lg", DAY, [QUANT])
    channel = Resumable()
    first = cycle(tmp_path / "data", rules_dir, [feed], {"local": channel})
    assert [d.status for d in first.deliveries] == ["failed"]
    second = cycle(tmp_path / "data", rules_dir, [feed], {"local": channel})
    assert [d.status for d in second.deliveries] == ["delivered"]
    assert channel.calls == [None, "thread|2"]  # the outbox kept where it stopped


class Exploding(Recorder):
    def send(self, destination: Destination, digest: Digest, resume: str | None = None) -> Receipt:
        raise RuntimeError("a bug in a notifier")


def test_the_cycle_collector_runs_again_after_every_cycle(tmp_path: Path, rules_dir: Path) -> None:
    # A cycle holds Python's cycle collector (for speed); a long-running daemon whose
    # collector stayed off would slowly fill memory with cyclic garbage.
    feed = feed_file(tmp_path, "lg", DAY, [QUANT, PRUNE])
    seen: list[bool] = []

    class Watching(Recorder):
        def send(
            self, destination: Destination, digest: Digest, resume: str | None = None
        ) -> Receipt:
            seen.append(gc.isenabled())
            return super().send(destination, digest, resume)

    assert gc.isenabled()
    cycle(tmp_path / "data", rules_dir, [feed], {"local": Watching()})
    assert seen == [False] and gc.isenabled()
    with pytest.raises(RuntimeError):
        cycle(tmp_path / "data2", rules_dir, [feed], {"local": Exploding()})
    assert gc.isenabled()


def test_a_papers_record_names_the_feeds_that_brought_it_not_every_reader(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    for n in range(200):  # an institute: two hundred subscriptions read cs.LG
        topic = "prun*" if n == 0 else "unrelated"
        write_rule(rules / f"s{n:03d}.yaml", rule_yaml(f"s{n:03d}", {"T": [topic]}))
    lg = feed_file(tmp_path, "lg", DAY, [QUANT, PRUNE])
    data = tmp_path / "data"
    cycle(data, rules, [lg], {"local": Recorder()})
    with Store.open(data, read_only=True) as store:
        [record] = store.known([PRUNE.id]).values()
    assert record.read_from == {lg}
    assert record.matched_by == {"s000"}
    shard = next((data / "papers").glob("*.json")).read_text(encoding="utf-8")
    assert "s199" not in shard  # a reader that matched nothing is not named


def test_a_cycle_without_papers_never_indexes_the_rules(
    tmp_path: Path, rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watcher import match

    built: list[int] = []
    real = match.Matcher.__init__

    def counting(self: match.Matcher, subscriptions: Any) -> None:
        built.append(len(subscriptions))
        real(self, subscriptions)

    monkeypatch.setattr(match.Matcher, "__init__", counting)
    weekend = feed_file(tmp_path, "lg", date(2026, 11, 14), [])
    ruleset = load_rules(rules_dir)
    with Store.open(tmp_path / "data") as store, Fetcher() as fetcher:
        cycle = build_cycle(Settings(), store, fetcher, ruleset.subscriptions, [weekend])
        run_cycle(cycle, {"local": Recorder()}, NOW)
    assert built == []  # an empty feed: nothing to match, nothing compiled
    feed = feed_file(tmp_path, "lg2", DAY, [QUANT])
    with Store.open(tmp_path / "data") as store, Fetcher() as fetcher:
        cycle = build_cycle(Settings(), store, fetcher, ruleset.subscriptions, [feed])
        run_cycle(cycle, {"local": Recorder()}, NOW)
    assert built == [1]
