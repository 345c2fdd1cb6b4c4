"""Reconcile, pure: known nodes + node pools → the DHCP reservations to write.

Owns pool membership (explicit members first, then the catch-all takes every unclaimed node),
stable IP allocation from a pool's range, and conflict handling: a node claimed by two pools,
a MAC or an IP claimed twice, an address outside the range. The later claim is left out,
deterministically (pools in name order, nodes in chassis/cartridge/node order), and reported.
Also renders the results as dnsmasq-controller ``DhcpHosts`` objects and dnsmasq
``dhcp-hostsfile`` lines. No I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

import yaml

from chassisd.config import Config, NodePoolSpec
from chassisd.names import label_problem, render
from chassisd.noderef import NamedNode

DHCPHOSTS_API_VERSION = "dnsmasq.kvaps.cf/v1beta1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "chassisd"}
POOL_LABEL = "chassisd.io/pool"
POOL_NAMESPACE_LABEL = "chassisd.io/pool-namespace"
CHASSIS_LABEL = "chassisd.io/chassis"
MAX_NAME = 253  # a DNS subdomain, the limit for object names
NAME_HASH = 10  # hex digits of the hash that makes an object name unambiguous


@dataclass(frozen=True, slots=True)
class Host:
    """One reservation: a node's MACs, its hostname and (except in a catch-all) its IP."""

    key: str  # chassis/native-id, the stable identity of the node
    chassis: str
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
    #: Exact member ids (``chassis/id``) that match no node of a chassis that was polled
    #: successfully: most likely a typo, and the node went to the catch-all.
    unmatched: tuple[str, ...] = ()
    #: Members with nothing (or something unusable) to reserve — no MAC known, or only zero,
    #: broadcast or multicast MACs: a fact about the node, not a conflict between claims, so
    #: the pool's Conflict condition does not carry it.
    skipped: tuple[str, ...] = ()


def _order(node: NamedNode) -> tuple[str, int, int, str]:
    record = node.record
    return (node.chassis, record.cartridge or 0, record.node or 0, record.id)


@dataclass(frozen=True)
class Established:
    """What was reserved before this plan, so an established reservation keeps what it has.

    ``macs`` maps a MAC to the node key (``chassis/id``) that held it: through a conflict, that
    node keeps it and the newcomer is left out. ``elsewhere`` holds, per dnsmasq target
    (``DhcpTarget.key``), what other sources (the pools of other namespaces) reserve there:
    MACs, host names and node names, each → a description of the holder.
    """

    macs: Mapping[str, str] = field(default_factory=dict)
    elsewhere: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)


def plan_pools(
    config: Config,
    nodes: Sequence[NamedNode],
    previous_allocations: Mapping[str, Mapping[str, str]],
    established: Established | None = None,
    polled: frozenset[str] | set[str] = frozenset(),
) -> tuple[PoolPlan, ...]:
    """Decide every pool's reservations. ``previous_allocations`` is pool → node key → IP;
    ``polled``: the chassis polled successfully, whose exact member ids must match a node."""
    established = established or Established()
    ordered = sorted(nodes, key=_order)
    # Nodes by chassis, each list in node order: a pool looks only at its members' chassis, so
    # planning stays O(nodes) on a farm of hundreds of pools and chassis.
    by_chassis: dict[str, list[NamedNode]] = {}
    for node in ordered:
        by_chassis.setdefault(node.chassis, []).append(node)
    claimed: dict[str, str] = {}  # node key → pool
    pools = sorted(config.pools, key=lambda p: (p.catch_all, p.name))  # catch-all last
    members: dict[str, list[NamedNode]] = {}
    conflicts: dict[str, list[str]] = {}
    for pool in pools:
        members[pool.name], conflicts[pool.name] = [], []
        for node in ordered if pool.catch_all else _candidates(pool, by_chassis):
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
                conflicts[pool.name].append(f"{node.ref}: already in pool {claimed[node.ref]!r}")
                continue
            claimed[node.ref] = pool.name
            members[pool.name].append(node)
    # A MAC an established reservation holds stays with it while that node is still known
    # (its grace period included) and still in a pool: a newcomer reporting it is left out.
    reporting = {node.ref: {str(m) for m in node.record.macs} for node in ordered}
    used_macs = {
        mac: ref
        for mac, ref in established.macs.items()
        if ref in claimed and mac in reporting.get(ref, set())
    }
    used_ips: dict[str, str] = {}  # ip → node key
    used_names: dict[tuple[str, ...], NamedNode] = {}  # (what, [target,] text) → node
    plans: list[PoolPlan] = []
    for pool in pools:
        skipped: list[str] = []
        hosts, allocations = _hosts(
            pool,
            members[pool.name],
            previous_allocations.get(pool.name, {}),
            _Claims(used_macs, used_ips, used_names, established),
            conflicts[pool.name],
            skipped,
        )
        plans.append(
            PoolPlan(
                pool,
                tuple(hosts),
                tuple(conflicts[pool.name]),
                allocations,
                unmatched=_unmatched(pool, by_chassis, polled),
                skipped=tuple(skipped),
            )
        )
    return tuple(sorted(plans, key=lambda p: p.pool.name))


