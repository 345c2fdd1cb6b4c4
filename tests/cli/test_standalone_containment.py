"""Standalone mode (`chassisd run --once` as a process) when one chassis or its config is bad:
the healthy chassis's reservations are written, and the exit code and one line say what failed."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import yaml

from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import CommandKind, Faults
from tests.cli.conftest import farm_documents

BIN = Path(sys.executable).parent


def run_once(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chassisd"), "run", "--config", str(config), "--output-dir", str(out),
         "--once"],
        text=True, capture_output=True, timeout=120, check=False,
    )  # fmt: skip


def test_one_failing_chassis_leaves_the_others_written_and_exits_4(
    tmp_path: Path, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """m2 answers `show node list` with a row whose id smuggles a comma: m2's poll fails on one
    line naming it, m1's reservations are written, and the exit code is 4."""
    one, two = farm
    two.set_faults(
        Faults(garbage_line="c1n1,x   OK   On   x", affects=frozenset({CommandKind.NODE_LIST}))
    )
    out = tmp_path / "out"
    result = run_once(config_file, out)
    assert result.returncode == 4, result.stderr
    lines = (out / "dhcp-hostsfile").read_text().splitlines()
    assert len(lines) == sum(1 for _ in one.spec.nodes())
    failed = [line for line in result.stderr.splitlines() if "poll failed" in line]
    assert len(failed) == 1 and "chassis=m2 driver=moonshot" in failed[0]
    assert "Traceback" not in result.stderr


def test_an_address_the_driver_cannot_use_is_exit_2_naming_the_field(
    tmp_path: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """`127.0.0.1:ssh` for a moonshot chassis: exit 2 and one line naming spec.address."""
    docs = farm_documents(*farm)
    docs[3]["spec"]["address"] = "127.0.0.1:ssh"  # type: ignore[index]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump_all(docs))
    result = run_once(config, tmp_path / "out")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "Chassis/m2" in line and "spec.address" in line and "'127.0.0.1:ssh'" in line


def test_a_secret_value_that_is_not_utf8_is_exit_2_naming_the_key_only(
    tmp_path: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """A binary password (base64 of bytes that are not UTF-8): exit 2, one line naming the
    Secret and data.password, showing neither the bytes nor their base64."""
    value = base64.b64encode(b"\xff\xfecanary-\x80\x81").decode()
    docs = farm_documents(*farm)
    user = base64.b64encode(b"admin").decode()
    docs[0] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
               "data": {"username": user, "password": value}}  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump_all(docs))
    result = run_once(config, tmp_path / "out")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "Secret/creds" in line and "data.password" in line
    assert value not in result.stderr and "canary" not in result.stderr
