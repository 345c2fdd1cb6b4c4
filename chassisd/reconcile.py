"""Reconcile, pure: known nodes + node pools → the DHCP reservations to write.

Owns pool membership (explicit members first, then the catch-all takes every unclaimed node),
stable IP allocation from a pool's range, and conflict handling: a node claimed by two pools,
a MAC or an IP claimed twice, an address outside the range. The later claim is left out,
deterministically (pools in name order, nodes in chassis/cartridge/node order), and reported.
Also renders the results as dnsmasq-controller ``DhcpHosts`` objects and dnsmasq
``dhcp-hostsfile`` lines. No I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chassisd.config import Config, NodePoolSpec
from chassisd.noderef import NamedNode

DHCPHOSTS_API_VERSION = "dnsmasq.kvaps.cf/v1beta1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "chassisd"}
POOL_LABEL = "chassisd.io/pool"


@dataclass(frozen=True)
class Host:
    """One reservation: a node's MACs, its hostname and (except in a catch-all) its IP."""

    key: str  # chassis/native-id, the stable identity of the node
    hostname: str
    macs: tuple[str, ...]
    ip: str | None


@dataclass(frozen=True)
class PoolPlan:
    """What one pool should hold, and what was left out and why."""

    pool: NodePoolSpec
    hosts: tuple[Host, ...]
    conflicts: tuple[str, ...]
    allocations: Mapping[str, str]  # node key → IP, to keep addresses stable next time


def _order(node: NamedNode) -> tuple[str, int, int, str]:
    record = node.record
    return (node.chassis, record.cartridge or 0, record.node or 0, record.id)


def plan_pools(
    config: Config,
    nodes: Sequence[NamedNode],
    previous_allocations: Mapping[str, Mapping[str, str]],
) -> tuple[PoolPlan, ...]:
    """Decide every pool's reservations. ``previous_allocations`` is pool → node key → IP."""
    ordered = sorted(nodes, key=_order)
    claimed: dict[str, str] = {}  # node key → pool
    used_macs: dict[str, str] = {}  # mac → node key
    used_ips: dict[str, str] = {}  # ip → node key
    plans: list[PoolPlan] = []
    pools = sorted(config.pools, key=lambda p: (p.catch_all, p.name))  # catch-all last
    for pool in pools:
        conflicts: list[str] = []
        members: list[NamedNode] = []
        for node in ordered:
            rec = node.record
            selected = (
                not claimed.get(node.ref)
                if pool.catch_all
                else any(
                    m.matches(node.chassis, rec.id, rec.cartridge, rec.node) for m in pool.members
                )
            )
            if not selected:
                continue
            if node.ref in claimed:
                conflicts.append(f"{node.ref}: already in pool {claimed[node.ref]!r}")
                continue
            claimed[node.ref] = pool.name
            members.append(node)
        hosts, allocations = _hosts(
            pool, members, previous_allocations.get(pool.name, {}), used_macs, used_ips, conflicts
        )
        plans.append(PoolPlan(pool, tuple(hosts), tuple(conflicts), allocations))
    return tuple(sorted(plans, key=lambda p: p.pool.name))


