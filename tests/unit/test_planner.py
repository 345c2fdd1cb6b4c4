"""The incremental planner against the full one: after every change of a random sequence, the
incremental plan is exactly ``plan_pools`` over the same inputs.

A farm generator picks pools with overlapping members, overlapping and tiny ranges, static
addresses, host name templates that collide, a catch-all or none; each step changes a chassis
or two (nodes appear, vanish, move slots, change or share MACs, get bad names), the chassis
polled, what other namespaces hold, and whether the remembered allocations lag a plan behind.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chassisd.config import Config, NodePoolSpec
from chassisd.config.resources import DhcpTarget, IpRange, MemberSelector
from chassisd.model import MacAddress, NodeRecord
from chassisd.noderef import NamedNode
from chassisd.planner import PoolPlanner
from chassisd.reconcile import Established, PoolPlan, plan_pools, reserved_macs

CHASSIS = ("m1", "m2", "m3", "m4", "m1-x")
TARGETS = (DhcpTarget(namespace="farm"), DhcpTarget(namespace="farm", controller="b"))
MACS = [f"02:00:00:00:00:{i:02x}" for i in range(40)] + ["00:00:00:00:00:00", "01:00:5e:00:00:01"]


def _ip(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(text)


def random_config(rng: random.Random) -> Config:
    pools: list[NodePoolSpec] = []
    for index in range(rng.randint(0, 4)):
        members = []
        for chassis in rng.sample(CHASSIS, rng.randint(1, 3)):
            kind = rng.random()
            if kind < 0.2:
                members.append(MemberSelector(chassis, all=True))
            elif kind < 0.4:
                ids = frozenset(f"c{rng.randint(1, 6)}n{rng.randint(1, 2)}" for _ in range(2))
                members.append(MemberSelector(chassis, ids=ids))
            else:
                c0 = rng.randint(1, 6)
                c1 = rng.randint(c0, 6)
                n0 = rng.randint(1, 2)
                members.append(MemberSelector(chassis, ranges=((c0, c1, n0, rng.randint(n0, 2)),)))
        ip_range = None
        if rng.random() < 0.8:
            start = rng.randint(1, 20)
            ip_range = IpRange(_ip(f"10.0.0.{start}"), _ip(f"10.0.0.{start + rng.randint(0, 12)}"))
        static = {}
        if rng.random() < 0.3:
            for _ in range(rng.randint(1, 3)):
                node = f"m{rng.randint(1, 4)}c{rng.randint(1, 6)}n{rng.randint(1, 2)}"
                key = node if rng.random() < 0.5 else f"m{node[1]}/{node[2:]}"
                static[key] = _ip(f"10.0.0.{rng.randint(1, 35)}")
        template = rng.choice(["{name}", "{name}", "h{cartridge}", "{chassis}-{id}", "x{node}"])
        pools.append(
            NodePoolSpec(
                name=f"p{index}",
                members=tuple(members),
                ip_range=ip_range,
                static_ips=static,
                hostname_template=template,
                dhcp=rng.choice(TARGETS),
            )
        )
    if rng.random() < 0.8:
        template = rng.choice(["{name}", "u{cartridge}"])
        pools.append(
            NodePoolSpec(
                name=rng.choice(["all", "zz"]),
                catch_all=True,
                hostname_template=template,
                dhcp=rng.choice(TARGETS),
            )
        )
    return Config(chassis=(), pools=tuple(pools), secrets={})


def random_node(rng: random.Random, chassis: str, taken: set[str]) -> NamedNode | None:
    for _ in range(5):
        cartridge, number = rng.randint(1, 6), rng.randint(1, 2)
        node_id = f"c{cartridge}n{number}" if rng.random() < 0.9 else f"x{rng.randint(1, 9)}"
        if node_id not in taken:
            break
    else:
        return None
    if rng.random() < 0.1:  # the slot moved under the same id
        cartridge = rng.randint(1, 6)
    macs = tuple(MacAddress(m) for m in rng.sample(MACS, rng.choice([0, 1, 1, 1, 2])))
    record = NodeRecord(id=node_id, macs=macs, cartridge=cartridge, node=number)
    name = rng.choice(
        [f"{chassis}{node_id}", f"{chassis}{node_id}", f"c{cartridge}", "Bad_Name", f"n{number}"]
    )
    return NamedNode(name, chassis, record)


def random_chassis(rng: random.Random, chassis: str) -> list[NamedNode]:
    nodes: list[NamedNode] = []
    taken: set[str] = set()
    for _ in range(rng.randint(0, 7)):
        node = random_node(rng, chassis, taken)
        if node is not None:
            taken.add(node.record.id)
            nodes.append(node)
    return nodes


def mutate(rng: random.Random, nodes: list[NamedNode], chassis: str) -> list[NamedNode]:
    """One change of a chassis: a node appears, vanishes, or is replaced; or all of them."""
    nodes = list(nodes)
    what = rng.random()
    if what < 0.35:
        node = random_node(rng, chassis, {n.record.id for n in nodes})
        if node is not None:
            nodes.append(node)
    elif what < 0.6 and nodes:
        nodes.pop(rng.randrange(len(nodes)))
    elif what < 0.9 and nodes:
        index = rng.randrange(len(nodes))
        others = {n.record.id for i, n in enumerate(nodes) if i != index}
        node = random_node(rng, chassis, others)
        if node is not None:
            nodes[index] = node
    else:
        nodes = random_chassis(rng, chassis)
    return nodes


def random_elsewhere(rng: random.Random) -> dict[tuple[str, str], dict[str, str]]:
    if rng.random() < 0.7:
        return {}
    host = f"m{rng.randint(1, 4)}c{rng.randint(1, 6)}n1"
    held = {
        f"mac:{rng.choice(MACS)}": "p9 (other/c1n1) of namespace other",
        f"host:{host}": "p9 (other/c2n1) of namespace other",
    }
    return {rng.choice(TARGETS).key: held}


def assert_same(incremental: tuple[PoolPlan, ...], full: tuple[PoolPlan, ...]) -> None:
    assert [p.pool.name for p in incremental] == [p.pool.name for p in full]
    for got, want in zip(incremental, full, strict=True):
        assert got.hosts == want.hosts, got.pool.name
        assert got.conflicts == want.conflicts, got.pool.name
        assert dict(got.allocations) == dict(want.allocations), got.pool.name
        assert got.skipped == want.skipped, got.pool.name
        assert got.unmatched == want.unmatched, got.pool.name


def run_sequence(seed: int, steps: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    config = random_config(rng)
    farm = {c: random_chassis(rng, c) for c in CHASSIS[: rng.randint(1, len(CHASSIS))]}
    polled = {c for c in farm if rng.random() < 0.7}
    established = Established(macs={m: f"m{rng.randint(1, 4)}/c1n1" for m in MACS[:5]})
    previous: dict[str, Mapping[str, str]] = {}
    catch_all = next((p for p in config.pools if p.catch_all), None)
    if catch_all is not None and rng.random() < 0.15:
        previous[catch_all.name] = {"m1/c1n1": "10.0.0.3"}  # a pool that became the catch-all
    nodes = [n for c in sorted(farm) for n in farm[c]]
    full = plan_pools(config, nodes, previous, established, polled)
    planner = PoolPlanner(config, farm, previous, established, polled)
    assert_same(planner.plans(), full)
    lagging = previous
    for _ in range(steps):
        # What the cluster agent passes: the allocations its statuses hold (sometimes a plan
        # behind), the last plan's MACs as established, and what other namespaces hold.
        current = {p.pool.name: p.allocations for p in full}
        previous, lagging = (lagging, current) if rng.random() < 0.3 else (current, current)
        elsewhere = random_elsewhere(rng) if rng.random() < 0.3 else planner_elsewhere(planner)
        changed: dict[str, list[NamedNode]] = {}
        for chassis in rng.sample(CHASSIS, rng.choice([1, 1, 1, 2])):
            farm[chassis] = changed[chassis] = mutate(rng, farm.get(chassis, []), chassis)
        if rng.random() < 0.2:
            polled ^= {rng.choice(CHASSIS)}
        nodes = [n for c in sorted(farm) for n in farm[c]]
        established = Established(macs=reserved_macs(full), elsewhere=elsewhere)
        assert dict(planner.reserved_macs()) == established.macs
        full = plan_pools(config, nodes, previous, established, polled)
        try:
            planner.update(changed, previous, elsewhere, polled)
        except ValueError:
            planner = PoolPlanner(config, farm, previous, established, polled)
        assert_same(planner.plans(), full)


def planner_elsewhere(planner: PoolPlanner) -> dict[tuple[str, str], dict[str, str]]:
    return dict(planner._elsewhere)  # type: ignore[arg-type]  # the same as last time


@settings(max_examples=400, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_incremental_plan_equals_the_full_plan_after_every_change(seed: int) -> None:
    """400 random farms, 12 random changes each: every incremental plan equals plan_pools."""
    run_sequence(seed, steps=12)


@pytest.mark.parametrize("seed", range(40))
def test_long_change_sequences_stay_equal(seed: int) -> None:
    """Fixed seeds, 60 changes each: no drift accumulates in the ownership index."""
    run_sequence(seed, steps=60)


def test_an_address_freed_by_an_earlier_pool_goes_to_a_later_pool_that_ran_out() -> None:
    """Pools ``a`` and ``b`` share a two-address range; ``b`` has run out. When ``a``'s node
    leaves, ``b``'s waiting node gets the freed address (found through ``b``'s range scan, the
    only thing linking the two)."""
    shared = IpRange(_ip("10.0.0.1"), _ip("10.0.0.2"))
    pools = tuple(
        NodePoolSpec(name=name, members=(MemberSelector(chassis, all=True),), ip_range=shared)
        for name, chassis in (("a", "m1"), ("b", "m2"))
    )
    config = Config(chassis=(), pools=pools, secrets={})

    def node(chassis: str, cartridge: int) -> NamedNode:
        mac = MacAddress(f"02:00:00:00:{int(chassis[1]):02x}:{cartridge:02x}")
        record = NodeRecord(id=f"c{cartridge}n1", macs=(mac,), cartridge=cartridge, node=1)
        return NamedNode(f"{chassis}c{cartridge}", chassis, record)

    farm = {"m1": [node("m1", 1)], "m2": [node("m2", 1), node("m2", 2)]}
    previous = {"a": {"m1/c1n1": "10.0.0.1"}, "b": {"m2/c1n1": "10.0.0.2"}}
    planner = PoolPlanner(config, farm, previous)
    a, b = planner.plans()
    assert [h.ip for h in b.hosts] == ["10.0.0.2"]
    assert b.conflicts == ("m2/c2n1: the pool's address range is exhausted",)
    planner.update({}, previous)  # the first plan's MACs are established now
    assert planner.update({"m1": []}, previous).pools == {"a", "b"}
    full = plan_pools(config, [*farm["m2"]], previous, Established(reserved_macs((a, b))))
    assert_same(planner.plans(), full)
    assert sorted(str(h.ip) for h in planner.plans()[1].hosts) == ["10.0.0.1", "10.0.0.2"]


def test_only_reservations_that_changed_are_rechecked_by_the_next_update() -> None:
    """A re-planned pool lists every host again; only the MACs whose reservation changed are
    looked at again by the next update (all of them were: after a first sweep the first
    update rechecked every MAC of the farm)."""
    pool = NodePoolSpec(
        name="rack",
        members=(MemberSelector("m1", all=True), MemberSelector("m2", all=True)),
        ip_range=IpRange(_ip("10.0.0.1"), _ip("10.0.0.99")),
    )
    config = Config(chassis=(), pools=(pool,), secrets={})

    def node(chassis: str, cartridge: int) -> NamedNode:
        mac = MacAddress(f"02:00:00:00:{int(chassis[1]):02x}:{cartridge:02x}")
        record = NodeRecord(id=f"c{cartridge}n1", macs=(mac,), cartridge=cartridge, node=1)
        return NamedNode(f"{chassis}c{cartridge}", chassis, record)

    farm = {c: [node(c, i) for i in range(1, 11)] for c in ("m1", "m2")}
    planner = PoolPlanner(config, farm, {}, polled={"m1", "m2"})
    previous = {"rack": dict(planner.plan_of("rack").allocations)}
    planner.update({}, previous, polled={"m1", "m2"})
    farm["m1"].append(node("m1", 11))
    change = planner.update({"m1": farm["m1"]}, previous, polled={"m1", "m2"})
    assert change.chassis == {"rack": {"m1"}}
    assert planner._pending == {"02:00:00:00:01:0b"}  # the new node's MAC, nothing else
    full = plan_pools(
        config,
        [*farm["m1"], *farm["m2"]],
        previous,
        Established(reserved_macs(planner.plans())),
        {"m1", "m2"},
    )
    planner.update({}, previous, polled={"m1", "m2"})
    assert_same(planner.plans(), full)
