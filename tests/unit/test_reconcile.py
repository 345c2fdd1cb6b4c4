"""Reconcile: pool membership, catch-all, stable IPs, conflicts, DhcpHosts and hostsfile output."""

from __future__ import annotations

import jsonschema
import yaml

from chassisd.config import Config, parse_documents
from chassisd.model import MacAddress, NodeRecord
from chassisd.noderef import NamedNode, node_name
from chassisd.reconcile import (
    Established,
    dhcphosts_objects,
    free_addresses,
    hostsfile_line,
    plan_pools,
    reserved_macs,
    reserved_names,
)
from chassisd.testing.controlplane import UPSTREAM_CRDS_DIR as UPSTREAM


def config(pools: str) -> Config:
    docs = list(
        yaml.safe_load_all(
            """
apiVersion: v1
kind: Secret
metadata: {name: c}
stringData: {username: u}
---
apiVersion: chassisd.io/v1alpha1
kind: Chassis
metadata: {name: m1}
spec:
  driver: moonshot
  address: h
  credentialsSecretRef: {name: c}
  nodeNameTemplate: "m1c{cartridge}"
---
apiVersion: chassisd.io/v1alpha1
kind: Chassis
metadata: {name: m2}
spec: {driver: moonshot, address: h2, credentialsSecretRef: {name: c}}
"""
            + pools
        )
    )
    return parse_documents(docs)


def node(chassis: str, cartridge: int, *macs: str, template: str = "m1c{cartridge}") -> NamedNode:
    record = NodeRecord(
        id=f"c{cartridge}n1", cartridge=cartridge, node=1, macs=tuple(MacAddress(m) for m in macs)
    )
    return NamedNode(node_name(template, chassis, record), chassis, record)


POOLS = """
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: cluster-a}
spec:
  members: [{chassis: m1, nodes: ["c1-3n1"]}]
  addressing: {range: {start: 10.28.36.10, end: 10.28.36.12}}
  dhcp: {namespace: kubefarm, setTags: [cluster-a], leaseTime: infinite}
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: unknown}
spec: {catchAll: true, dhcp: {namespace: kubefarm, leaseTime: 1h}}
"""


def test_members_get_ips_and_catch_all_gets_the_rest() -> None:
    """Pool members get addresses from the range; unclaimed nodes go to the catch-all, no IP."""
    nodes = [
        node("m1", 1, "02:00:00:00:01:01"),
        node("m1", 2, "02:00:00:00:02:01"),
        node("m1", 5, "02:00:00:00:05:01"),
        node("m2", 1, "02:00:00:00:21:01", template="{chassis}-{id}"),
    ]
    plans = {p.pool.name: p for p in plan_pools(config(POOLS), nodes, {})}
    a = plans["cluster-a"]
    assert [(h.hostname, h.ip) for h in a.hosts] == [
        ("m1c1", "10.28.36.10"),
        ("m1c2", "10.28.36.11"),
    ]
    catch = plans["unknown"]
    assert [(h.hostname, h.ip) for h in catch.hosts] == [("m1c5", None), ("m2-c1n1", None)]
    assert not a.conflicts and not catch.conflicts


def test_ips_are_stable_when_other_nodes_come_and_go() -> None:
    """A node keeps its address when an earlier node disappears and another appears."""
    first = {
        p.pool.name: p
        for p in plan_pools(
            config(POOLS),
            [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2, "02:00:00:00:02:01")],
            {},
        )
    }
    previous = {"cluster-a": first["cluster-a"].allocations}
    again = plan_pools(
        config(POOLS),
        [node("m1", 2, "02:00:00:00:02:01"), node("m1", 3, "02:00:00:00:03:01")],
        previous,
    )
    hosts = {h.hostname: h.ip for h in again[0].hosts}
    assert hosts == {"m1c2": "10.28.36.11", "m1c3": "10.28.36.10"}


