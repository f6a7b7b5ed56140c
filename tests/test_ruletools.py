"""``watcher rules test`` and ``watcher rules explain``, run through the CLI on real files."""

from __future__ import annotations

import io
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import factories
from tests.conftest import PROJECT, RULES_DIR
from watcher.cli import main
from watcher.models import Paper
from watcher.rules.tools import Progress
from watcher.store import Store

NOW = datetime.now(UTC)
YYMM = f"{NOW:%y%m}"  # ids of this month: the history reads recent shards only
SAMPLE_FEED = PROJECT / "watcher" / "examples" / "arxiv-rss-sample.xml"

RULE = """\
name: test-rule
feeds: [cs.LG, stat]
topics:
  - name: Pruning
    any: ["prun*"]
    none: [quantum]
  - name: Everything
    any: [we]
  - name: Zebras
    any: [zebra]
  - name: Han lab
    authors: [Song Han]
  - name: Sparse LLMs
    all: [sparse, "llm*"]
  - name: Quantization in ML
    query: 'quantiz* AND NOT quantum'
    categories: [cs.LG]
"""


def make_paper(n: int, title: str, abstract: str, **kw: Any) -> Paper:
    kw.setdefault("authors", ("Ada Lovelace",))
    return factories.paper(f"{YYMM}.{n:05d}", title=title, abstract=abstract, **kw)


PAPERS = [
    make_paper(1, "Pruning transformers", "We prune heads."),
    make_paper(2, "Sparse LLMs", "We study sparse attention in LLMs.", authors=("Song Han (MIT)",)),
    make_paper(3, "Quantized LLMs", "We quantize weights."),
    make_paper(4, "Quantum pruning", "We prune quantum circuits.", categories=("quant-ph",)),
    make_paper(5, "Quantized statistics", "We quantize estimators.", categories=("stat.ML",)),
    make_paper(6, "Graphs", "We color graphs.", categories=("math.CO",)),  # not in the feeds
] + [make_paper(100 + i, f"Filler {i}", "We do other things.") for i in range(20)]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)  # no stray .env, no ./data
    data = tmp_path / "data"
    with Store.open(data) as store:
        store.record_papers(PAPERS, NOW - timedelta(days=3))
        store.record_papers(
            [make_paper(900, "Old pruning", "We prune.")], NOW - timedelta(days=200)
        )
        store.commit()
    rule = tmp_path / "rules" / "test-rule.yaml"
    rule.parent.mkdir()
    rule.write_text(RULE, encoding="utf-8")
    return data, rule


