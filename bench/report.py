"""The benchmark's results: the figures, the ratios to the baselines, the targets, the table.

Owns the result shapes (``ChassisdFigures``, ``BaselineFigures`` for each of the two baselines,
"MACs node by node" and "MAAS enlistment", ``PowerComparison`` for the power-on of a running
node, ``BenchResult``), what is compared with what (each comparable figure as chassisd /
baseline), the issue's targets and whether each was met, the printed tables and the JSON
document. Does no measuring.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

RSS_TARGET_MB = 150.0
FIRST_SWEEP_TARGET_S = 45.0
STEADY_CPU_TARGET_S = 0.010  # agent CPU per steady poll
RECONCILE_CPU_TARGET_S = 0.050  # CPU of one reconcile after one chassis changed
NEW_NODE_MIN_SAMPLES = 10
LOGINS_TARGET = 1.0
COMMANDS_TARGET = 3.0
NEW_NODE_SLACK_S = 5.0
nan = float("nan")  # a figure that could not be measured (or a ratio with nothing to compare)


@dataclass(frozen=True)
class ChassisdFigures:
    """What one ``chassisd run`` did with the fleet (seconds, MiB)."""

    workers: int  # chassis polled at once at the end (chassisd_poll_workers)
    workers_auto: bool  # derived by the agent (--workers auto), not given
    workers_first_sweep: int  # ... at the end of the first sweep
    poll_interval_s: int
    startup_s: float  # spawn → health port reported
    first_sweep_s: float  # spawn → every chassis polled once
    first_sweep_polling_s: float  # first login → last first poll done
    all_reserved_s: float  # spawn → every MAC in a DhcpHosts object
    steady_round: int  # which round of polls was measured as the steady sweep
    steady_sweep_s: float  # that round: first login → last poll done
    poll_gap_min_s: float  # between a chassis's first two polls (interval ± jitter)
    poll_gap_max_s: float
    polls_first: int
    polls_steady: int
    failed_polls: int
    logins_per_chassis_sweep_first: float
    logins_per_chassis_sweep_steady: float
    commands_per_chassis_sweep_first: float
    commands_per_chassis_sweep_steady: float
    poll_mean_s_first: float
    poll_mean_s_steady: float
    cpu_startup_s: float
    cpu_s_per_poll_first: float
    cpu_s_per_poll_steady: float
    api_writes_first: int
    api_writes_first_by_kind: dict[str, int]
    api_changes_first: int  # distinct resourceVersions the watch saw
    api_changes_first_by_kind: dict[str, int]
    api_writes_steady: int
    api_writes_steady_by_kind: dict[str, int]
    api_changes_steady: int
    api_changes_steady_by_kind: dict[str, int]
    api_heartbeats_steady: int  # of those, Chassis status changes of only lastPollTime
    peak_rss_mb: float
    rss_end_mb: float
    max_agent_connections: int  # most SSH connections the agent held at once in the sweeps
    max_sessions: int  # the same as the fleet counted them (connections still closing included)
    max_sessions_per_chassis: int
    max_agent_connections_latency_phase: int  # the same while PowerActions run beside polls
    max_sessions_latency_phase: int
    max_sessions_per_chassis_latency_phase: int
    new_node_latency_s: list[float | None]  # None: not reserved within the phase timeout
    power_elapsed_s: list[float | None]  # None: no final phase within the wait
    power_overhead_s: list[float | None]
    power_phases: list[str]
    watch_restarts: int
    exit_code: int | None
    # Incremental reconciles while new nodes and power actions came in (one chassis changed
    # each time): how many, their mean CPU, and the histogram bucket all of them stayed under.
    reconciles_latency_phase: int = 0
    reconcile_cpu_mean_s: float = nan
    reconcile_cpu_bound_s: float = nan


@dataclass(frozen=True)
class BaselineFigures:
    """One sweep of the connection-per-command client over (part of) the fleet."""

    chassis: int
    workers: int
    sweep_s: float  # spawn → last chassis done (process wall time)
    polling_s: float  # first connection → last chassis done
    sweep_s_fleet: float  # sweep_s scaled to the whole fleet when only part was polled
    extrapolated: bool
    logins_per_chassis_sweep: float
    commands_per_chassis_sweep: float
    poll_mean_s: float
    cpu_s_per_poll: float
    peak_rss_mb: float
    nodes_found: int
    nodes_expected: int
    macs_found: int
    macs_expected: int
    failed_chassis: int
    errors: list[str]  # the first few, one per failed chassis
    commands_by_kind: dict[str, int]  # every command of the sweep, by the simulator's kind


@dataclass(frozen=True)
class PowerPathFigures:
    """One way of powering on a running node, one entry per sample (seconds; counts per sample
    from the simulator's counters of the sample's chassis, the agent's polls left out)."""

    path: str
    seconds: list[float | None]  # None: not finished within the wait
    logins: list[int]
    commands: list[int]
    commands_by_kind: dict[str, int]  # summed over the samples
    pxe_boots: int  # power-ons that consumed a one-time PXE boot: did the node really reboot?
    outcomes: list[str]  # PowerAction phases, or MAAS's final state / error


@dataclass(frozen=True)
class PowerComparison:
    """Power-on of a node that is running, chassisd's way and MAAS's way, on the same nodes."""

    nodes: list[str]  # chassis/node per sample
    power_delay_s: float
    force_off_delay_s: float
    chassisd_on: PowerPathFigures  # PowerAction ``on`` (the node is on already)
    chassisd_pxe_cycle: PowerPathFigures  # PowerAction ``pxe-once`` then ``cycle``
    maas_on: PowerPathFigures | None  # None with --no-baseline
    maas_attempts: list[int]  # MAAS's power_on attempts per sample (its retry loop)


@dataclass(frozen=True)
class Target:
    name: str
    wanted: str
    measured: str
    met: bool


@dataclass(frozen=True)
class BenchResult:
    settings: dict[str, Any]
    environment: dict[str, Any]
    fleet: dict[str, Any]
    chassisd: ChassisdFigures
    baseline: BaselineFigures | None
    ratios: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    baseline_maas: BaselineFigures | None = None
    ratios_maas: dict[str, float] = field(default_factory=dict)
    power_running: PowerComparison | None = None


def _ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else nan


def ratios(c: ChassisdFigures, b: BaselineFigures | None) -> dict[str, float]:
    """Every comparable figure as chassisd / baseline (below 1: chassisd spends less)."""
    if b is None:
        return {}
    return {
        "first_sweep_s": _ratio(c.first_sweep_s, b.sweep_s_fleet),
        "steady_sweep_s": _ratio(c.steady_sweep_s, b.sweep_s_fleet),
        "logins_per_chassis_sweep": _ratio(
            c.logins_per_chassis_sweep_steady, b.logins_per_chassis_sweep
        ),
        "commands_per_chassis_sweep": _ratio(
            c.commands_per_chassis_sweep_steady, b.commands_per_chassis_sweep
        ),
        "poll_mean_s": _ratio(c.poll_mean_s_steady, b.poll_mean_s),
        "cpu_s_per_poll_first": _ratio(c.cpu_s_per_poll_first, b.cpu_s_per_poll),
        "cpu_s_per_poll_steady": _ratio(c.cpu_s_per_poll_steady, b.cpu_s_per_poll),
        "peak_rss_mb": _ratio(c.peak_rss_mb, b.peak_rss_mb),
    }


def targets(c: ChassisdFigures, chassis: int) -> list[Target]:
    """The issue's targets (stated for 1,000 chassis on 2 cores) against this run."""
    logins = max(c.logins_per_chassis_sweep_first, c.logins_per_chassis_sweep_steady)
    commands = max(c.commands_per_chassis_sweep_first, c.commands_per_chassis_sweep_steady)
    new_node_limit = c.poll_interval_s + NEW_NODE_SLACK_S
    measured_new = [v for v in c.new_node_latency_s if v is not None]
    missing_new = len(c.new_node_latency_s) - len(measured_new)
    worst_new = max(measured_new, default=nan)
    new_text = f"{worst_new:.1f} s (worst of {len(c.new_node_latency_s)})"
    if missing_new:
        new_text = f"{missing_new} of {len(c.new_node_latency_s)} never reserved in the wait"
    scale = "" if chassis == 1000 else f" (stated for 1000 chassis; this run: {chassis})"
    return [
        Target(
            "first full sweep",
            f"<= {FIRST_SWEEP_TARGET_S:g} s{scale}, --workers auto",
            f"{c.first_sweep_s:.1f} s ({c.workers_first_sweep} workers"
            f"{', derived' if c.workers_auto else ', given'})",
            c.first_sweep_s <= FIRST_SWEEP_TARGET_S and c.workers_auto,
        ),
        Target(
            "SSH logins per chassis per sweep",
            f"<= {LOGINS_TARGET:g}",
            f"{logins:.2f}",
            logins <= LOGINS_TARGET,
        ),
        Target(
            "CLI commands per chassis per sweep",
            f"<= {COMMANDS_TARGET:g}",
            f"{commands:.2f}",
            commands <= COMMANDS_TARGET,
        ),
        Target(
            "API writes in a steady sweep",
            "0 (the documented 10-minute lastPollTime heartbeat aside)",
            f"{c.api_writes_steady} (watch: {c.api_changes_steady}, of which "
            f"{c.api_heartbeats_steady} heartbeats)",
            c.api_changes_steady == c.api_heartbeats_steady
            and c.api_writes_steady == c.api_heartbeats_steady,
        ),
        Target(
            "new node -> reservation",
            f"<= {new_node_limit:g} s (interval + 5 s), worst of >= {NEW_NODE_MIN_SAMPLES}",
            new_text,
            len(measured_new) >= NEW_NODE_MIN_SAMPLES
            and not missing_new
            and worst_new <= new_node_limit,
        ),
        Target(
            "agent CPU per steady poll",
            f"<= {STEADY_CPU_TARGET_S:g} s",
            f"{c.cpu_s_per_poll_steady:.4f} s",
            c.cpu_s_per_poll_steady <= STEADY_CPU_TARGET_S,
        ),
        Target(
            "reconcile CPU after one chassis changed",
            f"<= {RECONCILE_CPU_TARGET_S * 1000:g} ms each",
            f"mean {c.reconcile_cpu_mean_s * 1000:.1f} ms, every one <= "
            f"{c.reconcile_cpu_bound_s * 1000:g} ms ({c.reconciles_latency_phase} reconciles)",
            c.reconciles_latency_phase > 0 and c.reconcile_cpu_bound_s <= RECONCILE_CPU_TARGET_S,
        ),
        Target(
            "agent peak RSS",
            f"<= {RSS_TARGET_MB:g} MB{scale}",
            f"{c.peak_rss_mb:.0f} MB",
            c.peak_rss_mb <= RSS_TARGET_MB,
        ),
        Target(
            "concurrency bounded",
            f"<= {c.workers} connections (--workers), 1 per chassis",
            f"{c.max_agent_connections} at once, {c.max_sessions_per_chassis} per chassis",
            c.max_agent_connections <= c.workers and c.max_sessions_per_chassis <= 1,
        ),
    ]


def finish(result: BenchResult) -> BenchResult:
    """The result with its ratios and targets filled in."""
    return replace(
        result,
        ratios=ratios(result.chassisd, result.baseline),
        ratios_maas=ratios(result.chassisd, result.baseline_maas),
        targets=targets(result.chassisd, int(result.fleet["chassis"])),
    )


def to_json(result: BenchResult) -> dict[str, Any]:
    """The JSON document (every figure, ratio and target)."""
    return {
        "settings": result.settings,
        "environment": result.environment,
        "fleet": result.fleet,
        "chassisd": asdict(result.chassisd),
        "baseline": asdict(result.baseline) if result.baseline else None,
        "ratios": result.ratios,
        "baseline_maas": asdict(result.baseline_maas) if result.baseline_maas else None,
        "ratios_maas": result.ratios_maas,
        "power_running": asdict(result.power_running) if result.power_running else None,
        "targets": [asdict(t) for t in result.targets],
    }


def write_json(result: BenchResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(result), indent=2, sort_keys=False) + "\n")