def test_duplicate_mac_and_exhausted_range_are_conflicts() -> None:
    """A MAC seen twice: the later node is left out and reported; a full range is reported."""
    nodes = [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2, "02:00:00:00:01:01")]
    plan = plan_pools(config(POOLS), nodes, {})[0]
    assert [h.hostname for h in plan.hosts] == ["m1c1"]
    assert plan.conflicts == ("m1/c2n1: MAC 02:00:00:00:01:01 already reserved for m1/c1n1",)
    small = POOLS.replace("end: 10.28.36.12", "end: 10.28.36.10")
    plan = plan_pools(
        config(small), [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2, "02:00:00:00:02:01")], {}
    )[0]
    assert plan.conflicts == ("m1/c2n1: the pool's address range is exhausted",)


def test_node_in_two_pools_goes_to_the_first_by_name() -> None:
    """Two pools claiming one node: the pool first by name keeps it, the other reports it."""
    overlap = (
        POOLS
        + """
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: cluster-b}
spec:
  members: [{chassis: m1, nodes: [all]}]
"""
    )
    plans = {
        p.pool.name: p
        for p in plan_pools(config(overlap), [node("m1", 1, "02:00:00:00:01:01")], {})
    }
    assert [h.hostname for h in plans["cluster-a"].hosts] == ["m1c1"]
    assert plans["cluster-b"].conflicts == ("m1/c1n1: already in pool 'cluster-a'",)


