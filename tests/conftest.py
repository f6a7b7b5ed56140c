"""Shared test plumbing: where the real arXiv data lives, and skipping when it is absent."""

from __future__ import annotations

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
