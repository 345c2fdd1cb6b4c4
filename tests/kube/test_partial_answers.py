"""Partial answers against the cluster agent on the real kube-apiserver: a MAC answer cut short
removes no reservation; a mass disappearance is confirmed, reported as the Chassis's
``NodesLost`` condition and an Event, and a one-off cut listing is not believed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.kube.gateway import CHASSIS
from chassisd.sim.moonshot.model import CommandKind, Faults
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import World, all_hosts, open_world, standard_farm

pytestmark = pytest.mark.kube

MAC_ANSWERS = frozenset({CommandKind.NODE_MACADDR_ALL, CommandKind.NODE_MACADDR})


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    """Two simulated chassis (6 nodes each) in a standard farm, an agent serving it, and every
    node reserved."""
    with open_world(kube_api, kube_namespace) as w:
        standard_farm(w)
        w.start_agent()
        assert wait_until(lambda: len(all_hosts(w)) == 12, timeout=30)
        yield w


def chassis_condition(world: World, name: str, kind: str) -> dict[str, Any]:
    status = world.get(CHASSIS, name).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def events(world: World, name: str, reason: str) -> list[str]:
    items = k8s.CoreV1Api(world.gateway.api).list_namespaced_event(world.namespace).items
    return [e.message for e in items if e.reason == reason and e.involved_object.name == name]


def polls_of(world: World, name: str) -> int:
    return world.sims[name].stats.count(CommandKind.NODE_LIST)


def test_mac_answers_that_leave_every_node_out_remove_no_reservation(world: World) -> None:
    """`show node macaddr all` and every per-node query answer an empty table (exit 0): the
    polls succeed, the nodes keep their last known MACs and all 12 reservations stay."""
    before = all_hosts(world)
    world.sims["m1"].set_faults(Faults(keep_rows=0, affects=MAC_ANSWERS))
    start = polls_of(world, "m1")
    assert wait_until(lambda: polls_of(world, "m1") >= start + 3, timeout=20)
    assert wait_until(lambda: chassis_condition(world, "m1", "Reachable")["status"] == "True", 5)
    assert all_hosts(world) == before
    nodes = world.get(CHASSIS, "m1")["status"]["nodes"]
    assert all(n["macs"] and n["macsKnown"] is False for n in nodes)


def test_a_mass_disappearance_is_confirmed_and_reported(world: World) -> None:
    """`show node list` cut after 2 of 6 rows in every session: the loss is confirmed by a
    second session, the Chassis says NodesLost=True with an Event, and the 4 nodes are marked
    absent but keep their reservations until the grace period ends."""
    before = all_hosts(world)
    world.sims["m1"].set_faults(Faults(keep_rows=2, affects=frozenset({CommandKind.NODE_LIST})))
    assert wait_until(
        lambda: chassis_condition(world, "m1", "NodesLost").get("status") == "True", 20
    )
    message = chassis_condition(world, "m1", "NodesLost")["message"]
    assert "4 of 6 nodes" in message and "second session" in message
    assert wait_until(lambda: any("4 of 6" in m for m in events(world, "m1", "NodesLost")), 10)
    nodes = world.get(CHASSIS, "m1")["status"]["nodes"]
    assert sum(1 for n in nodes if n.get("absentSince")) == 4
    assert all_hosts(world) == before
    world.sims["m1"].set_faults(Faults())
    assert wait_until(
        lambda: chassis_condition(world, "m1", "NodesLost").get("status") == "False", 20
    )
    assert chassis_condition(world, "m2", "NodesLost") == {}  # a quiet chassis: no condition


def test_a_one_off_cut_listing_marks_no_node_absent(world: World) -> None:
    """A listing cut short in one session only: the second session reports every node, an
    Event says the partial answer was not believed, and no node is ever marked absent."""
    world.sims["m2"].set_faults(
        Faults(keep_rows=1, affects=frozenset({CommandKind.NODE_LIST}), logins=1)
    )
    assert wait_until(lambda: events(world, "m2", "PartialAnswer"), timeout=20)
    assert "left out 5 of 6 nodes" in events(world, "m2", "PartialAnswer")[0]
    nodes = world.get(CHASSIS, "m2")["status"]["nodes"]
    assert len(nodes) == 6 and not any(n.get("absentSince") for n in nodes)
    assert chassis_condition(world, "m2", "NodesLost")["reason"] in (
        "PartialAnswerIgnored",
        "NoMassLoss",
    )
