"""Reconcile: pool membership, catch-all, stable IPs, conflicts, DhcpHosts and hostsfile output."""

from __future__ import annotations

import jsonschema
import yaml

from chassisd.config import Config, parse_documents
from chassisd.model import MacAddress, NodeRecord
from chassisd.noderef import NamedNode, node_name
from chassisd.reconcile import dhcphosts_objects, free_addresses, hostsfile_line, plan_pools
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


def test_a_node_without_macs_is_skipped_not_a_conflict() -> None:
    """A member with no MAC known has nothing to reserve: the plan says so about the node, and
    the pool has no Conflict for it."""
    nodes = [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2)]
    plan = plan_pools(config(POOLS), nodes, {})[0]
    assert [h.hostname for h in plan.hosts] == ["m1c1"]
    assert plan.conflicts == ()
    assert plan.skipped == ("m1/c2n1: no MAC address known, nothing to reserve",)


def test_free_addresses_count_the_range_not_reserved() -> None:
    """A range of 3 with 2 reservations has 1 free address; a catch-all has no range."""
    nodes = [node("m1", 1, "02:00:00:00:01:01"), node("m1", 2, "02:00:00:00:02:01")]
    plans = {p.pool.name: p for p in plan_pools(config(POOLS), nodes, {})}
    assert free_addresses(plans["cluster-a"]) == 1
    assert free_addresses(plans["unknown"]) is None
