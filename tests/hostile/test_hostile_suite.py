"""Every misbehaviour of the shipped simulator, against the agent's poll, standalone mode
(`chassisd run --once` as a process) and cluster mode (``chassisd.testing.clusterworld``): the
hostile chassis gets a clear error (or, for answers that parse, no wrong reservation), within
its poll deadline; the healthy chassis beside it keeps every reservation; nothing blows up."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml

from chassisd.driver import ChassisTarget, Credentials, Timeouts
from chassisd.kube.gateway import CHASSIS
from chassisd.poller import poll_chassis
from chassisd.registry import Registry
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, CommandKind, Faults, SimNode
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import World, all_hosts, chassis_health, open_world

BIN = Path(sys.executable).parent
MIB = 1024 * 1024
NODE_LIST = frozenset({CommandKind.NODE_LIST})
#: The hostile chassis's limits: commands 2 s, the whole poll 8 s (retries included).
TIMEOUTS = {"connectTimeout": "2s", "commandTimeout": "2s", "pollTimeout": "8s"}
POLL_DEADLINE = 8.0
MARGIN = 3.0
#: Never reserved, whatever a device says (zero, broadcast, multicast).
BAD_MACS = ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01")


@dataclass(frozen=True)
class Misbehaviour:
    faults: Faults
    reason: str  # the Reachable reason / log reason; "" when the poll succeeds


MISBEHAVIOURS = {
    "huge": Misbehaviour(Faults(flood_bytes=400 * MIB, affects=NODE_LIST), "ParseError"),
    "endless": Misbehaviour(Faults(endless=True, affects=NODE_LIST), "ParseError"),
    "drip": Misbehaviour(Faults(drip_interval=0.5, affects=NODE_LIST), "Unreachable"),
    "hang": Misbehaviour(Faults(hang=True, affects=NODE_LIST), "Unreachable"),
    "close-mid-line": Misbehaviour(
        Faults(disconnect_mid_output=True, affects=NODE_LIST), "Unreachable"
    ),
    "id-with-comma": Misbehaviour(
        Faults(garbage_line="c1n1,c2n1  OK  On  x", affects=NODE_LIST), "ParseError"
    ),
    "id-with-escape": Misbehaviour(
        Faults(garbage_line="c1n1\x1b[2J  OK  On  x", affects=NODE_LIST), "ParseError"
    ),
    "id-with-newline": Misbehaviour(
        Faults(garbage_line="c1n1\rc2n1  OK  On  x", affects=NODE_LIST), "ParseError"
    ),
    "listing-cut": Misbehaviour(Faults(keep_rows=1, affects=NODE_LIST), ""),
}


def spec(name: str, index: int) -> ChassisSpec:
    return ChassisSpec.generate(
        name, seed=11, chassis_index=index, slots=6, fill=1.0, multi_node=0.0
    )


@pytest.fixture
def pair() -> Iterator[tuple[SimHandle, SimHandle]]:
    """A healthy chassis and the one that will misbehave (6 nodes each)."""
    with (
        MoonshotSimulator(spec("good", 1)).running() as good,
        MoonshotSimulator(spec("bad", 2)).running() as bad,
    ):
        yield good, bad


def with_bad_macs(handle: SimHandle) -> None:
    """Three more cartridges whose only MAC is zero, broadcast, multicast."""
    for slot, mac in zip((7, 8, 9), BAD_MACS, strict=True):
        handle.insert_cartridge(slot, Cartridge((SimNode(macs=(mac,)),)))


# --- the agent's poll -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MISBEHAVIOURS))
def test_the_poll_of_a_misbehaving_chassis_ends_in_time_with_a_clear_error(
    pair: tuple[SimHandle, SimHandle], name: str
) -> None:
    """The poller against each misbehaviour: its reason, within the poll deadline, and an error
    message of one short line."""
    _good, bad = pair
    case = MISBEHAVIOURS[name]
    bad.set_faults(case.faults)
    target = ChassisTarget(
        name="bad",
        address=f"127.0.0.1:{bad.port}",
        credentials=Credentials("admin", "password"),
        known_hosts=bad.known_hosts_line,
        timeouts=Timeouts(connect=2.0, command=2.0, poll=POLL_DEADLINE),
    )
    started = time.monotonic()
    result = poll_chassis(Registry(), "moonshot", target)
    assert time.monotonic() - started < POLL_DEADLINE + MARGIN
    assert result.reason == case.reason, result.error
    if case.reason:
        message = str(result.error)
        assert "moonshot/bad" in message and len(message) < 1000
        assert "\n" not in message and "\x1b" not in message and "\r" not in message


# --- standalone -------------------------------------------------------------------------------


def config_file(tmp_path: Path, good: SimHandle, bad: SimHandle) -> Path:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
         "stringData": {"username": "admin", "password": "password"}},
        {"apiVersion": "chassisd.io/v1alpha1", "kind": "NodePool", "metadata": {"name": "all"},
         "spec": {"catchAll": True, "gracePeriod": "1h"}},
    ]  # fmt: skip
    for handle in (good, bad):
        docs.append(
            {
                "apiVersion": "chassisd.io/v1alpha1",
                "kind": "Chassis",
                "metadata": {"name": handle.name},
                "spec": {"driver": "moonshot", "address": f"127.0.0.1:{handle.port}",
                         "credentialsSecretRef": {"name": "creds"},
                         "knownHosts": handle.known_hosts_line, **TIMEOUTS},
            }
        )  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def run_once(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chassisd"), "run", "--config", str(config), "--output-dir", str(out),
         "--once"],
        text=True, capture_output=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(MISBEHAVIOURS))
def test_standalone_keeps_the_healthy_chassis_against_each_misbehaviour(
    tmp_path: Path, pair: tuple[SimHandle, SimHandle], name: str
) -> None:
    """After a good sync, the bad chassis misbehaves: `run --once` ends in time, says what
    failed on one line (exit 4) or notes the loss, and every reservation stays."""
    good, bad = pair
    config, out = config_file(tmp_path, good, bad), tmp_path / "out"
    assert run_once(config, out).returncode == 0
    before = (out / "dhcp-hostsfile").read_text()
    case = MISBEHAVIOURS[name]
    bad.set_faults(case.faults)
    started = time.monotonic()
    result = run_once(config, out)
    assert time.monotonic() - started < POLL_DEADLINE + MARGIN + 5  # + the process's start
    assert "Traceback" not in result.stderr
    assert (out / "dhcp-hostsfile").read_text() == before
    failed = [line for line in result.stderr.splitlines() if "poll failed" in line]
    if case.reason:
        assert result.returncode == 4
        assert len(failed) == 1 and "chassis=bad driver=moonshot" in failed[0]
    else:
        assert result.returncode == 0 and not failed
        assert "confirmed by a second session" in result.stderr


def test_standalone_never_reserves_zero_broadcast_or_multicast_macs(
    tmp_path: Path, pair: tuple[SimHandle, SimHandle]
) -> None:
    """Nodes reporting only a zero, broadcast or multicast MAC are polled and left out; the
    others of both chassis are reserved."""
    good, bad = pair
    with_bad_macs(bad)
    out = tmp_path / "out"
    result = run_once(config_file(tmp_path, good, bad), out)
    assert result.returncode == 0, result.stderr
    hostsfile = (out / "dhcp-hostsfile").read_text()
    assert len(hostsfile.splitlines()) == 12
    for mac in BAD_MACS:
        assert mac not in hostsfile.lower()


# --- cluster ----------------------------------------------------------------------------------


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    with open_world(kube_api, kube_namespace) as w:
        yield w


def reachable(world: World, name: str) -> dict[str, Any]:
    return chassis_health(world, name)


@pytest.mark.kube
def test_the_cluster_agent_keeps_the_healthy_chassis_against_every_misbehaviour(
    world: World,
) -> None:
    """m2 misbehaves in each way in turn: its Reachable condition says why (within its poll
    deadline), m1 and every reservation stay; m2 recovers when it behaves again."""
    world.chassis("m1", world.sims["m1"], **TIMEOUTS)
    world.chassis("m2", world.sims["m2"], **TIMEOUTS)
    world.pool("all", {"catchAll": True, "dhcp": {"namespace": world.namespace}})
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=30)
    before = all_hosts(world)
    for name, case in MISBEHAVIOURS.items():
        if not case.reason:
            continue  # the cut listing: tests/kube/test_partial_answers.py
        world.sims["m2"].set_faults(case.faults)
        assert wait_until(
            lambda case=case: reachable(world, "m2").get("reason") == case.reason,  # type: ignore[misc]
            timeout=POLL_DEADLINE * 2 + MARGIN,
        ), (name, reachable(world, "m2"))
        message = reachable(world, "m2")["message"]
        assert "\x1b" not in message and len(message) < 1000, name
        assert reachable(world, "m1")["status"] == "True", name
        assert all_hosts(world) == before, name
        world.sims["m2"].set_faults(Faults())
        assert wait_until(lambda: reachable(world, "m2").get("status") == "True", 30), name
    with_bad_macs(world.sims["m2"])
    assert wait_until(lambda: len(world.get(CHASSIS, "m2")["status"]["nodes"]) == 9, 20)
    hosts = all_hosts(world)
    assert len(hosts) == 12
    assert not {m.lower() for h in hosts.values() for m in h["macs"]} & set(BAD_MACS)