def _hosts(
    pool: NodePoolSpec,
    members: list[NamedNode],
    previous: Mapping[str, str],
    used_macs: dict[str, str],
    used_ips: dict[str, str],
    conflicts: list[str],
) -> tuple[list[Host], dict[str, str]]:
    allocations: dict[str, str] = {}
    eligible: list[NamedNode] = []
    for node in members:
        macs = [str(m) for m in node.record.macs]
        if not macs:
            conflicts.append(f"{node.ref}: no MAC address known, nothing to reserve")
            continue
        taken = [m for m in macs if m in used_macs]
        if taken:
            conflicts.append(
                f"{node.ref}: MAC {taken[0]} already reserved for {used_macs[taken[0]]}"
            )
            continue
        for mac in macs:
            used_macs[mac] = node.ref
        eligible.append(node)
    # Static IPs first, then addresses this node had before, then the lowest free ones.
    wanted: dict[str, str] = {}
    for node in eligible:
        static = pool.static_ips.get(node.name) or pool.static_ips.get(node.ref)
        if static is not None:
            wanted[node.ref] = str(static)
        elif node.ref in previous and _in_range(pool, previous[node.ref]):
            wanted[node.ref] = previous[node.ref]
    for ref, address in sorted(wanted.items()):
        if address in used_ips:
            conflicts.append(f"{ref}: IP {address} already reserved for {used_ips[address]}")
            continue
        if not _in_range(pool, address):
            conflicts.append(f"{ref}: IP {address} is outside the pool range")
            continue
        used_ips[address] = ref
        allocations[ref] = address
    free = (str(a) for a in pool.ip_range.addresses()) if pool.ip_range is not None else iter(())
    hosts: list[Host] = []
    for node in eligible:
        ip: str | None = None
        if not pool.catch_all and (pool.ip_range is not None or pool.static_ips):
            ip = allocations.get(node.ref)
            if ip is None and node.ref not in wanted:
                ip = next((a for a in free if a not in used_ips), None)
                if ip is None:
                    conflicts.append(f"{node.ref}: the pool's address range is exhausted")
                    continue
                used_ips[ip] = node.ref
                allocations[node.ref] = ip
            elif ip is None:
                continue  # its wanted IP was in conflict (reported above)
        hostname = pool.hostname_template.format(
            name=node.name,
            chassis=node.chassis,
            id=node.record.id,
            cartridge="" if node.record.cartridge is None else node.record.cartridge,
            node="" if node.record.node is None else node.record.node,
        )
        hosts.append(Host(node.ref, hostname, tuple(str(m) for m in node.record.macs), ip))
    return sorted(hosts, key=lambda h: _natural(h.hostname)), allocations


def _natural(text: str) -> tuple[tuple[int, str], ...]:
    """Sort key that puts ``c1n2`` before ``c1n10``."""
    return tuple(
        (int(part), "") if part.isdigit() else (0, part) for part in re.split(r"(\d+)", text)
    )


def _in_range(pool: NodePoolSpec, ip: str) -> bool:
    if pool.ip_range is None:
        return True
    try:
        return ipaddress.IPv4Address(ip) in pool.ip_range
    except ValueError:
        return False


def dhcphosts_object(plan: PoolPlan) -> dict[str, Any]:
    """The dnsmasq-controller ``DhcpHosts`` object for one pool (hosts sorted by hostname)."""
    dhcp = plan.pool.dhcp
    hosts: list[dict[str, Any]] = []
    for host in plan.hosts:
        entry: dict[str, Any] = {"macs": list(host.macs), "hostname": host.hostname}
        if host.ip is not None:
            entry["ip"] = host.ip
        if dhcp.set_tags:
            entry["setTags"] = list(dhcp.set_tags)
        if dhcp.lease_time:
            entry["leaseTime"] = dhcp.lease_time
        hosts.append(entry)
    return {
        "apiVersion": DHCPHOSTS_API_VERSION,
        "kind": "DhcpHosts",
        "metadata": {
            "name": f"chassisd-{plan.pool.name}",
            "namespace": dhcp.namespace,
            "labels": {**MANAGED_BY, POOL_LABEL: plan.pool.name},
        },
        "spec": {"controller": dhcp.controller, "hosts": hosts},
    }


def hostsfile_line(host: Host, pool: NodePoolSpec) -> str:
    """One dnsmasq ``dhcp-hostsfile`` line, in dnsmasq-controller's field order."""
    parts = list(host.macs)
    parts += [f"set:{tag}" for tag in pool.dhcp.set_tags]
    if host.ip is not None:
        parts.append(host.ip)
    parts.append(host.hostname)
    if pool.dhcp.lease_time:
        parts.append(pool.dhcp.lease_time)
    return ",".join(parts)
