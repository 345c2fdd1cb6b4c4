"""Cluster mode end to end: the manager and its controllers, the real kube-apiserver, and
simulated chassis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import kubernetes.client as k8s
import pytest
import yaml

from chassisd.kube.gateway import CHASSIS, DHCPHOSTS, NODEPOOL, POWERACTION
from chassisd.metrics import Metrics
from chassisd.reconcile import dhcphosts_name
from chassisd.sim.moonshot.model import Cartridge, CommandKind, Faults, SimNode, Timing
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import API, World, all_hosts, open_world, standard_farm
from chassisd.testing.controlplane import UPSTREAM_CRDS_DIR
from chassisd.workers import MIN_WORKERS, poll_workers, sweep_rate

pytestmark = pytest.mark.kube


def dhcphosts_schema() -> dict[str, Any]:
    """dnsmasq-controller's DhcpHosts spec schema, strict (unknown fields are errors)."""
    crd = yaml.safe_load((UPSTREAM_CRDS_DIR / "dnsmasq.kvaps.cf_dhcphosts.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    hosts = dict(spec["properties"]["hosts"]["items"], additionalProperties=False)
    props = dict(spec["properties"], hosts={"type": "array", "items": hosts})
    return dict(spec, properties=props, additionalProperties=False)


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    """Two simulated chassis (6 nodes each), their Secrets, and the gateway; agents stop after."""
    with open_world(kube_api, kube_namespace) as w:
        yield w


def test_discovery_fills_dhcphosts_and_statuses(world: World) -> None:
    """Every simulated node gets a reservation within a poll: pool members with IPs, the rest in
    the catch-all without; objects pass the upstream schema strictly; statuses are filled."""
    standard_farm(world)
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20), all_hosts(world)
    objects = world.dhcphosts()
    assert set(objects) == {
        dhcphosts_name(pool, chassis, pool_namespace=world.namespace)
        for pool, chassis in (("cluster-a", "m1"), ("unknown", "m1"), ("unknown", "m2"))
    }
    schema = dhcphosts_schema()
    for obj in objects.values():
        jsonschema.validate(obj["spec"], schema)
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "chassisd"
        assert {m["manager"] for m in obj["metadata"]["managedFields"]} == {"chassisd"}
    hosts = all_hosts(world)
    assert hosts["c1n1"]["ip"] == "10.28.36.10" and hosts["c1n1"]["setTags"] == ["cluster-a"]
    assert "ip" not in hosts["c1n5"] and "ip" not in hosts["m2-c1n1"]
    assert wait_until(lambda: world.get(CHASSIS, "m1").get("status", {}).get("nodeCount") == 6, 10)
    status = world.get(CHASSIS, "m1")["status"]
    reachable = next(c for c in status["conditions"] if c["type"] == "Reachable")
    assert reachable["status"] == "True"
    assert {n["name"] for n in status["nodes"]} == {f"c1n{i}" for i in range(1, 7)}
    assert wait_until(
        lambda: world.get(NODEPOOL, "cluster-a").get("status", {}).get("memberCount") == 4, 10
    )
    pool = world.get(NODEPOOL, "cluster-a")["status"]
    assert pool["allocations"]["m1/c1n1"] == "10.28.36.10"
    assert pool["written"][0]["name"] == dhcphosts_name(
        "cluster-a", "m1", pool_namespace=world.namespace
    )


def test_steady_farm_writes_nothing(world: World) -> None:
    """Polls with nothing changed leave every resourceVersion alone and count no writes."""
    standard_farm(world)
    metrics = Metrics()
    world.start_agent(metrics)
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    assert wait_until(
        lambda: world.get(NODEPOOL, "unknown").get("status", {}).get("memberCount") == 8, 10
    )
    time.sleep(1.5)  # let the first round of status writes settle

    def versions() -> dict[str, str]:
        objs = [
            *world.dhcphosts().values(),
            world.get(CHASSIS, "m1"),
            world.get(CHASSIS, "m2"),
            world.get(NODEPOOL, "cluster-a"),
            world.get(NODEPOOL, "unknown"),
        ]
        return {
            f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in objs
        }

    before = versions()
    logins = world.sims["m1"].stats.logins
    writes = _writes(metrics)
    assert wait_until(lambda: world.sims["m1"].stats.logins >= logins + 3, timeout=15)
    time.sleep(0.5)
    assert versions() == before
    assert _writes(metrics) == writes


def test_product_and_serial_are_read_once_and_kept_in_the_status(world: World) -> None:
    """The agent reads Moonshot product and serial once (one ``show node info all``), records
    them (and when) in the Chassis status, sends no ``show node info`` on the polls after, and
    reads a new cartridge's by its own id; a restarted agent does not read them again."""
    sim = world.sims["m1"]
    sim.reset_stats()
    world.chassis("m1", sim)
    first = world.start_agent()

    def nodes() -> dict[str, dict[str, Any]]:
        status = world.get(CHASSIS, "m1").get("status") or {}
        return {n["id"]: n for n in status.get("nodes", [])}

    assert wait_until(lambda: len(nodes()) == 6 and all("serial" in n for n in nodes().values()),
                      timeout=20), nodes()  # fmt: skip
    for node_id, node in nodes().items():
        cartridge = sim.spec.cartridges[node["cartridge"]]
        assert (node["product"], node["serial"]) == (
            cartridge.product_name, cartridge.serial_number
        ), node_id  # fmt: skip
        assert node["detailsRead"]
    logins = sim.stats.logins
    assert wait_until(lambda: sim.stats.logins >= logins + 3, timeout=15)
    assert sim.stats.count(CommandKind.NODE_INFO) == 1
    sim.insert_cartridge(44, Cartridge((SimNode(macs=("02:44:00:00:00:01",)),),
                                       serial_number="CNNEW00044"))  # fmt: skip
    assert wait_until(lambda: nodes().get("c44n1", {}).get("serial") == "CNNEW00044", 15)
    assert sim.stats.count(CommandKind.NODE_INFO) == 2
    first.stop()
    world.agents.remove(first)
    logins = sim.stats.logins
    world.start_agent()
    assert wait_until(lambda: sim.stats.logins >= logins + 3, timeout=15)
    assert sim.stats.count(CommandKind.NODE_INFO) == 2  # remembered through the status


def test_pool_that_loses_every_member_still_gets_its_status(world: World) -> None:
    """A pool whose members all go (here: its member pattern is changed to match nothing) has
    its status written with no members and no allocations. The API server's server-side apply
    turns a map field emptied by its owner into null; the CRD must accept that, or the pool's
    status freezes at its old members for good."""
    standard_farm(world)
    world.start_agent()
    assert wait_until(
        lambda: world.get(NODEPOOL, "cluster-a").get("status", {}).get("memberCount") == 4, 20
    )
    assert world.get(NODEPOOL, "cluster-a")["status"]["allocations"]
    k8s.CustomObjectsApi(world.gateway.api).patch_namespaced_custom_object(
        "chassisd.io", "v1alpha1", world.namespace, "nodepools", "cluster-a",
        {"spec": {"members": [{"chassis": "m1", "nodes": ["c9n1"]}]}},
    )  # fmt: skip

    def status() -> dict[str, Any]:
        return dict(world.get(NODEPOOL, "cluster-a").get("status") or {})

    assert wait_until(lambda: status().get("memberCount") == 0, 20), status()
    assert not status().get("allocations")
    unmatched = next(c for c in status()["conditions"] if c["type"] == "MembersUnmatched")
    assert unmatched["status"] == "True"


def test_owned_object_deleted_by_hand_is_put_back(world: World) -> None:
    """Reconcile compares against the owned objects as last listed; the periodic relist
    (``relist_interval``, 3 s here) finds one deleted behind chassisd's back and restores it."""
    standard_farm(world)
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    name = dhcphosts_name("cluster-a", "m1", pool_namespace=world.namespace)
    before = world.dhcphosts()[name]["spec"]
    world.gateway.delete(DHCPHOSTS, world.namespace, name)
    assert name not in world.dhcphosts()
    assert wait_until(lambda: name in world.dhcphosts(), timeout=15)
    assert world.dhcphosts()[name]["spec"] == before


def test_new_node_is_reserved_by_an_incremental_reconcile(world: World) -> None:
    """After the first (full) reconcile, a cartridge appearing on m2 is planned incrementally:
    its node lands in the catch-all's DhcpHosts of m2 and in the pool's status, the other
    object is not rewritten, and the reconcile CPU histogram counts incremental reconciles."""
    standard_farm(world)
    metrics = Metrics()
    world.start_agent(metrics)
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    assert wait_until(
        lambda: world.get(NODEPOOL, "unknown").get("status", {}).get("memberCount") == 8, 10
    )
    m1_pool = world.dhcphosts()[dhcphosts_name("cluster-a", "m1", pool_namespace=world.namespace)]
    world.sims["m2"].insert_cartridge(9, Cartridge((SimNode(macs=("02:00:00:00:09:01",)),)))
    assert wait_until(lambda: "m2-c9n1" in all_hosts(world), timeout=15), all_hosts(world)
    assert wait_until(
        lambda: world.get(NODEPOOL, "unknown").get("status", {}).get("memberCount") == 9, 10
    )
    after = world.dhcphosts()[dhcphosts_name("cluster-a", "m1", pool_namespace=world.namespace)]
    assert after["metadata"]["resourceVersion"] == m1_pool["metadata"]["resourceVersion"]
    assert _reconciles(metrics, "incremental") >= 1
    assert _reconciles(metrics, "full") >= 1


def _reconciles(metrics: Metrics, mode: str) -> float:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(metrics.registry).decode()
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        if f.name == "chassisd_reconcile_cpu_seconds"
        for s in f.samples
        if s.name.endswith("_count") and s.labels.get("mode") == mode
    )


