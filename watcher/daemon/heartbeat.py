"""What the daemon leaves in the data directory for others to read.

    daemon.lock        flock held by the running daemon for its whole life; its pid inside
    daemon.json        the heartbeat: pid, start time, the last job and how it went, the next
                       run of every job, rule files with load errors (``watcher status``)
    daemon-state.json  what must survive restarts: the subscriptions already backfilled

One daemon per data directory: the lock is an flock, so it dies with the process (no stale
lock files after a crash or SIGKILL), and ``daemon_pid`` asks the kernel, not the pid file,
whether a daemon holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from watcher.errors import RuleError, StoreError
from watcher.models import (
    FeedbackChannel,
    Heartbeat,
    JobOutcome,
    JobRun,
    NextJob,
    RuleFileError,
    RunningJob,
)
from watcher.rules.index import read_index, summarize_rules
from watcher.status import DaemonHealth, Liveness, RulesHealth, daemon_health, liveness
from watcher.store.atomic import write_atomically

LOCK_FILE = "daemon.lock"
HEARTBEAT_FILE = "daemon.json"
STATE_FILE = "daemon-state.json"


class DaemonLock:
    """An exclusive flock on ``data/daemon.lock`` with our pid in the file."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, patience: float = 0.5) -> None:
        """Take the lock or raise StoreError naming the pid that holds it.

        ``patience`` covers a ``watcher status`` that is probing the lock at this very moment
        (it holds a shared lock for a few microseconds); a real daemon holds it for good.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                holder = _read_pid(fd)
                os.close(fd)
                who = f"pid {holder}" if holder else "another process"
                raise StoreError(
                    f"a watcher daemon is already running on this data directory ({who}); "
                    "stop it first, or give this one another WATCHER_DATA_DIR",
                    where=str(self.path.parent),
                ) from None
            except OSError as error:
                os.close(fd)
                raise StoreError(
                    f"cannot lock: {error.strerror or error}", where=str(self.path)
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def daemon_pid(data_dir: Path) -> int | None:
    """The pid of the daemon holding ``data_dir``, or None if no daemon holds it.

    Read-only: a shared flock that fails means a daemon holds the exclusive one."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1  # held, by a pid we cannot read
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(raw) if raw.isdigit() else None


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write atomically: readers see the old or the new file."""
    write_atomically(path, json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode())


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``; None when missing or unreadable (a heartbeat is advice)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_backfilled(data_dir: Path) -> dict[str, str]:
    """Which subscriptions were backfilled, and when, from ``daemon-state.json``.

    Unlike the heartbeat this file is not advice: read as empty, a damaged file would
    backfill every subscription again and queue weeks of papers once more. So a missing
    file is "none yet", and an empty or damaged one is a StoreError naming it.
    """
    path = data_dir / STATE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise StoreError(f"cannot read: {e.strerror or e}", where=str(path)) from e
    try:
        data = json.loads(raw)
    except ValueError as e:
        what = "empty" if not raw.strip() else f"not JSON ({e})"
        raise StoreError(f"damaged daemon state: {what}", where=str(path)) from e
    backfilled = data.get("backfilled") if isinstance(data, dict) else None
    if not isinstance(backfilled, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in backfilled.items()
    ):
        raise StoreError(
            "damaged daemon state: no 'backfilled' object of names and times", where=str(path)
        )
    return dict(backfilled)


def read_heartbeat(data_dir: Path) -> Heartbeat | None:
    """The heartbeat in ``data_dir``; None when there is none (or it is unreadable)."""
    data = read_json(data_dir / HEARTBEAT_FILE)
    return None if data is None else heartbeat_from_dict(data)


# --- the heartbeat as JSON ----------------------------------------------------------------


def heartbeat_to_dict(beat: Heartbeat) -> dict[str, Any]:
    """``daemon.json``'s object for ``beat`` (times as ISO 8601 with their offsets)."""
    return {
        "pid": beat.pid,
        "started": _iso(beat.started),
        "updated": _iso(beat.updated),
        "stopped": _iso(beat.stopped),
        "data_dir": beat.data_dir,
        "rules_dir": beat.rules_dir,
        "rules_dir_error": beat.rules_dir_error,
        "subscriptions": list(beat.subscriptions),
        "rule_errors": [
            {"error": e.error, "path": e.path, "kept": e.kept} for e in beat.rule_errors
        ],
        "jobs": [
            {"id": j.id, "name": j.name, "next_run": _iso(j.next_run), "timezone": j.timezone}
            for j in beat.jobs
        ],
        "running": (
            None
            if beat.running is None
            else {"job": beat.running.job, "since": beat.running.since.isoformat()}
        ),
        "last_job": _run_to_dict(beat.last_job),
        "last_cycle": _run_to_dict(beat.last_cycle),
        "feedback": [{"name": c.name, "on": c.on, "detail": c.detail} for c in beat.feedback],
    }


