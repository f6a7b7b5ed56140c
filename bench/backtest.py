"""Backtest and memory benchmark: the shipped subscription against stored history.

Run from the project root:  python bench/backtest.py  [--history N]

With a store holding a year of generated history (100,000 papers, texts kept for the year):
- `watcher rules test` over 90 days (about 25,000 papers): target under 2 s;
- the same over a year: target under 10 s;
- the peak memory of a watcher process that loads the rules, runs a cycle on a real day of
  four categories and a 7-day backfill against that store: target under 120 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.history import fill_store  # noqa: E402
from watcher.cli import main as watcher  # noqa: E402

# Run in a child process so that its peak resident memory is its own.
DAEMON_LIKE = """
import dataclasses, sys
from datetime import UTC, datetime
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import bench.cycle as bc
from watcher.daemon.backfill import run_backfill
from watcher.match import compile_matcher
from watcher.notify.local import LocalNotifier
from watcher.pipeline import Cycle, run_cycle
from watcher.rules import load_rules
from watcher.sources import FeedSource
from watcher.store import Store

data = Path(sys.argv[2])
subs = load_rules(Path(sys.argv[1]) / "rules").subscriptions
bodies = {name: (bc.DAY / name).read_bytes() for name in bc.FILES}
sources = {FeedSource(name, "feed"): [s.name for s in subs] for name in bc.FILES}
now = datetime.now(UTC)  # the history ends today; the feeds are a recorded day
with Store.open(data) as store:
    cycle = Cycle(bc.Replay(bodies), store, compile_matcher(subs), subs, sources)
    run_cycle(cycle, {"local": LocalNotifier(data / "digests", None, lambda: now)}, now)
    newcomer = dataclasses.replace(subs[0], name="newcomer", backfill_days=7)
    run_backfill(store, newcomer, frozenset({"local"}), now)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
status = Path("/proc/self/status").read_text().splitlines()
print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


def timed_rules_test(data: Path, days: int) -> float:
    """The command's whole run, its report written to memory; only its first line is shown
    (the rest is pages of warnings about generated text)."""
    report = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(report):
        code = watcher(
            ["rules", "test", str(ROOT / "rules" / "efficient-ml.yaml"), "--days", str(days),
             "--data", str(data)]
        )  # fmt: skip
    elapsed = time.perf_counter() - start
    assert code == 0, code
    print(f"  {report.getvalue().splitlines()[0]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="watcher-bench-"))
    try:
        data = work / "data"
        # `watcher rules test --days N` counts back from now: the history ends today.
        fill_store(data, args.history, until=datetime.now(UTC).date(), keep_text_days=None)
        print(f"history: {args.history:,} generated papers over a year, texts kept")

        quarter = timed_rules_test(data, 90)
        year = timed_rules_test(data, 365)
        print(f"rules test, 90 days:  {quarter:.2f} s (target < 2 s: "
              f"{'met' if quarter < 2 else 'MISSED'})")  # fmt: skip
        print(f"rules test, 365 days: {year:.2f} s (target < 10 s: "
              f"{'met' if year < 10 else 'MISSED'})")  # fmt: skip

        probe = subprocess.run(
            [sys.executable, "-c", DAEMON_LIKE, str(ROOT), str(data)],
            capture_output=True,
            text=True,
            check=True,
        )
        peak_mb = int(probe.stdout.split()[-1]) / 1024  # VmHWM is in KiB
        print(f"peak memory of a cycle plus a 7-day backfill on that store: {peak_mb:.0f} MB "
              f"(target < 120 MB: {'met' if peak_mb < 120 else 'MISSED'})")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
