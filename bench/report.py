"""The benchmark's results: the figures, the ratios to the baseline, the targets, the table.

Owns the result shapes (``ChassisdFigures``, ``BaselineFigures``, ``BenchResult``), what is
compared with what (each comparable figure as chassisd / baseline), the issue's targets and
whether each was met, the printed table and the JSON document. Does no measuring.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RSS_TARGET_MB = 150.0
FIRST_SWEEP_TARGET_S = 45.0  # with the workers the agent chose itself (--workers auto)
STEADY_CPU_TARGET_S = 0.010  # agent CPU per steady poll
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
            f"<= {new_node_limit:g} s (interval + 5 s)",
            new_text,
            bool(measured_new) and not missing_new and worst_new <= new_node_limit,
        ),
        Target(
            "agent CPU per steady poll",
            f"<= {STEADY_CPU_TARGET_S:g} s",
            f"{c.cpu_s_per_poll_steady:.4f} s",
            c.cpu_s_per_poll_steady <= STEADY_CPU_TARGET_S,
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
    return BenchResult(
        settings=result.settings,
        environment=result.environment,
        fleet=result.fleet,
        chassisd=result.chassisd,
        baseline=result.baseline,
        ratios=ratios(result.chassisd, result.baseline),
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
    base = b.sweep_s_fleet if b else None
    new = [v for v in c.new_node_latency_s if v is not None]
    power = [v for v in c.power_overhead_s if v is not None]
    unmeasured = (len(c.new_node_latency_s) - len(new), len(c.power_overhead_s) - len(power))
    base_label = "—" if b is None else _f(base or 0, 1) + (" (extrap.)" if b.extrapolated else "")
    rows: list[tuple[str, str, str, str]] = [
        ("figure", "chassisd", "baseline", "chassisd/baseline"),
        (
            "first full sweep, s (spawn → all polled)",
            _f(c.first_sweep_s, 1),
            base_label,
            _f(r.get("first_sweep_s", nan), 3),
        ),
        (
            f"steady sweep, s (round {c.steady_round})",
            _f(c.steady_sweep_s, 1),
            base_label,
            _f(r.get("steady_sweep_s", nan), 3),
        ),
        (
            "  first sweep, polling only (first login → last)",
            _f(c.first_sweep_polling_s, 1),
            _f(b.polling_s, 1) if b else "—",
            "",
        ),
        ("all reservations written, s (spawn →)", _f(c.all_reserved_s, 1), "—", ""),
        (
            "SSH logins / chassis / sweep (first; steady)",
            f"{_f(c.logins_per_chassis_sweep_first)}; {_f(c.logins_per_chassis_sweep_steady)}",
            _f(b.logins_per_chassis_sweep) if b else "—",
            _f(r.get("logins_per_chassis_sweep", nan), 3),
        ),
        (
            "CLI commands / chassis / sweep (first; steady)",
            f"{_f(c.commands_per_chassis_sweep_first)}; {_f(c.commands_per_chassis_sweep_steady)}",
            _f(b.commands_per_chassis_sweep) if b else "—",
            _f(r.get("commands_per_chassis_sweep", nan), 3),
        ),
        (
            "mean time per chassis poll, s (steady)",
            _f(c.poll_mean_s_steady),
            _f(b.poll_mean_s) if b else "—",
            _f(r.get("poll_mean_s", nan), 3),
        ),
        (
            "agent CPU s / chassis poll, first sweep",
            _f(c.cpu_s_per_poll_first, 4),
            _f(b.cpu_s_per_poll, 4) if b else "—",
            _f(r.get("cpu_s_per_poll_first", nan), 3),
        ),
        (
            "agent CPU s / chassis poll, steady sweep",
            _f(c.cpu_s_per_poll_steady, 4),
            _f(b.cpu_s_per_poll, 4) if b else "—",
            _f(r.get("cpu_s_per_poll_steady", nan), 3),
        ),
        (
            "peak RSS, MiB (VmHWM)",
            _f(c.peak_rss_mb, 1),
            _f(b.peak_rss_mb, 1) if b else "—",
            _f(r.get("peak_rss_mb", nan), 3),
        ),
        (
            "API writes, first sweep (metrics; watch)",
            f"{c.api_writes_first}; {c.api_changes_first}",
            "— (writes nothing)",
            "",
        ),
        (
            "API writes, steady sweep (metrics; watch; heartbeats)",
            f"{c.api_writes_steady}; {c.api_changes_steady}; {c.api_heartbeats_steady}",
            "— (writes nothing)",
            "",
        ),
        (
            "new node → DhcpHosts, s (worst; median)",
            f"{_f(max(new, default=nan), 1)}; {_f(statistics.median(new) if new else nan, 1)}",
            "—",
            "",
        ),
        (
            "PowerAction beyond BMC time, s (mean; worst)",
            f"{_f(statistics.mean(power) if power else nan)}; {_f(max(power, default=nan))}",
            "—",
            "",
        ),
        (
            "SSH connections at once in sweeps (agent; fleet; 1 chassis)",
            f"{c.max_agent_connections}; {c.max_sessions}; {c.max_sessions_per_chassis}",
            "—",
            "",
        ),
        (
            "  the same while PowerActions run",
            f"{c.max_agent_connections_latency_phase}; {c.max_sessions_latency_phase}; "
            f"{c.max_sessions_per_chassis_latency_phase}",
            "—",
            "",
        ),
        (
            "gap between a chassis's polls, s (min; max)",
            f"{_f(c.poll_gap_min_s, 1)}; {_f(c.poll_gap_max_s, 1)}",
            "—",
            "",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"writes, first sweep: {_kinds(c.api_writes_first_by_kind)}")
    lines.append(f"writes, steady sweep: {_kinds(c.api_writes_steady_by_kind)}")
    if b is not None:
        lines.append(
            f"baseline: {b.chassis} chassis, {b.nodes_found:,}/{b.nodes_expected:,} nodes and "
            f"{b.macs_found:,}/{b.macs_expected:,} MACs found, {b.failed_chassis} chassis failed"
            + (f" (first: {b.errors[0]})" if b.errors else "")
        )
    lines.append(f"chassisd: {c.failed_polls} failed polls; power phases {c.power_phases}")
    if any(unmeasured):
        lines.append(
            f"not finished within the wait: {unmeasured[0]} new-node samples, "
            f"{unmeasured[1]} PowerActions (left out of the figures above)"
        )
    lines.append("")
    lines.append("targets:")
    for t in result.targets:
        lines.append(f"  [{'met' if t.met else 'MISSED'}] {t.name}: {t.measured} (want {t.wanted})")
    return "\n".join(lines)
