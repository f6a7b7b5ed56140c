"""The reload logic of watcher.rules.watch, driven by plain snapshots: no threads, no waiting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factories import rule_yaml, write_rule
from watcher.models import Subscription
from watcher.rules import load_rule_file
from watcher.rules.watch import Reload, RuleState, Snapshot, reload, snapshot


def rule(name: str, term: str = "quantiz*", schedule: str = "daily") -> str:
    return rule_yaml(name, {"Topic": [term]}, schedule=schedule)


BROKEN = "name: broken\nfeeds: [cs.LG]\ntopics:\n  - name: Topic\n    any: []\n"


class Dir:
    """A rules directory; ``look()`` is what the daemon does every few seconds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = RuleState()
        self.reads: list[str] = []

    def write(self, name: str, text: str) -> None:
        write_rule(self.path / name, text)

    def load(self, path: Path) -> Subscription:
        self.reads.append(path.name)
        return load_rule_file(path)

    def look(self, current: Snapshot | None = None) -> Reload:
        self.reads = []
        change = reload(self.state, snapshot(self.path) if current is None else current, self.load)
        self.state = change.state
        return change

    def names(self) -> list[str]:
        return [s.name for s in self.state.subscriptions]


@pytest.fixture
def rules(tmp_path: Path) -> Dir:
    return Dir(tmp_path)


def test_first_look_loads_every_file_and_reports_bad_ones(rules: Dir) -> None:
    rules.write("a.yaml", rule("alpha"))
    rules.write("b.yaml", rule("beta"))
    rules.write("c.yaml", BROKEN)
    rules.write("notes.txt", "not a rule file")
    change = rules.look()
    assert rules.names() == ["alpha", "beta"]
    assert [p.name for p in change.added] == ["a.yaml", "b.yaml"]
    assert change.changed
    [error] = change.rejected
    assert str(error) == f"{rules.path / 'c.yaml'}:5: topics[0].any: the term list is empty"
    assert rules.state.kept == ()  # c.yaml never loaded: nothing of it runs


def test_unchanged_files_are_not_read_again(rules: Dir) -> None:
    rules.write("a.yaml", rule("alpha"))
    rules.look()
    change = rules.look()
    assert rules.reads == [] and not change.touched


def test_an_edit_replaces_only_that_file(rules: Dir) -> None:
    rules.write("a.yaml", rule("alpha"))
    rules.write("b.yaml", rule("beta"))
    rules.look()
    rules.write("a.yaml", rule("alpha", term="prun*"))
    change = rules.look()
    assert rules.reads == ["a.yaml"]
    assert [p.name for p in change.updated] == ["a.yaml"] and change.changed
    alpha = rules.state.subscriptions[0]
    assert alpha.topics[0].any[0].text == "prun*"


def test_touching_a_file_without_changing_it_changes_nothing(rules: Dir) -> None:
    rules.write("a.yaml", rule("alpha"))
    rules.look()
    rules.write("a.yaml", rule("alpha"))
    change = rules.look()
    assert rules.reads == ["a.yaml"] and not change.changed and not change.touched


def test_an_invalid_edit_keeps_the_last_good_version(rules: Dir) -> None:
    rules.write("a.yaml", rule("alpha", term="prun*"))
    rules.look()
    good = rules.state.subscriptions
    rules.write("a.yaml", BROKEN)
    change = rules.look()
    assert not change.changed  # the matcher keeps running what it had
    assert rules.state.subscriptions == good
    [error] = change.rejected
    assert (error.line, error.field) == (5, "topics[0].any")
    assert rules.state.kept == (rules.path / "a.yaml",)
    assert rules.state.errors == (error,)

    assert not rules.look().touched  # reported once, not on every look

    rules.write("a.yaml", rule("alpha", term="sparsit*"))
    fixed = rules.look()
    assert fixed.changed and [p.name for p in fixed.fixed] == ["a.yaml"]
    assert rules.state.errors == () and rules.state.kept == ()
    assert rules.state.subscriptions[0].topics[0].any[0].text == "sparsit*"