def test_dhcphosts_object_is_valid_against_the_upstream_crd() -> None:
    """The DhcpHosts object validates strictly against dnsmasq-controller's pinned CRD schema."""
    plan = plan_pools(config(POOLS), [node("m1", 1, "02:00:00:00:01:01", "02:00:00:00:01:02")], {})[
        0
    ]
    [obj] = dhcphosts_objects(plan)
    crd = yaml.safe_load((UPSTREAM / "dnsmasq.kvaps.cf_dhcphosts.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec_schema = dict(schema["properties"]["spec"])
    host_schema = dict(spec_schema["properties"]["hosts"]["items"], additionalProperties=False)
    spec_schema["properties"] = dict(
        spec_schema["properties"], hosts={"type": "array", "items": host_schema}
    )
    jsonschema.validate(obj["spec"], dict(spec_schema, additionalProperties=False))
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "chassisd"
    assert obj["spec"]["hosts"] == [
        {
            "macs": ["02:00:00:00:01:01", "02:00:00:00:01:02"],
            "hostname": "m1c1",
            "ip": "10.28.36.10",
            "setTags": ["cluster-a"],
            "leaseTime": "infinite",
        }
    ]
    assert hostsfile_line(plan.hosts[0], plan.pool) == (
        "02:00:00:00:01:01,02:00:00:00:01:02,set:cluster-a,10.28.36.10,m1c1,infinite"
    )


def test_zero_broadcast_and_multicast_macs_are_never_reserved() -> None:
    """Zero, broadcast and multicast MACs are dropped with a warning naming the node; the node
    keeps its good MACs, and a zero MAC shared by two nodes no longer pushes one of them out."""
    nodes = [
        node("m1", 1, "00:00:00:00:00:00", "02:00:00:00:01:01"),
        node("m1", 2, "00:00:00:00:00:00", "02:00:00:00:02:01"),
        node("m1", 3, "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01"),
    ]
    plan = plan_pools(config(POOLS), nodes, {})[0]
    assert [(h.hostname, h.macs) for h in plan.hosts] == [
        ("m1c1", ("02:00:00:00:01:01",)),
        ("m1c2", ("02:00:00:00:02:01",)),
    ]
    assert plan.conflicts == ()
    assert plan.skipped == (
        "m1/c1n1: MAC 00:00:00:00:00:00 is the all-zero address, never reserved",
        "m1/c2n1: MAC 00:00:00:00:00:00 is the all-zero address, never reserved",
        "m1/c3n1: MAC ff:ff:ff:ff:ff:ff is the broadcast address, never reserved",
        "m1/c3n1: MAC 01:00:5e:00:00:01 is a multicast address, never reserved",
        "m1/c3n1: MAC 33:33:00:00:00:01 is a multicast address, never reserved",
        "m1/c3n1: no usable MAC address known, nothing to reserve",
    )


STICKY = """
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: prod}
spec:
  members: [{chassis: m1}]
  addressing: {range: {start: 10.28.36.10, end: 10.28.36.12}}
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: a-new}
spec:
  members: [{chassis: m2}]
"""


def test_an_established_reservation_keeps_its_mac_through_a_conflict() -> None:
    """A newcomer (here in a pool that sorts first) reporting a MAC an established node holds
    is left out and reported; the established node keeps it, also while it is absent within
    its grace period (it is still among the known nodes)."""
    prod = node("m1", 1, "02:00:00:00:01:01")
    first = {p.pool.name: p for p in plan_pools(config(STICKY), [prod], {})}
    established = Established(macs=reserved_macs(tuple(first.values())))
    assert established.macs == {"02:00:00:00:01:01": "m1/c1n1"}
    newcomer = node("m2", 9, "02:00:00:00:01:01", template="{chassis}-{id}")
    again = {p.pool.name: p for p in plan_pools(config(STICKY), [newcomer, prod], {}, established)}
    assert [h.key for h in again["prod"].hosts] == ["m1/c1n1"]
    assert again["a-new"].hosts == ()
    assert again["a-new"].conflicts == (
        "m2/c9n1: MAC 02:00:00:00:01:01 already reserved for m1/c1n1",
    )
    # Without what was established, the pool first by name would take it (the old behaviour).
    fresh = {p.pool.name: p for p in plan_pools(config(STICKY), [newcomer, prod], {})}
    assert [h.key for h in fresh["a-new"].hosts] == ["m2/c9n1"]


def multi_node(chassis: str, cartridge: int, count: int, template: str) -> list[NamedNode]:
    records = [
        NodeRecord(
            id=f"c{cartridge}n{n}",
            cartridge=cartridge,
            node=n,
            macs=(MacAddress(f"02:00:00:00:{cartridge:02x}:{n:02x}"),),
        )
        for n in range(1, count + 1)
    ]
    return [NamedNode(node_name(template, chassis, r), chassis, r) for r in records]


def test_a_template_without_node_on_a_multi_node_cartridge_is_reported() -> None:
    """``m1c{cartridge}`` names the four nodes of cartridge 5 alike: the first keeps the name,
    the others are left out, and the report says the template needs {node} or {id}."""
    pools = POOLS.replace('nodes: ["c1-3n1"]', 'nodes: ["c5n1-4"]').replace("12}", "20}")
    plan = plan_pools(config(pools), multi_node("m1", 5, 4, "m1c{cartridge}"), {})[0]
    assert [h.hostname for h in plan.hosts] == ["m1c5"]
    assert plan.conflicts == tuple(
        f"m1/c5n{n}: node name 'm1c5' already reserved for m1/c5n1 (cartridge 5 holds several "
        "nodes: the template needs {node} or {id})"
        for n in (2, 3, 4)
    )
    fixed = plan_pools(config(pools), multi_node("m1", 5, 4, "m1c{cartridge}n{node}"), {})[0]
    assert [h.hostname for h in fixed.hosts] == ["m1c5n1", "m1c5n2", "m1c5n3", "m1c5n4"]
    assert not fixed.conflicts


TWO_POOLS_ONE_DNSMASQ = """
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: a}
spec:
  members: [{chassis: m1}]
  hostnameTemplate: "worker-{cartridge}"
  dhcp: {namespace: kubefarm}
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: b}
spec:
  members: [{chassis: m2, nodes: [c1n1]}]
  hostnameTemplate: "worker-{cartridge}"
  dhcp: {namespace: kubefarm}
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: c}
spec:
  members: [{chassis: m2, nodes: [c2n1]}]
  hostnameTemplate: "worker-{cartridge}"
  dhcp: {namespace: kubefarm, controller: other}
"""


def test_hostnames_are_unique_across_the_pools_of_one_dnsmasq() -> None:
    """Two pools feeding one dnsmasq (namespace + controller) cannot both hand out a hostname;
    a pool feeding another dnsmasq can."""
    nodes = [
        node("m1", 1, "02:00:00:00:01:01"),
        node("m2", 1, "02:00:00:00:21:01", template="{chassis}-{id}"),
        node("m2", 2, "02:00:00:00:22:01", template="{chassis}-{id}"),
    ]
    plans = {p.pool.name: p for p in plan_pools(config(TWO_POOLS_ONE_DNSMASQ), nodes, {})}
    assert [h.hostname for h in plans["a"].hosts] == ["worker-1"]
    assert plans["b"].conflicts == ("m2/c1n1: hostname 'worker-1' already reserved for m1/c1n1",)
    assert [h.hostname for h in plans["c"].hosts] == ["worker-2"]


def test_names_and_macs_held_by_another_namespace_are_left_out() -> None:
    """What the pools of another namespace reserve in the same dnsmasq (``elsewhere``) is not
    reserved again: a MAC, a hostname; another dnsmasq is unaffected."""
    nodes = [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2, "02:00:00:00:02:01")]
    elsewhere = {
        ("kubefarm", ""): {
            "mac:02:00:00:00:01:01": "x (m9/c1n1) of namespace farm-b",
            "host:m1c2": "y (m9/c2n1) of namespace farm-b",
        }
    }
    plan = plan_pools(config(POOLS), nodes, {}, Established(elsewhere=elsewhere))[0]
    assert plan.hosts == ()
    assert plan.conflicts == (
        "m1/c1n1: MAC 02:00:00:00:01:01 already reserved for x (m9/c1n1) of namespace farm-b",
        "m1/c2n1: hostname 'm1c2' already reserved for y (m9/c2n1) of namespace farm-b",
    )
    other = {("kubefarm", "other"): elsewhere[("kubefarm", "")]}
    plan = plan_pools(config(POOLS), nodes, {}, Established(elsewhere=other))[0]
    assert len(plan.hosts) == 2
    assert reserved_names([plan]) == {
        ("kubefarm", ""): {
            "host:m1c1": "cluster-a (m1/c1n1)",
            "mac:02:00:00:00:01:01": "cluster-a (m1/c1n1)",
            "host:m1c2": "cluster-a (m1/c2n1)",
            "mac:02:00:00:00:02:01": "cluster-a (m1/c2n1)",
        }
    }


def test_a_node_without_macs_is_skipped_not_a_conflict() -> None:
    """A member with no MAC known has nothing to reserve: the plan says so about the node, and
    the pool has no Conflict for it."""
    nodes = [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2)]
    plan = plan_pools(config(POOLS), nodes, {})[0]
    assert [h.hostname for h in plan.hosts] == ["m1c1"]
    assert plan.conflicts == ()
    assert plan.skipped == ("m1/c2n1: no usable MAC address known, nothing to reserve",)


