"""The deployment files say what the README promises. The files are parsed and checked for
the settings that matter (user, directories, stop timeout, restart limits, hardening, health
check, read-only rules, the lock); ``systemd-analyze verify`` and ``security`` run on the unit
where systemd is installed. deploy/check.sh runs the image for real under Docker: set
WATCHER_DEPLOY_CHECK=1 to have the last test run it (a few minutes; CI does not)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT
from watcher.errors import EXIT_CONFIG

DEPLOY = PROJECT / "deploy"
UNIT = DEPLOY / "arxiv-watcher.service"


def unit_sections(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as section -> key -> values (keys may repeat, as Environment= does)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"setting outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit_runs_the_daemon_as_a_dedicated_user_with_hardening() -> None:
    service = unit_sections(UNIT)["Service"]

    def one(key: str) -> str:
        assert key in service, f"{key}= missing"
        return service[key][-1]

    assert one("User") == "arxiv-watcher" and one("Group") == "arxiv-watcher"
    assert one("EnvironmentFile") == "/etc/arxiv-watcher/env"
    assert one("WorkingDirectory") == "/var/lib/arxiv-watcher"
    env = dict(item.split("=", 1) for item in service["Environment"])
    assert env["WATCHER_DATA_DIR"] == "/var/lib/arxiv-watcher"
    assert env["WATCHER_RULES_DIR"] == "/etc/arxiv-watcher/rules"
    command = shlex.split(one("ExecStart"))
    assert command[0].endswith("/bin/watcher") and command[1] == "run"
    assert command[command.index("--data") + 1] == "/var/lib/arxiv-watcher"
    assert one("Restart") == "on-failure"
    # A stop takes at most 10 s (tests/test_stop.py): the timeout leaves a margin, no more.
    assert 10 < int(one("TimeoutStopSec")) <= 30
    assert one("KillSignal") == "SIGTERM"
    # A configuration error is not restarted; other failures are, up to the start limit.
    assert one("RestartPreventExitStatus") == str(EXIT_CONFIG)
    unit = unit_sections(UNIT)["Unit"]
    assert int(unit["StartLimitBurst"][-1]) >= 3 and int(unit["StartLimitIntervalSec"][-1]) > (
        int(unit["StartLimitBurst"][-1]) * int(one("RestartSec"))
    )  # the failed starts fit in the interval: the limit is reached
    assert one("NoNewPrivileges") == "yes"
    assert one("ProtectSystem") == "strict"
    assert "/var/lib/arxiv-watcher" in one("ReadWritePaths").split()
    assert unit_sections(UNIT)["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    copy = _unit_with_a_program(tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "Failed to" in result.stderr and "bus" in result.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert UNIT.name not in result.stderr, result.stderr


def _unit_with_a_program(tmp_path: Path) -> Path:
    # The program does not exist on a build machine: the unit with /bin/true in it.
    text = UNIT.read_text(encoding="utf-8").replace(
        "/opt/arxiv-watcher/venv/bin/watcher", "/bin/true"
    )
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    return copy


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_unit_is_hardened_to_an_exposure_of_at_most_2(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(_unit_with_a_program(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "--offline" in result.stderr:
        pytest.skip(f"systemd-analyze security --offline needs systemd 250: {result.stderr}")
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found[1]) <= 2.0, result.stdout


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_keeps_data_in_a_volume_and_mounts_rules_read_only() -> None:
    data = compose()
    service = data["services"]["watcher"]
    volumes = service["volumes"]
    assert "watcher-data:/var/lib/arxiv-watcher" in volumes and "watcher-data" in data["volumes"]
    rules = [v for v in volumes if v.endswith(":/etc/arxiv-watcher/rules:ro")]
    assert rules and (DEPLOY / rules[0].split(":")[0]).resolve() == PROJECT / "rules"
    env_file = service["env_file"][0]
    assert (DEPLOY / env_file["path"]).resolve() == PROJECT / ".env"
    assert env_file["required"] is False  # digests go to files until .env says otherwise
    assert service["environment"]["WATCHER_DATA_DIR"] == "/var/lib/arxiv-watcher"
    assert service["environment"]["WATCHER_RULES_DIR"] == "/etc/arxiv-watcher/rules"
    # Liveness, not "needs attention": an arXiv outage must not restart the container.
    assert service["healthcheck"]["test"] == ["CMD", "watcher", "status", "--live"]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / service["build"]["context"]).resolve() == PROJECT


def test_compose_has_the_hardening_of_the_unit_and_an_init() -> None:
    service = compose()["services"]["watcher"]
    assert service["init"] is True  # PID 1 passes SIGTERM on, from the first second
    assert service["read_only"] is True and "/tmp" in service["tmpfs"]
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["logging"]["options"]["max-size"] and service["logging"]["options"]["max-file"]
    grace = service["stop_grace_period"]
    assert grace.endswith("s") and 10 < int(grace[:-1]) <= 30


def test_the_build_context_leaves_secrets_history_and_data_out() -> None:
    # The legacy builder reads only the root .dockerignore.
    assert not (DEPLOY / "Dockerfile.dockerignore").exists()  # one list, not two
    ignored = (PROJECT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for name in (".env", ".git", "data", ".venv", "build", "*.egg-info", "**/__pycache__"):
        assert name in ignored, name


def test_the_lock_names_every_dependency_of_the_project() -> None:
    # The image installs deploy/constraints.txt, then the project with --no-deps: a package
    # added to pyproject.toml and not to the lock would fail the image's `pip check`.
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    pinned = {
        _normal(line.split("==")[0]): line.split("==")[1]
        for line in (DEPLOY / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    missing = [w for w in wanted if _normal(re.split(r"[<>=!~\[; ]", w)[0]) not in pinned]
    assert not missing, f"{missing} not in deploy/constraints.txt: run deploy/lock.sh"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_dockerfile_runs_as_a_user_with_a_volume_and_a_health_check() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    # A patch release of Python on a named Debian release, not a moving "3.11-slim".
    assert re.fullmatch(r"FROM python:3\.11\.\d+-slim-bookworm", lines[0]), lines[0]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["10001:10001"]  # fixed uid and gid: the volume's owner on every host
    assert any("--gid 10001" in line for line in lines)
    assert any(line.startswith("VOLUME") and "/var/lib/arxiv-watcher" in line for line in lines)
    # The dependencies from the lock before the source arrives, then the project alone.
    copies = [line.split()[1] for line in lines if line.startswith("COPY")]
    installs = [i for i, line in enumerate(lines) if "pip install" in line]
    assert "pip install -r deploy/constraints.txt" in lines[installs[0]]
    assert lines.index("COPY deploy/constraints.txt deploy/constraints.txt") < installs[0]
    assert copies.index("watcher") > copies.index("deploy/constraints.txt")
    assert "--no-deps" in lines[installs[1]] and "pip check" in lines[installs[1]]
    text = "\n".join(lines)
    assert 'CMD ["watcher", "status", "--live"]' in text.split("HEALTHCHECK", 1)[1]
    assert lines[-1] == 'CMD ["watcher", "run"]'


def test_the_health_check_command_exists() -> None:
    from watcher.cli import build_parser

    args = build_parser().parse_args(["status", "--require-daemon"])
    assert args.require_daemon is True
    assert build_parser().parse_args(["status", "--live"]).live is True
    assert build_parser().parse_args(["run", "--log-json"]).log_json is True


def _engine_problem() -> str | None:
    """Why deploy/check.sh cannot run here (None: it can)."""
    if os.environ.get("WATCHER_DEPLOY_CHECK") != "1":
        return "set WATCHER_DEPLOY_CHECK=1 to build and run the image (a few minutes)"
    if shutil.which("docker") is None:
        return "no docker command"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return f"no container engine answers: {info.stderr.strip()[-200:]}"
    return None


def test_the_image_runs_stops_and_restarts_as_promised() -> None:
    problem = _engine_problem()
    if problem:
        pytest.skip(problem)
    result = subprocess.run(
        ["bash", str(DEPLOY / "check.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode == 77:  # check.sh: cannot run here (Compose v2 missing, say)
        pytest.skip(result.stdout[-500:] + result.stderr[-500:])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout, result.stdout
