"""Daemon and rule-loading benchmark: many rule files, the real CLI in real processes.

Run from the project root:
    python bench/daemon.py check  [--n 10000]            # `watcher rules check DIR`
    python bench/daemon.py reload [--n 10000] [--reload-interval 2]  # `watcher run`: edits
    python bench/daemon.py memory [--n 1000] [--cycles 6] [--interval 20]  # RSS per cycle

``check`` times ``python -m watcher rules check DIR`` over N generated rule files (target:
<= 10 s at N = 10,000). ``reload`` starts ``python -m watcher run`` on N files (no
reachable feed: every rule reads a local file that does not exist; WATCHER_POLL_INTERVAL is
an hour), waits for its start line, then edits one file and measures how long until the
daemon logs the reload (target: <= 2 s), and how long the start took. It also reports how
many ``rules-last-good/`` copies each of two starts wrote (target: the second writes none).
``memory`` serves the holiday fortnight of ../shared/fixtures from local files, one day per
cycle (WATCHER_POLL_INTERVAL), to N subscriptions, and prints the daemon's RSS (VmRSS) after
each cycle and its peak (VmHWM).

Rule files are generated from a fixed seed: 2-4 topics of 3-8 terms each (words, stems,
phrases; some ``none`` terms), feeds drawn from cs.AI, cs.CL, cs.CV, cs.LG, a spread of
time zones, one in five weekly and one in ten on a cron line.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ROOT  # the checkout whose watcher runs (--code DIR: another one, for before/after)
FIXTURES = ROOT.parent / "shared" / "fixtures" / "arxiv-rss" / "holidays-2024-12"
CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
TERMS = (
    "quantiz*",
    "prun*",
    "sparse",
    "sparsity",
    "distill*",
    "low-rank",
    "attention",
    "transformer*",
    "diffusion",
    "language model*",
    "large language model*",
    "LLM*",
    "reinforcement learning",
    "graph neural network*",
    "GNN*",
    "federated",
    "privacy",
    "robust*",
    "adversarial",
    "contrastive",
    "self-supervised",
    "few-shot",
    "zero-shot",
    "segmentation",
    "detection",
    "tracking",
    "point cloud*",
    "3D",
    "NeRF",
    "gaussian splat*",
    "video",
    "speech",
    "translation",
    "summariz*",
    "question answering",
    "retrieval",
    "RAG",
    "agent*",
    "multi-agent",
    "planning",
    "reasoning",
    "chain-of-thought",
    "alignment",
    "RLHF",
    "preference",
    "reward model*",
    "hallucinat*",
    "benchmark*",
    "dataset*",
    "evaluation",
    "interpretab*",
    "explainab*",
    "causal*",
    "fairness",
    "bias",
    "medical",
    "clinical",
    "protein*",
    "molecul*",
    "climate",
    "weather",
    "time series",
    "forecast*",
    "anomaly",
    "recommend*",
    "optimization",
    "convex",
    "bandit*",
    "kernel*",
    "bayesian",
    "uncertainty",
    "calibration",
    "continual learning",
    "meta-learning",
    "mixture of expert*",
    "state space model*",
    "mamba",
    "efficient",
    "inference",
    "compression",
    "hardware",
    "FPGA",
    "edge device*",
    "robot*",
    "navigation",
    "autonomous driving",
    "image generation",
    "text-to-image",
    "vision-language",
    "multimodal",
    "CLIP",
    "tokeniz*",
    "embedding*",
    "code generation",
    "program synthesis",
    "theorem",
    "math*",
    "knowledge graph*",
)
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")


def rule_text(rng: random.Random, index: int) -> str:
    feeds = rng.sample(CATEGORIES, rng.randint(1, 4))
    lines = [f"name: sub-{index:05d}", f"feeds: [{', '.join(feeds)}]", "topics:"]
    for t in range(rng.randint(2, 4)):
        terms = rng.sample(TERMS, rng.randint(3, 8))
        lines.append(f"  - name: Topic {t}")
        lines.append("    any: [" + ", ".join(f'"{term}"' for term in terms) + "]")
        if rng.random() < 0.3:
            lines.append(f'    none: ["{rng.choice(TERMS)}"]')
    roll = rng.random()
    if roll < 0.2:
        lines.append("schedule: weekly")
    elif roll < 0.3:
        lines.append(f'schedule: "{rng.randint(0, 59)} {rng.randint(6, 18)} * * mon-fri"')
    lines.append(f"timezone: {rng.choice(ZONES)}")
    return "\n".join(lines) + "\n"


def generate(directory: Path, count: int, seed: int = 12) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(count):
        (directory / f"sub-{i:05d}.yaml").write_text(rule_text(rng, i), encoding="utf-8")


def environment(**extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        PYTHONPATH=str(CODE),
        WATCHER_ARXIV_MIN_INTERVAL="0",
        WATCHER_ARXIV_RSS_URL="http://127.0.0.1:9/rss/",  # nothing listens: offline
        WATCHER_ARXIV_API_URL="http://127.0.0.1:9/api/query",
        **extra,
    )
    return env


def bench_check(tmp: Path, count: int) -> None:
    rules = tmp / "rules"
    generate(rules, count)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "watcher", "rules", "check", str(rules)],
            cwd=tmp,  # not the checkout: PYTHONPATH (--code) decides which watcher runs
            env=environment(),
            capture_output=True,
            text=True,
        )
        best = min(best, time.perf_counter() - began)
    print(done.stdout.splitlines()[-1][:60] + "...", f"(exit {done.returncode})")
    print(f"rules check, {count} files: {best:.2f} s (best of 3; target <= 10 s)")


class Daemon:
    """A `watcher run` subprocess whose log is read as it grows."""

    def __init__(self, tmp: Path, env: dict[str, str], name: str) -> None:
        self.log = tmp / f"{name}.log"
        with self.log.open("wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "watcher", "run"],
                cwd=tmp,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, pattern: str, timeout: float = 600.0, start: int = 0) -> float:
        began = time.perf_counter()
        found = re.compile(pattern)
        while not found.search(self.text(), start):
            if self.proc.poll() is not None:
                raise SystemExit(f"the daemon exited ({self.proc.returncode}):\n{self.text()}")
            if time.perf_counter() - began > timeout:
                raise SystemExit(f"timed out waiting for {pattern!r}:\n{self.text()[-3000:]}")
            time.sleep(0.01)
        return time.perf_counter() - began

    def rss(self) -> tuple[int, int]:
        """VmRSS and VmHWM in MB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
        return int(values["VmRSS"]) // 1024, int(values["VmHWM"]) // 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=120)


