"""Moonshot product and serial (``show node info``) through the poller, against the simulator:
read only when asked for, in the poll's own session, and a bad answer never costs the poll."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chassisd_moonshot import MoonshotDriver

from chassisd.driver import Limits
from chassisd.model import Details, NodeRecord
from chassisd.poller import PollResult, RetryPolicy, poll_chassis
from chassisd.registry import Registry
from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import ChassisSpec, CommandKind, Faults
from tests.moonshot.test_driver_against_simulator import expected_nodes, target_for

INFO = frozenset({CommandKind.NODE_INFO})


def products(spec: ChassisSpec) -> dict[str, tuple[str, str]]:
    return {
        str(node_id): (spec.cartridges[node_id.cartridge].product_name,
                       spec.cartridges[node_id.cartridge].serial_number)
        for node_id, _ in spec.nodes()
    }  # fmt: skip


def poll(
    handle: SimHandle, due: Callable[[NodeRecord], bool] | None, **changes: object
) -> PollResult:
    return poll_chassis(
        Registry(),
        "moonshot",
        target_for(handle, **changes),
        RetryPolicy(attempts=1),
        details_due=due,
    )


def test_a_poll_without_due_nodes_sends_no_show_node_info(chassis: SimHandle) -> None:
    """Nothing due: two commands, and the nodes' details stay deferred (kept from memory)."""
    chassis.reset_stats()
    result = poll(chassis, lambda _record: False)
    assert result.inventory is not None
    assert chassis.stats.count(CommandKind.NODE_INFO) == 0 and chassis.stats.commands == 2
    assert {r.details for r in result.inventory.nodes} == {Details.DEFERRED}


def test_every_node_due_is_one_show_node_info_all(chassis: SimHandle, spec: ChassisSpec) -> None:
    """All nodes due: one ``show node info all`` gives every node its cartridge's product and
    serial, in the same login."""
    chassis.reset_stats()
    result = poll(chassis, lambda _record: True)
    assert result.inventory is not None and not result.inventory.warnings
    got = {r.id: (r.product, r.serial) for r in result.inventory.nodes}
    assert got == products(spec) and all(serial for _, serial in got.values())
    assert {r.details for r in result.inventory.nodes} == {Details.READ}
    assert chassis.stats.count(CommandKind.NODE_INFO) == 1 and chassis.stats.logins == 1


def test_a_refused_all_is_asked_cartridge_by_cartridge(
    chassis: SimHandle, spec: ChassisSpec
) -> None:
    """Firmware that refuses ``show node info all`` is asked once per cartridge (a 4-node
    cartridge once, not four times)."""
    chassis.set_faults(Faults(refuse_info_all=True))
    chassis.reset_stats()
    with MoonshotDriver(target_for(chassis)) as driver:
        details = driver.describe(list(expected_nodes(spec)))
    assert {k: (d.product, d.serial) for k, d in details.items()} == products(spec)
    assert chassis.stats.count(CommandKind.NODE_INFO) == 1 + len(spec.cartridges)


@pytest.mark.parametrize(
    "faults",
    [
        Faults(flood_bytes=8 * 1024 * 1024, affects=INFO),
        Faults(endless=True, flood_line=10**12, affects=INFO),
        Faults(hang=True, affects=INFO),
        Faults(disconnect_mid_output=True, affects=INFO),
    ],
    ids=["flood", "endless-line", "hang", "disconnect"],
)
def test_a_bad_show_node_info_answer_keeps_the_poll_and_its_macs(
    chassis: SimHandle, spec: ChassisSpec, faults: Faults
) -> None:
    """A flooding, endless, hanging or cut ``show node info``: the poll succeeds with every
    node's MACs, the nodes asked are FAILED (they keep what they had), and one warning says
    why, bounded."""
    chassis.set_faults(faults)
    result = poll(chassis, lambda _record: True, limits=Limits(output_bytes=1024 * 1024))
    assert result.ok, result.error
    assert result.inventory is not None
    macs = {r.id: tuple(str(m) for m in r.macs) for r in result.inventory.nodes}
    assert macs == expected_nodes(spec)
    assert {r.details for r in result.inventory.nodes} == {Details.FAILED}
    assert {(r.product, r.serial) for r in result.inventory.nodes} == {("", "")}
    (warning,) = [w for w in result.inventory.warnings if "product and serial" in w]
    assert "show node info" in warning and len(warning) < 800