def _writes(metrics: Metrics) -> float:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(metrics.registry).decode()
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        if f.name == "chassisd_api_writes"
        for s in f.samples
        if s.name.endswith("_total")
    )


def test_vanished_node_is_kept_until_the_grace_period(world: World) -> None:
    """A node a successful poll no longer reports keeps its reservation (absentSince set) until
    its pool's grace period passes; then it is removed and the others keep their IPs."""
    standard_farm(world, grace="6s")
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    ips = {n: h.get("ip") for n, h in all_hosts(world).items()}
    world.sims["m1"].remove_cartridge(2)

    def absent_and_still_reserved() -> bool:
        # Checked together: under load the status may show up late, and the grace period
        # (6 s; polls every 1 s) runs from the poll that first missed the node.
        nodes = world.get(CHASSIS, "m1")["status"]["nodes"]
        absent = any(n.get("absentSince") for n in nodes if n["id"] == "c2n1")
        return absent and "c1n2" in all_hosts(world)

    assert wait_until(absent_and_still_reserved, timeout=10)
    assert wait_until(lambda: "c1n2" not in all_hosts(world), timeout=15)
    after = {n: h.get("ip") for n, h in all_hosts(world).items()}
    assert after == {n: ip for n, ip in ips.items() if n != "c1n2"}