def _copies_written(last_good: Path, since_ns: int) -> int:
    return sum(1 for p in last_good.glob("*.yaml") if p.stat().st_mtime_ns >= since_ns)


def bench_reload(tmp: Path, count: int, reload_interval: float) -> None:
    rules, data = tmp / "rules", tmp / "data"
    generate(rules, count)
    # No reachable feed: each rule reads a local file that does not exist.
    for path in rules.glob("*.yaml"):
        text = re.sub(r"feeds: \[.*\]", f"feeds: [{tmp / 'none.xml'}]", path.read_text())
        path.write_text(text, encoding="utf-8")
    env = environment(
        WATCHER_DATA_DIR=str(data),
        WATCHER_RULES_DIR=str(rules),
        WATCHER_POLL_INTERVAL="3600",
        WATCHER_RULES_RELOAD_INTERVAL=f"{reload_interval:g}",
    )
    for attempt in ("first", "second"):
        before = time.time_ns()
        began = time.perf_counter()
        daemon = Daemon(tmp, env, f"daemon-{attempt}")
        try:
            daemon.wait_for("watcher daemon started")
            started = time.perf_counter() - began
            daemon.wait_for(r"poll: \d+ new papers")
            copies = _copies_written(data / "rules-last-good", before)
            print(
                f"{attempt} start, {count} files: started in {started:.2f} s, "
                f"{copies} rules-last-good copies written"
            )
            if attempt == "second":
                target = rules / "sub-00042.yaml"
                seen = len(daemon.text())
                edits = []
                pause = random.Random(7)
                for n in range(10):
                    text = target.read_text().replace("Topic 0", f"Topic 0 edit {n}", 1)
                    target.write_text(text, encoding="utf-8")
                    edits.append(daemon.wait_for(f"reloaded {re.escape(str(target))}", 60, seen))
                    seen = len(daemon.text())
                    time.sleep(pause.uniform(0.3, 2.3))  # edits at any point of the interval
                worst = max(edits)
                print(
                    f"reload of one edited file among {count}: visible in the log after "
                    + ", ".join(f"{e:.2f}" for e in edits)
                    + f" s (worst {worst:.2f} s; target <= 2 s)"
                )
        finally:
            daemon.stop()