def test_rules_test_against_history(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, rule = setup
    assert main(["rules", "test", str(rule), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    # 24 papers of the last 90 days are in cs.LG or stat (not math.CO, quant-ph, or old).
    assert out.startswith(f"test-rule ({rule}): 24 papers in the last 90 days of {data}; ")
    assert 'Topic "Pruning": 1 match (4.2%)' in out
    assert f"  {YYMM}.00001v1       Pruning transformers  [prun*] score 5" in out
    assert 'Topic "Everything": 24 matches (100.0%)' in out
    assert "WARNING: too broad: matches 100.0% of the pool (more than 10%)" in out
    assert "  ... and 19 more" in out
    assert 'Topic "Zebras": 0 matches (0.0%)' in out
    assert f"WARNING: dead: nothing matched in the last 90 days of {data}" in out
    assert f"{YYMM}.00002v1       Sparse LLMs  [Song Han] score" in out
    assert f"{YYMM}.00002v1       Sparse LLMs  [sparse, llm*] score" in out
    # The category filter keeps the stat.ML quantization paper out of that topic.
    section = out.split('Topic "Quantization in ML"')[1]
    assert f"{YYMM}.00003v1" in section and f"{YYMM}.00005v1" not in section


def test_rules_test_days(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, rule = setup
    assert main(["rules", "test", str(rule), "--data", str(data), "--days", "365"]) == 0
    assert ": 25 papers in the last 365 days" in capsys.readouterr().out
    assert main(["rules", "test", str(rule), "--data", str(data), "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert ": 0 papers in the last 1 days" in out
    assert "nothing to test against: the pool is empty" in out


def test_rules_test_against_feed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    rule = RULES_DIR / "efficient-ml.yaml"
    assert main(["rules", "test", str(rule), "--feed", str(SAMPLE_FEED)]) == 0
    out = capsys.readouterr().out
    # 8 items, one a replacement: a cycle would not announce it, so the pool leaves it out.
    assert out.startswith(f"efficient-ml ({rule}): 7 papers in 1 feed(s); 4 matched (57.1%)")
    assert 'Topic "Low-rank": 0 matches (0.0%)' in out
    assert "WARNING: dead: nothing matched in 1 feed(s)" in out


def test_rules_test_invalid_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent("""\
        feeds: [cs.LG]
        topics:
          - name: T
            query: 'prun* AND (sparse'
        """),
        encoding="utf-8",
    )
    assert main(["rules", "test", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4: topics[0].query: character 11: this '(' is never closed" in err


def test_rules_test_days_and_feed_exclude_each_other(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, rule = setup
    with pytest.raises(SystemExit):
        main(["rules", "test", str(rule), "--days", "3", "--feed", "x.xml"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_rules_explain(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, rule = setup
    assert main(["rules", "explain", f"{YYMM}.00004v1", str(rule), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{YYMM}.00004v1: Quantum pruning\n  authors: Ada Lovelace\n")
    assert f"test-rule ({rule}): matched, score 1" in out
    assert "  - Pruning: excluded by 'none' term quantum (in title, abstract)" in out
    assert "  + Everything: we in abstract" in out
    assert "  - Zebras: no 'any' term found in title, abstract" in out
    assert "  - Han lab: no watched author among the paper's authors" in out
    assert "  - Sparse LLMs: 'all' term sparse missing from title, abstract; " in out
    assert (
        "  - Quantization in ML: category filter: the paper's categories (quant-ph) are not in "
        "cs.LG; query 'quantiz* AND NOT quantum' is false (found: quantum)" in out
    )

    assert main(["rules", "explain", f"{YYMM}.00002", str(rule), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "  + Han lab: by Song Han" in out
    assert "  + Sparse LLMs: sparse in title, abstract; llm* in title, abstract" in out


def test_rules_explain_defaults_to_the_rules_directory(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, rule = setup
    args = ["rules", "explain", f"{YYMM}.00001", "--data", str(data), "--rules", str(rule.parent)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "  + Pruning: prun* in title, abstract" in out
    assert "Score: each matched term counts once per field it is in (title 3" in out


def test_rules_explain_takes_an_id_as_papers_cite_it(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, rule = setup
    assert main(["rules", "explain", f"arXiv:{YYMM}.00001v2", str(rule), "--data", str(data)]) == 0
    assert "  + Pruning: prun* in title, abstract" in capsys.readouterr().out


def test_rules_explain_unknown_paper(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, rule = setup
    assert main(["rules", "explain", f"{YYMM}.99999", str(rule), "--data", str(data)]) == 1
    assert f"paper {YYMM}.99999 is not in the archive of {data}: no feed polled" in (
        capsys.readouterr().err
    )
    with Store.open(data) as store:  # seen, but its text is gone: pruned after retention
        store.prune_archive(NOW)
    assert main(["rules", "explain", f"{YYMM}.00001", str(rule), "--data", str(data)]) == 1
    err = capsys.readouterr().err
    first = (NOW - timedelta(days=3)).date().isoformat()
    assert f"paper {YYMM}.00001 was seen (first on {first}) but its text is not in" in err


# --- untrusted feed text on the terminal --------------------------------------------------

HOSTILE = "\x9b2J\x1b]0;pwned\x07Pruning \u202egnp.exe\u2066x\u2069 \u200ehidden\u061c"
UNSAFE = {chr(c) for c in range(0x20) if c != 0x0A} | {chr(c) for c in range(0x7F, 0xA0)}
UNSAFE |= set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    evil = make_paper(
        7,
        HOSTILE,
        "We prune.",
        authors=("Eve\u202e\x9b31m",),
        categories=("cs.LG", "x\u202e\x9b"),
    )
    with Store.open(data) as store:
        store.record_papers([evil], NOW - timedelta(days=1))
        store.commit()
    rule = tmp_path / "rule.yaml"
    rule.write_text(RULE, encoding="utf-8")
    return data, rule


def test_rules_test_prints_no_control_or_bidi_characters(
    hostile: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, rule = hostile
    assert main(["rules", "test", str(rule), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"{YYMM}.00007v1       2J]0;pwnedPruning gnp.exex hidden  [prun*]" in out
    assert not UNSAFE & set(out), sorted(UNSAFE & set(out))


def test_rules_explain_prints_no_control_or_bidi_characters(
    hostile: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, rule = hostile
    assert main(["rules", "explain", f"{YYMM}.00007", str(rule), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{YYMM}.00007v1: 2J]0;pwnedPruning gnp.exex hidden\n")
    assert "  authors: Eve31m\n" in out
    assert not UNSAFE & set(out), sorted(UNSAFE & set(out))


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_tty_after_a_second() -> None:
    now = [0.0]
    tty = FakeTTY()
    bar = Progress(tty, "matching", clock=lambda: now[0])
    bar.update(10, 100)
    assert tty.getvalue() == ""  # quick runs show nothing
    now[0] = 1.5
    bar.update(50, 100)
    assert tty.getvalue() == "\rmatching [###############...............] 50/100"
    now[0] = 1.55
    bar.update(60, 100)  # too soon after the last update
    assert tty.getvalue().count("\r") == 1
    bar.finish()
    assert tty.getvalue().endswith("\r")

    plain = io.StringIO()
    quiet = Progress(plain, "matching", clock=lambda: now[0] + 10)
    quiet.update(1, 2)
    quiet.finish()
    assert plain.getvalue() == ""
