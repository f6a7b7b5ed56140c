"""One bad character costs one item, not the day: a NUL or a byte that is not UTF-8 inside
one item of a real arXiv feed leaves every other paper readable, and the damaged item is
named and counted; a truncated body is still a failed fetch.

The real feeds come from ../shared/fixtures (skipped when absent).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.factories import rule_yaml, write_rule
from watcher.errors import ParseError
from watcher.models import FeedReport, RawFeed
from watcher.parse import parse_feed
from watcher.status import feed_line

HOLIDAYS = "arxiv-rss/holidays-2024-12"
DAY = "2024-12-20-cs-lg.xml"  # 253 items; the third is 2412.13232
THIRD = "2412.13232"


@pytest.fixture
def day_feed(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / HOLIDAYS / DAY).read_bytes()


def inject(body: bytes, marker: bytes, bad: bytes) -> bytes:
    """``body`` with ``bad`` put just after the first ``marker`` (inside one item)."""
    at = body.index(marker) + len(marker)
    return body[:at] + bad + body[at:]


def description_of(arxiv_id: str) -> bytes:
    return f"<description>arXiv:{arxiv_id}v1 Announce Type".encode()


@pytest.mark.parametrize(
    ("bad", "what"),
    [
        (b"\x00", "a NUL byte"),
        (b"\xff", "a byte that is not UTF-8"),
        (b"\xc3(", "a byte that is not UTF-8"),  # a lead byte without its continuation
        (b"\x0b", "a control character"),
    ],
)
def test_one_damaged_item_is_skipped_and_named(day_feed: bytes, bad: bytes, what: str) -> None:
    clean = parse_feed(RawFeed("cs.LG", day_feed))
    assert len(clean.papers) == 253
    damaged = inject(day_feed, description_of(THIRD), bad)
    feed = parse_feed(RawFeed("cs.LG", damaged))
    assert [p for p in clean.papers if p.id != THIRD] == list(feed.papers)
    assert feed.announced == clean.announced
    [skipped] = feed.skipped
    assert skipped.startswith(f'item 3 ({THIRD}v1 "')
    assert skipped.endswith(f"): {what}") or f"): {what} (" in skipped


def test_damage_in_a_title_and_in_a_tag_name_is_also_one_item(day_feed: bytes) -> None:
    title = b"<title>Training Verification-Friendly"
    in_title = inject(day_feed, title, b"\x00")
    in_tag = day_feed.replace(b"<guid isPermaLink", b"<gu\xffid isPermaLink", 1)
    for body in (in_title, in_tag):
        feed = parse_feed(RawFeed("cs.LG", body))
        assert len(feed.papers) == 252
        assert len(feed.skipped) == 1


def test_several_damaged_items_are_each_skipped(day_feed: bytes) -> None:
    body = day_feed
    for arxiv_id in ("2412.13227", "2412.13232", "2412.13276"):
        body = inject(body, description_of(arxiv_id), b"\x00")
    feed = parse_feed(RawFeed("cs.LG", body))
    assert len(feed.papers) == 250
    assert [s.split(" (")[0] for s in feed.skipped] == ["item 1", "item 3", "item 6"]


def test_damage_outside_any_item_still_fails_the_feed(day_feed: bytes) -> None:
    body = inject(day_feed, b"cs.LG updates on arXiv.org</title>", b"\x00")
    with pytest.raises(ParseError) as caught:
        parse_feed(RawFeed("cs.LG", body))
    assert "malformed XML" in caught.value.message
    assert "outside any item" in caught.value.message


def test_a_truncated_body_is_still_a_failure_even_with_a_damaged_item(day_feed: bytes) -> None:
    damaged = inject(day_feed, description_of(THIRD), b"\x00")
    for body in (day_feed[: len(day_feed) // 2], damaged[: len(damaged) // 2], damaged[:-12]):
        with pytest.raises(ParseError) as caught:
            parse_feed(RawFeed("cs.LG", body))
        assert caught.value.message.startswith("truncated XML"), caught.value.message


def test_a_cut_multibyte_character_at_the_end_is_truncation() -> None:
    body = '<?xml version="1.0"?><rss><channel><item><title>Bornd\u00f6rfer'.encode()
    with pytest.raises(ParseError) as caught:
        parse_feed(RawFeed("cut", body[:-1]))
    assert caught.value.message.startswith("truncated XML")


def test_too_many_damaged_items_fail_the_feed(day_feed: bytes) -> None:
    body = day_feed.replace(b"Announce Type: new", b"Announce Type: new\x00")
    with pytest.raises(ParseError, match="too many to skip"):
        parse_feed(RawFeed("cs.LG", body))


def test_a_generic_feed_keeps_feedparser_data_for_the_other_items() -> None:
    items = "".join(
        f"<item><title>Post {n}</title><link>https://blog.example/{n}</link>"
        f"<guid>https://blog.example/{n}</guid><pubDate>Mon, 0{n} Dec 2024 10:00:00 GMT</pubDate>"
        f"<description>Text {n}</description></item>"
        for n in range(1, 4)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>B</title>{items}'
    body += "</channel></rss>"
    raw = body.encode().replace(b"Text 2", b"Te\x00xt 2")
    feed = parse_feed(RawFeed("blog", raw))
    assert [p.title for p in feed.papers] == ["Post 1", "Post 3"]
    assert [p.published.day if p.published else None for p in feed.papers] == [1, 3]
    assert feed.skipped == ('item 2 (https://blog.example/2 "Post 2"): a NUL byte',)


def test_a_latin1_feed_is_not_searched_for_utf8(tmp_path: Path) -> None:
    body = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>B</title>'
        "<item><title>Caf\u00e9 \u00ef\u00bf\u00be</title><guid>g1</guid></item></channel></rss>"
    ).encode("latin-1")
    feed = parse_feed(RawFeed("latin", body))
    assert [p.title for p in feed.papers] == ["Caf\u00e9 \u00ef\u00bf\u00be"]
    assert feed.skipped == ()


def test_the_poll_line_counts_skipped_items() -> None:
    report = FeedReport("cs.LG", "new", papers=252, new=120, skipped=("item 3 (x): a NUL byte",))
    assert feed_line(report).endswith(", 252 papers, 120 new, 1 damaged item skipped")
    two = FeedReport("cs.LG", "new", papers=251, new=1, skipped=("a", "b"))
    assert feed_line(two).endswith(", 2 damaged items skipped")
    assert "skipped" not in feed_line(FeedReport("cs.LG", "new", papers=3, new=3))


def test_watcher_once_delivers_the_rest_and_warns_about_the_damaged_item(
    day_feed: bytes, tmp_path: Path
) -> None:
    feed = tmp_path / "cs-lg.xml"
    feed.write_bytes(inject(day_feed, description_of(THIRD), b"\xff\xfe"))
    rules = tmp_path / "rules"
    write_rule(rules / "all.yaml", rule_yaml("all", {"Any": ["learning"]}))
    argv = ["once", "--feed", str(feed), "--rules", str(rules), "--data", str(tmp_path / "d")]
    run = subprocess.run(
        [sys.executable, "-m", "watcher", *argv],
        cwd=tmp_path,
        env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert re.search(r"2024-12-19, 252 papers, \d+ new, 1 damaged item skipped\n", run.stderr)
    warning = f"skipped a damaged item, item 3 ({THIRD}v1 "
    assert any(warning in line and "WARNING" in line for line in run.stderr.splitlines())
    assert "FAILED" not in run.stderr
