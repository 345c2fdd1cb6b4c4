"""The ceiling benchmark: its synthetic inventory has the fleet's shape, and a tiny run measures
the first sweep, memory and a change end to end against the real API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.ceiling import measure
from bench.synthetic import chassis_name, new_node, objects, synthetic_farm
from chassisd.sim.moonshot.model import ChassisSpec


def test_the_synthetic_farm_is_the_fleet_benchmarks_chassis_with_unique_macs() -> None:
    farm = synthetic_farm(20, seed=3)
    assert farm.chassis == [chassis_name(i) for i in range(20)]
    for index in (0, 19):
        spec = ChassisSpec.generate(chassis_name(index), 3, chassis_index=index)
        assert set(farm.farm.node_ids(chassis_name(index))) == {str(n) for n, _ in spec.nodes()}
    macs = [m for c in farm.chassis for view in farm.farm.read_nodes(c) for m in view.macs]
    assert len(macs) == len(set(macs))
    inserted = [new_node(farm, c, 0) for c in farm.chassis]
    assert len({mac for _, mac in inserted}) == len(inserted)
    assert not {mac for _, mac in inserted} & set(macs)
    for name, (node, _) in zip(farm.chassis, inserted, strict=True):
        assert node not in farm.farm.node_ids(name)  # an empty slot


def test_the_farm_objects_are_racks_of_ten_and_one_catch_all() -> None:
    farm = synthetic_farm(25)
    docs = list(objects(farm, "ns", poll_interval=60))
    kinds = [d["kind"] for d in docs]
    assert kinds == ["Secret"] + ["Chassis"] * 25 + ["NodePool"] * 4
    pools = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NodePool"}
    assert [len(pools[f"rack-{i}"]["members"]) for i in (1, 2, 3)] == [10, 10, 5]
    assert pools["unassigned"]["catchAll"] is True


@pytest.mark.kube
@pytest.mark.slow
def test_a_tiny_ceiling_run_measures_the_sweep_memory_and_a_change(tmp_path: Path) -> None:
    result = measure(3, changes=2, seed=0, settle=3.0, log_dir=tmp_path, poll_interval=600)
    assert result["nodes"] > 3 * 20
    assert result["first_sweep"]["writes"]
    assert result["memory"]["peak_rss_mb"] > result["memory"]["farm_rss_mb"] > 0
    assert [s["chassis"] for s in result["changes"]] == ["chassis-1", "chassis-2"]
    assert all(s["writes"] >= 1 and s["seconds"] > 0 for s in result["changes"])
