"""Bounded status on the real kube-apiserver: the largest node list chassisd accepts for one
chassis is written, and one node more is refused with a clear error, keeping what was known."""

from __future__ import annotations

import json
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.kube.gateway import CHASSIS, KubeGateway
from chassisd.model import MacAddress, NodeRecord
from chassisd.poller import MAX_NODE_LIST_BYTES, MAX_NODES, node_status_bytes
from chassisd.testing import fake_farm, wait_until
from chassisd.testing.clusterworld import World

pytestmark = [pytest.mark.kube, pytest.mark.slow]

API_OBJECT_LIMIT = 1_572_864  # etcd's request limit: the API server refuses larger objects


def test_the_largest_accepted_status_is_written_and_one_node_more_is_refused(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """A chassis of MAX_NODES nodes with as many MACs each as MAX_NODE_LIST_BYTES allows: the
    API server takes its status (well below its object limit); one node more fails the poll
    with an error naming the cap, and the status keeps the 1,000 nodes it had."""
    nics = 1
    while node_status_bytes(record("c125n8", nics + 1)) * MAX_NODES <= MAX_NODE_LIST_BYTES:
        nics += 1
    farm = fake_farm.build("bounds", cartridges=125, nodes_per_cartridge=8, nics=nics)
    gateway = KubeGateway(kube_api)
    world = World(kube_namespace, gateway, {})
    gateway.create({**fake_farm.secret_document(), "metadata": {
        "name": "fake-credentials", "namespace": kube_namespace}})  # fmt: skip
    chassis = fake_farm.chassis_document(farm, "chassis-1", name="big")
    chassis["metadata"] = {"name": "big", "namespace": kube_namespace}
    chassis["spec"] = {**chassis["spec"], "pollInterval": "2s"}  # type: ignore[dict-item]

    def status() -> dict[str, Any]:
        return dict(world.get(CHASSIS, "big").get("status") or {})

    def condition(kind: str) -> dict[str, Any]:
        return next((c for c in status().get("conditions", []) if c["type"] == kind), {})

    with fake_farm.registered(farm):
        gateway.create(chassis)
        try:
            world.start_agent()
            assert wait_until(lambda: status().get("nodeCount") == MAX_NODES, 60), status()
            size = len(json.dumps(world.get(CHASSIS, "big")))  # managedFields included
            assert MAX_NODE_LIST_BYTES // 2 < size < API_OBJECT_LIMIT // 2, size
            farm.add_node("chassis-1", "c126n1", fake_farm.node_macs(1, 126, 1, nics))
            assert wait_until(lambda: condition("InventoryValid").get("status") == "False", 30)
            message = condition("InventoryValid")["message"]
            assert "reports 1001 nodes, more than chassisd keeps for one chassis (1000" in message
            assert status()["nodeCount"] == MAX_NODES
        finally:
            for agent in world.agents:
                agent.stop()


def record(node_id: str, macs: int) -> NodeRecord:
    """A node as the fake driver reports it, with ``macs`` MACs."""
    addresses = [f"02:fa:01:7d:08:{m:02x}" for m in range(macs)]
    return NodeRecord(
        id=node_id,
        macs=tuple(MacAddress(a) for a in addresses),
        product="fake node",
        serial=f"FAKE-{node_id}",
    )
