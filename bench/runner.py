"""The benchmark's phases, in order, and ``python -m bench``.

Owns the sequence of one run and the definition of every figure:

1. Start the fleet (child process) and the control plane, create the farm (Secrets, Chassis on
   a thread pool, pools), start the API watches and the sweep sampler, spawn ``chassisd run``.
2. **First sweep**: from the spawn until every chassis has been polled once (simulator
   counters); then until every MAC is in a ``DhcpHosts`` (watch); then until no change has
   arrived for ``settle`` seconds. Writes, polls, logins, commands and CPU of this window.
3. **Steady sweep**: the first round of polls that every chassis began after (2) ended, plus
   ``settle`` seconds for the reconcile that follows. Nothing changed on the chassis, so every
   write counted here is a write that should not have happened, except the documented
   10-minute ``lastPollTime`` heartbeat (the watch tells those apart).
4. **Latencies**: cartridges inserted into empty slots (timed to their MAC in ``DhcpHosts``)
   while PowerActions ``on`` for nodes switched off out of band run one by one (timed to a
   final phase, minus the simulated power delay); a sample not done within the phase timeout
   is recorded as missing, not as a failed run. Then the agent's peak RSS; then it is stopped.
   Then a running node is powered on through the agent (``bench.powercompare``).
5. **Baselines** on the same fleet (counters reset, inserted cartridges removed), one sweep
   each: "MACs node by node" (``bench.baseline``), then MAAS's enlistment (``bench.maas``),
   then MAAS's power-on of the same running nodes.

Must not: pass anything to the agent but its command line and the Kubernetes objects.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes.client as k8s

from bench import farm, powercompare
from bench.agentproc import AgentProcess
from bench.apiwatch import ApiRecorder
from bench.fleetproc import ChassisInfo, Counters, FleetInfo, FleetProcess, FleetSpec
from bench.procstat import cpu_seconds, loadavg, peak_rss_mb, rss_mb
from bench.report import (
    BaselineFigures,
    BenchResult,
    ChassisdFigures,
    PowerComparison,
    finish,
    render,
    write_json,
)
from bench.settings import RESULTS_DIR, BenchSettings, parse_settings
from bench.sweeps import SweepSampler
from chassisd.kube.gateway import KubeGateway
from chassisd.testing.controlplane import ControlPlane, api_client, start_control_plane

Progress = Callable[[str], None]
BASELINE_COMMAND_TIMEOUT = 60.0  # seconds per SSH step of the baseline


def _stderr(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class _Run:
    """State shared by the phases of one run."""

    def __init__(
        self,
        settings: BenchSettings,
        info: FleetInfo,
        fleet: FleetProcess,
        api: k8s.ApiClient,
        namespace: str,
        progress: Progress,
    ) -> None:
        self.settings = settings
        self.info = info
        self.fleet = fleet
        self.api = api
        self.namespace = namespace
        self.progress = progress
        self.recorder = ApiRecorder(api, namespace)
        self.sampler = SweepSampler(fleet, settings.chassis)
        self.agent: AgentProcess | None = None
        self.inserted: list[tuple[int, int]] = []  # (chassis index, slot) of new cartridges
        self.chassisd_power: powercompare.ChassisdPower | None = None

    def wait(
        self, what: str, done: Callable[[], bool], timeout: float, status: Callable[[], str]
    ) -> None:
        """Wait until ``done()``; report every 10 s; fail on timeout or a dead agent."""
        if not self.wait_up_to(what, done, timeout, status):
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s ({status()})")

    def wait_up_to(
        self, what: str, done: Callable[[], bool], timeout: float, status: Callable[[], str]
    ) -> bool:
        """Wait until ``done()`` or ``timeout``; say which; fail if the agent dies."""
        deadline = time.monotonic() + timeout
        report = time.monotonic() + 10
        while not done():
            self.sampler.check()
            if self.agent is not None and not self.agent.alive():
                raise RuntimeError(f"{what}: chassisd exited; see its log")
            now = time.monotonic()
            if now > deadline:
                self.progress(f"  {what}: gave up after {timeout:.0f} s ({status()})")
                return False
            if now >= report:
                self.progress(f"  {what}: {status()}")
                report = now + 10
            time.sleep(0.05)
        return True

    def quiet(self, what: str, seconds: float) -> None:
        """Wait until no API change has arrived for ``seconds``."""
        self.wait(
            what,
            lambda: time.monotonic() - self.recorder.last_change() >= seconds,
            self.settings.timeout,
            lambda: f"last change {time.monotonic() - self.recorder.last_change():.1f} s ago",
        )

    def polled_status(self) -> str:
        completed = self.sampler.completed()
        return (
            f"{sum(1 for n in completed if n >= 1)}/{len(completed)} chassis polled, "
            f"{self.recorder.macs_seen():,}/{self.info.mac_count:,} MACs reserved"
        )


def _by_kind(writes: Counter[tuple[str, str]]) -> dict[str, int]:
    return {f"{kind}/{verb}": int(n) for (kind, verb), n in sorted(writes.items()) if n}


def _per(total: float, count: float) -> float:
    return total / count if count else float("nan")


def per_sweep(before: Sequence[Counters] | None, after: Sequence[Counters]) -> tuple[float, float]:
    """SSH logins and CLI commands per chassis per sweep between two counter snapshots.

    A sweep of one chassis is one ``show node list`` (chassisd sends one per poll, the baseline
    one per chassis). Only chassis with no session open at either snapshot count, so that a
    poll cut in two by a snapshot is never half counted.
    """
    idle = [
        i
        for i, c in enumerate(after)
        if c.active == 0 and (before is None or before[i].active == 0)
    ]
    chosen = idle or list(range(len(after)))

    def delta(field: str) -> int:
        return sum(
            getattr(after[i], field) - (getattr(before[i], field) if before else 0) for i in chosen
        )

    sweeps = delta("node_list")
    return _per(delta("logins"), sweeps), _per(delta("commands"), sweeps)


def _measure_chassisd(run: _Run) -> ChassisdFigures:
    s, info, fleet, recorder, sampler = (run.settings, run.info, run.fleet, run.recorder,
                                         run.sampler)  # fmt: skip
    agent = run.agent
    assert agent is not None
    spawn = agent.started_at
    cpu_ready = cpu_seconds(agent.pid)
    run.progress(f"agent up in {agent.ready_at - spawn:.1f} s (pid {agent.pid}); first sweep")

    # -- first sweep ------------------------------------------------------------------------
    run.wait("first sweep", lambda: sampler.round_done(1), s.timeout, run.polled_status)
    first = sampler.round(1)
    run.wait(
        "reservations",
        lambda: recorder.macs_seen() >= info.mac_count,
        s.timeout,
        run.polled_status,
    )
    all_macs = [mac for c in info.chassis for _, macs in c.nodes for mac in macs]
    reserved_at = max(recorder.mac_seen_at(m) or 0.0 for m in all_macs)
    run.quiet("first sweep writes", s.settle)
    end_a = time.monotonic()
    metrics_a, cpu_a, counters_a = agent.metrics(), cpu_seconds(agent.pid), fleet.counters()
    _mark_profile_window(run)  # the steady sweep's cProfile window starts
    sessions_a = sampler.take_peaks()
    run.progress(
        f"first sweep {first.last_end - spawn:.1f} s, all reserved {reserved_at - spawn:.1f} s, "
        f"{metrics_a.total_writes} writes; waiting for a steady sweep"
    )

    # -- steady sweep --------------------------------------------------------------------------
    steady = max(sampler.started()) + 1
    run.wait(
        f"steady sweep (round {steady})",
        lambda: sampler.round_done(steady),
        s.poll_interval * 3 + s.timeout,
        lambda: f"{sum(1 for n in sampler.completed() if n >= steady)}/{s.chassis} polled",
    )
    steady_round = sampler.round(steady)
    settle_until = steady_round.last_end + s.settle
    while time.monotonic() < settle_until:
        time.sleep(0.1)
    end_b = time.monotonic()
    metrics_b, cpu_b, counters_b = agent.metrics(), cpu_seconds(agent.pid), fleet.counters()
    _mark_profile_window(run)  # ... and ends
    sessions_b = sampler.take_peaks()
    gaps = sampler.gaps(1)
    window_b = metrics_b.minus(metrics_a)
    run.progress(
        f"steady sweep {steady_round.span:.1f} s, {window_b.total_writes} writes; latencies"
    )

    # -- latencies -----------------------------------------------------------------------------
    latencies = _new_node_latencies(run)
    power_elapsed, power_phases = _power_actions(run)
    if s.running_power_samples:
        run.progress(f"power-on of {s.running_power_samples} running nodes through the agent")
        run.chassisd_power = powercompare.measure_chassisd(run, KubeGateway(run.api))
    latency = latencies()
    window_c = agent.metrics().minus(metrics_b)
    sampler.sample()
    sessions_c = sampler.take_peaks()
    peak, rss_end = peak_rss_mb(agent.pid), rss_mb(agent.pid)
    workers = agent.metrics().workers  # --workers auto: what the agent derived
    if s.profile_memory is not None:
        report = s.profile_memory / "agent-memory.txt"
        report.unlink(missing_ok=True)
        os.kill(agent.pid, signal.SIGUSR1)  # bench.agent_profiled writes tracemalloc's top
        run.wait("memory report", report.exists, s.timeout, lambda: "tracemalloc snapshot")
    code = agent.stop()

    logins_a, commands_a = per_sweep(None, counters_a)
    logins_b, commands_b = per_sweep(counters_a, counters_b)
    return ChassisdFigures(
        workers=workers,
        workers_auto=s.workers is None,
        workers_first_sweep=metrics_a.workers,
        poll_interval_s=s.poll_interval,
        startup_s=agent.ready_at - spawn,
        first_sweep_s=first.last_end - spawn,
        first_sweep_polling_s=first.span,
        all_reserved_s=reserved_at - spawn,
        steady_round=steady,
        steady_sweep_s=steady_round.span,
        poll_gap_min_s=min(gaps, default=float("nan")),
        poll_gap_max_s=max(gaps, default=float("nan")),
        polls_first=metrics_a.total_polls,
        polls_steady=window_b.total_polls,
        failed_polls=agent.failed_polls,
        logins_per_chassis_sweep_first=logins_a,
        logins_per_chassis_sweep_steady=logins_b,
        commands_per_chassis_sweep_first=commands_a,
        commands_per_chassis_sweep_steady=commands_b,
        poll_mean_s_first=_per(metrics_a.poll_seconds, metrics_a.poll_count),
        poll_mean_s_steady=_per(window_b.poll_seconds, window_b.poll_count),
        cpu_startup_s=cpu_ready,
        cpu_s_per_poll_first=_per(cpu_a - cpu_ready, metrics_a.total_polls),
        cpu_s_per_poll_steady=_per(cpu_b - cpu_a, window_b.total_polls),
        api_writes_first=metrics_a.total_writes,
        api_writes_first_by_kind=_by_kind(metrics_a.writes),
        api_changes_first=recorder.distinct_versions(spawn, end_a),
        api_changes_first_by_kind=dict(recorder.changes(spawn, end_a)),
        api_writes_steady=window_b.total_writes,
        api_writes_steady_by_kind=_by_kind(window_b.writes),
        api_changes_steady=recorder.distinct_versions(end_a, end_b),
        api_changes_steady_by_kind=dict(recorder.changes(end_a, end_b)),
        api_heartbeats_steady=recorder.heartbeats(end_a, end_b),
        peak_rss_mb=peak,
        rss_end_mb=rss_end,
        max_agent_connections=max(sessions_a[0], sessions_b[0]),
        max_sessions=max(sessions_a[1], sessions_b[1]),
        max_sessions_per_chassis=max(sessions_a[2], sessions_b[2]),
        max_agent_connections_latency_phase=sessions_c[0],
        max_sessions_latency_phase=sessions_c[1],
        max_sessions_per_chassis_latency_phase=sessions_c[2],
        new_node_latency_s=latency,
        power_elapsed_s=power_elapsed,
        power_overhead_s=[None if e is None else e - s.power_delay for e in power_elapsed],
        power_phases=power_phases,
        watch_restarts=recorder.restarts,
        exit_code=code,
        reconciles_latency_phase=int(window_c.reconciles),
        reconcile_cpu_mean_s=_per(window_c.reconcile_cpu_s, window_c.reconciles),
        reconcile_cpu_bound_s=window_c.reconcile_cpu_bound(),
    )


def _mark_profile_window(run: _Run) -> None:
    """With ``--profile-agent``: tell ``bench.agent_profiled`` to start or end its window."""
    if run.settings.profile_agent is not None and run.agent is not None:
        os.kill(run.agent.pid, signal.SIGUSR2)


def _spread(candidates: Sequence[int], count: int) -> list[int]:
    """``count`` items spread evenly over ``candidates``."""
    if count <= 0 or not candidates:
        return []
    count = min(count, len(candidates))
    return [candidates[i * len(candidates) // count] for i in range(count)]


def new_cartridge_macs(index: int, slot: int) -> tuple[str, str]:
    """Two MACs no generated chassis uses (generated ones start ``02:``)."""
    prefix = f"0a:{index >> 8:02x}:{index & 0xFF:02x}:{slot:02x}:00"
    return f"{prefix}:00", f"{prefix}:01"


def _new_node_latencies(run: _Run) -> Callable[[], list[float | None]]:
    """Insert the cartridges now; the returned function waits for their reservations (up to
    the phase timeout: a sample still missing then is None)."""
    with_room = [i for i, c in enumerate(run.info.chassis) if c.empty_slots]
    inserted: list[tuple[int, int, str, float]] = []
    for index in _spread(with_room, run.settings.new_node_samples):
        slot = run.info.chassis[index].empty_slots[0]
        macs = new_cartridge_macs(index, slot)
        at = time.monotonic()
        run.fleet.insert_cartridge(index, slot, macs)
        inserted.append((index, slot, macs[0], at))
    run.inserted = [(index, slot) for index, slot, _, _ in inserted]

    def wait() -> list[float | None]:
        run.wait_up_to(
            "new nodes",
            lambda: all(run.recorder.mac_seen_at(mac) for _, _, mac, _ in inserted),
            run.settings.timeout,
            lambda: (
                f"{sum(1 for *_, m, _ in inserted if run.recorder.mac_seen_at(m))}/"
                f"{len(inserted)} reserved"
            ),
        )
        seen = [(run.recorder.mac_seen_at(mac), at) for _, _, mac, at in inserted]
        return [None if when is None else when - at for when, at in seen]

    return wait


def _power_actions(run: _Run) -> tuple[list[float | None], list[str]]:
    """PowerActions ``on`` for nodes switched off out of band, one at a time (one that has not
    finished within ``power_delay`` + 10 minutes counts as None, phase ``NotFinished``)."""
    gateway = KubeGateway(run.api)
    chassis = list(range(len(run.info.chassis)))
    offset = max(1, len(chassis) // (2 * max(1, run.settings.power_samples)))
    elapsed: list[float | None] = []
    phases: list[str] = []
    for index in _spread(chassis[offset:] or chassis, run.settings.power_samples):
        info: ChassisInfo = run.info.chassis[index]
        if not info.nodes:
            continue
        node = info.nodes[0][0]
        run.fleet.set_power(index, node, False)
        started = time.monotonic()
        created = gateway.create(
            {
                "apiVersion": farm.API_VERSION,
                "kind": "PowerAction",
                "metadata": {"generateName": "bench-on-", "namespace": run.namespace},
                "spec": {"node": f"{info.name}/{node}", "action": "on"},
            }
        )
        name = created["metadata"]["name"]
        run.wait_up_to(
            f"PowerAction {name}",
            lambda name=name: run.recorder.finished(name) is not None,  # type: ignore[misc]
            min(run.settings.timeout, run.settings.power_delay + 600),
            lambda: "waiting for a final phase",
        )
        finished = run.recorder.finished(name)
        if finished is None:
            elapsed.append(None)
            phases.append("NotFinished")
            continue
        elapsed.append(finished[0] - started)
        phases.append(str((finished[1].get("status") or {}).get("phase")))
    return elapsed, phases


def _baseline_request(run: _Run) -> dict[str, Any]:
    """What a baseline process is told: the fleet's address, credentials and the chassis."""
    info, s = run.info, run.settings
    return {
        "host": info.host,
        "username": "admin",
        "password": "password",
        "known_hosts": info.known_hosts,
        "timeout": BASELINE_COMMAND_TIMEOUT,
        "workers": s.baseline_workers,
        "chassis": [{"name": c.name, "port": c.port} for c in info.chassis[: s.baseline_count]],
    }


