"""What ``chassisctl`` does against a cluster: nodes from Chassis status, power through
PowerActions.

Owns turning Chassis statuses into named nodes, the create-then-wait of a PowerAction, and
cancelling one. The agent does the device work (it holds the BMC credentials), so an operator
needs only RBAC on PowerActions: no BMC password on a laptop. An action chassisctl waited for in
vain is cancelled, never left to run later: it carries a deadline as long as the wait, and
when the wait ends before the agent started it, it is deleted — only if it is still exactly the
pending object that was read (a precondition on its resourceVersion), so an action the agent
started meanwhile is reported, not silently dropped. Talks to the API only through
``KubeGateway``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chassisd.cluster.power import READ_STATE
from chassisd.cluster.status import TERMINAL_PHASES, PowerPhase, phase_of
from chassisd.errors import ChassisdError, KubeApiError, NodeRefError
from chassisd.kube.gateway import CHASSIS, POWERACTION, KubeGateway
from chassisd.model import PowerAction
from chassisd.noderef import NamedNode, node_from_dict, resolve


def cluster_nodes(gateway: KubeGateway, namespace: str) -> list[NamedNode]:
    """Every node the Chassis objects of ``namespace`` report in their status."""
    items, _ = gateway.list(CHASSIS, namespace)
    nodes: list[NamedNode] = []
    for obj in sorted(items, key=lambda o: o["metadata"]["name"]):
        chassis = obj["metadata"]["name"]
        for entry in (obj.get("status") or {}).get("nodes") or []:
            nodes.append(node_from_dict(chassis, entry))
    return nodes


@dataclass(frozen=True)
class PowerOutcome:
    """A PowerAction as last seen, and whether chassisctl cancelled it after waiting."""

    obj: dict[str, Any]
    cancelled: bool = False

    @property
    def phase(self) -> PowerPhase:
        """Its phase (``Pending`` when it has none)."""
        return phase_of(self.obj)


def request_power(
    gateway: KubeGateway,
    namespace: str,
    node: NamedNode,
    action: PowerAction | None,
    *,
    wait: bool,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> PowerOutcome:
    """Create a PowerAction for ``node`` (by its unambiguous ``chassis/id``); ``action`` None
    asks the agent to read the node's power state from the device. Unless ``wait`` is False,
    wait for it to finish. When waiting, the action must start within ``timeout``
    seconds (its deadline) and is cancelled if it has not started when the wait ends."""
    verb = READ_STATE if action is None else action.value
    spec: dict[str, Any] = {"node": node.ref, "action": verb}
    if wait:
        spec["deadlineSeconds"] = max(1, math.ceil(timeout))
    created = gateway.create(
        {
            "apiVersion": POWERACTION.api_version,
            "kind": POWERACTION.kind,
            "metadata": {
                "generateName": f"{node.name[:40].strip('-.')}-{verb}-".lower(),
                "namespace": namespace,
                "labels": {"app.kubernetes.io/created-by": "chassisctl"},
            },
            "spec": spec,
        }
    )
    if not wait:
        return PowerOutcome(created)
    name = created["metadata"]["name"]
    deadline = time.monotonic() + timeout
    current = created
    while time.monotonic() < deadline:
        found = gateway.get(POWERACTION, namespace, name)
        if found is None:
            return PowerOutcome(current, cancelled=True)  # someone deleted it
        current = found
        if phase_of(current).value in TERMINAL_PHASES:
            return PowerOutcome(current)
        sleep(0.5)
    if phase_of(current) is PowerPhase.PENDING and cancel(gateway, current):
        return PowerOutcome(current, cancelled=True)
    return PowerOutcome(gateway.get(POWERACTION, namespace, name) or current)


def cancel(gateway: KubeGateway, obj: dict[str, Any]) -> bool:
    """Delete a PowerAction if it is still the pending object ``obj`` (same resourceVersion);
    returns False when it changed meanwhile (the agent started it, or it finished)."""
    meta = obj["metadata"]
    if phase_of(obj) is not PowerPhase.PENDING:
        return False
    try:
        gateway.delete(
            POWERACTION,
            meta["namespace"],
            meta["name"],
            uid=meta.get("uid"),
            resource_version=meta.get("resourceVersion"),
        )
    except KubeApiError as exc:
        if exc.status == 409:
            return False
        raise
    return True


def pending_actions(
    gateway: KubeGateway, namespace: str, references: Sequence[str], nodes: Sequence[NamedNode]
) -> list[dict[str, Any]]:
    """The pending PowerActions that ``references`` name: a PowerAction's own name, or a node
    (every pending action for it). A reference that is neither is a ``NodeRefError``."""
    items, _ = gateway.list(POWERACTION, namespace)
    by_name = {o["metadata"]["name"]: o for o in items}
    chosen: dict[str, dict[str, Any]] = {}
    for reference in references:
        if reference in by_name:
            chosen[reference] = by_name[reference]
            continue
        node = resolve(reference, nodes)
        for obj in items:
            target = str((obj.get("spec") or {}).get("node", ""))
            try:
                same = resolve(target, nodes).ref == node.ref
            except NodeRefError:
                same = False
            if same:
                chosen[obj["metadata"]["name"]] = obj
    pending = [o for o in chosen.values() if phase_of(o) is PowerPhase.PENDING]
    if not chosen:
        raise ChassisdError(f"no PowerAction in {namespace} for {', '.join(references)}")
    return sorted(pending, key=lambda o: str(o["metadata"]["name"]))
