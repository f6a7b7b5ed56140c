"""``library: refs.bib``: the papers a reader already knows, from the files Zotero,
Mendeley and JabRef export or a list of ids; reloaded live with the rule file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factories import rule_yaml, write_rule
from watcher.errors import RuleError
from watcher.library import Library, LibraryEntry, LibraryError, read_library
from watcher.rules import load_rule_file, load_rules
from watcher.rules.index import load_rules_indexed, write_index
from watcher.rules.watch import RuleState, reload, snapshot

ZOTERO = r"""
% Exported by Zotero (Better BibTeX)
@article{frantar2023gptq,
  title = {{GPTQ}: Accurate Post-Training Quantization for Generative Pre-trained Transformers},
  author = {Frantar, Elias and Ashkboos, Saleh},
  year = {2023},
  eprint = {2210.17323},
  archivePrefix = {arXiv},
  primaryClass = {cs.LG},
  abstract = {Generative Pre-trained Transformer models \emph{stand out}
    by their performance.}
}

@misc{lin2024awq,
  title = {AWQ: Activation-aware Weight Quantization},
  doi = {10.48550/arXiv.2306.00978},
}

@inproceedings{han2016deep,
  title = {Deep Compression},
  url = {https://arxiv.org/abs/1510.00149v5},
}

@article{scholar,
  title = {Sparse {GPT}},
  journal = {arXiv preprint arXiv:2301.00774},
}

@article{old,
  title = {An old paper},
  arxivid = {hep-th/9901001v2},
}

@article{pubmed,
  title = {A paper known by its text: pruning of {\"U}ber networks},
  eprint = {12345678},
  eprinttype = {pubmed},
  abstract = {We prune.},
}

@book{nothing, author = {Nobody}, year = {1999}}

@misc{again, title = {GPTQ, listed twice}, eprint = {2210.17323v2}}
"""


def test_a_bibtex_export_gives_arxiv_ids_from_every_field_exports_use(tmp_path: Path) -> None:
    path = tmp_path / "refs.bib"
    path.write_text(ZOTERO, encoding="utf-8")
    library = read_library(path)
    assert [e.paper_id for e in library.entries] == [
        "2210.17323",
        "2306.00978",
        "1510.00149",
        "2301.00774",
        "hep-th/9901001",
        None,
    ]
    gptq = library.entries[0]
    assert gptq.title.startswith("GPTQ: Accurate")  # braces gone
    assert (
        gptq.abstract == "Generative Pre-trained Transformer models stand out by their performance."
    )
    # The pubmed eprint is not an arXiv id: kept by its text, LaTeX turned into letters.
    assert library.entries[-1] == LibraryEntry(
        None, "A paper known by its text: pruning of Über networks", "We prune."
    )
    assert library.skipped == 1  # the book with neither an id nor a text
    assert library.paper_ids == {
        "2210.17323", "2306.00978", "1510.00149", "2301.00774", "hep-th/9901001"
    }  # fmt: skip


def test_a_list_of_ids_one_a_line_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "known.txt"
    path.write_text(
        "# papers I cite\n2210.17323\n\narXiv:2306.00978v2  # AWQ\n"
        "https://arxiv.org/abs/1510.00149v5\n2210.17323\n",
        encoding="utf-8",
    )
    assert read_library(path) == Library(
        path,
        (LibraryEntry("2210.17323"), LibraryEntry("2306.00978"), LibraryEntry("1510.00149")),
        0,
    )


def test_a_line_that_is_no_id_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "known.txt"
    path.write_text("2210.17323\n\nGPTQ paper\n", encoding="utf-8")
    with pytest.raises(LibraryError) as caught:
        read_library(path)
    assert str(caught.value).startswith(f"{path}:3: 'GPTQ paper': not an arXiv id")


def test_broken_bibtex_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "refs.bib"
    path.write_text(
        "@article{a, title = {Fine}, eprint = {2210.17323}}\n\n"
        "@misc{b, title = {Cut short\n"
        "@article{c, title = {After}}\n",
        encoding="utf-8",
    )
    with pytest.raises(LibraryError) as caught:
        read_library(path)
    assert str(caught.value).startswith(f"{path}:3: not valid BibTeX")


def test_a_missing_or_binary_library_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match=r"refs\.bib: cannot read the library"):
        read_library(tmp_path / "refs.bib")
    path = tmp_path / "refs.txt"
    path.write_bytes(b"2210.17323\n\xff\xfe\n")
    with pytest.raises(LibraryError, match=r"refs\.txt:2: not UTF-8"):
        read_library(path)


def test_the_rule_file_names_its_library_relative_to_itself(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (tmp_path / "refs.bib").write_text(ZOTERO, encoding="utf-8")
    rule = write_rule(rules / "q.yaml", rule_yaml("q", library="../refs.bib"))
    sub = load_rule_file(rule)
    assert sub.library is not None and Path(sub.library).resolve() == tmp_path / "refs.bib"
    assert len(read_library(Path(sub.library)).entries) == 6


def test_a_library_that_is_not_there_is_a_rule_error_at_its_line(tmp_path: Path) -> None:
    rule = write_rule(tmp_path / "q.yaml", rule_yaml("q", library="refs.bib"))
    with pytest.raises(RuleError) as caught:
        load_rule_file(rule)
    error = caught.value
    assert (error.line, error.field) == (6, "library")
    assert f"the library {tmp_path / 'refs.bib'} does not exist" in str(error)


def _touch(path: Path, text: str) -> None:
    old = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(old + 1_000_000, old + 1_000_000))


def test_editing_the_library_changes_the_subscription_for_the_daemon(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    library = rules / "known.txt"
    rules.mkdir()
    library.write_text("2210.17323\n", encoding="utf-8")
    write_rule(rules / "q.yaml", rule_yaml("q", library="known.txt"))
    first = reload(RuleState(), snapshot(rules))
    assert [s.name for s in first.state.subscriptions] == ["q"]
    assert not reload(first.state, snapshot(rules)).changed  # nothing moved: not read again

    _touch(library, "2210.17323\n2306.00978\n")
    edited = reload(first.state, snapshot(rules))
    assert edited.updated == (rules / "q.yaml",)
    assert edited.state.subscriptions[0].library_stamp != first.state.subscriptions[0].library_stamp

    library.unlink()  # gone: an error, the last good version keeps running, said once
    gone = reload(edited.state, snapshot(rules))
    assert [e.field for e in gone.rejected] == ["library"] and gone.state.subscriptions
    assert not reload(gone.state, snapshot(rules)).touched
    library.write_text("2210.17323\n", encoding="utf-8")
    back = reload(gone.state, snapshot(rules))
    assert back.fixed == (rules / "q.yaml",)


def test_the_rule_cache_of_watcher_once_sees_a_library_edit(tmp_path: Path) -> None:
    rules, data = tmp_path / "rules", tmp_path / "data"
    rules.mkdir()
    data.mkdir()
    library = rules / "known.txt"
    library.write_text("2210.17323\n", encoding="utf-8")
    write_rule(rules / "q.yaml", rule_yaml("q", library="known.txt"))
    ruleset, stamped = load_rules_indexed(rules, data)
    assert stamped is not None
    write_index(data, stamped, ruleset)
    assert load_rules_indexed(rules, data) == (ruleset, None)  # the cache answers

    _touch(library, "2210.17323\n2306.00978\n")
    again, stamped = load_rules_indexed(rules, data)
    assert stamped is not None  # the file was read again
    assert again.subscriptions == load_rules(rules).subscriptions
    assert again.subscriptions[0].library_stamp != ruleset.subscriptions[0].library_stamp


def test_rules_check_reads_each_library_and_names_a_broken_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from watcher.cli import main

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "refs.bib").write_text(ZOTERO, encoding="utf-8")
    (rules / "bad.txt").write_text("2210.17323\nnot an id\n", encoding="utf-8")
    write_rule(rules / "a.yaml", rule_yaml("a", library="refs.bib"))
    assert main(["rules", "check", str(rules)]) == 0
    assert "library: 6 papers; 1 entry skipped" in capsys.readouterr().out
    write_rule(rules / "b.yaml", rule_yaml("b", library="bad.txt"))
    assert main(["rules", "check", str(rules)]) == 1
    out = capsys.readouterr().out
    assert f"{rules / 'b.yaml'}: library: {rules / 'bad.txt'}:2: 'not an id'" in out