def _measure_baseline(run: _Run, label: str, command: Sequence[str]) -> BaselineFigures:
    """One sweep of a baseline process (``command`` + the request file) over the first chassis."""
    s, info, fleet = run.settings, run.info, run.fleet
    for index, slot in run.inserted:
        fleet.remove_cartridge(index, slot)
    run.inserted = []
    fleet.reset_counters()
    targets = info.chassis[: s.baseline_count]
    request = _baseline_request(run)
    run.progress(f"baseline {label}: {len(targets)} chassis, {s.baseline_workers} at a time")
    with tempfile.TemporaryDirectory(prefix="chassisd-bench-") as tmp:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(request))
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", *command, str(path)],
            capture_output=True,
            text=True,
            timeout=s.timeout * 4,
            check=False,
        )
        wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"baseline {label} failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    counters = fleet.counters()[: len(targets)]
    logins, commands = per_sweep(None, counters)
    by_kind: Counter[str] = Counter()
    for c in counters:
        by_kind.update(c.by_kind)
    per_chassis = result["chassis"]
    count = len(targets)
    sweep_fleet = wall * s.chassis / count
    return BaselineFigures(
        chassis=count,
        workers=s.baseline_workers,
        sweep_s=wall,
        polling_s=result["sweep_s"],
        sweep_s_fleet=sweep_fleet if count < s.chassis else wall,
        extrapolated=count < s.chassis,
        logins_per_chassis_sweep=logins,
        commands_per_chassis_sweep=commands,
        poll_mean_s=statistics.mean(c["seconds"] for c in per_chassis),
        cpu_s_per_poll=result["cpu_s"] / count,
        peak_rss_mb=result["peak_rss_mb"],
        nodes_found=sum(c["nodes"] for c in per_chassis),
        nodes_expected=sum(len(c.nodes) for c in targets),
        macs_found=sum(c["macs"] for c in per_chassis),
        macs_expected=sum(len(m) for c in targets for _, m in c.nodes),
        failed_chassis=sum(1 for c in per_chassis if c["error"]),
        errors=[f"{c['name']}: {c['error']}" for c in per_chassis if c["error"]][:5],
        commands_by_kind=dict(sorted(by_kind.items())),
    )