def test_unreachable_chassis_removes_nothing(world: World) -> None:
    """A chassis that refuses logins is Reachable=False and every reservation stays."""
    standard_farm(world, grace="1s")
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    before = all_hosts(world)
    world.sims["m1"].set_faults(Faults(reject_all_logins=True))

    def unreachable() -> bool:
        conds = world.get(CHASSIS, "m1")["status"]["conditions"]
        return any(c["type"] == "Reachable" and c["status"] == "False" for c in conds)

    assert wait_until(unreachable, timeout=15)
    reason = next(
        c for c in world.get(CHASSIS, "m1")["status"]["conditions"] if c["type"] == "Reachable"
    )
    assert reason["reason"] == "AuthFailed"
    assert "password" not in reason["message"].lower() or "hunter" not in reason["message"]
    time.sleep(3)  # longer than the grace period: still nothing may go
    assert all_hosts(world) == before


def test_changed_credentials_are_used_after_the_secret_ttl(world: World) -> None:
    """Secrets are kept for ``secret_ttl`` (2 s here): a password changed in the Secret is used
    by the polls after that, both ways (wrong → AuthFailed, right again → Reachable)."""
    standard_farm(world)
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    core = k8s.CoreV1Api(world.gateway.api)

    def reachable_reason() -> str:
        conds = world.get(CHASSIS, "m1")["status"]["conditions"]
        return next(c["reason"] for c in conds if c["type"] == "Reachable")

    core.patch_namespaced_secret("creds", world.namespace, {"stringData": {"password": "nope"}})
    assert wait_until(lambda: reachable_reason() == "AuthFailed", timeout=20)
    core.patch_namespaced_secret("creds", world.namespace, {"stringData": {"password": "password"}})
    assert wait_until(lambda: reachable_reason() == "PollSucceeded", timeout=20)


