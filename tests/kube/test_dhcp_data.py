"""DHCP data on the real kube-apiserver: established reservations, MACs, uniqueness across
namespaces, object names and ownership (issue: nothing silently wrong in the DHCP data)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.kube.gateway import NODEPOOL
from chassisd.sim.moonshot.model import Cartridge, SimNode
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import World, all_hosts, open_world

pytestmark = pytest.mark.kube


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    """Two simulated chassis (6 nodes each), their Secrets, and the gateway; agents stop after."""
    with open_world(kube_api, kube_namespace) as w:
        yield w


def condition(world: World, pool: str, kind: str) -> dict[str, Any]:
    """A NodePool condition ({} until written)."""
    status = world.get(NODEPOOL, pool).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def events(world: World, pool: str, reason: str) -> list[str]:
    """Messages of the Events about ``pool`` with ``reason``."""
    items = k8s.CoreV1Api(world.gateway.api).list_namespaced_event(world.namespace).items
    return [e.message for e in items if e.reason == reason and e.involved_object.name == pool]


def test_a_newcomer_does_not_take_an_established_mac(world: World) -> None:
    """A chassis that starts reporting a MAC already reserved for a node of another pool does
    not take it over, even from a pool that sorts first: the newcomer is left out with
    Conflict and an Event, the production node keeps its reservation."""
    world.chassis("m1", world.sims["m1"], nodeNameTemplate="c1n{cartridge}")
    world.chassis("m2", world.sims["m2"])
    world.pool("prod", {"members": [{"chassis": "m1"}], "dhcp": {"namespace": world.namespace}})
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 6, timeout=20)
    assert wait_until(lambda: condition(world, "prod", "Ready").get("status") == "True", 10)
    production = all_hosts(world)["c1n1"]
    world.pool("a-new", {"members": [{"chassis": "m2"}], "dhcp": {"namespace": world.namespace}})
    world.sims["m2"].insert_cartridge(9, Cartridge((SimNode(macs=tuple(production["macs"])),)))
    assert wait_until(lambda: condition(world, "a-new", "Conflict").get("status") == "True", 20)
    assert "m2/c9n1: MAC" in condition(world, "a-new", "Conflict")["message"]
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    hosts = all_hosts(world)
    assert "m2-c9n1" not in hosts and hosts["c1n1"]["macs"] == production["macs"]
    assert wait_until(lambda: any("m2/c9n1" in m for m in events(world, "a-new", "Conflict")), 10)
