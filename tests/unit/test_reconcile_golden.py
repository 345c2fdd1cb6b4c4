"""Golden files for reconcile's outputs, and a 10,000-node pool.

The golden files in tests/golden/reconcile/ are the exact objects chassisd writes for a small
farm; regenerate them after an intended change with ``CHASSISD_UPDATE_GOLDEN=1 pytest`` and
review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from chassisd.config import Config, parse_documents
from chassisd.model import MacAddress, NodeRecord
from chassisd.noderef import NamedNode, node_name
from chassisd.reconcile import (
    dhcphosts_objects,
    hostsfile_line,
    kubefarm_configmap,
    plan_pools,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "reconcile"
MAX_OBJECT_BYTES = 1_572_864  # the API server's request limit (1.5 MiB)

FARM = """
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {username: admin, password: x}
---
apiVersion: chassisd.io/v1alpha1
kind: Chassis
metadata: {name: moonshot-1}
spec: {driver: moonshot, address: 10.0.0.1, credentialsSecretRef: {name: creds},
       nodeNameTemplate: "m1c{cartridge}"}
---
apiVersion: chassisd.io/v1alpha1
kind: Chassis
metadata: {name: moonshot-2}
spec: {driver: moonshot, address: 10.0.0.2, credentialsSecretRef: {name: creds},
       nodeNameTemplate: "m2c{cartridge}n{node}"}
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: cluster-a, namespace: farm}
spec:
  members:
  - {chassis: moonshot-1, nodes: ["c1-3n1"]}
  - {chassis: moonshot-2, nodes: ["c1n1-2"]}
  addressing:
    range: {start: 10.28.36.170, end: 10.28.36.190}
    nodes: {m1c3: 10.28.36.180}
  dhcp: {namespace: kubefarm-a, setTags: [cluster-a], leaseTime: infinite}
  kubefarm:
    configMapName: cluster-a-nodepools
    range: 10.28.0.0,static,255.255.0.0,10.28.0.0,infinite
    tags: [debug]
    extraOpts:
    - {dhcp-option: "tag:debug,option:ntp-server,10.28.0.1"}
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {name: unknown, namespace: farm}
spec:
  catchAll: true
  dhcp: {namespace: kubefarm-catchall, leaseTime: 1h}
"""


def farm_config() -> Config:
    return parse_documents(list(yaml.safe_load_all(FARM)), source="golden")


def node(chassis: str, template: str, cartridge: int, n: int = 1) -> NamedNode:
    base = (cartridge << 8) | (n << 4)
    macs = tuple(
        MacAddress(f"94:57:a5:{int(chassis[-1]):02x}:{base >> 8:02x}:{(base & 0xFF) + i:02x}")
        for i in range(2)
    )
    record = NodeRecord(id=f"c{cartridge}n{n}", macs=macs, cartridge=cartridge, node=n)
    return NamedNode(node_name(template, chassis, record), chassis, record)


def farm_nodes() -> list[NamedNode]:
    first = [node("moonshot-1", "m1c{cartridge}", c) for c in (1, 2, 3, 29, 43)]
    second = [
        node("moonshot-2", "m2c{cartridge}n{node}", c, n) for c in (1, 5) for n in (1, 2, 3, 4)
    ]
    return first + second


def rendered() -> dict[str, str]:
    """Every output file of the golden farm, by name."""
    plans = plan_pools(farm_config(), farm_nodes(), {})
    files: dict[str, str] = {}
    for plan in plans:
        for obj in dhcphosts_objects(plan, pool_namespace="farm"):
            files[f"dhcphosts-{obj['metadata']['name']}.yaml"] = yaml.safe_dump(
                obj, sort_keys=False
            )
        configmap = kubefarm_configmap(plan, pool_namespace="farm")
        if configmap is not None:
            files[f"configmap-{configmap['metadata']['name']}.yaml"] = yaml.safe_dump(
                configmap, sort_keys=False
            )
        files[f"allocations-{plan.pool.name}.json"] = (
            json.dumps(dict(plan.allocations), indent=1, sort_keys=True) + "\n"
        )
        files[f"conflicts-{plan.pool.name}.txt"] = "".join(f"{c}\n" for c in plan.conflicts)
    files["dhcp-hostsfile"] = "".join(
        f"{hostsfile_line(h, p.pool)}\n" for p in plans for h in p.hosts
    )
    return files


def test_outputs_match_golden_files() -> None:
    """DhcpHosts, kubefarm values, allocations and the hostsfile are exactly the golden files."""
    files = rendered()
    if os.environ.get("CHASSISD_UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for old in GOLDEN.iterdir():
            old.unlink()
        for name, text in files.items():
            (GOLDEN / name).write_text(text)
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(files)
    for name, text in files.items():
        assert (GOLDEN / name).read_text() == text, f"{name} differs from its golden file"


def test_golden_kubefarm_values_are_kubefarm_shaped() -> None:
    """The ConfigMap's values.yaml is a kubefarm nodePools list with name/mac/ip per node."""
    values = yaml.safe_load((GOLDEN / "configmap-cluster-a-nodepools.yaml").read_text())["data"][
        "values.yaml"
    ]
    pool = yaml.safe_load(values)["nodePools"][0]
    assert pool["range"].startswith("10.28.0.0,static")
    assert pool["tags"] == ["debug"]
    first = pool["nodes"][0]
    assert set(first) == {"name", "mac", "ip"}
    assert first["mac"].count(",") == 1  # kubefarm's comma-separated MAC string


