"""``chassisctl`` in cluster mode as kubectl users expect it: the installed console script against
the real kube-apiserver, reading Chassis and NodePool statuses as the agent writes them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from chassisd.testing.controlplane import ControlPlane
from tests.cli.conftest import Run

pytestmark = [pytest.mark.kube]

API = ("chassisd.io", "v1alpha1")
NOW = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class Cluster:
    """A namespace holding a small farm, and a kubeconfig whose current context points at it."""

    namespace: str
    other: str  # a second namespace with one healthy chassis
    kubeconfig: Path


def _condition(kind: str, ok: bool, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": "True" if ok else "False", "reason": reason,
            "message": message, "lastTransitionTime": NOW}  # fmt: skip


def _node(cartridge: int, power: str = "on") -> dict[str, Any]:
    mac = f"02:00:00:00:00:{cartridge:02x}"
    return {"id": f"c{cartridge}n1", "name": f"c1n{cartridge}", "cartridge": cartridge, "node": 1,
            "macs": [mac], "macsKnown": True, "power": power, "health": "ok"}  # fmt: skip


def _chassis(
    custom: k8s.CustomObjectsApi,
    namespace: str,
    name: str,
    status: dict[str, Any] | None,
    *,
    driver: str = "moonshot",
    labels: dict[str, str] | None = None,
) -> None:
    body = {
        "apiVersion": "/".join(API),
        "kind": "Chassis",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"driver": driver, "address": "192.0.2.1", "credentialsSecretRef": {"name": "c"}},
    }
    custom.create_namespaced_custom_object(*API, namespace, "chassis", body)
    if status is not None:
        custom.patch_namespaced_custom_object_status(
            *API, namespace, "chassis", name, {"status": status}
        )


@pytest.fixture
def cluster(
    control_plane: ControlPlane, kube_api: k8s.ApiClient, tmp_path: Path
) -> Iterator[Cluster]:
    """Namespaces farm-* (ms-1 healthy, ms-unreach, ms-new never polled, pool-a) and lab-*."""
    core = k8s.CoreV1Api(kube_api)
    custom = k8s.CustomObjectsApi(kube_api)
    suffix = uuid.uuid4().hex[:8]
    namespace, other = f"farm-{suffix}", f"lab-{suffix}"
    for ns in (namespace, other):
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    ok = {"conditions": [_condition("Reachable", True, "PollSucceeded")], "nodeCount": 2,
          "nodes": [_node(1), _node(2, "off")], "lastSuccessTime": NOW}  # fmt: skip
    _chassis(custom, namespace, "ms-1", ok, labels={"rack": "r1"})
    unreachable = {"conditions": [_condition("Reachable", False, "Unreachable", "timed out")]}
    _chassis(custom, namespace, "ms-unreach", unreachable, labels={"rack": "r2"})
    _chassis(custom, namespace, "ms-new", None, labels={"rack": "r2"})
    lab = {"conditions": [_condition("Reachable", True, "PollSucceeded")], "nodeCount": 1,
           "nodes": [_node(7)]}  # fmt: skip
    _chassis(custom, other, "lab-1", lab)
    pool = {"apiVersion": "/".join(API), "kind": "NodePool", "metadata": {"name": "pool-a"},
            "spec": {"members": [{"chassis": "ms-1", "nodes": ["all"]}],
                     "addressing": {"range": {"start": "10.0.0.10", "end": "10.0.0.10"}},
                     "dhcp": {"namespace": namespace}}}  # fmt: skip
    custom.create_namespaced_custom_object(*API, namespace, "nodepools", pool)
    custom.patch_namespaced_custom_object_status(
        *API, namespace, "nodepools", "pool-a",
        {"status": {
            "conditions": [_condition("Conflict", True, "Conflict",
                                      "ms-1/c2n1: the pool's address range is exhausted")],
            "memberCount": 1,
            "members": [{"node": "c1n1", "chassis": "ms-1", "id": "c1n1",
                         "macs": ["02:00:00:00:00:01"], "ip": "10.0.0.10", "hostname": "c1n1"}],
        }},
    )  # fmt: skip
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    base = config["contexts"][0]
    config["contexts"] = [
        {"name": "farm", "context": {**base["context"], "namespace": namespace}},
        {"name": "lab", "context": {**base["context"], "namespace": other}},
    ]
    config["current-context"] = "farm"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    yield Cluster(namespace, other, kubeconfig)
    for ns in (namespace, other):
        core.delete_namespace(ns)


def test_context_namespace_is_the_default_and_flags_go_anywhere(
    chassisctl: Run, cluster: Cluster
) -> None:
    """With the context's namespace set and no -n, nodes lists that namespace's nodes; flags
    are taken after the subcommand as before it; --context picks another context."""
    result = chassisctl("nodes", "--kubeconfig", str(cluster.kubeconfig), "-o", "name")
    assert result.stdout.splitlines() == ["ms-1/c1n1", "ms-1/c2n1"], result.stderr
    status = chassisctl("power", "status", "c1n2", "--kubeconfig", str(cluster.kubeconfig))
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("c1n2 (ms-1/c2n1): off")
    lab = chassisctl("--kubeconfig", str(cluster.kubeconfig), "nodes", "--context", "lab",
                     "-o", "name")  # fmt: skip
    assert (lab.returncode, lab.stdout) == (0, "lab-1/c7n1\n"), lab.stderr


def test_unread_chassis_are_reported_on_stderr_and_exit_4(
    chassisctl: Run, cluster: Cluster
) -> None:
    """An unreachable and a never-polled Chassis are named on stderr, exit 4; the nodes known
    are still listed, with the pool and IP from the NodePool status, or why they have none."""
    result = chassisctl("--kubeconfig", str(cluster.kubeconfig), "nodes", "-o", "wide")
    assert result.returncode == 4
    assert f"chassis {cluster.namespace}/ms-unreach: Unreachable: timed out" in result.stderr
    assert f"chassis {cluster.namespace}/ms-new: NotPolled" in result.stderr
    header, first, second = result.stdout.splitlines()
    assert header.split()[:8] == ["NAME", "CHASSIS", "ID", "MACS", "POWER", "HEALTH", "POOL", "IP"]
    assert first.split()[6:9] == ["pool-a", "10.0.0.10", "c1n1"]
    assert "<none: the pool's address range is exhausted>" in second


def test_selector_chassis_and_pool_filters(chassisctl: Run, cluster: Cluster) -> None:
    """-l selects Chassis by label (only their problems count), --chassis by name, --pool by
    the pool that reserves the node; --no-headers drops the header."""
    kc = ("--kubeconfig", str(cluster.kubeconfig))
    healthy = chassisctl(*kc, "nodes", "-l", "rack=r1", "--no-headers")
    assert healthy.returncode == 0, healthy.stderr
    assert [line.split()[0] for line in healthy.stdout.splitlines()] == ["c1n1", "c1n2"]
    pool = chassisctl(*kc, "nodes", "--chassis", "ms-1", "--pool", "pool-a", "-o", "name")
    assert (pool.returncode, pool.stdout) == (0, "ms-1/c1n1\n")
    broken = chassisctl(*kc, "nodes", "-l", "rack=r2")
    assert broken.returncode == 4 and broken.stdout == ""
    assert f"No resources found in {cluster.namespace} namespace." in broken.stderr


def test_missing_namespace_says_no_resources_found(chassisctl: Run, cluster: Cluster) -> None:
    """-n naming an empty (or absent) namespace says so on stderr, naming it, exit 0."""
    result = chassisctl("nodes", "-n", "no-such-ns", "--kubeconfig", str(cluster.kubeconfig))
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr.strip() == "No resources found in no-such-ns namespace."


def test_all_namespaces_json_is_a_list(chassisctl: Run, cluster: Cluster) -> None:
    """-A -o json is a kubectl List whose items name their namespace; jsonpath reads it."""
    result = chassisctl("nodes", "-A", "-o", "json", "--kubeconfig", str(cluster.kubeconfig))
    document = json.loads(result.stdout)
    assert document["kind"] == "List" and document["apiVersion"] == "v1"
    mine = {(i["namespace"], i["ref"]) for i in document["items"]}
    assert {(cluster.namespace, "ms-1/c1n1"), (cluster.other, "lab-1/c7n1")} <= mine
    item = next(i for i in document["items"] if i["ref"] == "ms-1/c1n1")
    assert (item["pool"], item["ip"], item["hostname"]) == ("pool-a", "10.0.0.10", "c1n1")
    template = '{range .items[?(@.pool=="pool-a")]}{.name}={.ip}{"\\n"}{end}'
    path = chassisctl("nodes", "-A", "-o", f"jsonpath={template}", "--kubeconfig",
                      str(cluster.kubeconfig))  # fmt: skip
    assert "c1n1=10.0.0.10\n" in path.stdout


def test_power_on_a_node_of_an_unreachable_chassis_says_why(
    chassisctl: Run, cluster: Cluster
) -> None:
    """A reference on an existing but unread Chassis names its failure, exit 4, not
    "no chassis in the inventory"."""
    result = chassisctl("--kubeconfig", str(cluster.kubeconfig), "power", "on", "ms-unreach/c1n1")
    assert result.returncode == 4
    assert "ms-unreach: Unreachable: timed out" in result.stderr
    assert "no chassis" not in result.stderr


def test_invalid_chassis_is_a_configuration_error_exit_2(
    chassisctl: Run, cluster: Cluster, kube_api: k8s.ApiClient
) -> None:
    """A Chassis the agent reports as invalid (unknown driver, missing Secret) exits 2."""
    status = {"conditions": [_condition("Reachable", False, "InvalidConfig",
                                        "spec.driver: unknown driver 'nope'")]}  # fmt: skip
    _chassis(k8s.CustomObjectsApi(kube_api), cluster.other, "bad", status, driver="nope")
    result = chassisctl("--kubeconfig", str(cluster.kubeconfig), "--context", "lab", "nodes")
    assert result.returncode == 2
    assert f"chassis {cluster.other}/bad: InvalidConfig: spec.driver" in result.stderr


def test_map_in_cluster_mode(chassisctl: Run, cluster: Cluster) -> None:
    """map draws the namespace's Chassis from their status: the pool's letter for a reserved
    node, '!' for one left out, UNREAD for an unreachable or never-polled Chassis; exit 4."""
    result = chassisctl("map", "--kubeconfig", str(cluster.kubeconfig))
    assert result.returncode == 4, result.stderr
    lines = result.stdout.splitlines()
    top = lines.index(next(line for line in lines if line.startswith(f"{cluster.namespace}/ms-1")))
    assert lines[top + 2].split()[:3] == ["A", "!", "."]  # slot 1 pool-a on, slot 2 range full
    assert any("ms-unreach" in line and "UNREAD Unreachable: timed out" in line for line in lines)
    assert any("ms-new" in line and "UNREAD NotPolled" in line for line in lines)
    assert "pools: A=pool-a" in result.stdout
