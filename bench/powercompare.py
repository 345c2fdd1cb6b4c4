"""Power-on of a running node, both ways: chassisd's PowerActions and MAAS's power driver.

Owns the choice of sample nodes (the last node of chassis spread over the fleet, switched on
out of band first) and the two measurements:

* **chassisd**, through the live agent: a PowerAction ``on`` (the node already runs), then
  ``pxe-once`` followed by ``cycle`` (the outcome MAAS's ``on`` produces: hard off, network
  boot, on), each timed from creation to its final phase as the API watch saw it.
* **MAAS**, ``python -m bench.maas power-on`` on the same nodes after the agent stopped, timed
  inside that process (one sample after another).

Logins and commands come from the simulator's counters of the sample's chassis, read with no
connection open before and after. The agent keeps polling while its PowerActions run, so its
polls are taken out: each is one login with ``show node list`` and ``show node macaddr all``.
PXE boots (a power-on that consumed a pending ``set node bootonce pxe``) tell whether the node
really rebooted. Must not: change the fleet beyond the sample nodes' power, or start the agent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench import farm
from bench.apiwatch import ApiRecorder
from bench.fleetproc import Counters, FleetInfo, FleetProcess
from bench.report import PowerComparison, PowerPathFigures
from bench.settings import BenchSettings
from chassisd.kube.gateway import KubeGateway

POLL_KINDS = ("node_list", "node_macaddr_all")  # what one agent poll sends
IDLE_WAIT_S = 30.0


class LiveRun(Protocol):
    """What the measurement needs of the runner's state (``bench.runner._Run``)."""

    settings: BenchSettings
    info: FleetInfo
    fleet: FleetProcess
    namespace: str
    recorder: ApiRecorder

    def wait_up_to(
        self, what: str, done: Callable[[], bool], timeout: float, status: Callable[[], str]
    ) -> bool: ...


@dataclass(frozen=True)
class Sample:
    index: int  # chassis in fleet order
    chassis: str
    port: int
    node: str


@dataclass(frozen=True)
class Delta:
    """What one chassis's counters gained in a window, the agent's polls left out."""

    logins: int
    commands: int
    by_kind: dict[str, int]
    pxe_boots: int


