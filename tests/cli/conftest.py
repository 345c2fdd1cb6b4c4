"""Fixtures for end-to-end tests of the command-line tools against simulated chassis."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec

BIN = Path(sys.executable).parent


@pytest.fixture
def farm() -> Iterator[tuple[SimHandle, SimHandle]]:
    """Two simulated chassis: m1 single-node cartridges, m2 with 4-node cartridges."""
    first = ChassisSpec.generate("m1", seed=3, chassis_index=1, multi_node=0.0, fill=0.5)
    second = ChassisSpec.generate("m2", seed=3, chassis_index=2, multi_node=0.5, fill=0.5)
    with (
        MoonshotSimulator(first).running() as one,
        MoonshotSimulator(second).running() as two,
    ):
        yield one, two


def farm_documents(one: SimHandle, two: SimHandle) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
         "stringData": {"username": "admin", "password": "password"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hostkeys"},
         "stringData": {"known_hosts": f"{one.known_hosts_line}\n{two.known_hosts_line}\n"}},
    ]  # fmt: skip
    for name, handle, template in (("m1", one, "c1n{cartridge}"), ("m2", two, "{chassis}-{id}")):
        docs.append({
            "apiVersion": "chassisd.io/v1alpha1", "kind": "Chassis", "metadata": {"name": name},
            "spec": {"driver": "moonshot", "address": f"127.0.0.1:{handle.port}",
                     "credentialsSecretRef": {"name": "creds"},
                     "knownHostsSecretRef": {"name": "hostkeys"},
                     "nodeNameTemplate": template, "connectTimeout": "5s", "commandTimeout": "5s"},
        })  # fmt: skip
    docs.append({
        "apiVersion": "chassisd.io/v1alpha1", "kind": "NodePool", "metadata": {"name": "pool-a"},
        "spec": {"members": [{"chassis": "m1", "nodes": ["all"]}],
                 "addressing": {"range": {"start": "10.0.0.10", "end": "10.0.0.200"}},
                 "dhcp": {"namespace": "farm", "setTags": ["a"]}, "gracePeriod": "1h"},
    })  # fmt: skip
    docs.append({
        "apiVersion": "chassisd.io/v1alpha1", "kind": "NodePool", "metadata": {"name": "rest"},
        "spec": {"catchAll": True, "dhcp": {"namespace": "farm"}},
    })  # fmt: skip
    return docs


@pytest.fixture
def config_file(tmp_path: Path, farm: tuple[SimHandle, SimHandle]) -> Path:
    """A valid standalone config for ``farm``."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump_all(farm_documents(*farm)))
    return path


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def chassisctl() -> Run:
    """Run the installed ``chassisctl`` console script."""

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "chassisctl"), *args],
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    return run
