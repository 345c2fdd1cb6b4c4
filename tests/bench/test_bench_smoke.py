"""The fleet benchmark end to end at a tiny size, so that CI keeps `make bench` working."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import pytest

from bench.report import BaselineFigures, ChassisdFigures, render, write_json
from bench.runner import run_bench
from bench.settings import BenchSettings
from chassisd.testing.controlplane import ControlPlane

pytestmark = pytest.mark.kube

RATIOS = {
    "first_sweep_s",
    "steady_sweep_s",
    "logins_per_chassis_sweep",
    "commands_per_chassis_sweep",
    "poll_mean_s",
    "cpu_s_per_poll_first",
    "cpu_s_per_poll_steady",
    "peak_rss_mb",
}


def _numbers(values: object) -> list[float]:
    """The numbers in a figure (a number, or a list of them); words and mappings give none."""
    items = values if isinstance(values, list) else [values]
    return [float(v) for v in items if isinstance(v, int | float) and not isinstance(v, bool)]


def test_bench_reports_every_figure_for_a_tiny_fleet(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """3 chassis of 5 slots without latency: the JSON has every figure, finite, and the basic
    facts hold (one login and two commands per chassis poll, no steady writes, the baseline
    logging in once per command and finding every node)."""
    settings = BenchSettings(
        chassis=3,
        slots=5,
        fill=0.6,  # leaves empty slots for the new-cartridge samples
        latency_node_list=0.0,
        latency_macaddr_all=0.0,
        latency_macaddr_node=0.0,
        power_delay=0.5,
        poll_interval=2,
        settle=3.0,
        new_node_samples=2,
        power_samples=1,
        running_power_samples=1,
        timeout=60.0,
        json_path=tmp_path / "bench.json",
    )
    result = run_bench(
        settings, control_plane=control_plane, progress=print, agent_log=tmp_path / "agent.log"
    )
    write_json(result, settings.json_path)
    doc = json.loads(settings.json_path.read_text())

    chassisd, baseline = doc["chassisd"], doc["baseline"]
    assert set(chassisd) == {f.name for f in fields(ChassisdFigures)}
    assert set(baseline) == {f.name for f in fields(BaselineFigures)}
    assert set(doc["ratios"]) == RATIOS
    for section in (chassisd, baseline, doc["ratios"]):
        for name, value in section.items():
            assert all(math.isfinite(v) for v in _numbers(value)), name
    assert len(chassisd["new_node_latency_s"]) == 2
    assert chassisd["power_phases"] == ["Succeeded"]
    assert chassisd["exit_code"] == 0
    assert chassisd["logins_per_chassis_sweep_steady"] == 1.0
    assert chassisd["commands_per_chassis_sweep_steady"] == 2.0
    assert chassisd["api_writes_first"] > 0 and chassisd["api_changes_first"] > 0
    assert chassisd["api_writes_steady"] == 0 and chassisd["api_changes_steady"] == 0
    # The inserted cartridges were planned incrementally, and their CPU read from the agent.
    assert chassisd["reconciles_latency_phase"] >= 1
    assert 0 < chassisd["reconcile_cpu_mean_s"] <= chassisd["reconcile_cpu_bound_s"]
    assert baseline["nodes_found"] == baseline["nodes_expected"] == doc["fleet"]["nodes"]
    assert baseline["macs_found"] == baseline["macs_expected"] == doc["fleet"]["macs"]
    nodes_per_chassis = doc["fleet"]["nodes"] / doc["fleet"]["chassis"]
    assert baseline["logins_per_chassis_sweep"] == pytest.approx(nodes_per_chassis + 1)
    maas = doc["baseline_maas"]
    assert set(maas) == {f.name for f in fields(BaselineFigures)}
    assert set(doc["ratios_maas"]) == RATIOS
    assert maas["nodes_found"] == doc["fleet"]["nodes"]
    assert maas["macs_found"] == doc["fleet"]["macs"]
    assert maas["logins_per_chassis_sweep"] == pytest.approx(3 * nodes_per_chassis + 2)
    chassis, nodes = doc["fleet"]["chassis"], doc["fleet"]["nodes"]
    assert maas["commands_by_kind"] == {
        "firmware": chassis,
        "node_boot": nodes,
        "node_info": nodes,
        "node_list": chassis,
        "node_macaddr": nodes,
    }
    power = doc["power_running"]
    assert power["chassisd_on"]["outcomes"] == ["Succeeded"]
    assert power["chassisd_pxe_cycle"]["outcomes"] == ["Succeeded+Succeeded"]
    assert power["chassisd_pxe_cycle"]["pxe_boots"] == 1
    assert power["maas_on"]["outcomes"] == ["on"]
    assert power["maas_on"]["pxe_boots"] == 1
    assert power["maas_on"]["logins"] == power["maas_on"]["commands"]
    assert power["maas_on"]["commands_by_kind"]["power_off_force"] == 1
    assert {t["name"] for t in doc["targets"]} >= {
        "first full sweep",
        "agent peak RSS",
        "agent CPU per steady poll",
        "reconcile CPU after one chassis changed",
    }
    table = render(result)
    assert "MAAS enlist" in table and "power-on of a running node" in table
