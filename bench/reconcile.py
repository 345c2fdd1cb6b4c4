"""``python -m bench.reconcile``: the CPU of planning a 1,000-chassis namespace, full and after
one chassis changed.

Owns a pure, in-memory farm of the fleet bench's shape (``bench.farm``: 45 slots, 80 % filled,
10 % four-node cartridges, racks of 10 chassis claiming all slots but the last 3, which the
catch-all gets) and three measurements in process CPU time: the reference full plan
(``plan_pools``, what every reconcile did before), building the incremental planner (a full
plan: a start or a config change), and its update after one chassis gained a node (averaged
over ``--changes`` changes, with the remembered allocations following the plans as the NodePool
statuses do). Prints one JSON object. Also the memory the planner's state holds (tracemalloc).

Must not: talk to an API server or a device.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import time
import tracemalloc
from collections.abc import Mapping

from chassisd.config import Config, NodePoolSpec
from chassisd.config.resources import DhcpTarget, IpRange, MemberSelector
from chassisd.model import MacAddress, NodeRecord
from chassisd.noderef import NamedNode, node_name
from chassisd.planner import PoolPlanner
from chassisd.reconcile import Established, plan_pools, reserved_macs

NAMESPACE = "bench"
TEMPLATE = "{chassis}-{id}"


def farm_config(chassis: list[str], per_pool: int, claimed: int) -> Config:
    """Racks of ``per_pool`` chassis claiming slots 1..``claimed``, and a catch-all."""
    pools: list[NodePoolSpec] = []
    base = ipaddress.IPv4Address("10.64.0.0")
    for number, first in enumerate(range(0, len(chassis), per_pool)):
        name = f"rack-{number + 1}"
        start = base + number * 4096 + 1
        pools.append(
            NodePoolSpec(
                name=name,
                members=tuple(
                    MemberSelector(c, ranges=((1, claimed, 1, 8),))
                    for c in chassis[first : first + per_pool]
                ),
                ip_range=IpRange(start, start + 4093),
                dhcp=DhcpTarget(namespace=NAMESPACE, set_tags=(name,), lease_time="infinite"),
            )
        )
    pools.append(
        NodePoolSpec(
            name="unassigned", catch_all=True, dhcp=DhcpTarget(namespace=NAMESPACE, lease_time="1h")
        )
    )
    return Config(chassis=(), pools=tuple(pools), secrets={})


def cartridge(chassis: str, index: int, slot: int, nodes: int) -> list[NamedNode]:
    """The nodes of one cartridge, each with one MAC unique in the farm."""
    out = []
    for n in range(1, nodes + 1):
        value = (index << 16) | (slot << 8) | n
        mac = MacAddress(f"02:00:{value >> 24 & 255:02x}:{value >> 16 & 255:02x}:"
                         f"{value >> 8 & 255:02x}:{value & 255:02x}")  # fmt: skip
        record = NodeRecord(id=f"c{slot}n{n}", macs=(mac,), cartridge=slot, node=n)
        out.append(NamedNode(node_name(TEMPLATE, chassis, record), chassis, record))
    return out


def farm_nodes(
    rng: random.Random, chassis: list[str], slots: int, fill: float, multi: float
) -> dict[str, list[NamedNode]]:
    """Every chassis's nodes: ``fill`` of its slots hold a cartridge, ``multi`` of them four
    nodes."""
    farm: dict[str, list[NamedNode]] = {}
    for index, name in enumerate(chassis):
        filled = sorted(rng.sample(range(1, slots + 1), round(slots * fill)))
        farm[name] = [
            node
            for slot in filled
            for node in cartridge(name, index, slot, 4 if rng.random() < multi else 1)
        ]
    return farm


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print them as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__)
    parser.add_argument("--chassis", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=20, help="changes averaged")
    parser.add_argument("--full-runs", type=int, default=3, help="reference full plans averaged")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible farm, not secrets
    slots, catch_all_slots, per_pool = 45, 3, 10
    chassis = [f"moonshot-{i + 1:04d}" for i in range(args.chassis)]
    config = farm_config(chassis, per_pool, slots - catch_all_slots)
    farm = farm_nodes(rng, chassis, slots, 0.8, 0.1)
    nodes = [n for c in chassis for n in farm[c]]

    started = time.process_time()
    plans = plan_pools(config, nodes, {}, Established(), set(chassis))
    first_full = time.process_time() - started
    previous: dict[str, Mapping[str, str]] = {p.pool.name: p.allocations for p in plans}
    established = Established(macs=reserved_macs(plans))
    full_runs = []
    for _ in range(args.full_runs):
        started = time.process_time()
        plan_pools(config, nodes, previous, established, set(chassis))
        full_runs.append(time.process_time() - started)

    started = time.process_time()
    planner = PoolPlanner(config, farm, previous, established, set(chassis))
    build = time.process_time() - started
    planner.update({}, previous, None, set(chassis))  # its own MACs are established from now

    updates, with_plans, replanned = [], [], []
    for _ in range(args.changes):
        name = rng.choice(chassis)
        taken = {n.record.cartridge for n in farm[name]}
        free = [s for s in range(1, slots + 1) if s not in taken]
        if not free:
            continue
        farm[name] = [*farm[name], *cartridge(name, chassis.index(name), rng.choice(free), 1)]
        started = time.process_time()
        change = planner.update({name: farm[name]}, previous, None, set(chassis))
        updated = time.process_time()
        changed_plans = [planner.plan_of(p) for p in sorted(change.pools)]
        done = time.process_time()
        for plan in changed_plans:  # the statuses written: the next plan remembers them
            previous[plan.pool.name] = plan.allocations
        updates.append(updated - started)
        with_plans.append(done - started)
        replanned.append(sorted(change.pools))

    tracemalloc.start()
    held = PoolPlanner(config, farm, previous, established, set(chassis))
    planner_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del held

    def ms(values: list[float]) -> float:
        return round(1000 * sum(values) / max(len(values), 1), 2)

    print(
        json.dumps(
            {
                "chassis": args.chassis,
                "nodes": len(nodes),
                "pools": len(config.pools),
                "full_plan_pools_first_ms": round(1000 * first_full, 1),
                "full_plan_pools_ms": ms(full_runs),
                "planner_build_ms": round(1000 * build, 1),
                "incremental_update_ms": ms(updates),
                "incremental_update_max_ms": round(1000 * max(updates, default=0.0), 2),
                "incremental_with_changed_plans_ms": ms(with_plans),
                "changes": len(updates),
                "pools_changed_per_change": round(
                    sum(map(len, replanned)) / max(len(replanned), 1), 2
                ),
                "planner_state_mb": round(planner_bytes / 2**20, 1),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