def _power_running(run: _Run) -> PowerComparison | None:
    """chassisd's half (measured with the agent) beside MAAS's (measured now, agent gone)."""
    if run.chassisd_power is None:
        return None
    maas = None
    if run.settings.baseline:
        run.progress(f"MAAS power-on of {len(run.chassisd_power.samples)} running nodes")
        maas = powercompare.measure_maas(run, run.chassisd_power.samples, _baseline_request(run))
    return powercompare.comparison(run, run.chassisd_power, maas)


@contextmanager
def _control_plane(given: ControlPlane | None) -> Iterator[ControlPlane]:
    if given is not None:
        yield given
    else:
        with start_control_plane() as cp:
            yield cp


def run_bench(
    settings: BenchSettings,
    *,
    control_plane: ControlPlane | None = None,
    progress: Progress = _stderr,
    agent_log: Path | None = None,
) -> BenchResult:
    """One whole run; ``control_plane`` reuses a running one (a fresh namespace is used)."""
    load_start = loadavg()
    started_at = datetime.now(UTC)
    spec = FleetSpec(
        chassis=settings.chassis,
        slots=settings.slots,
        fill=settings.fill,
        multi_node=settings.multi_node,
        seed=settings.seed,
        latency_node_list=settings.latency_node_list,
        latency_macaddr_all=settings.latency_macaddr_all,
        latency_macaddr_node=settings.latency_macaddr_node,
        power_delay=settings.power_delay,
        force_off_delay=settings.force_off_delay,
    )
    with ExitStack() as stack:
        fleet = FleetProcess(spec)
        stack.callback(fleet.stop)
        cp = stack.enter_context(_control_plane(control_plane))
        info = fleet.wait_ready()
        progress(
            f"fleet: {settings.chassis} chassis, {info.node_count:,} nodes (pid {fleet.pid}); "
            f"control plane {cp.server}"
        )
        api = stack.enter_context(api_client(cp))
        namespace = farm.create_namespace(api)
        if control_plane is not None:
            stack.callback(farm.delete_namespace, api, namespace)
        began = time.monotonic()
        farm.create_farm(api, farm.farm_objects(settings, info, namespace))
        progress(f"farm created in namespace {namespace} in {time.monotonic() - began:.1f} s")
        run = _Run(settings, info, fleet, api, namespace, progress)
        run.recorder.start()
        stack.callback(run.recorder.stop)
        run.sampler.start()
        stack.callback(run.sampler.stop)
        run.agent = AgentProcess(
            kubeconfig=cp.kubeconfig,
            namespace=namespace,
            workers=settings.workers,
            log_path=agent_log or RESULTS_DIR / "agent.log",
            profile=(
                (settings.profile_agent, "cpu")
                if settings.profile_agent
                else (settings.profile_memory, f"memory:{settings.profile_frames}")
                if settings.profile_memory
                else None
            ),
        )
        stack.callback(run.agent.stop)
        run.agent.start()
        run.sampler.ports = frozenset(c.port for c in info.chassis)
        run.sampler.agent_pid = run.agent.pid
        chassisd = _measure_chassisd(run)
        run.sampler.stop()
        baseline = baseline_maas = None
        if settings.baseline:
            baseline = _measure_baseline(run, "MACs node by node", ["bench.baseline"])
            baseline_maas = _measure_baseline(run, "MAAS enlistment", ["bench.maas", "enlist"])
        power_running = _power_running(run)
        sim_cpu = cpu_seconds(fleet.pid)
    settings_doc = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}
    return finish(
        BenchResult(
            settings=settings_doc,
            environment={
                "cores": os.cpu_count(),
                "load_start": load_start,
                "load_end": loadavg(),
                "python": platform.python_version(),
                "started_at": started_at.isoformat(timespec="seconds"),
            },
            fleet={
                "chassis": settings.chassis,
                "nodes": info.node_count,
                "macs": info.mac_count,
                "sim_cpu_s": sim_cpu,
            },
            chassisd=chassisd,
            baseline=baseline,
            baseline_maas=baseline_maas,
            power_running=power_running,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench``: run, print the table, write the JSON."""
    settings = parse_settings(argv)
    # Stop cleanly (agent, fleet and control plane too) on Ctrl-C or kill, even when started
    # in the background, where the shell leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    result = run_bench(settings)
    print(render(result))
    write_json(result, settings.json_path)
    print(f"\nresults: {settings.json_path}")
    return 0