def _unmatched(
    pool: NodePoolSpec, by_chassis: Mapping[str, Sequence[NamedNode]], polled: Set[str]
) -> tuple[str, ...]:
    """The exact members of ``pool`` (a native id, or one node such as ``c44n1``) on a polled
    chassis that match none of its nodes."""
    missing: list[str] = []
    for member in pool.members:
        if member.all or member.chassis not in polled:
            continue
        nodes = by_chassis.get(member.chassis, ())
        known = {node.record.id.lower() for node in nodes}
        slots = {(node.record.cartridge, node.record.node) for node in nodes}
        missing += [f"{member.chassis}/{i}" for i in sorted(member.ids) if i not in known]
        missing += [
            f"{member.chassis}/c{c0}n{n0}"
            for c0, c1, n0, n1 in member.ranges
            if c0 == c1 and n0 == n1 and (c0, n0) not in slots
        ]
    return tuple(missing)


@dataclass(frozen=True)
class _Claims:
    """What the pools planned so far hold, and what was established before."""

    macs: dict[str, str]  # mac → node key
    ips: dict[str, str]  # ip → node key
    names: dict[tuple[str, ...], NamedNode]  # (what, [target,] text) → node
    established: Established


def reserved_macs(plans: Sequence[PoolPlan]) -> dict[str, str]:
    """MAC → node key of every reservation planned: the next plan's ``Established.macs``."""
    return {mac: host.key for plan in plans for host in plan.hosts for mac in host.macs}


def _candidates(
    pool: NodePoolSpec, by_chassis: Mapping[str, list[NamedNode]]
) -> Iterator[NamedNode]:
    """The nodes on the chassis ``pool`` names, in node order (chassis name first)."""
    for chassis in sorted({m.chassis for m in pool.members}):
        yield from by_chassis.get(chassis, ())


def _hosts(
    pool: NodePoolSpec,
    members: list[NamedNode],
    previous: Mapping[str, str],
    claims: _Claims,
    conflicts: list[str],
    skipped: list[str],
) -> tuple[list[Host], dict[str, str]]:
    used_ips = claims.ips
    allocations: dict[str, str] = {}
    eligible: list[NamedNode] = []
    hostnames: dict[str, str] = {}  # node key → hostname
    usable: dict[str, tuple[str, ...]] = {}  # node key → the MACs it may have reserved
    for node in members:
        hostname = hostname_of(pool, node)
        invalid = invalid_name(node, hostname)
        if invalid:
            conflicts.append(invalid)
            continue
        clash = _name_clash(pool, node, hostname, claims)
        if clash:
            conflicts.append(f"{node.ref}: {clash}")
            continue
        macs = usable_macs(node, node.ref, skipped)
        if not macs:
            continue
        taken = [m for m in macs if claims.macs.get(m, node.ref) != node.ref]
        if taken:
            conflicts.append(
                f"{node.ref}: MAC {taken[0]} already reserved for {claims.macs[taken[0]]}"
            )
            continue
        elsewhere = claims.established.elsewhere.get(pool.dhcp.key, {})
        taken = [m for m in macs if f"mac:{m}" in elsewhere]
        if taken:
            conflicts.append(
                f"{node.ref}: MAC {taken[0]} already reserved for {elsewhere[f'mac:{taken[0]}']}"
            )
            continue
        for mac in macs:
            claims.macs[mac] = node.ref
        claims.names[("name", node.name)] = node
        claims.names[("host", *pool.dhcp.key, hostname)] = node
        hostnames[node.ref] = hostname
        usable[node.ref] = tuple(macs)
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
        hosts.append(Host(node.ref, node.chassis, hostnames[node.ref], usable[node.ref], ip))
    return sorted(hosts, key=lambda h: _natural(h.hostname)), allocations


def invalid_name(node: NamedNode, hostname: str) -> str:
    """Why ``node`` cannot be reserved under its node name or ``hostname`` (not a DNS label
    dnsmasq reads as a name), as a conflict line; "" when both are valid."""
    for what, text in (("node name", node.name), ("hostname", hostname)):
        why = label_problem(text)
        if why:
            return f"{node.ref}: invalid {what} {text!r}, not reserved: {why}"
    return ""


