"""A synthetic inventory for the ceiling benchmark: the fleet's shape, for the ``fake`` driver.

Owns building a ``fake`` farm of N chassis shaped exactly like the fleet benchmark's simulated
Moonshot chassis (``ChassisSpec.generate`` with the same seed, fill and multi-node share: ~47
nodes per chassis, unique MACs), the Kubernetes objects that point the agent at it (one Chassis
per chassis, racks of ``chassis_per_pool`` chassis as NodePools with an address range, one
catch-all, as ``bench.farm`` does for the SSH fleet), and the new nodes the harness inserts (in
slots the generator left empty). No SSH and no simulator process: what is left to measure is the
agent's own path — node memory, planning, statuses and writes.

Must not: start processes or talk to the API server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chassisd.sim.moonshot.model import ChassisSpec
from chassisd.testing import fake_farm

FARM_NAME = "ceiling"
API_VERSION = "chassisd.io/v1alpha1"
CREDENTIALS = "fake-credentials"
CATCH_ALL = "unassigned"
ADDRESS_BASE = ipaddress.IPv4Address("10.64.0.0")
ADDRESSES_PER_POOL = 4096


@dataclass(frozen=True)
class SyntheticFarm:
    """The farm, and for each chassis the slots its generator left empty (new cartridges go
    there)."""

    farm: fake_farm.Farm
    empty_slots: dict[str, tuple[int, ...]]

    @property
    def chassis(self) -> list[str]:
        """Chassis names in index order (chassis-1, chassis-2, …)."""
        return [chassis_name(i) for i in range(len(self.empty_slots))]


def chassis_name(index: int) -> str:
    return f"chassis-{index + 1}"


def synthetic_farm(chassis: int, *, seed: int = 0, slots: int = 45) -> SyntheticFarm:
    """``chassis`` chassis, each generated as the fleet benchmark generates its simulators."""
    if not 1 <= chassis <= 0x10000:
        raise ValueError(f"chassis must be 1-65536, got {chassis}")
    farm = fake_farm.Farm(FARM_NAME, username=fake_farm.USERNAME, password=fake_farm.PASSWORD)
    empty: dict[str, tuple[int, ...]] = {}
    for index in range(chassis):
        name = chassis_name(index)
        spec = ChassisSpec.generate(name, seed, chassis_index=index, slots=slots)
        farm.add_chassis(name)
        for node_id, node in spec.nodes():
            farm.add_node(name, str(node_id), node.macs, power_on=node.power_on)
        empty[name] = tuple(s for s in range(1, slots + 1) if s not in spec.cartridges)
    return SyntheticFarm(farm, empty)


def new_node(farm: SyntheticFarm, chassis: str, number: int) -> tuple[str, str]:
    """Node id and MAC of the ``number``-th node inserted into ``chassis`` (an empty slot's
    single node; MACs under ``0a:`` cannot clash with the generator's ``02:``)."""
    slot = farm.empty_slots[chassis][number]
    index = int(chassis.rsplit("-", 1)[1])
    return f"c{slot}n1", f"0a:00:{index >> 8:02x}:{index & 0xFF:02x}:{slot:02x}:00"


def objects(
    farm: SyntheticFarm,
    namespace: str,
    *,
    poll_interval: int,
    chassis_per_pool: int = 10,
    claimed_slots: int = 42,
) -> Iterator[dict[str, Any]]:
    """The Secret, every Chassis, the rack pools and the catch-all, in that order."""
    yield {
        **fake_farm.secret_document(CREDENTIALS),
        "metadata": {"name": CREDENTIALS, "namespace": namespace},
    }
    racks: dict[str, list[str]] = {}
    for index, name in enumerate(farm.chassis):
        document = fake_farm.chassis_document(farm.farm, name, secret=CREDENTIALS)
        document["metadata"] = {"name": name, "namespace": namespace}
        document["spec"] = {**document["spec"], "pollInterval": f"{poll_interval}s"}  # type: ignore[dict-item]
        yield document
        racks.setdefault(f"rack-{index // chassis_per_pool + 1}", []).append(name)
    for number, (pool, members) in enumerate(racks.items()):
        start = ADDRESS_BASE + number * ADDRESSES_PER_POOL + 1
        yield {
            "apiVersion": API_VERSION,
            "kind": "NodePool",
            "metadata": {"name": pool, "namespace": namespace},
            "spec": {
                "members": [{"chassis": c, "nodes": [f"c1-{claimed_slots}n1-8"]} for c in members],
                "addressing": {
                    "range": {"start": str(start), "end": str(start + ADDRESSES_PER_POOL - 3)}
                },
                "dhcp": {"namespace": namespace, "setTags": [pool], "leaseTime": "infinite"},
            },
        }
    yield {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": CATCH_ALL, "namespace": namespace},
        "spec": {"catchAll": True, "dhcp": {"namespace": namespace, "leaseTime": "1h"}},
    }