def test_free_addresses_count_the_range_not_reserved() -> None:
    """A range of 3 with 2 reservations has 1 free address; a catch-all has no range."""
    nodes = [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2, "02:00:00:00:02:01")]
    plans = {p.pool.name: p for p in plan_pools(config(POOLS), nodes, {})}
    assert free_addresses(plans["cluster-a"]) == 1
    assert free_addresses(plans["unknown"]) is None


def test_object_names_are_unambiguous_and_carry_the_pool_namespace() -> None:
    """Pool x + chassis y-z and pool x-y + chassis z get two names, as do pools of one name in
    two namespaces; names are stable, valid DNS subdomains and show namespace, pool and
    chassis where they fit."""
    import re

    from chassisd.reconcile import dhcphosts_name

    names = {
        dhcphosts_name("x", "y-z", pool_namespace="farm"),
        dhcphosts_name("x-y", "z", pool_namespace="farm"),
        dhcphosts_name("x", "y-z", pool_namespace="other"),
        dhcphosts_name("b-x", "y-z", pool_namespace="a"),
        dhcphosts_name("x", "y-z", pool_namespace="a-b"),
        dhcphosts_name("x", "y-z"),
    }
    assert len(names) == 6
    name = dhcphosts_name("cluster-a", "moonshot-1", pool_namespace="farm")
    assert name == dhcphosts_name("cluster-a", "moonshot-1", pool_namespace="farm")
    assert re.fullmatch(r"chassisd-farm-cluster-a-moonshot-1-[0-9a-f]{10}", name)
    long = dhcphosts_name("p" * 200, "c" * 200, pool_namespace="n" * 63)
    assert len(long) <= 253
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", long)
    assert long != dhcphosts_name("p" * 200, "c" * 199, pool_namespace="n" * 63)


