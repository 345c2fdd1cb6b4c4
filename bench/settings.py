"""The benchmark's options: one frozen dataclass, its command line, and the reasons for defaults.

Owns every tunable of a run (fleet shape, simulated latencies, agent concurrency, poll interval,
how many latency samples, where results go). Must not start anything.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chassisd.workers import parse_workers, poll_workers, sweep_rate

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_JSON = RESULTS_DIR / "latest.json"


@dataclass(frozen=True)
class BenchSettings:
    """One benchmark run. Times in seconds."""

    chassis: int = 200
    """Simulated chassis (``--chassis 1000`` for the full run)."""
    slots: int = 45
    """Slots per chassis; a Moonshot 1500 has 45."""
    fill: float = 0.8
    """Share of slots holding a cartridge (the rest stay empty: new cartridges go there)."""
    multi_node: float = 0.1
    """Share of cartridges with 4 nodes (m350 style); the rest have one (m710x style)."""
    seed: int = 0
    latency_node_list: float = 0.3
    """``show node list``: real timings are UNKNOWN (moonshot-cli.md §3.5); 300 ms per the issue."""
    latency_macaddr_all: float = 0.5
    """``show node macaddr all``: the longest table, so the slowest reply (500 ms, the issue's)."""
    latency_macaddr_node: float = 0.3
    """``show node macaddr cXnY`` (the baseline's per-node query): a short reply like the node
    list's, so the same 300 ms. A guess; the baseline's figures scale with it."""
    power_delay: float = 5.0
    """Simulated time from ``set node power on`` to the node reporting On (the BMC time)."""
    force_off_delay: float = 0.0
    """Simulated time from ``set node power off force`` (a hard power cut) to Off. The real time
    is UNKNOWN; 0 lets MAAS's power-on, which sends ``on`` right after ``off force`` without
    waiting, reboot the node as it means to (with a longer delay the simulator drops the pending
    off when the ``on`` arrives, and the node never reboots: the power table shows that as 0 PXE
    boots)."""
    workers: int | None = None
    """``chassisd run --workers`` (None: ``auto``, its default, the agent derives it): chassis
    polled at once; the baseline gets the same bound (``baseline_workers``)."""
    poll_interval: int = 30
    """Chassis ``pollInterval`` in seconds: a steady sweep is the next round of polls."""
    catch_all_slots: int = 3
    """The last slots of every chassis that no pool claims, so the catch-all pool gets them."""
    chassis_per_pool: int = 10
    """Chassis per NodePool (a rack): each pool claims the other slots of its chassis."""
    new_node_samples: int = 10
    """Cartridges inserted (one per chassis, at once) to time new node → reservation; the
    target is the worst of at least 10."""
    power_samples: int = 3
    """PowerActions (``on`` of a node switched off out of band) timed end to end, one by one."""
    running_power_samples: int = 2
    """Running nodes powered on both ways, one by one: chassisd's PowerActions (``on``; then
    ``pxe-once`` and ``cycle``, what MAAS's ``on`` does) and MAAS's power driver (after the
    agent stopped, with the baselines). Each costs about 3 x ``power_delay`` plus MAAS's
    waits."""
    settle: float = 5.0
    """Quiet seconds that end a sweep's write window: the agent reconciles every 2 s."""
    baseline: bool = True
    baseline_chassis: int = 50
    """Chassis each baseline polls (the first N; 0: the whole fleet). MACs node by node needs
    N + 1 logins and about 20 s per chassis, so the whole default fleet would take it ~5 minutes
    (MAAS's enlistment, 3N + 2 logins, longer); 50 keep
    ``make bench`` short. Every per-chassis figure is measured exactly; the sweep time is
    scaled to the fleet (it is latency-bound at a fixed concurrency, so it grows linearly) and
    labelled as extrapolated."""
    timeout: float = 900.0
    """Longest wait for any one phase before the run fails."""
    json_path: Path = DEFAULT_JSON
    profile_agent: Path | None = None
    """Run the agent under per-thread cProfile and write the profile here (slower)."""
    profile_memory: Path | None = None
    """Run the agent under tracemalloc and write its top allocations here (much slower)."""
    profile_frames: int = 1
    """Frames kept per allocation with ``--profile-memory`` (more than 1 adds the top call
    stacks to the report; slow beyond a few hundred chassis)."""

    def __post_init__(self) -> None:
        checks = [
            (self.chassis >= 1, "--chassis must be at least 1"),
            (1 <= self.slots <= 45, "--slots must be 1-45"),
            (0 < self.fill <= 1, "--fill must be in (0, 1]"),
            (self.workers is None or self.workers >= 1, "--workers must be at least 1"),
            (self.poll_interval >= 2, "--poll-interval must be at least 2 s"),
            (0 <= self.catch_all_slots <= self.slots, "--catch-all-slots must be 0..slots"),
            (self.chassis_per_pool >= 1, "--chassis-per-pool must be at least 1"),
            (self.settle >= 2.5, "--settle must exceed the agent's 2 s reconcile interval"),
            (self.baseline_chassis >= 0, "--baseline-chassis must be >= 0"),
            (self.running_power_samples >= 0, "--running-power-samples must be >= 0"),
            (1 <= self.profile_frames <= 100, "--profile-frames must be 1-100"),
            (
                self.profile_agent is None or self.profile_memory is None,
                "--profile-agent and --profile-memory are separate runs",
            ),
        ]
        latencies = (
            self.latency_node_list,
            self.latency_macaddr_all,
            self.latency_macaddr_node,
            self.power_delay,
            self.force_off_delay,
        )
        checks.append((all(math.isfinite(v) and v >= 0 for v in latencies), "latencies >= 0"))
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def baseline_workers(self) -> int:
        """The baseline's bound: ``--workers``, or what ``auto`` gives this fleet before any
        poll was measured (the agent's own figure may grow with its poll times)."""
        if self.workers is not None:
            return self.workers
        return poll_workers(sweep_rate([float(self.poll_interval)] * self.chassis))

    @property
    def baseline_count(self) -> int:
        """How many chassis the baseline polls."""
        return min(self.baseline_chassis or self.chassis, self.chassis)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench`` argument parser (defaults from ``BenchSettings``)."""
    d = BenchSettings()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="chassisd fleet benchmark: simulated Moonshot fleet, real control plane, "
        "one `chassisd run`, and two connection-per-command baselines (MACs node by node; MAAS's "
        "enlistment and power-on) on the same fleet.",
    )
    p.add_argument("--chassis", type=int, default=d.chassis, help="fleet size")
    p.add_argument("--slots", type=int, default=d.slots, help="slots per chassis")
    p.add_argument("--fill", type=float, default=d.fill, help="share of slots filled")
    p.add_argument("--multi-node", type=float, default=d.multi_node, help="share of 4-node carts")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--latency-node-list", type=float, default=d.latency_node_list, metavar="S")
    p.add_argument("--latency-macaddr-all", type=float, default=d.latency_macaddr_all, metavar="S")
    p.add_argument(
        "--latency-macaddr-node", type=float, default=d.latency_macaddr_node, metavar="S"
    )
    p.add_argument("--power-delay", type=float, default=d.power_delay, metavar="S")
    p.add_argument("--force-off-delay", type=float, default=d.force_off_delay, metavar="S")
    p.add_argument(
        "--workers",
        type=_workers,
        default=d.workers,
        metavar="N|auto",
        help="agent (and baseline) bound (default auto: the agent derives it)",
    )
    p.add_argument("--poll-interval", type=int, default=d.poll_interval, metavar="S")
    p.add_argument("--catch-all-slots", type=int, default=d.catch_all_slots)
    p.add_argument("--chassis-per-pool", type=int, default=d.chassis_per_pool)
    p.add_argument("--new-node-samples", type=int, default=d.new_node_samples)
    p.add_argument("--power-samples", type=int, default=d.power_samples)
    p.add_argument("--running-power-samples", type=int, default=d.running_power_samples)
    p.add_argument("--settle", type=float, default=d.settle, metavar="S")
    p.add_argument("--no-baseline", action="store_true", help="skip both baselines")
    p.add_argument(
        "--baseline-chassis",
        type=int,
        default=d.baseline_chassis,
        metavar="N",
        help="baseline polls only the first N chassis (0: all)",
    )
    p.add_argument("--timeout", type=float, default=d.timeout, metavar="S", help="per phase")
    p.add_argument("--json", type=Path, default=d.json_path, metavar="PATH", dest="json_path")
    p.add_argument("--profile-agent", type=Path, default=None, metavar="DIR", help="cProfile")
    p.add_argument("--profile-memory", type=Path, default=None, metavar="DIR", help="tracemalloc")
    p.add_argument(
        "--profile-frames",
        type=int,
        default=d.profile_frames,
        metavar="N",
        help="frames per allocation with --profile-memory (N > 1: top call stacks too)",
    )
    return p


def _workers(text: str) -> int | None:
    try:
        return parse_workers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_settings(argv: Sequence[str] | None = None) -> BenchSettings:
    """Settings from a command line; a bad value exits with a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return BenchSettings(
            chassis=args.chassis,
            slots=args.slots,
            fill=args.fill,
            multi_node=args.multi_node,
            seed=args.seed,
            latency_node_list=args.latency_node_list,
            latency_macaddr_all=args.latency_macaddr_all,
            latency_macaddr_node=args.latency_macaddr_node,
            power_delay=args.power_delay,
            force_off_delay=args.force_off_delay,
            workers=args.workers,
            poll_interval=args.poll_interval,
            catch_all_slots=args.catch_all_slots,
            chassis_per_pool=args.chassis_per_pool,
            new_node_samples=args.new_node_samples,
            power_samples=args.power_samples,
            running_power_samples=args.running_power_samples,
            settle=args.settle,
            baseline=not args.no_baseline,
            baseline_chassis=args.baseline_chassis,
            timeout=args.timeout,
            json_path=args.json_path,
            profile_agent=args.profile_agent,
            profile_memory=args.profile_memory,
            profile_frames=args.profile_frames,
        )
    except ValueError as exc:
        parser.error(str(exc))