def usable_macs(node: NamedNode, ref: str, skipped: list[str]) -> list[str]:
    """The MACs ``node`` (key ``ref``) may have reserved; each unusable one (zero, broadcast,
    multicast), or having none at all, is recorded in ``skipped``."""
    macs: list[str] = []
    for reported in node.record.macs:
        if reported.unusable:
            skipped.append(f"{ref}: MAC {reported} is {reported.unusable}, never reserved")
        else:
            macs.append(str(reported))
    if not macs:
        skipped.append(f"{ref}: no usable MAC address known, nothing to reserve")
    return macs


def _name_clash(pool: NodePoolSpec, node: NamedNode, hostname: str, claims: _Claims) -> str:
    """Why ``node`` cannot have its name or host name (another node has it), or ""."""
    elsewhere = claims.established.elsewhere.get(pool.dhcp.key, {})
    if f"host:{hostname}" in elsewhere:
        return f"hostname {hostname!r} already reserved for {elsewhere[f'host:{hostname}']}"
    for what, key in (("node name", ("name", node.name)),
                      ("hostname", ("host", *pool.dhcp.key, hostname))):  # fmt: skip
        other = claims.names.get(key)
        if other is None or other.ref == node.ref:
            continue
        text = key[-1]
        hint = ""
        if other.chassis == node.chassis and other.record.cartridge == node.record.cartridge:
            hint = (
                f" (cartridge {node.record.cartridge} holds several nodes: the template needs "
                "{node} or {id})"
            )
        return f"{what} {text!r} already reserved for {other.ref}{hint}"
    return ""


def reserved_names(plans: Sequence[PoolPlan]) -> dict[tuple[str, str], dict[str, str]]:
    """Per dnsmasq target, what the plans reserve there (``mac:<MAC>``, ``host:<name>``) →
    ``<pool> (<node key>)``: what other namespaces must not reserve again."""
    held: dict[tuple[str, str], dict[str, str]] = {}
    for plan in plans:
        target = held.setdefault(plan.pool.dhcp.key, {})
        for host in plan.hosts:
            holder = f"{plan.pool.name} ({host.key})"
            target.setdefault(f"host:{host.hostname}", holder)
            for mac in host.macs:
                target.setdefault(f"mac:{mac}", holder)
    return held


def hostname_of(pool: NodePoolSpec, node: NamedNode) -> str:
    """The DHCP host name ``pool`` gives ``node`` (its ``hostnameTemplate``, rendered)."""
    return render(
        pool.hostname_template,
        chassis=node.chassis,
        native_id=node.record.id,
        cartridge=node.record.cartridge,
        node=node.record.node,
        name=node.name,
    )


def _natural(text: str) -> tuple[tuple[int, str], ...]:
    """Sort key that puts ``c1n2`` before ``c1n10``."""
    return tuple(
        (int(part), "") if part.isdigit() else (0, part) for part in re.split(r"(\d+)", text)
    )


def _in_range(pool: NodePoolSpec, ip: str) -> bool:
    return pool.ip_range is None or pool.ip_range.holds(ip)


def dhcphosts_name(pool: str, chassis: str, *, pool_namespace: str = "") -> str:
    """The stable name of one pool's reservations for one chassis.

    A pool can span many chassis and the API server rejects objects over about 1.5 MiB, so each
    (pool, chassis) pair gets its own object: 45 slots x 8 nodes stays far below the limit.
    The name is ``chassisd-[<pool namespace>-]<pool>-<chassis>-<hash>``: the readable part
    alone is ambiguous (pool ``x`` + chassis ``y-z`` and pool ``x-y`` + chassis ``z``; a pool's
    namespace ``a`` + pool ``b-c`` and namespace ``a-b`` + pool ``c``), so the name always ends
    in 10 hex digits of the SHA-256 of namespace, pool and chassis joined by ``/`` (which no
    name of those has). The readable part is cut where the name would exceed a DNS subdomain.
    """
    identity = f"{pool_namespace}/{pool}/{chassis}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:NAME_HASH]
    readable = "-".join(p for p in ("chassisd", pool_namespace, pool, chassis) if p)
    readable = readable[: MAX_NAME - NAME_HASH - 1].rstrip("-.")
    return f"{readable}-{digest}"