TWO_POOLS_ONE_CONFIGMAP = """
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: a}
spec:
  members: [{chassis: m1, nodes: ["c1n1"]}]
  dhcp: {namespace: kubefarm}
  kubefarm: {configMapName: values}
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: b}
spec:
  members: [{chassis: m1, nodes: ["c2n1"]}]
  dhcp: {namespace: kubefarm}
  kubefarm: {configMapName: values}
"""


def test_two_pools_wanting_one_object_is_a_conflict_not_an_overwrite() -> None:
    """Two pools naming one ConfigMap: the pool first by name writes it, the other is told
    and its version is not among the objects to write."""
    from chassisd.reconcile import desired_objects

    nodes = [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2, "02:00:00:00:02:01")]
    plans = plan_pools(config(TWO_POOLS_ONE_CONFIGMAP), nodes, {})
    result = {pool: (items, refused) for pool, items, refused in desired_objects(plans)}
    configmaps = [i for pool in ("a", "b") for i in result[pool][0] if i.key[0] == "ConfigMap"]
    assert [(i.pool, i.key) for i in configmaps] == [("a", ("ConfigMap", "kubefarm", "values"))]
    assert "m1c1" in configmaps[0].obj["data"]["values.yaml"]
    assert result["a"][1] == []
    assert result["b"][1] == ["ConfigMap kubefarm/values is written by pool 'a', not written"]
    assert [i.key[0] for i in result["b"][0]] == ["DhcpHosts"]


UNMATCHED = """
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: cluster-a}
spec:
  members:
  - {chassis: m1, nodes: ["c1n1", "c7n1", "c2-30n1", "System.Embedded.1"]}
  - {chassis: m2, nodes: ["c9n1"]}
  dhcp: {namespace: kubefarm}
"""


def test_an_exact_member_id_matching_no_node_of_a_polled_chassis_is_reported() -> None:
    """``c7n1`` and a native id on m1 (polled, no such node) are reported, a range that is
    not one node is not; ``c9n1`` on m2 is not while m2 has not been polled successfully (its
    nodes may simply be unknown yet)."""
    nodes = [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2, "02:00:00:00:02:01")]
    [plan] = [p for p in plan_pools(config(UNMATCHED), nodes, {}, None, {"m1"})]
    assert plan.unmatched == ("m1/system.embedded.1", "m1/c7n1")
    [both] = plan_pools(config(UNMATCHED), nodes, {}, None, {"m1", "m2"})
    assert both.unmatched == ("m1/system.embedded.1", "m1/c7n1", "m2/c9n1")
    [unpolled] = plan_pools(config(UNMATCHED), nodes, {}, None)
    assert unpolled.unmatched == ()