def samples(info: FleetInfo, count: int) -> list[Sample]:
    """``count`` chassis spread over the fleet (starting from the first), each one's last node."""
    with_nodes = [i for i, c in enumerate(info.chassis) if c.nodes]
    chosen = [with_nodes[i * len(with_nodes) // count] for i in range(min(count, len(with_nodes)))]
    return [
        Sample(i, info.chassis[i].name, info.chassis[i].port, info.chassis[i].nodes[-1][0])
        for i in chosen
    ]


def delta(before: Counters, after: Counters) -> Delta:
    kinds = {
        kind: after.by_kind.get(kind, 0) - before.by_kind.get(kind, 0)
        for kind in set(after.by_kind) | set(before.by_kind)
    }
    polls = kinds.get("node_list", 0)
    own = {k: n for k, n in sorted(kinds.items()) if n and k not in POLL_KINDS}
    return Delta(
        logins=after.logins - before.logins - polls,
        commands=sum(own.values()),
        by_kind=own,
        pxe_boots=after.pxe_boots - before.pxe_boots,
    )


def _idle(run: LiveRun, index: int) -> Counters:
    """The chassis's counters once no connection to it is open (a poll may be under way)."""
    latest: list[Counters] = []

    def idle() -> bool:
        latest[:] = [run.fleet.counters()[index]]
        return latest[0].active == 0

    run.wait_up_to(f"chassis {index} idle", idle, IDLE_WAIT_S, lambda: "a poll is running")
    return latest[0]


def _path(
    name: str, seconds: list[float | None], deltas: Sequence[Delta], outcomes: list[str]
) -> PowerPathFigures:
    by_kind: dict[str, int] = {}
    for d in deltas:
        for kind, n in d.by_kind.items():
            by_kind[kind] = by_kind.get(kind, 0) + n
    return PowerPathFigures(
        path=name,
        seconds=seconds,
        logins=[d.logins for d in deltas],
        commands=[d.commands for d in deltas],
        commands_by_kind=by_kind,
        pxe_boots=sum(d.pxe_boots for d in deltas),
        outcomes=outcomes,
    )


@dataclass(frozen=True)
class ChassisdPower:
    """chassisd's half of the comparison, kept until MAAS's half is measured."""

    samples: list[Sample]
    on: PowerPathFigures
    pxe_cycle: PowerPathFigures


def _action(
    run: LiveRun, gateway: KubeGateway, sample: Sample, action: str
) -> tuple[float | None, str]:
    """One PowerAction through the agent: seconds to its final phase, and the phase."""
    started = time.monotonic()
    created = gateway.create(
        {
            "apiVersion": farm.API_VERSION,
            "kind": "PowerAction",
            "metadata": {"generateName": f"bench-running-{action}-", "namespace": run.namespace},
            "spec": {"node": f"{sample.chassis}/{sample.node}", "action": action},
        }
    )
    name = created["metadata"]["name"]
    run.wait_up_to(
        f"PowerAction {name}",
        lambda: run.recorder.finished(name) is not None,
        min(run.settings.timeout, 3 * run.settings.power_delay + 600),
        lambda: "waiting for a final phase",
    )
    finished = run.recorder.finished(name)
    if finished is None:
        return None, "NotFinished"
    return finished[0] - started, str((finished[1].get("status") or {}).get("phase"))


def measure_chassisd(run: LiveRun, gateway: KubeGateway) -> ChassisdPower:
    """chassisd's ``on``, then ``pxe-once`` + ``cycle``, of each sample node (it runs)."""
    chosen = samples(run.info, run.settings.running_power_samples)
    on_s: list[float | None] = []
    on_d: list[Delta] = []
    on_out: list[str] = []
    cyc_s: list[float | None] = []
    cyc_d: list[Delta] = []
    cyc_out: list[str] = []
    for sample in chosen:
        run.fleet.set_power(sample.index, sample.node, True)
        before = _idle(run, sample.index)
        seconds, phase = _action(run, gateway, sample, "on")
        middle = _idle(run, sample.index)
        on_s.append(seconds)
        on_d.append(delta(before, middle))
        on_out.append(phase)
        pxe_s, pxe_phase = _action(run, gateway, sample, "pxe-once")
        cycle_s, cycle_phase = _action(run, gateway, sample, "cycle")
        after = _idle(run, sample.index)
        cyc_s.append(None if pxe_s is None or cycle_s is None else pxe_s + cycle_s)
        cyc_d.append(delta(middle, after))
        cyc_out.append(f"{pxe_phase}+{cycle_phase}")
    return ChassisdPower(
        samples=chosen,
        on=_path("chassisd PowerAction on", on_s, on_d, on_out),
        pxe_cycle=_path("chassisd pxe-once + cycle", cyc_s, cyc_d, cyc_out),
    )


def measure_maas(
    run: LiveRun, chosen: Sequence[Sample], request_base: dict[str, Any]
) -> tuple[PowerPathFigures, list[int]]:
    """MAAS's ``on`` of the same nodes (switched on first), in one ``bench.maas`` process."""
    for sample in chosen:
        run.fleet.set_power(sample.index, sample.node, True)
    before = run.fleet.counters()
    request = {
        **request_base,
        "samples": [{"chassis": s.chassis, "port": s.port, "node": s.node} for s in chosen],
    }
    with tempfile.TemporaryDirectory(prefix="chassisd-bench-") as tmp:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(request))
        done = subprocess.run(
            [sys.executable, "-m", "bench.maas", "power-on", str(path)],
            capture_output=True,
            text=True,
            timeout=run.settings.timeout * 2,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"MAAS power-on failed ({done.returncode}): {done.stderr[-2000:]}")
    after = run.fleet.counters()
    results = json.loads(done.stdout)["power_on"]
    figures = _path(
        "MAAS power driver on",
        [r["seconds"] for r in results],
        [delta(before[s.index], after[s.index]) for s in chosen],
        [r["error"] or r["state"] for r in results],
    )
    return figures, [int(r["attempts"]) for r in results]


def comparison(
    run: LiveRun,
    chassisd: ChassisdPower,
    maas: tuple[PowerPathFigures, list[int]] | None,
) -> PowerComparison:
    return PowerComparison(
        nodes=[f"{s.chassis}/{s.node}" for s in chassisd.samples],
        power_delay_s=run.settings.power_delay,
        force_off_delay_s=run.settings.force_off_delay,
        chassisd_on=chassisd.on,
        chassisd_pxe_cycle=chassisd.pxe_cycle,
        maas_on=maas[0] if maas else None,
        maas_attempts=maas[1] if maas else [],
    )