def bench_memory(tmp: Path, count: int, cycles: int, interval: float) -> None:
    if not FIXTURES.is_dir():
        raise SystemExit(f"needs {FIXTURES}")
    rules, data, feeds = tmp / "rules", tmp / "data", tmp / "feeds"
    generate(rules, count)
    feeds.mkdir()
    names = {c: feeds / f"{c}.xml" for c in CATEGORIES}
    for path in rules.glob("*.yaml"):
        text = path.read_text()
        for category, local in names.items():
            text = re.sub(rf"\b{re.escape(category)}\b(?=[,\]])", str(local), text)
        text = text.replace("schedule: weekly\n", "")  # every digest goes out after its poll
        text = re.sub(r'schedule: ".*"\n', "", text)
        path.write_text(text, encoding="utf-8")
    days = sorted({p.name[:10] for p in FIXTURES.glob("*.xml")})
    announcement_days = [d for d in days if (FIXTURES / f"{d}-cs-lg.xml").stat().st_size > 10_000]

    def serve(day: str) -> None:
        for category, local in names.items():
            source = FIXTURES / f"{day}-cs-{category[3:].lower()}.xml"
            tmp_copy = local.with_suffix(".tmp")
            shutil.copyfile(source, tmp_copy)
            tmp_copy.replace(local)

    env = environment(
        WATCHER_DATA_DIR=str(data),
        WATCHER_RULES_DIR=str(rules),
        WATCHER_POLL_INTERVAL=str(interval),
    )
    serve(announcement_days[0])
    daemon = Daemon(tmp, env, "daemon-memory")
    try:
        daemon.wait_for("watcher daemon started")
        print(f"started with {count} subscriptions: RSS {daemon.rss()[0]} MB")
        seen = 0
        for cycle in range(cycles):
            daemon.wait_for(r"poll: \d+ new papers", 7200, seen)
            seen = len(daemon.text())
            line = re.findall(r"poll: .*", daemon.text())[-1]
            time.sleep(2)  # the job has returned and the daemon is idle
            rss, peak = daemon.rss()
            print(f"cycle {cycle + 1}: {line}; RSS {rss} MB idle after it, peak {peak} MB")
            serve(announcement_days[(cycle + 1) % len(announcement_days)])  # the next poll's day
    finally:
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("check", "reload", "memory"))
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--interval", type=float, default=20.0, help="memory: seconds per poll")
    parser.add_argument(
        "--reload-interval", type=float, default=2.0, help="reload: WATCHER_RULES_RELOAD_INTERVAL"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    parser.add_argument("--code", type=Path, help="run the watcher of this checkout")
    args = parser.parse_args()
    global CODE
    CODE = args.code.resolve() if args.code else ROOT
    tmp = Path(tempfile.mkdtemp(prefix="watcher-bench-"))
    try:
        if args.what == "check":
            bench_check(tmp, args.n or 10_000)
        elif args.what == "reload":
            bench_reload(tmp, args.n or 10_000, args.reload_interval)
        else:
            bench_memory(tmp, args.n or 1_000, args.cycles, args.interval)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
