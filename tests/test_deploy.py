"""The deployment files say what the README promises. Docker is not run here: the files are
parsed and checked for the settings that matter (user, directories, stop timeout, health
check, read-only rules); ``systemd-analyze verify`` runs on the unit when it is installed."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT

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
    assert int(one("TimeoutStopSec")) >= 300  # longer than a cycle
    assert one("KillSignal") == "SIGTERM"
    assert one("NoNewPrivileges") == "yes"
    assert one("ProtectSystem") == "strict"
    assert "/var/lib/arxiv-watcher" in one("ReadWritePaths").split()
    assert unit_sections(UNIT)["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    # The program does not exist on a build machine: verify the unit with /bin/true in it.
    text = UNIT.read_text(encoding="utf-8").replace(
        "/opt/arxiv-watcher/venv/bin/watcher", "/bin/true"
    )
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
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
    assert (DEPLOY / env_file).resolve() == PROJECT / ".env"
    assert service["environment"]["WATCHER_DATA_DIR"] == "/var/lib/arxiv-watcher"
    assert service["environment"]["WATCHER_RULES_DIR"] == "/etc/arxiv-watcher/rules"
    assert service["healthcheck"]["test"][1:3] == ["watcher", "status"]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / service["build"]["context"]).resolve() == PROJECT


def test_dockerfile_runs_as_a_user_with_a_volume_and_a_health_check() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("VOLUME") and "/var/lib/arxiv-watcher" in line for line in lines)
    assert any("pip install ." in line for line in lines)
    text = "\n".join(lines)
    assert 'CMD ["watcher", "status", "--require-daemon"]' in text.split("HEALTHCHECK", 1)[1]
    assert lines[-1] == 'CMD ["watcher", "run"]'


def test_the_health_check_command_exists() -> None:
    from watcher.cli import build_parser

    args = build_parser().parse_args(["status", "--require-daemon"])
    assert args.require_daemon is True
    assert build_parser().parse_args(["run", "--log-json"]).log_json is True
