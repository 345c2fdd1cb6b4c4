"""DHCP data on the real kube-apiserver: established reservations, MACs, uniqueness across
namespaces, object names and ownership (issue: nothing silently wrong in the DHCP data)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.cluster.manager import Manager
from chassisd.cluster.settings import AgentSettings, PollSettings, ReconcileSettings
from chassisd.kube.gateway import CONFIGMAP, DHCPHOSTS, NODEPOOL, Kind
from chassisd.metrics import Metrics
from chassisd.poller import RetryPolicy
from chassisd.reconcile import dhcphosts_name
from chassisd.registry import Registry
from chassisd.sim.moonshot.model import Cartridge, SimNode
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import World, all_hosts, open_world, standard_farm

pytestmark = pytest.mark.kube


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    """Two simulated chassis (6 nodes each), their Secrets, and the gateway; agents stop after."""
    with open_world(kube_api, kube_namespace) as w:
        yield w


def condition(world: World, pool: str, kind: str) -> dict[str, Any]:
    """A NodePool condition ({} until written)."""
    status = world.get(NODEPOOL, pool).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def events(world: World, pool: str, reason: str) -> list[str]:
    """Messages of the Events about ``pool`` with ``reason``."""
    items = k8s.CoreV1Api(world.gateway.api).list_namespaced_event(world.namespace).items
    return [e.message for e in items if e.reason == reason and e.involved_object.name == pool]


def test_a_newcomer_does_not_take_an_established_mac(world: World) -> None:
    """A chassis that starts reporting a MAC already reserved for a node of another pool does
    not take it over, even from a pool that sorts first: the newcomer is left out with
    Conflict and an Event, the production node keeps its reservation."""
    world.chassis("m1", world.sims["m1"], nodeNameTemplate="c1n{cartridge}")
    world.chassis("m2", world.sims["m2"])
    world.pool("prod", {"members": [{"chassis": "m1"}], "dhcp": {"namespace": world.namespace}})
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 6, timeout=20)
    assert wait_until(lambda: condition(world, "prod", "Ready").get("status") == "True", 10)
    production = all_hosts(world)["c1n1"]
    world.pool("a-new", {"members": [{"chassis": "m2"}], "dhcp": {"namespace": world.namespace}})
    world.sims["m2"].insert_cartridge(9, Cartridge((SimNode(macs=tuple(production["macs"])),)))
    assert wait_until(lambda: condition(world, "a-new", "Conflict").get("status") == "True", 20)
    assert "m2/c9n1: MAC" in condition(world, "a-new", "Conflict")["message"]
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    hosts = all_hosts(world)
    assert "m2-c9n1" not in hosts and hosts["c1n1"]["macs"] == production["macs"]
    assert wait_until(lambda: any("m2/c9n1" in m for m in events(world, "a-new", "Conflict")), 10)


def test_objects_under_old_names_are_removed_after_an_upgrade(world: World) -> None:
    """A DhcpHosts an earlier version wrote under ``chassisd-<pool>-<chassis>`` (owned: it
    carries the pool's labels) is removed once the current name is written, so dnsmasq does
    not serve the pool's reservations twice; the pool's hosts are all under the new name."""
    standard_farm(world)
    old_name = "chassisd-cluster-a-m1"
    world.gateway.create(
        {
            "apiVersion": DHCPHOSTS.api_version,
            "kind": "DhcpHosts",
            "metadata": {
                "name": old_name,
                "namespace": world.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "chassisd",
                    "chassisd.io/pool": "cluster-a",
                    "chassisd.io/pool-namespace": world.namespace,
                    "chassisd.io/chassis": "m1",
                },
            },
            "spec": {"hosts": [{"macs": ["02:00:00:00:00:99"], "hostname": "old"}]},
        }
    )
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12 and old_name not in world.dhcphosts(), 20)
    names = sorted(world.dhcphosts())
    assert all(re.fullmatch(rf"chassisd-{world.namespace}-.*-[0-9a-f]{{10}}", n) for n in names)
    written = world.get(NODEPOOL, "cluster-a")["status"]["written"]
    assert [w["name"] for w in written] == [n for n in names if "cluster-a" in n]


def test_two_pools_naming_one_configmap_is_a_conflict(world: World) -> None:
    """Two pools naming one kubefarm ConfigMap: the pool first by name writes it, the other
    gets Conflict (and an Event) and never overwrites it, so the object stays put."""
    world.chassis("m1", world.sims["m1"])
    for name, nodes in (("a", "c1-3n1"), ("b", "c4-6n1")):
        world.pool(
            name,
            {
                "members": [{"chassis": "m1", "nodes": [nodes]}],
                "dhcp": {"namespace": world.namespace},
                "kubefarm": {"configMapName": "values"},
            },
        )
    world.start_agent()
    assert wait_until(lambda: condition(world, "b", "Conflict").get("status") == "True", 20)
    assert (
        f"ConfigMap {world.namespace}/values is written by pool 'a'"
        in (condition(world, "b", "Conflict")["message"])
    )
    assert condition(world, "a", "Conflict").get("status") == "False"

    def values() -> dict[str, Any]:
        configmap = world.gateway.get(CONFIGMAP, world.namespace, "values")
        return configmap or {"metadata": {}, "data": {"values.yaml": ""}}

    assert wait_until(lambda: values()["data"]["values.yaml"].count("name: m1-c") == 3, 20)
    assert values()["metadata"]["labels"]["chassisd.io/pool"] == "a"
    version = values()["metadata"]["resourceVersion"]
    time.sleep(3)  # several reconcile rounds: the object is not fought over
    again = values()
    assert again["metadata"]["resourceVersion"] == version, again
    assert wait_until(lambda: any("values" in m for m in events(world, "b", "Conflict")), 10)


def test_a_configmap_chassisd_does_not_own_is_never_written_or_deleted(world: World) -> None:
    """A pool whose ``kubefarm.configMapName`` names a kubefarm release's own ConfigMap (no
    ownership labels) gets Conflict and an Event; the ConfigMap keeps its data, labels and
    version, also after the pool is deleted. The pool's DhcpHosts are written as usual."""
    world.gateway.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cluster1-values", "namespace": world.namespace,
                         "labels": {"app.kubernetes.io/instance": "cluster1"}},
            "data": {"values.yaml": "nodePools: []\n", "other": "kept"},
        }
    )  # fmt: skip
    before = world.gateway.get(CONFIGMAP, world.namespace, "cluster1-values")
    assert before is not None
    world.chassis("m1", world.sims["m1"])
    world.pool(
        "cluster1",
        {
            "members": [{"chassis": "m1"}],
            "dhcp": {"namespace": world.namespace},
            "kubefarm": {"configMapName": "cluster1-values"},
        },
    )
    world.start_agent()
    assert wait_until(lambda: condition(world, "cluster1", "Conflict").get("status") == "True", 20)
    assert (
        f"ConfigMap {world.namespace}/cluster1-values exists and is not labelled "
        "app.kubernetes.io/managed-by=chassisd: not written"
    ) in condition(world, "cluster1", "Conflict")["message"]
    assert wait_until(lambda: len(all_hosts(world)) == 6, 20)
    assert wait_until(
        lambda: any("cluster1-values" in m for m in events(world, "cluster1", "Conflict")), 10
    )

    def written_kinds() -> list[str]:
        status = world.get(NODEPOOL, "cluster1").get("status") or {}
        return [w["kind"] for w in status.get("written") or []]

    # The status follows the reconcile that wrote the hosts; under load it can lag a moment.
    assert wait_until(lambda: written_kinds() == ["DhcpHosts"], 20), written_kinds()
    world.gateway.delete(NODEPOOL, world.namespace, "cluster1")
    assert wait_until(lambda: not world.dhcphosts(), 20)  # its own objects go
    after = world.gateway.get(CONFIGMAP, world.namespace, "cluster1-values")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["data"] == before["data"]


