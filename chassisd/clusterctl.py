"""What ``chassisctl`` does against a cluster: nodes from Chassis status, power through
PowerActions.

Owns turning Chassis statuses into named nodes and the create-then-wait of a PowerAction. The
agent does the device work (it holds the BMC credentials), so an operator needs only RBAC on
PowerActions: no BMC password on a laptop. Talks to the API only through ``KubeGateway``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chassisd.cluster.status import TERMINAL_PHASES
from chassisd.kube.gateway import CHASSIS, POWERACTION, KubeGateway
from chassisd.model import PowerAction
from chassisd.noderef import NamedNode, node_from_dict


def cluster_nodes(gateway: KubeGateway, namespace: str) -> list[NamedNode]:
    """Every node the Chassis objects of ``namespace`` report in their status."""
    items, _ = gateway.list(CHASSIS, namespace)
    nodes: list[NamedNode] = []
    for obj in sorted(items, key=lambda o: o["metadata"]["name"]):
        chassis = obj["metadata"]["name"]
        for entry in (obj.get("status") or {}).get("nodes") or []:
            nodes.append(node_from_dict(chassis, entry))
    return nodes


def request_power(
    gateway: KubeGateway,
    namespace: str,
    node: NamedNode,
    action: PowerAction,
    *,
    wait: bool,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Create a PowerAction for ``node`` (by its unambiguous ``chassis/id``); unless ``wait`` is
    False, wait for it to finish. Returns the object as last seen."""
    created = gateway.create(
        {
            "apiVersion": POWERACTION.api_version,
            "kind": POWERACTION.kind,
            "metadata": {
                "generateName": f"{node.name[:40].strip('-.')}-{action.value}-".lower(),
                "namespace": namespace,
                "labels": {"app.kubernetes.io/created-by": "chassisctl"},
            },
            "spec": {"node": node.ref, "action": action.value},
        }
    )
    if not wait:
        return created
    name = created["metadata"]["name"]
    deadline = time.monotonic() + timeout
    current = created
    while time.monotonic() < deadline:
        found = gateway.get(POWERACTION, namespace, name)
        if found is not None:
            current = found
            if (current.get("status") or {}).get("phase") in TERMINAL_PHASES:
                return current
        sleep(0.5)
    return current
