"""What ``watcher status`` needs to know of the rule files without reading them all.

Per rule file: its stamp (modification time, size, inode) and what it said when it was
last loaded: its subscription's name, feeds and webhook variables, or its error. Written to
the data directory by the commands that load every rule file anyway (``watcher once``, the
daemon); read by ``watcher status``, which then loads only the files whose stamp changed
since. Ten thousand rule files cost status ten thousand ``stat`` calls, not ten thousand
YAML parses.

The index is a cache, not state: a missing or damaged one is rebuilt from the rule files
(status says nothing about it), and it never decides anything a cycle does.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from watcher.errors import RuleError
from watcher.models import Subscription
from watcher.rules.load import RuleSet, iter_rule_files, load_rule_file
from watcher.store.atomic import write_atomically

INDEX_FILE = "rules-index.json"
Stamp = tuple[int, int, int]  # st_mtime_ns, st_size, st_ino


@dataclass(frozen=True, slots=True)
class RuleSummary:
    """One rule file as last loaded: a subscription's name, feeds and webhook variables,
    or the error that kept it from loading (``file:line: field: message``)."""

    stamp: Stamp
    name: str | None = None
    feeds: tuple[str, ...] = ()
    webhook_env: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RulesSummary:
    """The rules directory as status reports it."""

    files: int
    subscriptions: tuple[str, ...]
    errors: tuple[str, ...]
    feeds: frozenset[str]  # every feed a good file names, as written
    webhook_env: frozenset[str]


def stamp_of(path: Path) -> Stamp:
    st = path.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino


def summary_of(stamp: Stamp, loaded: Subscription | RuleError) -> RuleSummary:
    if isinstance(loaded, RuleError):
        return RuleSummary(stamp, error=str(loaded))
    webhooks = tuple(
        value
        for dest in loaded.deliver
        for key, value in dest.options
        if dest.kind == "slack" and key == "webhook_env"
    )
    return RuleSummary(stamp, loaded.name, loaded.feeds, webhooks)


def stamps(directory: Path) -> dict[str, Stamp]:
    """The stamp of every rule file of ``directory`` (taken before the files are read: a
    file changed after that reads as changed next time)."""
    found: dict[str, Stamp] = {}
    for path in iter_rule_files(directory):
        try:
            found[str(path)] = stamp_of(path)
        except OSError:
            continue  # gone since the listing
    return found


def write_index(data_dir: Path, before: Mapping[str, Stamp], ruleset: RuleSet) -> None:
    """Remember what each file of ``ruleset`` said, under the stamp it had before it was
    read. A file that could not be written is no loss: status reads the files instead."""
    results: dict[str, Subscription | RuleError] = {}
    for sub in ruleset.subscriptions:
        results[sub.path] = sub
    for error in ruleset.errors:
        results.setdefault(error.path, error)
    entries = {
        path: _to_dict(summary_of(before[path], loaded))
        for path, loaded in results.items()
        if path in before
    }
    payload = json.dumps({"files": entries}, ensure_ascii=False, separators=(",", ":"))
    path = data_dir / INDEX_FILE
    with contextlib.suppress(OSError):
        if path.read_bytes() == payload.encode("utf-8"):
            return  # no rule file changed since: nothing to write
    with contextlib.suppress(OSError):
        write_atomically(path, payload.encode("utf-8"))


def read_index(data_dir: Path) -> dict[str, RuleSummary]:
    """The index, or {} when there is none or it cannot be read (it is rebuilt)."""
    try:
        raw = json.loads((data_dir / INDEX_FILE).read_bytes())
        return {path: _from_dict(entry) for path, entry in raw["files"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def summarize_rules(directory: Path, index: Mapping[str, RuleSummary]) -> RulesSummary:
    """The rules directory now: files whose stamp the index knows are taken from it, the
    others are loaded. Raises RuleError or OSError when the directory cannot be listed.

    Like ``load_rules``: files in name order, and a subscription name used by an earlier
    file is an error on the later one."""
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise RuleError(f"the rules directory {problem}", path=str(directory))
    summaries = []
    for path, stamp in stamps(directory).items():
        known = index.get(path)
        if known is not None and known.stamp == stamp:
            summaries.append((path, known))
            continue
        try:
            loaded: Subscription | RuleError = load_rule_file(Path(path))
        except RuleError as error:
            loaded = error
        summaries.append((path, summary_of(stamp, loaded)))
    return _combine(summaries)


def _combine(summaries: Iterable[tuple[str, RuleSummary]]) -> RulesSummary:
    names: list[str] = []
    errors: list[str] = []
    feeds: set[str] = set()
    webhooks: set[str] = set()
    first_file: dict[str, str] = {}
    files = 0
    for path, summary in summaries:
        files += 1
        if summary.error is not None or summary.name is None:
            errors.append(summary.error or f"{path}: unreadable")
            continue
        other = first_file.setdefault(summary.name.casefold(), path)
        if other != path:
            errors.append(
                f"{path}: name: subscription name {summary.name!r} is already used by {other}"
            )
            continue
        names.append(summary.name)
        feeds.update(summary.feeds)
        webhooks.update(summary.webhook_env)
    return RulesSummary(files, tuple(names), tuple(errors), frozenset(feeds), frozenset(webhooks))


def _to_dict(summary: RuleSummary) -> dict[str, object]:
    return {
        "stamp": list(summary.stamp),
        "name": summary.name,
        "feeds": list(summary.feeds),
        "webhook_env": list(summary.webhook_env),
        "error": summary.error,
    }


def _from_dict(data: Mapping[str, object]) -> RuleSummary:
    stamp = data["stamp"]
    if not isinstance(stamp, list) or len(stamp) != 3 or not all(isinstance(n, int) for n in stamp):
        raise TypeError("stamp")
    name, error = data.get("name"), data.get("error")
    feeds, webhooks = data.get("feeds", []), data.get("webhook_env", [])
    if not isinstance(feeds, list) or not isinstance(webhooks, list):
        raise TypeError("lists")
    return RuleSummary(
        (stamp[0], stamp[1], stamp[2]),
        name if isinstance(name, str) else None,
        tuple(str(f) for f in feeds),
        tuple(str(w) for w in webhooks),
        error if isinstance(error, str) else None,
    )
