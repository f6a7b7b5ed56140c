"""Shared test plumbing: where the real arXiv data lives, and skipping when it is absent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
FIXTURES = SHARED / "fixtures"
SEED = SHARED / "seed" / "arxiv-digest-2024-09.md"
RULES_DIR = PROJECT / "rules"


def require_shared(path: Path) -> Path:
    """Return ``path`` or skip the test: a user's fresh clone has no ../shared."""
    if not path.exists():
        pytest.skip(f"needs the shared arXiv data at {path} (absent in a plain clone)")
    return path


@pytest.fixture
def fixtures_dir() -> Path:
    return require_shared(FIXTURES)


@pytest.fixture
def seed_path() -> Path:
    return require_shared(SEED)


def run_watcher(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m watcher ARGV`` from this checkout in ``cwd``, with only the basics of the
    caller's environment (PATH, HOME, LANG, TMPDIR) and ``env``: no WATCHER_ or SLACK_
    setting of the machine leaks in."""
    basics = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return subprocess.run(
        [sys.executable, "-m", "watcher", *argv],
        cwd=cwd,
        env={**basics, "PYTHONPATH": str(PROJECT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
