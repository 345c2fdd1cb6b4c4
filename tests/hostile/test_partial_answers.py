"""A partial answer never removes a reservation.

A chassis manager that cuts ``show node macaddr all`` or ``show node list`` short at a line
boundary sends something that parses and looks complete. A node the listing reports but the MAC
answer leaves out is asked again; one that still has no row keeps its last known MACs; a poll
that loses many nodes at once is confirmed by a second session before they are marked absent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chassisd_moonshot import MoonshotDriver

from chassisd.config import ChassisResource, Config
from chassisd.config.resources import SecretRef
from chassisd.driver import ChassisTarget, Credentials, Timeouts
from chassisd.memory import KnownNode, remember
from chassisd.model import MacAddress, NodeRecord
from chassisd.noderef import NamedNode
from chassisd.poller import MASS_LOSS_NODES, poll_chassis
from chassisd.registry import Registry
from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import ChassisSpec, CommandKind, Faults

MACADDR_ALL = frozenset({CommandKind.NODE_MACADDR_ALL})
NODE_LIST = frozenset({CommandKind.NODE_LIST})


def ssh_target(handle: SimHandle) -> ChassisTarget:
    host, port = handle.address
    return ChassisTarget(
        name="moonshot-h",
        address=f"{host}:{port}",
        credentials=Credentials("admin", "password"),
        known_hosts=handle.known_hosts_line,
        timeouts=Timeouts(connect=5.0, command=10.0, poll=60.0),
    )


def sim_macs(spec: ChassisSpec) -> dict[str, tuple[MacAddress, ...]]:
    return {str(nid): tuple(MacAddress(m) for m in node.macs) for nid, node in spec.nodes()}


def test_nodes_left_out_of_a_cut_macaddr_all_are_asked_one_by_one(
    chassis: SimHandle, spec: ChassisSpec
) -> None:
    """`show node macaddr all` cut after 10 rows (exit 0): every other node is asked with
    `show node macaddr cXnY` in the same session, and every node has its MACs."""
    chassis.set_faults(Faults(keep_rows=10, affects=MACADDR_ALL))
    with MoonshotDriver(ssh_target(chassis)) as driver:
        inventory = driver.inventory()
    expected = sim_macs(spec)
    assert {n.id: n.macs for n in inventory.nodes} == expected
    assert all(n.macs_known for n in inventory.nodes)
    assert chassis.stats.count(CommandKind.NODE_MACADDR) > 0
    assert chassis.stats.logins == 1
    assert any("asked node by node" in w for w in inventory.warnings)


def test_a_node_no_answer_gives_macs_for_is_unknown_not_empty(chassis: SimHandle) -> None:
    """When neither `all` nor the per-node query lists a node, its MACs are unknown
    (``macs_known=False``): a missing row is not "no MACs"."""
    chassis.set_faults(
        Faults(keep_rows=0, affects=MACADDR_ALL | frozenset({CommandKind.NODE_MACADDR}))
    )
    with MoonshotDriver(ssh_target(chassis)) as driver:
        inventory = driver.inventory()
    assert inventory.nodes
    assert all(not n.macs_known and n.macs == () for n in inventory.nodes)


def _config() -> Config:
    return Config(
        chassis=(
            ChassisResource(
                name="moonshot-h", driver="moonshot", address="x", credentials_ref=SecretRef("c")
            ),
        ),
        pools=(),
        secrets={},
    )


def test_memory_keeps_the_last_known_macs_of_a_node_whose_macs_are_unknown() -> None:
    """A node polled with unknown MACs keeps the MACs it was last seen with (and its
    reservation); a node polled with known MACs takes the new ones."""
    mac = MacAddress("02:00:00:00:00:01")
    before = NamedNode("c1n1", "moonshot-h", NodeRecord(id="c1n1", macs=(mac,)))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    known = {before.ref: KnownNode(before, now - timedelta(days=1))}
    unknown = NamedNode("c1n1", "moonshot-h", NodeRecord(id="c1n1", macs_known=False))
    updated, dropped = remember(_config(), known, {"moonshot-h": [unknown]}, now)
    assert dropped == ()
    assert updated[before.ref].node.record.macs == (mac,)
    assert updated[before.ref].first_seen == now - timedelta(days=1)
    new_mac = MacAddress("02:00:00:00:00:02")
    changed = NamedNode("c1n1", "moonshot-h", NodeRecord(id="c1n1", macs=(new_mac,)))
    updated, _ = remember(_config(), known, {"moonshot-h": [changed]}, now)
    assert updated[before.ref].node.record.macs == (new_mac,)


def test_a_mass_disappearance_is_confirmed_by_a_second_session(
    chassis: SimHandle, spec: ChassisSpec
) -> None:
    """`show node list` cut after 10 rows, every time: the poll asks a second session, which
    confirms the loss; the result says how many nodes were lost and that it was confirmed."""
    present = frozenset(sim_macs(spec))
    chassis.set_faults(Faults(keep_rows=10, affects=NODE_LIST))
    result = poll_chassis(Registry(), "moonshot", ssh_target(chassis), present=present)
    assert result.ok and result.inventory is not None
    assert len(result.inventory.nodes) == 10
    assert chassis.stats.logins == 2
    assert result.loss is not None and result.loss.confirmed
    assert len(result.loss.lost) == len(present) - 10
    assert f"{len(present) - 10} of {len(present)}" in result.loss.message


def test_a_one_off_cut_listing_is_not_believed(chassis: SimHandle, spec: ChassisSpec) -> None:
    """`show node list` cut short in the first session only: the second session reports every
    node, and the poll's inventory is complete (the partial answer is reported, not used)."""
    present = frozenset(sim_macs(spec))
    chassis.set_faults(Faults(keep_rows=10, affects=NODE_LIST, logins=1))
    result = poll_chassis(Registry(), "moonshot", ssh_target(chassis), present=present)
    assert result.ok and result.inventory is not None
    assert {n.id for n in result.inventory.nodes} == present
    assert result.loss is not None and not result.loss.confirmed
    assert "second session" in result.loss.message


def test_a_few_nodes_lost_need_no_confirmation(chassis: SimHandle, spec: ChassisSpec) -> None:
    """Losing up to the threshold (a cartridge pulled) is believed at once: one session."""
    present = frozenset(sim_macs(spec))
    chassis.set_faults(Faults(keep_rows=len(present) - MASS_LOSS_NODES, affects=NODE_LIST))
    result = poll_chassis(Registry(), "moonshot", ssh_target(chassis), present=present)
    assert result.ok and result.loss is None
    assert chassis.stats.logins == 1