def _f(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _kinds(by_kind: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())) or "none"


def render(result: BenchResult) -> str:
    """The table printed at the end of a run."""
    c, b, r, fleet, env = (
        result.chassisd,
        result.baseline,
        result.ratios,
        result.fleet,
        result.environment,
    )
    s = result.settings
    lines = [
        f"chassisd fleet benchmark: {fleet['chassis']} chassis, {fleet['nodes']:,} nodes, "
        f"{fleet['macs']:,} MACs; --workers {'auto: ' if c.workers_auto else ''}{c.workers}; "
        f"pollInterval {c.poll_interval_s}s",
        f"latency: node list {s['latency_node_list']:g} s, macaddr all "
        f"{s['latency_macaddr_all']:g} s, macaddr per node {s['latency_macaddr_node']:g} s; "
        f"power delay {s['power_delay']:g} s",
        f"machine: {env['cores']} cores; load average {env['load_start'][0]:.2f} at start, "
        f"{env['load_end'][0]:.2f} at end; simulator CPU {fleet['sim_cpu_s']:.0f} s",
        "",
    ]
    m, rm = result.baseline_maas, result.ratios_maas
    new = [v for v in c.new_node_latency_s if v is not None]
    power = [v for v in c.power_overhead_s if v is not None]
    unmeasured = (len(c.new_node_latency_s) - len(new), len(c.power_overhead_s) - len(power))

    def sweep_cell(x: BaselineFigures) -> str:
        return _f(x.sweep_s_fleet, 1) + (" (extrap.)" if x.extrapolated else "")

    def compared(
        label: str, ours: str, cell: Callable[[BaselineFigures], str], key: str
    ) -> tuple[str, ...]:
        """A figure against both baselines: value and chassisd/baseline for each."""
        cells = [label, ours]
        for figures, ratio in ((b, r), (m, rm)):
            shown = _f(ratio.get(key, nan), 3) if key else ""
            cells += [cell(figures), shown] if figures else ["—", ""]
        return tuple(cells)

    def alone(label: str, ours: str, theirs: str = "—") -> tuple[str, ...]:
        return (label, ours, theirs, "", theirs, "")

    rows: list[tuple[str, ...]] = [
        ("figure", "chassisd", "MACs by node", "chassisd/it", "MAAS enlist", "chassisd/it"),
        compared(
            "first full sweep, s (spawn → all polled)",
            _f(c.first_sweep_s, 1),
            sweep_cell,
            "first_sweep_s",
        ),
        compared(
            f"steady sweep, s (round {c.steady_round})",
            _f(c.steady_sweep_s, 1),
            sweep_cell,
            "steady_sweep_s",
        ),
        compared(
            "  first sweep, polling only (first login → last)",
            _f(c.first_sweep_polling_s, 1),
            lambda x: _f(x.polling_s, 1),
            "",
        ),
        alone("all reservations written, s (spawn →)", _f(c.all_reserved_s, 1)),
        compared(
            "SSH logins / chassis / sweep (first; steady)",
            f"{_f(c.logins_per_chassis_sweep_first)}; {_f(c.logins_per_chassis_sweep_steady)}",
            lambda x: _f(x.logins_per_chassis_sweep),
            "logins_per_chassis_sweep",
        ),
        compared(
            "CLI commands / chassis / sweep (first; steady)",
            f"{_f(c.commands_per_chassis_sweep_first)}; {_f(c.commands_per_chassis_sweep_steady)}",
            lambda x: _f(x.commands_per_chassis_sweep),
            "commands_per_chassis_sweep",
        ),
        compared(
            "mean time per chassis poll, s (steady)",
            _f(c.poll_mean_s_steady),
            lambda x: _f(x.poll_mean_s),
            "poll_mean_s",
        ),
        compared(
            "agent CPU s / chassis poll, first sweep",
            _f(c.cpu_s_per_poll_first, 4),
            lambda x: _f(x.cpu_s_per_poll, 4),
            "cpu_s_per_poll_first",
        ),
        compared(
            "agent CPU s / chassis poll, steady sweep",
            _f(c.cpu_s_per_poll_steady, 4),
            lambda x: _f(x.cpu_s_per_poll, 4),
            "cpu_s_per_poll_steady",
        ),
        compared(
            "peak RSS, MiB (VmHWM)",
            _f(c.peak_rss_mb, 1),
            lambda x: _f(x.peak_rss_mb, 1),
            "peak_rss_mb",
        ),
        alone(
            "API writes, first sweep (metrics; watch)",
            f"{c.api_writes_first}; {c.api_changes_first}",
            "— (writes nothing)",
        ),
        alone(
            "API writes, steady sweep (metrics; watch; heartbeats)",
            f"{c.api_writes_steady}; {c.api_changes_steady}; {c.api_heartbeats_steady}",
            "— (writes nothing)",
        ),
        alone(
            "new node → DhcpHosts, s (worst; median)",
            f"{_f(max(new, default=nan), 1)}; {_f(statistics.median(new) if new else nan, 1)}",
        ),
        alone(
            "PowerAction beyond BMC time, s (mean; worst)",
            f"{_f(statistics.mean(power) if power else nan)}; {_f(max(power, default=nan))}",
        ),
        alone(
            "SSH connections at once in sweeps (agent; fleet; 1 chassis)",
            f"{c.max_agent_connections}; {c.max_sessions}; {c.max_sessions_per_chassis}",
        ),
        alone(
            "  the same while PowerActions run",
            f"{c.max_agent_connections_latency_phase}; {c.max_sessions_latency_phase}; "
            f"{c.max_sessions_per_chassis_latency_phase}",
        ),
        alone(
            "gap between a chassis's polls, s (min; max)",
            f"{_f(c.poll_gap_min_s, 1)}; {_f(c.poll_gap_max_s, 1)}",
        ),
    ]
    lines += _table(rows)
    lines.append("")
    lines.append(f"writes, first sweep: {_kinds(c.api_writes_first_by_kind)}")
    lines.append(f"writes, steady sweep: {_kinds(c.api_writes_steady_by_kind)}")
    for label, figures in (("MACs node by node", b), ("MAAS enlistment", m)):
        if figures is not None:
            lines.append(
                f"baseline {label}: {figures.chassis} chassis, {figures.nodes_found:,}/"
                f"{figures.nodes_expected:,} nodes and {figures.macs_found:,}/"
                f"{figures.macs_expected:,} MACs found, {figures.failed_chassis} chassis failed"
                + (f" (first: {figures.errors[0]})" if figures.errors else "")
                + f"; commands: {_kinds(figures.commands_by_kind)}"
            )
    lines.append(f"chassisd: {c.failed_polls} failed polls; power phases {c.power_phases}")
    if any(unmeasured):
        lines.append(
            f"not finished within the wait: {unmeasured[0]} new-node samples, "
            f"{unmeasured[1]} PowerActions (left out of the figures above)"
        )
    if result.power_running is not None:
        lines.append("")
        lines += _power_table(result.power_running)
    lines.append("")
    lines.append("targets:")
    for t in result.targets:
        lines.append(f"  [{'met' if t.met else 'MISSED'}] {t.name}: {t.measured} (want {t.wanted})")
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as aligned columns, a dashed line under the first."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _mean(values: list[float | None] | list[int]) -> float:
    known = [float(v) for v in values if v is not None]
    return statistics.mean(known) if known else nan


