"""``python -m bench.hostile``: what one hostile device costs the agent, next to a healthy one.

Owns the hostile-device figures: for each misbehaviour of the shipped simulators (SSH and REST)
and for the same simulator behaving, one ``chassisd run --once`` is started as a child process
against a config holding that one chassis, and its wall time and peak RSS (``ru_maxrss`` of the
whole child, from ``os.wait4``) are recorded. The simulators run in this process, so their
buffers never count against the agent. Figures per case: exit code, wall time, peak RSS, RSS
above the healthy run of the same driver, and how far the run outlived the chassis's poll
deadline (``pollTimeout``; the child's start-up of about a second included). Must not assert:
it reports; ``--check`` makes the exit code say whether the acceptance held (RSS growth within
the output cap plus ``--rss-slack`` MiB, no overshoot beyond ``--deadline-slack`` s).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from chassisd.sim.moonshot import MoonshotSimulator
from chassisd.sim.moonshot.model import ChassisSpec, CommandKind, Faults
from chassisd.sim.moonshot.rest import MoonshotRestSimulator, RequestKind, RestFaults

MIB = 1024 * 1024
CAP = 4 * MIB  # spec.maxOutputSize, the default
POLL_TIMEOUT = 20.0
COMMAND_TIMEOUT = 5.0
NODE_LIST = frozenset({CommandKind.NODE_LIST})
SYSTEM = frozenset({RequestKind.SYSTEM})

#: (driver, case) → faults; "healthy" first for each driver: the others are compared to it.
SSH_CASES: dict[str, Faults] = {
    "healthy": Faults(),
    "400 MB after the listing": Faults(flood_bytes=400 * MIB, affects=NODE_LIST),
    "endless output": Faults(endless=True, affects=NODE_LIST),
    "one endless line": Faults(endless=True, flood_line=10**12, affects=NODE_LIST),
    "drip 1 byte/0.5 s": Faults(drip_interval=0.5, affects=NODE_LIST),
    "hang after the command": Faults(hang=True, affects=NODE_LIST),
    "close mid-line": Faults(disconnect_mid_output=True, affects=NODE_LIST),
    "listing cut at a line": Faults(keep_rows=5, affects=NODE_LIST),
    "id with a comma": Faults(garbage_line="c1n1,c2n1  OK  On  x", affects=NODE_LIST),
}
REST_CASES: dict[str, RestFaults] = {
    "healthy": RestFaults(),
    "400 MB after a system": RestFaults(flood_bytes=400 * MIB, affects=SYSTEM),
    "endless answer": RestFaults(endless=True, affects=SYSTEM),
    "drip 1 byte/0.1 s": RestFaults(drip_interval=0.1, affects=SYSTEM),
    "hang": RestFaults(hang=True, affects=SYSTEM),
}


@dataclass(frozen=True)
class Figure:
    """One ``chassisd run --once`` against one chassis."""

    driver: str
    case: str
    exit_code: int
    wall_s: float
    peak_rss_mib: float
    rss_above_healthy_mib: float
    deadline_s: float
    overshoot_s: float
    last_line: str


def run_once(config: Path, out: Path) -> tuple[int, float, float, str]:
    """Exit code, wall seconds, peak RSS (MiB) of one ``chassisd run --once`` child."""
    command = [sys.executable, "-m", "chassisd.daemon", "run", "--config", str(config),
               "--output-dir", str(out), "--once"]  # fmt: skip
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    with child.stderr:
        stderr = child.stderr.read()
    _pid, status, usage = os.wait4(child.pid, 0)  # reaped here: Popen.wait is not used
    wall = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = stderr.strip().splitlines()
    return child.returncode, wall, usage.ru_maxrss / 1024, lines[-1][-200:] if lines else ""


def config_text(driver: str, address: str, trust: dict[str, Any]) -> str:
    documents = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
         "stringData": {"username": "admin", "password": "password"}},
        {"apiVersion": "chassisd.io/v1alpha1", "kind": "Chassis", "metadata": {"name": "c1"},
         "spec": {"driver": driver, "address": address, "credentialsSecretRef": {"name": "creds"},
                  "connectTimeout": "5s", "commandTimeout": f"{COMMAND_TIMEOUT:g}s",
                  "pollTimeout": f"{POLL_TIMEOUT:g}s", **trust}},
        {"apiVersion": "chassisd.io/v1alpha1", "kind": "NodePool", "metadata": {"name": "all"},
         "spec": {"catchAll": True}},
    ]  # fmt: skip
    return yaml.safe_dump_all(documents)


@contextmanager
def ssh_chassis(spec: ChassisSpec) -> Iterator[tuple[Callable[[Any], None], str, dict[str, Any]]]:
    with MoonshotSimulator(spec).running() as handle:
        trust = {"knownHosts": handle.known_hosts_line}
        yield handle.set_faults, f"127.0.0.1:{handle.port}", trust


@contextmanager
def rest_chassis(
    spec: ChassisSpec,
) -> Iterator[tuple[Callable[[Any], None], str, dict[str, Any]]]:
    with MoonshotRestSimulator(spec).running() as handle:
        trust = {"certificateFingerprint": handle.fingerprint}
        yield handle.set_faults, handle.address, trust


def measure(
    driver: str,
    chassis: AbstractContextManager[tuple[Callable[[Any], None], str, dict[str, Any]]],
    cases: dict[str, Any],
    workdir: Path,
) -> list[Figure]:
    figures: list[Figure] = []
    healthy = 0.0
    with chassis as (set_faults, address, trust):
        config = workdir / f"{driver}.yaml"
        config.write_text(config_text(driver, address, trust))
        for case, faults in cases.items():
            set_faults(faults)
            # One output directory per driver: each hostile run follows a healthy sync.
            code, wall, rss, last = run_once(config, workdir / f"out-{driver}")
            healthy = rss if case == "healthy" else healthy
            figures.append(
                Figure(
                    driver,
                    case,
                    code,
                    round(wall, 2),
                    round(rss, 1),
                    round(rss - healthy, 1),
                    POLL_TIMEOUT,
                    round(max(0.0, wall - POLL_TIMEOUT), 2),
                    last,
                )
            )
            print(f"{driver:14} {case:26} exit {code}  {wall:6.2f} s  {rss:6.1f} MiB  "
                  f"(+{rss - healthy:5.1f})", flush=True)  # fmt: skip
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/hostile.json"))
    parser.add_argument("--check", action="store_true", help="exit 1 if acceptance failed")
    parser.add_argument("--rss-slack", type=float, default=8.0, help="MiB beyond the cap")
    parser.add_argument("--deadline-slack", type=float, default=5.0, help="seconds")
    args = parser.parse_args(argv)
    # The simulators run here; a client that hangs up mid-flood is what they are for.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    spec = ChassisSpec.generate("c1", seed=3, multi_node=0.2)
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        workdir = Path(tmp)
        figures = measure("moonshot", ssh_chassis(spec), SSH_CASES, workdir)
        figures += measure("moonshot-rest", rest_chassis(spec), REST_CASES, workdir)
    limit = CAP / MIB + args.rss_slack
    failed = [
        f for f in figures
        if f.rss_above_healthy_mib > limit or f.overshoot_s > args.deadline_slack
    ]  # fmt: skip
    report = {
        "what": "chassisd run --once as a child against one chassis per case",
        "output_cap_mib": CAP / MIB,
        "poll_timeout_s": POLL_TIMEOUT,
        "command_timeout_s": COMMAND_TIMEOUT,
        "acceptance": f"RSS above healthy <= {limit:g} MiB, overshoot <= {args.deadline_slack} s",
        "held": not failed,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "figures": [asdict(f) for f in figures],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}; acceptance {'held' if not failed else 'FAILED'}")
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