def test_a_pool_of_10000_nodes_splits_into_objects_under_the_size_limit() -> None:
    """10,035 nodes on 223 chassis: unique IPs, one object per chassis, each far below 1.5 MiB,
    and addresses stay put when nodes leave."""
    chassis_count, per_chassis = 223, 45
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "c"},
            "stringData": {"username": "u"},
        }
    ]
    for i in range(chassis_count):
        docs.append(
            {"apiVersion": "chassisd.io/v1alpha1", "kind": "Chassis", "metadata": {"name": f"m{i}"},
             "spec": {"driver": "moonshot", "address": f"10.1.{i // 250}.{i % 250}",
                      "credentialsSecretRef": {"name": "c"}}})  # fmt: skip
    members = [{"chassis": f"m{i}", "nodes": ["all"]} for i in range(chassis_count)]
    docs.append(
        {"apiVersion": "chassisd.io/v1alpha1", "kind": "NodePool", "metadata": {"name": "big"},
         "spec": {"members": members,
                  "addressing": {"range": {"start": "10.64.0.1", "end": "10.64.255.254"}},
                  "dhcp": {"namespace": "farm", "setTags": ["big"]}}})  # fmt: skip
    config = parse_documents(docs)
    nodes = []
    for i in range(chassis_count):
        for c in range(1, per_chassis + 1):
            macs = (
                MacAddress(f"02:00:{i >> 8:02x}:{i & 0xFF:02x}:{c:02x}:00"),
                MacAddress(f"02:00:{i >> 8:02x}:{i & 0xFF:02x}:{c:02x}:01"),
            )
            record = NodeRecord(id=f"c{c}n1", macs=macs, cartridge=c, node=1)
            nodes.append(NamedNode(node_name("{chassis}-{id}", f"m{i}", record), f"m{i}", record))
    [plan] = plan_pools(config, nodes, {})
    assert len(plan.hosts) == chassis_count * per_chassis == 10_035
    assert not plan.conflicts
    assert len({h.ip for h in plan.hosts}) == len(plan.hosts)
    objects = dhcphosts_objects(plan)
    assert len(objects) == chassis_count
    sizes = [len(json.dumps(obj)) for obj in objects]
    assert max(sizes) < MAX_OBJECT_BYTES / 100  # about 7 KiB each
    # one object for the pool would be about as large as the API server's limit
    assert sum(sizes) > MAX_OBJECT_BYTES * 0.9
    # a chassis leaves: nobody else's address changes
    remaining = [n for n in nodes if n.chassis != "m0"]
    [again] = plan_pools(config, remaining, {"big": plan.allocations})
    before = {h.key: h.ip for h in plan.hosts}
    assert all(before[h.key] == h.ip for h in again.hosts)


@pytest.mark.parametrize("name", ["m1c3"])
def test_static_address_wins_over_the_range_order(name: str) -> None:
    """A pinned address is used for its node, and the range allocator skips it."""
    [plan, _catch_all] = plan_pools(farm_config(), farm_nodes(), {})
    ips = {h.hostname: h.ip for h in plan.hosts}
    assert ips[name] == "10.28.36.180"
    assert list(ips.values()).count("10.28.36.180") == 1