def test_a_dhcphosts_of_another_pool_or_writer_is_not_taken_over(world: World) -> None:
    """An object at the name chassisd would write, carrying someone else's labels (another
    writer, or another namespace's pool), is a Conflict: not applied over, not deleted."""
    world.chassis("m1", world.sims["m1"])
    name = dhcphosts_name("prod", "m1", pool_namespace=world.namespace)
    world.gateway.create(
        {
            "apiVersion": DHCPHOSTS.api_version,
            "kind": "DhcpHosts",
            "metadata": {"name": name, "namespace": world.namespace,
                         "labels": {"app.kubernetes.io/managed-by": "chassisd",
                                    "chassisd.io/pool": "prod",
                                    "chassisd.io/pool-namespace": "elsewhere"}},
            "spec": {"hosts": [{"macs": ["02:00:00:00:00:99"], "hostname": "theirs"}]},
        }
    )  # fmt: skip
    world.pool("prod", {"members": [{"chassis": "m1"}], "dhcp": {"namespace": world.namespace}})
    world.start_agent()
    assert wait_until(lambda: condition(world, "prod", "Conflict").get("status") == "True", 20)
    assert (
        "belongs to pool elsewhere/prod: not written"
        in (condition(world, "prod", "Conflict")["message"])
    )
    time.sleep(2)
    assert [h["hostname"] for h in world.dhcphosts()[name]["spec"]["hosts"]] == ["theirs"]


