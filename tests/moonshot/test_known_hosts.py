"""Host-key lookup in a fleet-wide known_hosts: plain and OpenSSH-hashed names, other hosts'
lines and damaged lines ignored, over real SSH against the simulator."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from chassisd_moonshot import MoonshotDriver
from chassisd_moonshot.ssh import known_host_keys

from chassisd.driver import ChassisTarget, Credentials, Timeouts
from chassisd.errors import TrustError
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec


def target_for(handle: SimHandle, known_hosts: str) -> ChassisTarget:
    host, port = handle.address
    return ChassisTarget(
        name="moonshot-t",
        address=f"{host}:{port}",
        credentials=Credentials("admin", "password"),
        known_hosts=known_hosts,
        timeouts=Timeouts(connect=5.0, command=5.0),
    )


def _fleet_lines(handle: SimHandle, others: int) -> list[str]:
    """``others`` lines for other hosts (same key type, other keys), then the chassis's own."""
    key_type, key = handle.known_hosts_line.split()[1:3]
    lines = []
    for i in range(others):
        with MoonshotSimulator(ChassisSpec.generate(f"o{i}", seed=i + 10)).running() as other:
            lines.append(other.known_hosts_line)
    return [*lines, handle.known_hosts_line, f"# {key_type} {key} a comment"]


def test_plain_fleet_file_finds_only_this_hosts_key(chassis: SimHandle) -> None:
    """Among many hosts' lines, the one naming this host:port is used."""
    text = "\n".join(["garbage-without-fields", *_fleet_lines(chassis, 3)])
    host, port = chassis.address
    keys = known_host_keys(text, f"[{host}]:{port}")
    assert list(keys) == [chassis.known_hosts_line.split()[1]]
    key_type, key = chassis.known_hosts_line.split()[1:3]
    assert keys[key_type].get_base64() == key
    assert known_host_keys(text, f"[{host}]:{port + 1}") == {}
    with MoonshotDriver(target_for(chassis, known_hosts=text)) as driver:
        assert driver.inventory().nodes


def test_file_hashed_by_ssh_keygen_is_understood(chassis: SimHandle, tmp_path: Path) -> None:
    """``ssh-keygen -H`` hashes every host name; the right key is still found, a damaged hash
    matches nothing, and the other hosts' hashed lines alone leave the key unknown. Needs
    OpenSSH's ssh-keygen (Debian openssh-client, from ``make deps-debian``)."""
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(_fleet_lines(chassis, 2)) + "\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], check=True, capture_output=True)
    hashed = path.read_text()
    host, port = chassis.address
    assert f"[{host}]:{port}" not in hashed and hashed.count("|1|") == 3
    damaged = "|1|not-base64|x ssh-ed25519 AAAA\n"
    with MoonshotDriver(target_for(chassis, known_hosts=damaged + hashed)) as driver:
        assert driver.inventory().nodes
    others = "\n".join(hashed.splitlines()[:2])
    with (
        pytest.raises(TrustError, match="unknown host key"),
        MoonshotDriver(target_for(chassis, known_hosts=others)),
    ):
        pass