def _power_table(p: PowerComparison) -> list[str]:
    """The power-on of a running node, one row per way of doing it (means over the samples)."""
    rows: list[tuple[str, ...]] = [
        ("power-on of a running node", "s (mean; worst)", "logins", "commands", "PXE boots"),
    ]
    for path in (p.chassisd_on, p.chassisd_pxe_cycle, p.maas_on):
        if path is None:
            continue
        done = [v for v in path.seconds if v is not None]
        rows.append(
            (
                path.path,
                f"{_f(_mean(path.seconds))}; {_f(max(done, default=nan))}",
                _f(_mean(path.logins), 1),
                _f(_mean(path.commands), 1),
                f"{path.pxe_boots}/{len(path.seconds)}",
            )
        )
    lines = [
        f"power-on of a running node: {len(p.nodes)} samples ({', '.join(p.nodes)}); power "
        f"delay {p.power_delay_s:g} s, hard off {p.force_off_delay_s:g} s",
        *_table(rows),
    ]
    for path in (p.chassisd_on, p.chassisd_pxe_cycle, p.maas_on):
        if path is not None:
            lines.append(f"  {path.path}: {_kinds(path.commands_by_kind)}; {path.outcomes}")
    if p.maas_attempts:
        lines.append(f"  MAAS power_on attempts per sample: {p.maas_attempts}")
    return lines