@dataclass(frozen=True)
class Desired:
    """One object a pool should hold, and which pool: what the writer applies."""

    pool: str
    obj: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace, name): what one object on the API server (or one file) is."""
        meta = self.obj["metadata"]
        return self.obj["kind"], meta["namespace"], meta["name"]


def desired_objects(
    plans: Sequence[PoolPlan], *, pool_namespace: str = ""
) -> Iterator[tuple[str, list[Desired], list[str]]]:
    """Per pool, in name order: its DhcpHosts and kubefarm ConfigMap, and the objects it may
    not write. Two pools wanting one object (two ``kubefarm.configMapName`` naming one
    ConfigMap, or one DhcpHosts name) is a conflict: the pool first by name writes it, the
    other is told, and nothing is overwritten. Built pool by pool, so a caller keeping only
    what changed never holds every object of a large farm."""
    holders: dict[tuple[str, str, str], str] = {}
    for plan in sorted(plans, key=lambda p: p.pool.name):
        name = plan.pool.name
        configmap = kubefarm_configmap(plan, pool_namespace=pool_namespace)
        objs = dhcphosts_objects(plan, pool_namespace=pool_namespace)
        items: list[Desired] = []
        conflicts: list[str] = []
        for obj in [*objs, *([configmap] if configmap else [])]:
            item = Desired(name, obj)
            holder = holders.setdefault(item.key, name)
            if holder != name:
                kind, namespace, object_name = item.key
                conflicts.append(
                    f"{kind} {namespace}/{object_name} is written by pool {holder!r}, not written"
                )
                continue
            items.append(item)
        yield name, items, conflicts


def dhcphosts_objects(plan: PoolPlan, *, pool_namespace: str = "") -> list[dict[str, Any]]:
    """The dnsmasq-controller ``DhcpHosts`` objects of one pool: one per chassis with hosts,
    hosts sorted by hostname, labelled with the pool (and its namespace in cluster mode)."""
    dhcp = plan.pool.dhcp
    by_chassis: dict[str, list[dict[str, Any]]] = {}
    for host in plan.hosts:
        entry: dict[str, Any] = {"macs": list(host.macs), "hostname": host.hostname}
        if host.ip is not None:
            entry["ip"] = host.ip
        if dhcp.set_tags:
            entry["setTags"] = list(dhcp.set_tags)
        if dhcp.lease_time:
            entry["leaseTime"] = dhcp.lease_time
        by_chassis.setdefault(host.chassis, []).append(entry)
    labels = {**MANAGED_BY, POOL_LABEL: plan.pool.name}
    if pool_namespace:
        labels[POOL_NAMESPACE_LABEL] = pool_namespace
    return [
        {
            "apiVersion": DHCPHOSTS_API_VERSION,
            "kind": "DhcpHosts",
            "metadata": {
                "name": dhcphosts_name(plan.pool.name, chassis, pool_namespace=pool_namespace),
                "namespace": dhcp.namespace,
                "labels": {**labels, CHASSIS_LABEL: chassis},
            },
            "spec": {"controller": dhcp.controller, "hosts": hosts},
        }
        for chassis, hosts in sorted(by_chassis.items())
    ]


def kubefarm_configmap(plan: PoolPlan, *, pool_namespace: str = "") -> dict[str, Any] | None:
    """The pool as a kubefarm release's ``nodePools`` values (``values.yaml`` in a ConfigMap),
    ready for ``helm upgrade -f`` or a GitOps values reference; None if the pool has no
    kubefarm output. ``mac`` is kubefarm's comma-separated string (its chart's nodePools values)."""
    output = plan.pool.kubefarm
    if output is None:
        return None
    entry: dict[str, Any] = {}
    if output.range:
        entry["range"] = output.range
    if output.tags:
        entry["tags"] = list(output.tags)
    if output.extra_opts:
        entry["extraOpts"] = [dict(item) for item in output.extra_opts]
    nodes: list[dict[str, Any]] = []
    for host in plan.hosts:
        node: dict[str, Any] = {"name": host.hostname, "mac": ",".join(host.macs)}
        if host.ip is not None:
            node["ip"] = host.ip
        nodes.append(node)
    entry["nodes"] = nodes
    labels = {**MANAGED_BY, POOL_LABEL: plan.pool.name}
    if pool_namespace:
        labels[POOL_NAMESPACE_LABEL] = pool_namespace
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": output.config_map,
            "namespace": output.namespace or plan.pool.dhcp.namespace,
            "labels": labels,
        },
        "data": {"values.yaml": yaml.safe_dump({"nodePools": [entry]}, sort_keys=False)},
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


def free_addresses(plan: PoolPlan) -> int | None:
    """How many addresses of the pool's range no reservation holds (None: the pool has no
    range, e.g. a catch-all that leaves addressing to the dynamic range)."""
    ip_range = plan.pool.ip_range
    if ip_range is None:
        return None
    size = int(ip_range.end) - int(ip_range.start) + 1
    return size - len({h.ip for h in plan.hosts if h.ip and ip_range.holds(h.ip)})
