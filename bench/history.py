"""Generated history for the benchmarks: a store holding about a year of papers, and the
month of deliveries a running watcher keeps.

Papers are spread over the months before a given day, ids carrying their month as arXiv's
do (``2405.01234``), a realistic share of them replaced later (higher versions), each with a
title and an abstract of typical length. Each of the last ``delivered_days`` days delivered
a digest of that day's papers to each of ``subscriptions`` subscriptions (the outbox keeps
30 days of receipts). Deterministic (fixed seed).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from watcher.models import Destination, Digest, Match, Paper, Receipt, TopicHit
from watcher.store import Store

WORDS = tuple(
    [
        "model",
        "learning",
        "neural",
        "network",
        "training",
        "data",
        "method",
        "results",
        "performance",
        "propose",
        "show",
        "task",
        "language",
        "vision",
        "attention",
        "transformer",
        "sparse",
        "pruning",
        "quantization",
        "graph",
        "policy",
        "agent",
        "reasoning",
        "benchmark",
        "dataset",
        "robust",
        "efficient",
        "inference",
        "latent",
        "diffusion",
        "generative",
        "contrastive",
        "representation",
        "optimization",
        "gradient",
        "loss",
    ]
)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def fill_store(
    data_dir: Path,
    papers: int,
    until: date,
    days: int = 365,
    keep_text_days: int | None = 90,
    subscriptions: int = 200,
    delivered_days: int = 30,
) -> None:
    """Write ``papers`` generated papers first seen over the ``days`` before ``until``, and
    a delivered digest per subscription for each of the last ``delivered_days``; then drop
    texts older than ``keep_text_days``, as a running watcher would have (None: keep)."""
    rng = random.Random(365)
    start = datetime.combine(until - timedelta(days=days), datetime.min.time(), tzinfo=UTC)
    per_day = max(1, papers // days)
    numbers: dict[str, int] = {}
    with Store.open(data_dir) as store:
        made = 0
        for day in range(days):
            seen_at = start + timedelta(days=day, hours=5)
            month = f"{seen_at:%y%m}"
            batch = []
            for _ in range(min(per_day, papers - made)):
                numbers[month] = numbers.get(month, 0) + 1
                batch.append(
                    Paper(
                        id=f"{month}.{numbers[month]:05d}",
                        version=rng.choice((1, 1, 1, 2, 3)),
                        title=_text(rng, 10),
                        authors=tuple(f"Author {rng.randint(1, 9999)}" for _ in range(4)),
                        abstract=_text(rng, 180),
                        categories=(rng.choice(("cs.LG", "cs.CL", "cs.CV", "cs.AI")),),
                        announce_type="new",
                        published=seen_at,
                    )
                )
            made += len(batch)
            store.record_papers(batch, seen_at, {})
            if day >= days - delivered_days:
                _deliver(store, batch, seen_at, subscriptions, rng)
            elif day % 30 == 29:
                store.commit()  # a month at a time, as cycles would have
        store.commit()
        # Steady state: a running watcher has dropped the text of papers past retention.
        if keep_text_days is not None:
            end = datetime.combine(until, datetime.min.time(), tzinfo=UTC)
            store.prune_archive(end - timedelta(days=keep_text_days))


def _deliver(
    store: Store, batch: list[Paper], seen_at: datetime, subscriptions: int, rng: random.Random
) -> None:
    """That day's digests, each of a few of the day's papers, queued and delivered."""
    period = seen_at.date().isoformat()
    hits = (TopicHit("Topic", ("model*",)),)
    for n in range(subscriptions):
        name = f"history-{n:04d}"
        chosen = rng.sample(batch, min(len(batch), 20))
        digest = Digest(name, period, tuple(Match(p, name, hits, 1.0) for p in chosen))
        store.enqueue(Destination("slack", (f"#{name}",)), digest)
    store.commit()
    for entry in store.pending():
        receipt = Receipt(entry.destination.key, f"{seen_at.timestamp():.6f}", seen_at)
        store.mark_delivered(entry.key, receipt)
    store.checkpoint()
