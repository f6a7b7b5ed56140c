"""The rule files as they last loaded, so that unchanged ones need not be read again.

Per rule file, by its stamp (modification time, size, inode), two files in the data
directory, both written by ``watcher once``: ``rules-index.json``, what status reports of
it (its subscription's name, feeds and webhook variables, or its error), and
``rules-cache.json``, the whole subscription it loaded as, which ``once`` and ``preview``
take instead of reading the file again. Ten thousand rule files cost ten thousand ``stat``
calls, not ten thousand YAML parses and validations; status reads only the small index.

The index is a cache, not state: a missing, damaged or other version's index is rebuilt
from the rule files (nobody is told), and what it holds is exactly what loading the file
gave, terms and queries parsed again from their text.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast, get_args

from watcher import __version__
from watcher.errors import RuleError
from watcher.models import Destination, DigestOrder, Query, Subscription, Topic
from watcher.query import parse_query, parse_term
from watcher.rules.load import (
    RuleSet,
    iter_rule_files,
    library_stamp,
    load_rule_file,
    load_rules,
)
from watcher.store.atomic import write_atomically

INDEX_FILE = "rules-index.json"
CACHE_FILE = "rules-cache.json"
# Bumped when what a file loads as changes shape; with the version, it makes an older
# program's index read as absent (its validation may have differed).
SCHEMA = 3  # 3: min_relevance, keep_at_least (2: library)
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
    # Every variable a destination names for its secret URL (kept under the old name).
    webhooks = tuple(dest.secret_variable for dest in loaded.deliver if dest.secret_variable)
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
    """Remember what each file of ``ruleset`` loaded as, under the stamp it had before it
    was read. A file that could not be written is no loss: the rule files are read instead."""
    results: dict[str, Subscription | RuleError] = {}
    for sub in ruleset.subscriptions:
        results[sub.path] = sub
    for error in ruleset.errors:
        results.setdefault(error.path, error)
    stamped = {path: loaded for path, loaded in results.items() if path in before}
    # Keyed by absolute path: a run from another folder (or with --rules spelled another
    # way) finds the same files.
    index = {
        os.path.abspath(path): _to_dict(summary_of(before[path], loaded))
        for path, loaded in stamped.items()
    }
    cache = {
        os.path.abspath(path): {
            "stamp": list(before[path]),
            "name_line": ruleset.name_lines.get(path),
            "subscription": _subscription_to_dict(loaded),
        }
        for path, loaded in stamped.items()
        if isinstance(loaded, Subscription)
    }
    _write_if_changed(data_dir / INDEX_FILE, index)
    _write_if_changed(data_dir / CACHE_FILE, cache)


def _write_if_changed(path: Path, files: Mapping[str, object]) -> None:
    document = {"version": __version__, "schema": SCHEMA, "files": files}
    payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with contextlib.suppress(OSError):
        if path.read_bytes() == payload:
            return  # no rule file changed since: nothing to write
    with contextlib.suppress(OSError):
        write_atomically(path, payload)


def _read(path: Path) -> dict[str, Any]:
    """The files of an index document, or {} (missing, damaged, another version's)."""
    try:
        raw = json.loads(path.read_bytes())
        if raw.get("version") != __version__ or raw.get("schema") != SCHEMA:
            return {}
        files = raw["files"]
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def read_index(data_dir: Path) -> dict[str, RuleSummary]:
    """The index, or {} when there is none or it cannot be read (it is rebuilt)."""
    try:
        return {path: _from_dict(entry) for path, entry in _read(data_dir / INDEX_FILE).items()}
    except (ValueError, KeyError, TypeError):
        return {}


def load_rules_indexed(directory: Path, data_dir: Path) -> tuple[RuleSet, dict[str, Stamp] | None]:
    """``load_rules``, reading only the files changed since the cache of ``data_dir`` was
    written; and the stamps the files had before, for ``write_index`` — None when the
    cache answered for every file and holds no other: the index and cache are current, and
    rewriting them (megabytes at 10,000 files) would change nothing."""
    before = stamps(directory) if directory.is_dir() else {}
    cache = _read(data_dir / CACHE_FILE)
    answered: set[str] = set()

    def known(path: Path) -> tuple[Subscription, int | None] | None:
        entry = cache.get(os.path.abspath(path))
        try:
            if entry is None or tuple(entry["stamp"]) != before.get(str(path)):
                return None
            line = entry["name_line"]
            found = _subscription_from_dict(entry["subscription"]), line
        except (KeyError, TypeError, ValueError):
            return None  # a damaged entry: the file is read
        library = found[0].library
        if library is not None and library_stamp(library) != found[0].library_stamp:
            return None  # its library changed: the subscription did
        answered.add(str(path))
        return found

    ruleset = load_rules(directory, known)
    current = (
        answered == set(before) and len(cache) == len(before) and (data_dir / INDEX_FILE).exists()
    )
    return ruleset, None if current else before


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
        known = index.get(os.path.abspath(path))
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


# --- a subscription as JSON: terms and queries as written, parsed again when read ----------


def _subscription_to_dict(sub: Subscription) -> dict[str, object]:
    return {
        "name": sub.name,
        "path": sub.path,
        "feeds": list(sub.feeds),
        "topics": [
            {
                "name": t.name,
                "any": [term.text for term in t.any],
                "all": [term.text for term in t.all],
                "none": [term.text for term in t.none],
                "fields": list(t.fields),
                "categories": list(t.categories),
                "authors": list(t.authors),
                "query": None if t.query is None else t.query.text,
            }
            for t in sub.topics
        ],
        "deliver": [
            {"kind": d.kind, "target": list(d.target), "options": [list(o) for o in d.options]}
            for d in sub.deliver
        ],
        "schedule": sub.schedule,
        "timezone": sub.timezone,
        "updates": sub.updates,
        "order": sub.order,
        "max_papers": sub.max_papers,
        "backfill_days": sub.backfill_days,
        "min_relevance": sub.min_relevance,
        "keep_at_least": sub.keep_at_least,
        "library": sub.library,
        "library_stamp": None if sub.library_stamp is None else list(sub.library_stamp),
    }


def _subscription_from_dict(data: dict[str, Any]) -> Subscription:
    """Raises KeyError, TypeError or ValueError on anything unexpected (the caller then
    takes the index as damaged and reads the files)."""
    order = data["order"]
    if order not in get_args(DigestOrder):
        raise ValueError(f"order {order!r}")
    topics = tuple(
        Topic(
            name=str(t["name"]),
            any=tuple(parse_term(x) for x in t["any"]),
            all=tuple(parse_term(x) for x in t["all"]),
            none=tuple(parse_term(x) for x in t["none"]),
            fields=tuple(str(f) for f in t["fields"]),
            categories=tuple(str(c) for c in t["categories"]),
            authors=tuple(str(a) for a in t["authors"]),
            query=None if t["query"] is None else Query(t["query"], parse_query(t["query"])),
        )
        for t in data["topics"]
    )
    deliver = tuple(
        Destination(
            str(d["kind"]),
            tuple(str(x) for x in d["target"]),
            tuple((str(k), str(v)) for k, v in d["options"]),
        )
        for d in data["deliver"]
    )
    max_papers, backfill = data["max_papers"], data["backfill_days"]
    threshold, keep = data.get("min_relevance"), data.get("keep_at_least")
    library, stamp = data.get("library"), data.get("library_stamp")
    return Subscription(
        name=str(data["name"]),
        path=str(data["path"]),
        feeds=tuple(str(f) for f in data["feeds"]),
        topics=topics,
        deliver=deliver,
        schedule=str(data["schedule"]),
        timezone=str(data["timezone"]),
        updates=bool(data["updates"]),
        order=cast(DigestOrder, order),
        max_papers=None if max_papers is None else int(max_papers),
        backfill_days=None if backfill is None else int(backfill),
        min_relevance=None if threshold is None else float(threshold),
        keep_at_least=None if keep is None else int(keep),
        library=None if library is None else str(library),
        library_stamp=None if stamp is None else (int(stamp[0]), int(stamp[1]), int(stamp[2])),
    )