def test_duplicate_mac_is_a_conflict_with_an_event(world: World) -> None:
    """The same MAC on two chassis: the node that came later is left out, the pool says
    Conflict, and an Event records it."""
    node = next(iter(world.sims["m1"].spec.nodes()))[1]
    world.sims["m2"].insert_cartridge(9, Cartridge((SimNode(macs=node.macs),)))
    world.chassis("m1", world.sims["m1"])
    world.chassis("m2", world.sims["m2"])
    world.pool(
        "all",
        {"members": [{"chassis": "m1"}, {"chassis": "m2"}], "dhcp": {"namespace": world.namespace}},
    )
    world.start_agent()

    def conflict() -> dict[str, Any] | None:
        status = world.get(NODEPOOL, "all").get("status") or {}
        return next(
            (
                c
                for c in status.get("conditions", [])
                if c["type"] == "Conflict" and c["status"] == "True"
            ),
            None,
        )

    assert wait_until(lambda: conflict() is not None, timeout=20)
    # Which node came first depends on which chassis was polled first: that one's reservation
    # is established and keeps the MAC; the other is left out.
    hosts = all_hosts(world)
    assert ("m2-c9n1" in hosts) != ("m1-c1n1" in hosts)
    left_out = "m1/c1n1" if "m2-c9n1" in hosts else "m2/c9n1"
    assert conflict()["message"].startswith(f"{left_out}: MAC")
    events = k8s.CoreV1Api(world.gateway.api).list_namespaced_event(world.namespace)
    assert any(e.reason == "Conflict" and e.involved_object.name == "all" for e in events.items)


def test_restart_keeps_every_ip_even_with_the_chassis_down(world: World) -> None:
    """A new agent (restart) keeps every address, and removes nothing while the chassis is down."""
    standard_farm(world, grace="1s")
    first = world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    assert wait_until(
        lambda: len(world.get(NODEPOOL, "cluster-a").get("status", {}).get("allocations", {})) == 4,
        10,
    )
    before = all_hosts(world)
    first.stop()
    world.agents.remove(first)
    world.sims["m1"].set_faults(Faults(reject_all_logins=True))
    world.start_agent()
    time.sleep(4)
    assert all_hosts(world) == before
    world.sims["m1"].set_faults(Faults())
    world.sims["m1"].insert_cartridge(44, Cartridge((SimNode(macs=("02:44:00:00:00:01",)),)))
    # c44 is outside cluster-a's members: it lands in the catch-all; the members keep their IPs
    assert wait_until(
        lambda: "m1-c44n1" in all_hosts(world) or "c1n44" in all_hosts(world), timeout=15
    )
    after = all_hosts(world)
    assert {n: h.get("ip") for n, h in after.items() if n in before} == {
        n: h.get("ip") for n, h in before.items()
    }


def test_power_action_runs_and_reports(world: World) -> None:
    """A PowerAction powers the node through the simulator and records the outcome."""
    standard_farm(world)
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    world.sims["m1"].set_node_power("c3n1", False)
    world.gateway.create(
        {
            "apiVersion": API,
            "kind": "PowerAction",
            "metadata": {"name": "on-c1n3", "namespace": world.namespace},
            "spec": {"node": "c1n3", "action": "on"},
        }
    )

    def finished() -> dict[str, Any]:
        return world.get(POWERACTION, "on-c1n3").get("status") or {}

    assert wait_until(
        lambda: finished().get("phase") in ("Succeeded", "Failed", "Unknown"), timeout=20
    )
    status = finished()
    assert status["phase"] == "Succeeded", status
    assert status["powerState"] == "on" and status["driver"] == "moonshot"
    assert status["resolvedNode"] == "m1/c3n1"
    assert world.sims["m1"].is_powered_on("c3n1")


def test_power_action_for_an_unknown_node_fails_listing_candidates(world: World) -> None:
    """A PowerAction naming no known node fails with a message, and nothing is sent."""
    standard_farm(world)
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    world.gateway.create(
        {
            "apiVersion": API,
            "kind": "PowerAction",
            "metadata": {"name": "bad", "namespace": world.namespace},
            "spec": {"node": "c1n99", "action": "off"},
        }
    )
    assert wait_until(
        lambda: (world.get(POWERACTION, "bad").get("status") or {}).get("phase") == "Failed", 15
    )
    assert "no node matches 'c1n99'" in world.get(POWERACTION, "bad")["status"]["message"]


