"""The Kubernetes side of the bench fleet: namespace, Secrets, Chassis and NodePools.

Owns the shape of the farm the agent is given: one credentials Secret, one known-hosts Secret
that every Chassis references (the fleet shares one host key), one Chassis per simulated chassis,
one NodePool per ``chassis_per_pool`` chassis (a rack: it claims every slot but the last
``catch_all_slots``, with a fixed-address range) and one catch-all pool for the rest. Creates
them through ``KubeGateway`` on a thread pool (the API server is local). Knows which pool and
which ``DhcpHosts`` object each node should end up in.

Must not: talk to the simulator or the agent.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes.client as k8s

from bench.fleetproc import FleetInfo
from bench.settings import BenchSettings
from chassisd.kube.gateway import KubeGateway

API_VERSION = "chassisd.io/v1alpha1"
CREDENTIALS = "moonshot-credentials"
KNOWN_HOSTS = "moonshot-known-hosts"
CATCH_ALL = "unassigned"
CREATE_WORKERS = 16
ADDRESS_BASE = ipaddress.IPv4Address("10.64.0.0")
ADDRESSES_PER_POOL = 4096  # a /20 per rack: 45 slots x 8 nodes x chassis_per_pool fits for 10


def create_namespace(api: k8s.ApiClient) -> str:
    """A fresh namespace for one run."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    k8s.CoreV1Api(api).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    return name


def pool_name(settings: BenchSettings, index: int) -> str:
    """The rack pool of chassis ``index`` (0-based)."""
    return f"rack-{index // settings.chassis_per_pool + 1}"


def claimed_slots(settings: BenchSettings) -> int:
    """Slots 1..N of every chassis belong to its rack pool; the rest go to the catch-all."""
    return settings.slots - settings.catch_all_slots


def _pools(settings: BenchSettings, info: FleetInfo, namespace: str) -> Iterator[dict[str, Any]]:
    claimed = claimed_slots(settings)
    racks: dict[str, list[str]] = {}
    for index, chassis in enumerate(info.chassis):
        racks.setdefault(pool_name(settings, index), []).append(chassis.name)
    if claimed > 0:
        for number, (name, members) in enumerate(racks.items()):
            start = ADDRESS_BASE + number * ADDRESSES_PER_POOL + 1
            end = start + ADDRESSES_PER_POOL - 3
            yield {
                "apiVersion": API_VERSION,
                "kind": "NodePool",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "members": [{"chassis": c, "nodes": [f"c1-{claimed}n1-8"]} for c in members],
                    "addressing": {"range": {"start": str(start), "end": str(end)}},
                    "dhcp": {"namespace": namespace, "setTags": [name], "leaseTime": "infinite"},
                },
            }
    yield {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": CATCH_ALL, "namespace": namespace},
        "spec": {"catchAll": True, "dhcp": {"namespace": namespace, "leaseTime": "1h"}},
    }


def farm_objects(settings: BenchSettings, info: FleetInfo, namespace: str) -> list[dict[str, Any]]:
    """Every object of the farm, Secrets first."""
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": CREDENTIALS, "namespace": namespace},
            "stringData": {"username": "admin", "password": "password"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": KNOWN_HOSTS, "namespace": namespace},
            "stringData": {"known_hosts": info.known_hosts},
        },
    ]
    for chassis in info.chassis:
        objects.append(
            {
                "apiVersion": API_VERSION,
                "kind": "Chassis",
                "metadata": {"name": chassis.name, "namespace": namespace},
                "spec": {
                    "driver": "moonshot",
                    "address": f"{info.host}:{chassis.port}",
                    "credentialsSecretRef": {"name": CREDENTIALS},
                    "knownHostsSecretRef": {"name": KNOWN_HOSTS, "key": "known_hosts"},
                    "pollInterval": f"{settings.poll_interval}s",
                },
            }
        )
    objects.extend(_pools(settings, info, namespace))
    return objects


def create_farm(api: k8s.ApiClient, objects: list[dict[str, Any]]) -> None:
    """Create the objects: Secrets and pools one by one, Chassis on a thread pool."""
    gateway = KubeGateway(api)
    chassis = [o for o in objects if o["kind"] == "Chassis"]
    others = [o for o in objects if o["kind"] != "Chassis"]
    for obj in others:
        if obj["kind"] == "Secret":
            gateway.create(obj)
    with ThreadPoolExecutor(max_workers=CREATE_WORKERS) as pool:
        list(pool.map(gateway.create, chassis))  # list() re-raises the first failure
    for obj in others:
        if obj["kind"] != "Secret":
            gateway.create(obj)


def delete_namespace(api: k8s.ApiClient, namespace: str) -> None:
    """Ask for the namespace to go (without a controller-manager it stays Terminating)."""
    k8s.CoreV1Api(api).delete_namespace(namespace)
