"""Replay arXiv's 2024/25 holiday fortnight through `watcher once`, one day at a time.

A local HTTP server plays rss.arxiv.org (the recorded feeds in ../shared/fixtures) and the
arXiv API (answers written here for the days arXiv's RSS never showed). The watcher must
classify every day right and deliver each matching paper exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import FIXTURES, RULES_DIR, require_shared
from tests.feeds import ApiEntry, api_atom
from tests.feedserver import FeedServer, Reply, Request
from watcher.cli import main
from watcher.match import compile_matcher
from watcher.models import RawFeed
from watcher.parse import parse_feed
from watcher.rules import load_rules

HOLIDAYS = FIXTURES / "arxiv-rss" / "holidays-2024-12"
CATEGORIES = {"cs-ai": "cs.AI", "cs-cl": "cs.CL", "cs-cv": "cs.CV", "cs-lg": "cs.LG"}
FILE = re.compile(r"^(?P<day>\d{4}-\d{2}-\d{2})-(?P<cat>cs-[a-z]{2})\.xml$")

# What the API answers when the watcher fills the days it never saw: cs.LG's real listing of
# Tue 24 Dec (the RSS re-served Monday's), and cs.AI / cs.CL of Wed 1 Jan. Our own papers.
LG_DAY, AI_DAY = "2024-12-23T16:00:00Z", "2024-12-31T15:00:00Z"
FILLS = {
    "cs.LG": [
        ApiEntry("2412.99901", "Quantization of sparse experts on edge devices", LG_DAY),
        ApiEntry("2412.99902", "Bird calls as a benchmark for audio models", LG_DAY),
    ],
    "cs.AI": [
        ApiEntry("2412.99911", "Pruning reasoning chains of agents", AI_DAY, categories=("cs.AI",))
    ],
    "cs.CL": [
        ApiEntry(
            "2412.99921", "Attention sinks in multilingual models", AI_DAY, categories=("cs.CL",)
        )
    ],
}


def capture_days() -> list[str]:
    return sorted({m["day"] for p in HOLIDAYS.iterdir() if (m := FILE.match(p.name))})


def expected_status() -> dict[tuple[str, str], str]:
    """(capture day, category) -> the classification INDEX.md's notes imply."""
    statuses = {}
    for line in (HOLIDAYS / "INDEX.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not (m := FILE.match(cells[0])):
            continue
        note = cells[-1]
        status = "empty" if note == "empty" else "stale" if note.startswith("stale") else "new"
        statuses[(m["day"], CATEGORIES[m["cat"]])] = status
    return statuses


class ArxivPlayer:
    """Serves one day of the fortnight, plus the API fills, and remembers API queries."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.api_queries: list[str] = []
        self.seen_already: ApiEntry | None = None

    def play(self, day: str) -> None:
        routes: dict[str, Reply | object] = {
            f"/rss/{cat}": Reply.feed((HOLIDAYS / f"{day}-{slug}.xml").read_bytes())
            for slug, cat in CATEGORIES.items()
        }
        routes["/api/query"] = self.api
        self.server.set_routes(routes)  # type: ignore[arg-type]

    def api(self, request: Request) -> Reply:
        query = parse_qs(urlsplit(request.target).query)["search_query"][0]
        self.api_queries.append(query)
        entries = [e for cat, fill in FILLS.items() if f"cat:{cat}" in query for e in fill]
        if self.seen_already and "cat:cs.LG" in query:
            entries.append(self.seen_already)  # overlap with a listing already delivered
        return Reply.feed(api_atom(entries), content_type="application/atom+xml")


@pytest.fixture
def arxiv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ArxivPlayer]:
    require_shared(HOLIDAYS)
    monkeypatch.chdir(tmp_path)
    with FeedServer() as server:
        monkeypatch.setenv("WATCHER_ARXIV_RSS_URL", server.url("/rss/"))
        monkeypatch.setenv("WATCHER_ARXIV_API_URL", server.url("/api/query"))
        monkeypatch.setenv("WATCHER_ARXIV_MIN_INTERVAL", "0")
        for name in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_HOST"):
            monkeypatch.delenv(name, raising=False)
        yield ArxivPlayer(server)


def expected_deliveries() -> dict[str, str]:
    """Paper id -> period, worked out independently: a paper is announced on the first day
    it appears, if it appears that day as new or cross-list, and the shipped rules match."""
    matcher = compile_matcher(load_rules(RULES_DIR).subscriptions)
    seen: set[str] = set()
    expected: dict[str, str] = {}
    for day in capture_days():
        today: dict[str, list[str | None]] = {}
        papers = {}
        for slug in CATEGORIES:
            path = HOLIDAYS / f"{day}-{slug}.xml"
            feed = parse_feed(RawFeed(str(path), path.read_bytes()))
            for paper in feed.papers:
                today.setdefault(paper.id, []).append(paper.announce_type)
                papers[paper.id] = (paper, feed.announced)
        for paper_id, types in today.items():
            if paper_id in seen:
                continue
            seen.add(paper_id)
            paper, announced = papers[paper_id]
            if ({"new", "cross"} & set(types)) and matcher.match(paper):
                assert announced is not None
                expected[paper_id] = announced.isoformat()
    return expected


def delivered(data: Path) -> list[tuple[str, str]]:
    """(paper id, period) for every paper in every local digest file
    (``digests/<subscription>/<period>.md``)."""
    found = []
    for digest in sorted((data / "digests").glob("*/*.md")):
        period = digest.name[:10]
        text = digest.read_text(encoding="utf-8")
        found += [
            (i, period) for i in re.findall(r"^> https://arxiv\.org/abs/(\S+)v\d+$", text, re.M)
        ]
    return found


def test_the_holiday_fortnight_delivers_every_matching_paper_exactly_once(
    arxiv: ArxivPlayer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    statuses = expected_status()
    monday = parse_feed(RawFeed("x", (HOLIDAYS / "2024-12-24-cs-lg.xml").read_bytes()))
    already = monday.papers[0]
    arxiv.seen_already = ApiEntry(already.id, already.title, "2024-12-20T12:00:00Z")

    seen_status: dict[tuple[str, str], str] = {}
    for day in capture_days():
        arxiv.play(day)
        code = main(["once", "--rules", str(RULES_DIR), "--data", str(data)])
        err = capsys.readouterr().err
        assert code == 0, err
        for cat in CATEGORIES.values():
            line = next(
                ln
                for ln in err.splitlines()
                if ln.startswith(f"feed {arxiv.server.url('/rss/' + cat)}:")
            )
            seen_status[(day, cat)] = line.split(": ", 1)[1].split()[0].rstrip(":")

    words = {"new": "new", "empty": "no", "stale": "stale"}
    assert seen_status == {key: words[s] for key, s in statuses.items()}

    got = delivered(data)
    ids = [paper_id for paper_id, _ in got]
    assert len(ids) == len(set(ids)), "a paper was delivered twice"
    expected = expected_deliveries()
    expected.update({"2412.99901": "2024-12-25", "2412.99911": "2025-01-02",
                     "2412.99921": "2025-01-02"})  # fmt: skip
    assert dict(got) == expected
    assert "2412.99902" not in ids  # filled from the API but matches no topic
    assert len(expected) > 300

    # Quiet days (weekends, holidays, stale days) make no digest of their own.
    periods = {p.name[:10] for p in (data / "digests").glob("*/*.md")}
    assert periods == set(expected.values())

    # The API was asked exactly for the days the RSS never showed.
    assert sorted(arxiv.api_queries) == [
        "cat:cs.AI AND submittedDate:[202412280000 TO 202501022359]",
        "cat:cs.CL AND submittedDate:[202412280000 TO 202501022359]",
        "cat:cs.LG AND submittedDate:[202412200000 TO 202412252359]",
    ]