def test_invalid_chassis_is_reported_and_others_are_unaffected(world: World) -> None:
    """A Chassis whose Secret is missing says so in its status; the other chassis still works."""
    standard_farm(world)
    world.gateway.create(
        {
            "apiVersion": API,
            "kind": "Chassis",
            "metadata": {"name": "m3", "namespace": world.namespace},
            "spec": {
                "driver": "moonshot",
                "address": "127.0.0.1:1",
                "credentialsSecretRef": {"name": "missing"},
                "pollInterval": "1s",
            },
        }
    )
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)

    def m3_condition(kind: str) -> dict[str, Any]:
        conds = (world.get(CHASSIS, "m3").get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == kind), {})

    # A configuration error is its own condition; nothing was tried, so nothing is claimed
    # about reachability or the inventory.
    assert wait_until(lambda: m3_condition("ConfigValid").get("reason") == "InvalidConfig", 15)
    assert "missing" in m3_condition("ConfigValid")["message"]
    assert m3_condition("ConfigValid")["status"] == "False"
    assert (m3_condition("Reachable")["status"], m3_condition("Reachable")["reason"]) == (
        "Unknown",
        "NotPolled",
    )
    assert m3_condition("InventoryValid")["status"] == "Unknown"


def test_only_the_leader_polls_and_the_other_takes_over(world: World) -> None:
    """Two agents behind a Lease: only the leader polls; when it stops, the other takes over."""
    import threading

    from chassisd.kube.leader import LeaderElector

    standard_farm(world)
    electors, stops, metrics = [], [], []
    for identity in ("a", "b"):
        elector = LeaderElector(
            world.gateway.api,
            namespace=world.namespace,
            name="chassisd-leader",
            identity=identity,
            lease_duration=3,
            renew_deadline=2,
            retry_period=0.3,
        )
        stop = threading.Event()
        m = Metrics()
        agent = world.start_agent(m, fence=lambda e=elector: e.is_leader)
        threading.Thread(
            target=elector.run, args=(stop, agent.lead, agent.follow), daemon=True
        ).start()
        electors.append(elector)
        stops.append(stop)
        metrics.append(m)
    assert wait_until(lambda: any(e.is_leader for e in electors), timeout=10)
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=20)
    leader = 0 if electors[0].is_leader else 1
    other = 1 - leader
    assert _polls(metrics[leader]) > 0
    assert _polls(metrics[other]) == 0
    stops[leader].set()
    assert wait_until(lambda: electors[other].is_leader, timeout=10)
    assert wait_until(lambda: _polls(metrics[other]) > 0, timeout=10)
    stops[other].set()


def _polls(metrics: Metrics) -> float:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(metrics.registry).decode()
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        if f.name == "chassisd_polls"
        for s in f.samples
        if s.name.endswith("_total")
    )


def _gauge(metrics: Metrics, name: str) -> float | None:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(metrics.registry).decode()
    values = [s.value for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == name]  # fmt: skip
    return values[0] if values else None


def test_the_agent_derives_its_poll_workers_from_the_fleet(world: World) -> None:
    """``--workers auto``: polls of about 1.2 s, 6 chassis every second need at least 12
    workers (``chassisd.workers``), and more of them are then polled at once than the minimum
    of 4; 4 more Chassis raise it to at least 20, as the gauge and the agent say."""
    slow = Timing(latency={CommandKind.NODE_LIST: 0.6, CommandKind.NODE_MACADDR_ALL: 0.6})
    for sim in world.sims.values():
        sim.set_timing(slow)
    for i in range(6):
        world.chassis(f"w{i}", world.sims["m1"])
    metrics = Metrics()
    agent = world.start_agent(metrics)
    assert poll_workers(sweep_rate([1.0] * 6), 1.0) == 12
    assert wait_until(lambda: (_gauge(metrics, "chassisd_poll_workers") or 0) >= 12, timeout=10)
    most = 0
    deadline = time.monotonic() + 20
    while most <= MIN_WORKERS and time.monotonic() < deadline:
        most = max(most, world.sims["m1"].stats.active_connections)
        time.sleep(0.02)
    assert MIN_WORKERS < most <= 6  # more at once than the fewest workers; one per chassis
    for i in range(6, 10):
        world.chassis(f"w{i}", world.sims["m2"])
    assert poll_workers(sweep_rate([1.0] * 10), 1.0) == 20
    assert wait_until(lambda: (_gauge(metrics, "chassisd_poll_workers") or 0) >= 20, timeout=10)
    assert agent.poll_workers == _gauge(metrics, "chassisd_poll_workers")


def test_an_explicit_worker_count_wins(world: World) -> None:
    """``--workers 3`` is used as given, whatever the fleet."""
    for i in range(6):
        world.chassis(f"w{i}", world.sims["m1"])
    metrics = Metrics()
    agent = world.start_agent(metrics, workers=3)
    assert wait_until(lambda: _polls(metrics) >= 12, timeout=20)
    assert _gauge(metrics, "chassisd_poll_workers") == 3
    assert agent.poll_workers == 3
