"""``watcher rules suggest`` on a small archive where the right suggestion is known: the
reader likes quantized KV caches (the rule names neither "KV" nor "cache") and dislikes
quantized diffusion models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factories import paper
from watcher.cli import main
from watcher.feedback import Vote
from watcher.models import Paper
from watcher.rules import load_rule_file
from watcher.store import Store, record_vote

# The command reads the archive's last 90 days by the clock: the papers are of this week.
NOW = datetime.now(UTC).replace(microsecond=0)
DAYS = 10
RULE = """\
# Quantization papers, for the team.
name: quant
feeds: [cs.LG]
topics:
  - name: Quantization
    any: ["quantiz*", low-bit]   # both spellings
  # Pruning too, for now.
  - name: Pruning
    any: ["prun*"]
schedule: daily
"""
LIKED = [
    ("KV cache quantization for long-context generation",
     "We quantize the KV cache of transformer inference to few bits after post-training."),
    ("Low-bit KV cache for serving",
     "We quantize the KV cache of transformer inference per channel, for speech synthesis."),
    ("Quantized KV cache compression",
     "Quantization of the KV cache of transformer inference with outliers."),
]  # fmt: skip
DISLIKED = [
    (f"Quantized diffusion for {what}",
     f"Post-training quantization of diffusion for {what} synthesis.")
    for what in ("audio", "video", "image")
]  # fmt: skip


def archive() -> tuple[list[Paper], list[str], list[str]]:
    """160 papers over 10 days: 150 on transformer inference the rule does not match, 4 on
    KV cache eviction (no quantization: the rule misses them), the liked and disliked."""
    papers: list[Paper] = []

    def add(title: str, abstract: str) -> str:
        n = len(papers)
        day = NOW - timedelta(days=n % DAYS)
        papers.append(paper(f"2409.{n + 10000:05d}", title=title, abstract=abstract, published=day))
        return papers[-1].id

    for i in range(150):
        add(f"Transformer inference on robots {i}", f"We study transformer inference, case {i}.")
    for i in range(4):
        add(f"KV cache eviction {i}", "We evict entries from the KV cache while decoding.")
    liked = [add(t, a) for t, a in LIKED]
    disliked = [add(t, a) for t, a in DISLIKED]
    return papers, liked, disliked


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    rule, data = tmp_path / "rules" / "quant.yaml", tmp_path / "data"
    rule.parent.mkdir()
    rule.write_text(RULE, encoding="utf-8")
    papers, liked, disliked = archive()
    with Store.open(data) as store:
        store.record_papers(papers, NOW - timedelta(days=2))
        store.commit()
    for paper_id in liked:
        record_vote(data, "quant", paper_id, Vote.LIKE, "cli", NOW)
    for paper_id in disliked:
        record_vote(data, "quant", paper_id, Vote.DISLIKE, "cli", NOW)
    return rule, data


def test_suggest_proposes_what_the_feedback_says_and_measures_it(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rule, data = setup
    assert main(["rules", "suggest", str(rule), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    none_section = out.split("none: candidates")[1].split("any: candidates")[0]
    # diffusion: in every disliked match, in no liked paper; drops those 3 over 10 days.
    assert none_section.splitlines()[1].split()[0] == "'diffusion'"
    assert "in 3 of 3 disliked, 0 of 3 liked; drops 3 disliked and 0 liked papers" in out
    assert "0.3 fewer a day (into Quantization)" in out
    # Words a liked paper also has (post-training, synthesis) are not proposed.
    assert "'post training'" not in out and "'synthesis'" not in out
    any_section = out.split("any: candidates")[1].split("---")[0]
    # "kv cache": in every liked paper; brings the 4 eviction papers: 0.4 a day.
    assert any_section.splitlines()[1].split("  ")[1].strip() == "'kv cache'"
    assert "in 3 of 3 liked, 4.4% of the archive; 0.4 more papers a day" in out
    # Terms the rule names (quantiz*) and words of the whole archive are not proposed.
    assert "'quantization'" not in out and "'transformer'" not in out
    assert "+    any: [quantiz*, low-bit]" not in out  # the diff touches only what changes
    assert "+    none: [diffusion]" in out
    assert "+  - name: More like your likes" in out and "+    any: [kv cache]" in out
    assert "Nothing written" in out
    assert rule.read_text(encoding="utf-8") == RULE


def test_write_applies_the_edit_keeping_comments_and_then_there_is_nothing_more(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rule, data = setup
    assert main(["rules", "suggest", str(rule), "--data", str(data), "--write"]) == 0
    text = rule.read_text(encoding="utf-8")
    for comment in ("# Quantization papers, for the team.", "# both spellings", "# Pruning too"):
        assert comment in text
    sub = load_rule_file(rule)
    quantization = next(t for t in sub.topics if t.name == "Quantization")
    assert [t.text for t in quantization.none] == ["diffusion"]
    assert [t.text for t in sub.topics[-1].any] == ["kv cache"]
    capsys.readouterr()
    assert main(["rules", "suggest", str(rule), "--data", str(data)]) == 0
    assert "No edit to propose." in capsys.readouterr().out
    assert rule.read_text(encoding="utf-8") == text


def test_too_little_feedback_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule, data = tmp_path / "quant.yaml", tmp_path / "data"
    rule.write_text(RULE, encoding="utf-8")
    papers, liked, _ = archive()
    with Store.open(data) as store:
        store.record_papers(papers, NOW - timedelta(days=2))
        store.commit()
    record_vote(data, "quant", liked[0], Vote.LIKE, "cli", NOW)
    record_vote(data, "quant", "2409.99999", Vote.LIKE, "cli", NOW)  # not in the archive
    assert main(["rules", "suggest", str(rule), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    # Counted in words: "1 liked paper" (it said "1 liked papers").
    assert out.startswith(
        f"quant ({rule}): 1 liked paper, 0 disliked that the rule matches; measured on 160 "
        "archived papers of its feeds over 10 days\n"
    )
    assert "none: needs at least 2 disliked papers that the rule matches (has 0)" in out
    assert "any: needs at least 2 liked papers (has 1)" in out
    assert "1 voted or library papers are not in the archive" in out
    assert "No edit to propose." in out
