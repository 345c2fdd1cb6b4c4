"""One line per failure: the agent's processes say what failed on one line (JSON: one object with
chassis, driver and reason fields and an RFC 3339 time), never a library's traceback; the
operational errors of the command lines are one line with the documented exit code."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from chassisd.sim.moonshot import SimHandle

BIN = Path(sys.executable).parent


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel completes them) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def config(tmp_path: Path, chassis: dict[str, dict[str, object]]) -> Path:
    docs: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
         "stringData": {"username": "admin", "password": "password"}},
        {"apiVersion": "chassisd.io/v1alpha1", "kind": "NodePool", "metadata": {"name": "all"},
         "spec": {"catchAll": True}},
    ]  # fmt: skip
    for name, spec in chassis.items():
        docs.append(
            {
                "apiVersion": "chassisd.io/v1alpha1",
                "kind": "Chassis",
                "metadata": {"name": name},
                "spec": {"driver": "moonshot", "credentialsSecretRef": {"name": "creds"},
                         "connectTimeout": "2s", "commandTimeout": "5s", **spec},
            }
        )  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def run_once(path: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chassisd"), "run", "--config", str(path), "--output-dir", str(out), "--once",
         *extra],
        text=True, capture_output=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_port_without_a_banner_is_one_json_line(
    tmp_path: Path, chassis: SimHandle, silent_port: int
) -> None:
    """A chassis whose port never sends an SSH banner (three attempts) beside a healthy one:
    every line on stderr is one JSON object with a zoned RFC 3339 time; the dead chassis's
    failure is exactly one of them, with chassis, driver and reason fields; no traceback."""
    good = {"address": f"127.0.0.1:{chassis.port}", "knownHosts": chassis.known_hosts_line}
    path = config(tmp_path, {"good": good, "mute": {"address": f"127.0.0.1:{silent_port}"}})
    result = run_once(path, tmp_path / "out", "--log-format", "json")
    assert result.returncode == 4
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(lines) <= 4, result.stderr
    for entry in lines:
        assert datetime.fromisoformat(entry["time"]).utcoffset() is not None
    errors = [e for e in lines if e["level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["chassis"] == "mute" and errors[0]["driver"] == "moonshot"
    assert errors[0]["reason"] == "Unreachable", errors[0]
    assert "Traceback" not in result.stderr
    assert any(e.get("chassis") == "good" and e["level"] == "info" for e in lines)


def test_ssh_insecure_skip_verify_warns_on_every_poll(tmp_path: Path, chassis: SimHandle) -> None:
    """An SSH chassis with insecureSkipVerify: the poll works and a warning says, each time,
    that its host key is not checked (as the HTTPS drivers do)."""
    path = config(
        tmp_path, {"lax": {"address": f"127.0.0.1:{chassis.port}", "insecureSkipVerify": True}}
    )
    for _ in range(2):
        result = run_once(path, tmp_path / "out")
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if " WARNING " in line]
        assert len(warnings) == 1
        assert "chassis=lax" in warnings[0] and "host key verification is disabled" in warnings[0]


def test_chassisctl_sim_on_a_busy_port_is_one_line_exit_2(silent_port: int) -> None:
    """`chassisctl sim moonshot --listen` on a port in use: one line, exit 2."""
    result = subprocess.run(
        [str(BIN / "chassisctl"), "sim", "moonshot", "--listen", f"127.0.0.1:{silent_port}"],
        text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"127.0.0.1:{silent_port}" in line and "in use" in line


@pytest.mark.parametrize("busy", [False, True], ids=["bogus", "in-use"])
def test_chassisd_run_with_an_unusable_health_address_is_one_line_exit_2(
    tmp_path: Path, silent_port: int, busy: bool
) -> None:
    """`--health-address bogus` and a health port already in use: one line naming the option,
    exit 2 (the API server is never needed to tell)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    address = f"127.0.0.1:{silent_port}" if busy else "bogus"
    result = subprocess.run(
        [str(BIN / "chassisd"), "run", "--kubeconfig", str(kubeconfig), "--no-leader-election",
         "--health-address", address],
        text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "--health-address" in line and address in line