def test_a_member_id_matching_no_node_raises_members_unmatched(world: World) -> None:
    """After a successful poll of m1, a pool member ``c44n1`` that m1 does not have (6
    cartridges) raises the warning condition MembersUnmatched naming it, with an Event; the
    members that exist are reserved. Fixing the typo clears it."""
    world.chassis("m1", world.sims["m1"])
    world.pool(
        "typo",
        {"members": [{"chassis": "m1", "nodes": ["c1n1", "c44n1"]}],
         "dhcp": {"namespace": world.namespace}},
    )  # fmt: skip
    world.start_agent()
    assert wait_until(
        lambda: condition(world, "typo", "MembersUnmatched").get("status") == "True", 20
    )
    message = condition(world, "typo", "MembersUnmatched")["message"]
    assert "m1/c44n1" in message and "m1/c1n1" not in message
    assert wait_until(
        lambda: any("m1/c44n1" in m for m in events(world, "typo", "MembersUnmatched")), 10
    )
    assert list(all_hosts(world)) == ["m1-c1n1"]
    pool = world.get(NODEPOOL, "typo")
    pool["spec"]["members"] = [{"chassis": "m1", "nodes": ["c1n1", "c4n1"]}]
    k8s.CustomObjectsApi(world.gateway.api).patch_namespaced_custom_object(
        "chassisd.io", "v1alpha1", world.namespace, "nodepools", "typo",
        {"spec": {"members": pool["spec"]["members"]}},
    )  # fmt: skip
    assert wait_until(
        lambda: condition(world, "typo", "MembersUnmatched").get("status") == "False", 20
    )


def test_one_dnsmasq_fed_from_two_namespaces_reserves_each_mac_once(
    world: World, kube_api: k8s.ApiClient
) -> None:
    """An agent following every namespace (namespace=None) serves two fresh namespaces whose
    pools, both called ``prod``, feed one dnsmasq (DHCP namespace A, controller "") from the
    same chassis: each MAC and host name is reserved once, the two pools' objects have two
    names, the pool that lost says Conflict naming the other namespace, and nothing flaps.
    Only objects of these two namespaces are looked at (the control plane is shared)."""
    core = k8s.CoreV1Api(kube_api)
    other = f"{world.namespace}-b"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=other)))
    try:
        second = World(other, world.gateway, world.sims)
        for secret in ("creds", "hostkeys"):
            copy = world.get(Kind("v1", "Secret"), secret)
            second.gateway.create({"apiVersion": "v1", "kind": "Secret",
                                   "metadata": {"name": secret, "namespace": other},
                                   "data": copy["data"]})  # fmt: skip
        for w in (world, second):
            w.chassis("m1", world.sims["m1"])
            w.pool("prod", {"members": [{"chassis": "m1"}],
                            "dhcp": {"namespace": world.namespace}})  # fmt: skip
        agent = Manager(
            world.gateway,
            Registry(),
            Metrics(),
            AgentSettings(
                namespace=None,
                identity="all-namespaces",
                poll=PollSettings(retry=RetryPolicy(attempts=1), max_backoff=1.0),
                reconcile=ReconcileSettings(interval=0.2, relist_interval=3),
            ),
            fence=lambda: True,
        )
        agent.start(leading=True)
        world.agents.append(agent)

        def conflicts() -> dict[str, str]:
            return {
                w.namespace: condition(w, "prod", "Conflict").get("message", "")
                for w in (world, second)
                if condition(w, "prod", "Conflict").get("status") == "True"
            }

        assert wait_until(lambda: len(all_hosts(world)) == 6 and len(conflicts()) == 1, 30)
        objects = world.dhcphosts()
        names = {
            ns: dhcphosts_name("prod", "m1", pool_namespace=ns) for ns in (world.namespace, other)
        }
        assert len(set(names.values())) == 2  # one pool name in two namespaces: two objects
        macs = [m for obj in objects.values() for h in obj["spec"]["hosts"] for m in h["macs"]]
        assert len(macs) == len(set(macs)) == 12
        [(loser, message)] = conflicts().items()
        winner = world.namespace if loser == other else other
        assert f"of namespace {winner}" in message, message
        assert list(objects) == [names[winner]]  # the loser holds no host, so has no object
        versions = {n: o["metadata"]["resourceVersion"] for n, o in objects.items()}
        time.sleep(3)  # several rounds of both namespaces: nothing is fought over
        again = world.dhcphosts()
        assert {n: o["metadata"]["resourceVersion"] for n, o in again.items()} == versions
        assert list(conflicts()) == [loser]
    finally:
        for agent in world.agents:
            agent.stop()
        world.agents.clear()
        core.delete_namespace(other)
