"""Generated history for the benchmarks: a store holding about a year of papers.

Papers are spread over the months before a given day, ids carrying their month as arXiv's
do (``2405.01234``), a realistic share of them replaced later (higher versions), each with a
title and an abstract of typical length. Deterministic (fixed seed).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from watcher.models import Paper
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
    data_dir: Path, papers: int, until: date, days: int = 365, keep_text_days: int | None = 90
) -> None:
    """Write ``papers`` generated papers first seen over the ``days`` before ``until``; then
    drop texts older than ``keep_text_days``, as a running watcher would have (None: keep)."""
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
            if day % 30 == 29:
                store.commit()  # a month at a time, as cycles would have
        store.commit()
        # Steady state: a running watcher has dropped the text of papers past retention.
        if keep_text_days is not None:
            end = datetime.combine(until, datetime.min.time(), tzinfo=UTC)
            store.prune_archive(end - timedelta(days=keep_text_days))