def test_a_file_that_never_loaded_joins_once_fixed(rules: Dir) -> None:
    rules.write("a.yaml", BROKEN)
    rules.look()
    assert rules.names() == []
    rules.write("a.yaml", rule("alpha"))
    change = rules.look()
    assert [p.name for p in change.added] == ["a.yaml"] and rules.names() == ["alpha"]


def test_deleting_a_file_drops_its_subscription(rules: Dir) -> None:
    rules.write("a.yaml", rule("alpha"))
    rules.write("b.yaml", rule("beta"))
    rules.look()
    (rules.path / "a.yaml").unlink()
    change = rules.look()
    assert [p.name for p in change.removed] == ["a.yaml"] and change.changed
    assert rules.names() == ["beta"]


def test_deleting_a_broken_file_clears_its_error(rules: Dir) -> None:
    rules.write("a.yaml", BROKEN)
    rules.look()
    (rules.path / "a.yaml").unlink()
    change = rules.look()
    assert rules.state.errors == () and not change.changed


def test_a_new_file_taking_a_used_name_is_rejected(rules: Dir) -> None:
    rules.write("a.yaml", rule("alpha"))
    rules.look()
    rules.write("b.yaml", rule("Alpha", term="prun*"))
    change = rules.look()
    [error] = change.rejected
    assert error.field == "name" and "already used by" in str(error) and "a.yaml" in str(error)
    assert rules.names() == ["alpha"]


def test_a_rename_inside_a_file_frees_the_old_name(rules: Dir) -> None:
    rules.write("a.yaml", rule("alpha"))
    rules.look()
    rules.write("a.yaml", rule("gamma"))
    rules.write("b.yaml", rule("alpha"))
    change = rules.look()
    assert change.rejected == () and rules.names() == ["gamma", "alpha"]


def test_snapshots_need_no_files_on_disk(tmp_path: Path) -> None:
    """reload reads only through ``load``: a fake loader and made-up stamps drive it."""
    subs = {name: Subscription(name, name, ("cs.LG",), ()) for name in ("x", "y")}
    loaded: list[str] = []

    def load(path: Path) -> Subscription:
        loaded.append(path.name)
        return subs[path.stem]

    first = reload(RuleState(), {Path("x.yaml"): (1, 10, 1), Path("y.yaml"): (1, 10, 2)}, load)
    second = reload(first.state, {Path("x.yaml"): (2, 10, 1), Path("y.yaml"): (1, 10, 2)}, load)
    assert loaded == ["x.yaml", "y.yaml", "x.yaml"]
    assert not second.changed  # same subscription read again


def test_a_missing_directory_is_a_rule_error(tmp_path: Path) -> None:
    from watcher.errors import RuleError

    with pytest.raises(RuleError, match="does not exist"):
        snapshot(tmp_path / "nowhere")


def test_after_a_restart_a_broken_file_runs_as_it_last_loaded(rules: Dir) -> None:
    good = Subscription("alpha", str(rules.path / "a.yaml"), ("cs.LG",), ())
    rules.write("a.yaml", BROKEN)  # broken while the daemon was down
    change = reload(RuleState(), snapshot(rules.path), last_good=lambda path: good)
    assert change.state.subscriptions == (good,)  # the remembered version runs...
    [error] = change.rejected  # ...and the error is reported
    assert "topics[0].any" in str(error)


def test_a_snapshot_sees_a_file_replaced_with_the_same_size_and_time(tmp_path: Path) -> None:
    # Editors save by writing a new file and renaming it over the old one; on a coarse
    # clock the new file can have the old one's mtime and, after a one-letter fix, its size.
    path = tmp_path / "a.yaml"
    path.write_text(rule_yaml("a", {"Q": ["quantiz*"]}), encoding="utf-8")
    before = snapshot(tmp_path)
    info = path.stat()
    new = tmp_path / ".a.yaml.swp"
    new.write_text(rule_yaml("a", {"Q": ["quantis*"]}), encoding="utf-8")
    os.utime(new, ns=(info.st_atime_ns, info.st_mtime_ns))
    keep = path.with_suffix(".old")
    os.link(path, keep)  # the old inode stays alive, so its number is not reused
    new.replace(path)
    assert path.stat().st_size == info.st_size and path.stat().st_mtime_ns == info.st_mtime_ns
    assert snapshot(tmp_path) != before