def heartbeat_from_dict(data: Mapping[str, Any]) -> Heartbeat:
    """The heartbeat ``heartbeat_to_dict`` wrote; lenient (a heartbeat is advice): a field
    missing or of the wrong kind reads as absent."""
    pid = data.get("pid")
    jobs = [j for j in _list(data.get("jobs")) if isinstance(j, Mapping)]
    errors = [e for e in _list(data.get("rule_errors")) if isinstance(e, Mapping)]
    running = data.get("running")
    since = _time(running.get("since")) if isinstance(running, Mapping) else None
    return Heartbeat(
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        started=_time(data.get("started")),
        updated=_time(data.get("updated")),
        stopped=_time(data.get("stopped")),
        data_dir=str(data.get("data_dir") or ""),
        rules_dir=str(data.get("rules_dir") or ""),
        rules_dir_error=_text(data.get("rules_dir_error")),
        subscriptions=tuple(str(name) for name in _list(data.get("subscriptions"))),
        rule_errors=tuple(
            RuleFileError(str(e.get("path") or ""), str(e.get("error")), e.get("kept") is True)
            for e in errors
        ),
        jobs=tuple(
            NextJob(
                str(j.get("id") or j.get("name") or "?"),
                str(j.get("name") or j.get("id") or "?"),
                _time(j.get("next_run")),
                str(j.get("timezone") or "UTC"),
            )
            for j in jobs
        ),
        running=(
            RunningJob(str(running.get("job") or "?"), since)
            if isinstance(running, Mapping) and since is not None
            else None
        ),
        last_job=_run_from_dict(data.get("last_job")),
        last_cycle=_run_from_dict(data.get("last_cycle")),
        feedback=tuple(
            FeedbackChannel(
                str(c.get("name") or "?"), c.get("on") is True, _text(c.get("detail")) or ""
            )
            for c in _list(data.get("feedback"))
            if isinstance(c, Mapping)
        ),
    )


_OUTCOMES: tuple[str, ...] = get_args(JobOutcome)


def _run_to_dict(run: JobRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "job": run.job,
        "started": run.started.isoformat(),
        "finished": _iso(run.finished),
        "outcome": run.outcome,
        "summary": run.summary,
    }


def _run_from_dict(value: object) -> JobRun | None:
    if not isinstance(value, Mapping):
        return None
    started = _time(value.get("started"))
    if started is None:
        return None
    outcome = value.get("outcome")
    return JobRun(
        str(value.get("job") or "?"),
        started,
        _time(value.get("finished")),
        outcome if outcome in _OUTCOMES else "error",
        str(value.get("summary") or ""),
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def read_health(
    data_dir: Path, rules_dir: Path, now: datetime, *, require_daemon: bool = False
) -> tuple[DaemonHealth, RulesHealth]:
    """For ``watcher status``: the daemon (lock and heartbeat) and the rules directory,
    validated now: a file unchanged since the last cycle loaded it is taken from the rule
    index that cycle wrote, the others are read. Read-only."""
    health = daemon_health(
        daemon_pid(data_dir), read_heartbeat(data_dir), now, required=require_daemon
    )
    try:
        summary = summarize_rules(rules_dir, read_index(data_dir))
    except (RuleError, OSError):
        return health, RulesHealth(str(rules_dir), missing=True)
    rules = RulesHealth(
        str(rules_dir),
        files=summary.files,
        subscriptions=summary.subscriptions,
        errors=summary.errors,
        feeds=summary.feeds,
        webhook_env=summary.webhook_env,
    )
    return health, rules


def read_liveness(data_dir: Path, now: datetime, stale_after: timedelta) -> Liveness:
    """For ``watcher status --live`` (a container's health check): the lock and the
    heartbeat only, never the store, so it stays cheap and answers while a cycle runs."""
    return liveness(daemon_pid(data_dir), read_heartbeat(data_dir), now, stale_after=stale_after)


# --- the last `watcher once` ------------------------------------------------------------------

LAST_RUN_FILE = "last-run.json"


def write_last_run(data_dir: Path, run: JobRun) -> bool:
    """Record how a ``watcher once`` went, for status (a daemon's cycles are in its
    heartbeat). False when it could not be written: a read-only or full disk, which status
    then finds for itself."""
    try:
        write_json(data_dir / LAST_RUN_FILE, _run_to_dict(run) or {})
    except OSError:
        return False
    return True


def read_last_run(data_dir: Path) -> JobRun | None:
    """The last ``watcher once`` recorded here, or None (none, or unreadable)."""
    try:
        return _run_from_dict(json.loads((data_dir / LAST_RUN_FILE).read_bytes()))
    except (OSError, ValueError):
        return None
