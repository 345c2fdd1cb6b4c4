"""What ``chassisctl nodes`` and ``map`` read from a cluster: the nodes in Chassis statuses, the
reservations in NodePool statuses, and every chassis the agent could not read.

Owns reading those objects (one namespace, or all) and judging a Chassis status the way an
operator would: ``Reachable=False`` is a problem with the agent's reason and message; a Chassis
without a ``Reachable`` condition was never polled. Writes nothing. Talks to the API only
through ``KubeGateway``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from chassisd.cluster.status import find_condition
from chassisd.errors import NodeRefError
from chassisd.kube.gateway import CHASSIS, NODEPOOL, KubeGateway
from chassisd.listing import (
    POLL_REQUEST,
    ChassisProblem,
    LabelSelector,
    Listing,
    NodeRow,
    rows_from_members,
)
from chassisd.noderef import NamedNode, node_from_dict
from chassisd.timestamps import stamp


def list_farm(
    gateway: KubeGateway,
    namespace: str | None,
    *,
    selector: LabelSelector | None = None,
    chassis_names: frozenset[str] = frozenset(),
) -> Listing:
    """Every node of the Chassis in ``namespace`` (None: all namespaces) that match
    ``selector`` and, if given, are named in ``chassis_names``; with their reservations."""
    objects, _ = gateway.list(CHASSIS, namespace, selector.text if selector else "")
    pools, _ = gateway.list(NODEPOOL, namespace)
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        if chassis_names and obj["metadata"]["name"] not in chassis_names:
            continue
        by_namespace.setdefault(obj["metadata"]["namespace"], []).append(obj)
    rows: list[NodeRow] = []
    problems: list[ChassisProblem] = []
    chassis: list[tuple[str, str]] = []
    absent: set[tuple[str, str]] = set()
    for ns in sorted(by_namespace):
        nodes: list[NamedNode] = []
        for obj in sorted(by_namespace[ns], key=lambda o: str(o["metadata"]["name"])):
            name = obj["metadata"]["name"]
            chassis.append((ns, name))
            status = obj.get("status") or {}
            for entry in status.get("nodes") or []:
                nodes.append(node_from_dict(name, entry))
                if entry.get("absentSince"):
                    absent.add((ns, f"{name}/{entry['id']}"))
            problem = chassis_problem(obj)
            if problem is not None:
                problems.append(problem)
        members, conflicts = _reservations([p for p in pools if p["metadata"]["namespace"] == ns])
        rows.extend(rows_from_members(nodes, members, conflicts, ns))
    rows = [replace(r, absent=True) if (r.namespace, r.node.ref) in absent else r for r in rows]
    return Listing(tuple(rows), tuple(problems), tuple(chassis))


def request_poll(gateway: KubeGateway, namespace: str, name: str) -> str:
    """Ask the agent to poll Chassis ``name`` now: set its poll-request annotation to the
    current time (server-side apply as field manager ``chassisctl``, nothing else touched).
    Returns the time written; a missing Chassis is a ``NodeRefError`` (exit 3)."""
    if gateway.get(CHASSIS, namespace, name) is None:
        raise NodeRefError(f"no Chassis {name!r} in namespace {namespace}", reference=name)
    when = stamp(datetime.now(UTC))
    gateway.apply(
        {
            "apiVersion": CHASSIS.api_version,
            "kind": CHASSIS.kind,
            "metadata": {"name": name, "namespace": namespace,
                         "annotations": {POLL_REQUEST: when}},
        },
        field_manager="chassisctl",
    )  # fmt: skip
    return when


def chassis_problem(obj: dict[str, Any]) -> ChassisProblem | None:
    """What is wrong with a Chassis, as its status says (None: polled, last poll succeeded,
    or paused on purpose). A configuration error comes first; a Chassis without a known
    ``Reachable`` condition was never polled; a device that answered with output chassisd
    cannot parse is a ParseError."""
    meta = obj["metadata"]
    if (obj.get("spec") or {}).get("paused"):
        return None
    status = obj.get("status") or {}

    def problem(condition: dict[str, Any]) -> ChassisProblem:
        reason = str(condition.get("reason") or "Unknown")
        return ChassisProblem(
            meta["name"], reason, str(condition.get("message") or ""), meta["namespace"]
        )

    config = find_condition(status, "ConfigValid")
    if config.get("status") == "False":
        return problem(config)
    reachable = find_condition(status, "Reachable")
    if reachable.get("status") == "False":
        return problem(reachable)
    if reachable.get("status") != "True":
        return ChassisProblem(
            meta["name"], "NotPolled", "not polled yet (is the agent running?)", meta["namespace"]
        )
    inventory = find_condition(status, "InventoryValid")
    if inventory.get("status") == "False":
        return problem(inventory)
    return None


def _reservations(
    pools: list[dict[str, Any]],
) -> tuple[dict[str, tuple[str, str, str]], list[str]]:
    members: dict[str, tuple[str, str, str]] = {}
    conflicts: list[str] = []
    for pool in sorted(pools, key=lambda p: str(p["metadata"]["name"])):
        status = pool.get("status") or {}
        for member in status.get("members") or []:
            ref = f"{member.get('chassis')}/{member.get('id')}"
            members.setdefault(
                ref, (pool["metadata"]["name"], member.get("ip", ""), member.get("hostname", ""))
            )
        conflict = find_condition(status, "Conflict")
        if conflict.get("status") == "True":
            conflicts.extend(str(conflict.get("message") or "").split("; "))
    return members, conflicts
