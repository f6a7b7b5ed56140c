"""The acceptance test: the seed digest, fed through the real pipeline, renders back to itself.

The seed (../shared/seed/arxiv-digest-2024-09.md) is read into records, written out as an
arXiv-API-style Atom document, and run through parse -> rules + match -> plan -> render. The
Markdown must equal the seed byte for byte. A second test skips the feed and the rules
(records -> Paper -> Digest -> render), so a render regression is told apart from a parse or
match one.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest

from tests.conftest import RULES_DIR
from tests.seed import SeedPaper, read_seed
from watcher.digest import plan_digests
from watcher.models import Digest, Match, RawFeed, TopicHit
from watcher.render import render

PERIOD = "2024-09"
SOURCE = (
    "http://export.arxiv.org/api/query?search_query=all:quantization"
    "&start=0&max_results=100&sortBy=submittedDate&sortOrder=descending"
)
CATEGORIES = ("cs.LG", "cs.AI")


def published_at(record: SeedPaper, index: int) -> datetime:
    """The seed is newest date first; within a day an earlier entry gets a later time."""
    day = datetime.strptime(record.date, "%Y-%m-%d").replace(tzinfo=UTC)
    return day + timedelta(hours=23, minutes=59) - timedelta(seconds=index)


def updated_at(record: SeedPaper, index: int) -> datetime:
    # A later version was submitted after v1; v1's updated time equals its published time.
    return published_at(record, index) + timedelta(days=record.version - 1)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_feed(records: list[SeedPaper]) -> bytes:
    """An arXiv API response (as export.arxiv.org serves it) holding the seed records."""
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">',
        "  <id>https://arxiv.org/api/seed-digest-2024-09</id>",
        f"  <title>{escape('arXiv Query: search_query=all:quantization&id_list=')}</title>",
        "  <updated>2024-09-19T00:00:00Z</updated>",
        f'  <link href={quoteattr(SOURCE)} type="application/atom+xml"/>',
        f"  <opensearch:itemsPerPage>{len(records)}</opensearch:itemsPerPage>",
        f"  <opensearch:totalResults>{len(records)}</opensearch:totalResults>",
        "  <opensearch:startIndex>0</opensearch:startIndex>",
    ]
    for index, record in enumerate(records):
        abs_url = f"http://arxiv.org/abs/{record.id}v{record.version}"
        lines += [
            "  <entry>",
            f"    <id>{abs_url}</id>",
            f"    <title>{escape(record.title)}</title>",
            f"    <updated>{iso(updated_at(record, index))}</updated>",
            f'    <link href="{abs_url.replace("http:", "https:")}" rel="alternate" '
            'type="text/html"/>',
            # The abstract verbatim, line breaks included; only XML-escaped.
            f"    <summary>{escape(record.abstract)}</summary>",
            *(
                f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>'
                for c in CATEGORIES
            ),
            f"    <published>{iso(published_at(record, index))}</published>",
            f'    <arxiv:primary_category term="{CATEGORIES[0]}"/>',
            *(
                f"    <author>\n      <name>{escape(a)}</name>\n    </author>"
                for a in record.authors
            ),
            "  </entry>",
        ]
    lines.append("</feed>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def assert_same_text(actual: str, expected: str, label: str) -> None:
    if actual == expected:
        return
    diff = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        "seed",
        label,
        n=2,
    )
    shown = "".join(line for _, line in zip(range(60), diff, strict=False))
    pytest.fail(f"{label} differs from the seed digest; first differences:\n{shown}")


def test_seed_records_render_back_to_the_seed(seed_path: Path) -> None:
    """Render alone: Paper values built from the seed records give the seed bytes."""
    records = read_seed(seed_path)
    assert len(records) == 100
    hits = (TopicHit("Seed", ("seed",)),)
    matches = tuple(
        Match(
            r.paper(categories=CATEGORIES, published=published_at(r, i), updated=updated_at(r, i)),
            "efficient-ml",
            hits,
        )
        for i, r in enumerate(records)
    )
    message = render(Digest("efficient-ml", PERIOD, matches))
    assert_same_text(message.markdown, seed_path.read_text(encoding="utf-8"), "render(seed)")
    assert message.subject == "arXiv digest: efficient-ml, 2024-09 (100 papers)"


def test_atom_document_is_well_formed_and_keeps_abstracts(seed_path: Path) -> None:
    """The test's own feed builder: valid XML whose summaries are the abstracts verbatim."""
    from xml.etree import ElementTree

    records = read_seed(seed_path)
    root = ElementTree.fromstring(atom_feed(records))
    atom = "{http://www.w3.org/2005/Atom}"
    entries = root.findall(f"{atom}entry")
    assert [e.findtext(f"{atom}summary") for e in entries] == [r.abstract for r in records]
    times = [e.findtext(f"{atom}published") for e in entries]
    assert times == sorted(times, reverse=True)  # type: ignore[type-var]


def test_seed_through_the_whole_pipeline(seed_path: Path) -> None:
    """parse_feed -> load_rules + compile_matcher -> plan_digests -> render == the seed."""
    from watcher.match import compile_matcher
    from watcher.parse import parse_feed
    from watcher.rules import load_rules

    records = read_seed(seed_path)
    feed = parse_feed(
        RawFeed(source=SOURCE, body=atom_feed(records), content_type="application/atom+xml")
    )
    assert feed.kind == "arxiv-api"
    assert len(feed.papers) == len(records)
    assert feed.total_results == len(records)

    ruleset = load_rules(RULES_DIR)
    assert not ruleset.errors, ruleset.errors
    matcher = compile_matcher(ruleset.subscriptions)
    matches = [m for paper in feed.papers for m in matcher.match(paper)]

    planned = plan_digests(matches, ruleset.subscriptions, PERIOD)
    complete = [(dest, d) for dest, d in planned if len(d.matches) == len(records)]
    if not complete:
        matched = {m.paper.id for m in matches}
        missed = [f"{r.id} {r.title}" for r in records if r.id not in matched]
        pytest.fail(
            f"no subscription in {RULES_DIR} matched all {len(records)} seed papers; "
            "unmatched by any:\n  " + "\n  ".join(missed)
        )
    by_name = {d.subscription: d for _, d in complete}
    digest = by_name.get("efficient-ml") or complete[0][1]

    message = render(digest)
    expected = seed_path.read_text(encoding="utf-8")
    assert_same_text(message.markdown, expected, f"pipeline({digest.subscription})")
    assert message.markdown.encode("utf-8") == seed_path.read_bytes()
    assert message.subject == (
        f"arXiv digest: {digest.subscription}, {PERIOD} ({len(records)} papers)"
    )
