"""The MAAS model (``bench.maas``) against the Moonshot simulator: its command sequence per node,
its logins, and the power-on retry loop, counted by the simulator itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from bench.baseline import host_keys, sweep
from bench.maas import Target, enlist_chassis, power_on
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, CommandKind, SimNode, Timing

USER, PASSWORD = "admin", "password"


def _spec(name: str, slots: dict[int, int]) -> ChassisSpec:
    """``slots``: slot → nodes in that cartridge; two MACs per node, every node on."""
    return ChassisSpec(
        name=name,
        cartridges={
            slot: Cartridge(
                tuple(
                    SimNode(
                        macs=(f"02:00:00:{slot:02x}:{n:02x}:00", f"02:00:00:{slot:02x}:{n:02x}:01")
                    )
                    for n in range(count)
                )
            )
            for slot, count in slots.items()
        },
    )


@pytest.fixture
def chassis() -> Iterator[list[SimHandle]]:
    """Two chassis: 3 one-node cartridges (3 nodes), and one one-node plus one 4-node (5 nodes)."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                MoonshotSimulator(spec, users={USER: PASSWORD}, timing=Timing()).running()
            )
            for spec in (_spec("m1", {1: 1, 2: 1, 7: 1}), _spec("m2", {3: 1, 9: 4}))
        ]


def _request(handles: list[SimHandle]) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "username": USER,
        "password": PASSWORD,
        "known_hosts": "\n".join(h.known_hosts_line for h in handles),
        "timeout": 10.0,
        "workers": 2,
        "chassis": [{"name": h.name, "port": h.address[1]} for h in handles],
    }


def _target(handle: SimHandle) -> Target:
    key = host_keys(handle.known_hosts_line)[f"[127.0.0.1]:{handle.address[1]}"]
    return Target("127.0.0.1", handle.address[1], key, USER, PASSWORD, 10.0)


def test_enlistment_sends_maas_commands_one_login_each(chassis: list[SimHandle]) -> None:
    """2 + 3N logins per chassis: show firmware, show node list, then per node set node boot
    M.2, show node info, show node macaddr; every node's boot device ends M.2, every MAC found."""
    result = sweep(_request(chassis), enlist_chassis)

    assert [c["error"] for c in result["chassis"]] == ["", ""]
    for handle, found in zip(chassis, result["chassis"], strict=True):
        nodes = [node_id for node_id, _ in handle.spec.nodes()]
        n = len(nodes)
        stats = handle.stats
        assert found["nodes"] == n
        assert found["macs"] == 2 * n
        assert stats.logins == 2 + 3 * n
        assert dict(stats.commands_by_kind) == {
            CommandKind.FIRMWARE: 1,
            CommandKind.NODE_LIST: 1,
            CommandKind.NODE_BOOT: n,
            CommandKind.NODE_INFO: n,
            CommandKind.NODE_MACADDR: n,
        }
        assert all(handle.boot_device(node_id) == "M.2" for node_id in nodes)


def test_enlistment_of_one_chassis_matches_maas_order(chassis: list[SimHandle]) -> None:
    """One chassis alone: the per-node commands come node by node (boot, info, macaddr)."""
    handle = chassis[0]
    key = host_keys(handle.known_hosts_line)[f"[127.0.0.1]:{handle.address[1]}"]
    result = enlist_chassis(_request([handle]), {"name": "m1", "port": handle.address[1]}, key)
    assert (result.nodes, result.macs, result.error) == (3, 6, "")
    assert handle.stats.logins == 2 + 3 * 3
    assert handle.stats.commands == 2 + 3 * 3


def test_power_on_of_a_running_node_hard_offs_sets_pxe_and_waits(
    chassis: list[SimHandle],
) -> None:
    """A running node, power delay 0.5 s, hard off at once: one attempt (query, off force,
    bootonce pxe, on), 1 s wait, query On, MAAS's final query: 6 logins, one PXE boot."""
    handle = chassis[0]
    handle.set_timing(Timing(power_delay=0.5, force_off_delay=0.0))
    result = power_on(_target(handle), handle.name, "c1n1")

    assert (result.attempts, result.state, result.error) == (1, "on", "")
    assert 1.0 <= result.seconds < 5.0
    stats = handle.stats
    assert stats.logins == 6
    assert dict(stats.commands_by_kind) == {
        CommandKind.NODE_POWER: 3,
        CommandKind.POWER_OFF_FORCE: 1,
        CommandKind.BOOTONCE_PXE: 1,
        CommandKind.POWER_ON: 1,
    }
    assert stats.pxe_boots == 1
    assert handle.is_powered_on("c1n1")


def test_power_on_retries_the_whole_attempt_while_the_node_still_reads_off(
    chassis: list[SimHandle],
) -> None:
    """Power delay 2.5 s: after the 1 s wait the node still reads Off, so MAAS runs a second
    attempt (query: off, so no hard off; bootonce; on), waits 2 s more and reads On."""
    handle = chassis[1]
    handle.set_timing(Timing(power_delay=2.5, force_off_delay=0.0))
    result = power_on(_target(handle), handle.name, "c9n2")

    assert (result.attempts, result.state, result.error) == (2, "on", "")
    assert 3.0 <= result.seconds < 8.0
    stats = handle.stats
    assert stats.logins == 4 + 1 + 3 + 1 + 1
    assert dict(stats.commands_by_kind) == {
        CommandKind.NODE_POWER: 5,
        CommandKind.POWER_OFF_FORCE: 1,
        CommandKind.BOOTONCE_PXE: 2,
        CommandKind.POWER_ON: 2,
    }
    assert stats.pxe_boots == 1
