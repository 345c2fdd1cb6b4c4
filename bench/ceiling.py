"""How far one agent goes: ``chassisd run`` over a synthetic inventory of up to 10,000 chassis.

Owns one measurement on the real kube-apiserver + etcd, with no SSH in the way: a child
process (``bench.ceiling_agent``) serves a synthetic farm (``bench.synthetic``, the fleet
benchmark's chassis shape: ~47 nodes per chassis, racks of 10 chassis as NodePools, one
catch-all) through the ``fake`` driver and runs the agent in cluster mode against it. Measured
from outside:

- the first sweep: seconds until every chassis was polled and the writes went quiet, the writes
  by kind, the agent's CPU;
- memory: the child's RSS once the farm is built (the inventory source's share) and after the
  first sweep, peak and settled; the agent's share per node;
- changes: one node inserted into one chassis (a line on the child's stdin) and a poll asked
  for (``chassisctl poll``'s annotation), ``--changes`` times on chassis spread over the fleet:
  seconds until its MAC is in a DhcpHosts object, the agent's CPU and API writes per change,
  and its reconcile CPU (``chassisd_reconcile_cpu_seconds``) where the agent exports it.

Run as ``python -m bench.ceiling --chassis 10000 [--changes 10] [--json PATH]``. Must not:
reach into the agent; everything is read from ``/proc``, ``/metrics`` and the API server.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.agentproc import parse_metrics
from bench.farm import create_farm, create_namespace
from bench.procstat import cpu_seconds, peak_rss_mb, rss_mb
from bench.settings import RESULTS_DIR
from bench.synthetic import chassis_name, new_node, objects, synthetic_farm
from chassisd.clusterlist import request_poll
from chassisd.kube.gateway import DHCPHOSTS, KubeGateway
from chassisd.reconcile import CHASSIS_LABEL
from chassisd.testing.controlplane import api_client, start_control_plane

_HEALTH = re.compile(r"health=[\d.]+:(\d+)")
_FARM = re.compile(r"farm nodes=(\d+) rss=([\d.]+)")
SWEEP_TIMEOUT = 3600.0
CHANGE_TIMEOUT = 300.0


class _Child:
    """The agent over the synthetic farm: spawned, scraped, fed new nodes, stopped."""

    def __init__(
        self, chassis: int, seed: int, kubeconfig: Path, namespace: str, log: Path
    ) -> None:
        argv = [
            sys.executable,
            "-m",
            "bench.ceiling_agent",
            str(chassis),
            str(seed),
            "--",
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
            "--health-address",
            "127.0.0.1:0",
            "--no-leader-election",
            "--identity",
            "ceiling",
        ]
        self._log = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stderr is not None
        self.farm_nodes, self.farm_rss, port = 0, 0.0, 0
        for line in self.process.stderr:
            self._log.write(line)
            if match := _FARM.search(line):
                self.farm_nodes, self.farm_rss = int(match.group(1)), float(match.group(2))
            if match := _HEALTH.search(line):
                port = int(match.group(1))
                break
        if not port:
            self.stop()
            raise RuntimeError(f"the ceiling agent did not start; see {log}")
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120.0)
        self._drain = threading.Thread(target=self._copy, args=(self.process.stderr,), daemon=True)
        self._drain.start()

    def _copy(self, stderr: IO[str]) -> None:
        for line in stderr:
            self._log.write(line)

    def metrics_text(self) -> str:
        response = self.http.get("/metrics")
        response.raise_for_status()
        return response.text

    def add(self, chassis: str, node: str, mac: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"add {chassis} {node} {mac}\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stderr):
            if stream is not None:
                stream.close()
        self._log.close()


def _successful_polls(text: str) -> int:
    return parse_metrics(text).polls.get("success", 0)


def _reconcile_cpu(text: str) -> tuple[float, float] | None:
    """(sum, count) of ``chassisd_reconcile_cpu_seconds``; None if the agent has no such metric."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (
                "chassisd_reconcile_cpu_seconds_sum",
                "chassisd_reconcile_cpu_seconds_count",
            ):
                found[sample.name] = found.get(sample.name, 0.0) + sample.value
    if len(found) < 2:
        return None
    return found["chassisd_reconcile_cpu_seconds_sum"], found[
        "chassisd_reconcile_cpu_seconds_count"
    ]


def _first_sweep(child: _Child, chassis: int, settle: float) -> dict[str, Any]:
    """Wait until every chassis was polled once and no write happened for ``settle`` seconds."""
    started = time.monotonic()
    pid = child.process.pid
    last_writes, quiet_since = -1, time.monotonic()
    while time.monotonic() - started < SWEEP_TIMEOUT:
        text = child.metrics_text()
        writes = parse_metrics(text).total_writes
        if writes != last_writes:
            last_writes, quiet_since = writes, time.monotonic()
        if _successful_polls(text) >= chassis and time.monotonic() - quiet_since >= settle:
            snapshot = parse_metrics(text)
            return {
                "seconds": round(quiet_since - started, 1),
                "writes": {f"{k}/{v}": n for (k, v), n in sorted(snapshot.writes.items())},
                "agent_cpu_s": round(cpu_seconds(pid), 1),
            }
        if child.process.poll() is not None:
            raise RuntimeError("the ceiling agent exited during the first sweep")
        time.sleep(2.0)
    raise RuntimeError(f"the first sweep did not end within {SWEEP_TIMEOUT:.0f} s")


def _has_mac(gateway: KubeGateway, namespace: str, chassis: str, mac: str) -> bool:
    items, _ = gateway.list(DHCPHOSTS, namespace, label_selector=f"{CHASSIS_LABEL}={chassis}")
    return any(mac in host.get("macs", []) for o in items for host in o["spec"]["hosts"])


def _changes(
    child: _Child, gateway: KubeGateway, namespace: str, chassis: int, count: int, seed: int
) -> list[dict[str, Any]]:
    farm = synthetic_farm(chassis, seed=seed)  # the child's farm, rebuilt to know empty slots
    pid = child.process.pid
    samples: list[dict[str, Any]] = []
    for number in range(count):
        name = chassis_name(number * chassis // count)
        node, mac = new_node(farm, name, 0)
        before_text, before_cpu = child.metrics_text(), cpu_seconds(pid)
        started = time.monotonic()
        child.add(name, node, mac)
        request_poll(gateway, namespace, name)
        while not _has_mac(gateway, namespace, name, mac):
            if time.monotonic() - started > CHANGE_TIMEOUT:
                raise RuntimeError(f"{mac} of {name}/{node} not reserved within the timeout")
            time.sleep(0.1)
        latency = time.monotonic() - started
        time.sleep(3.0)  # the status writes that follow the reservation
        after_text, after_cpu = child.metrics_text(), cpu_seconds(pid)
        writes = parse_metrics(after_text).minus(parse_metrics(before_text)).total_writes
        sample: dict[str, Any] = {
            "chassis": name,
            "node": node,
            "seconds": round(latency, 2),
            "agent_cpu_s": round(after_cpu - before_cpu, 3),
            "writes": writes,
        }
        before_rc, after_rc = _reconcile_cpu(before_text), _reconcile_cpu(after_text)
        if before_rc is not None and after_rc is not None:
            sample["reconcile_cpu_s"] = round(after_rc[0] - before_rc[0], 4)
            sample["reconciles"] = int(after_rc[1] - before_rc[1])
        samples.append(sample)
        print(f"change {number + 1}/{count}: {sample}", file=sys.stderr)
    return samples


def measure(
    chassis: int, *, changes: int, seed: int, settle: float, log_dir: Path, poll_interval: int
) -> dict[str, Any]:
    """Build the farm's objects, run the agent over it, measure; everything stopped after."""
    farm = synthetic_farm(chassis, seed=seed)
    with start_control_plane() as cp, api_client(cp) as api:
        namespace = create_namespace(api)
        create_farm(api, list(objects(farm, namespace, poll_interval=poll_interval)))
        del farm  # the harness's copy; the child builds its own
        gateway = KubeGateway(api)
        child = _Child(chassis, seed, cp.kubeconfig, namespace, log_dir / "ceiling-agent.log")
        try:
            sweep = _first_sweep(child, chassis, settle)
            pid = child.process.pid
            memory = {
                "farm_rss_mb": child.farm_rss,
                "after_sweep_rss_mb": round(rss_mb(pid), 1),
                "peak_rss_mb": round(peak_rss_mb(pid), 1),
            }
            samples = _changes(child, gateway, namespace, chassis, changes, seed)
            memory["after_changes_rss_mb"] = round(rss_mb(pid), 1)
            memory["peak_rss_mb"] = round(peak_rss_mb(pid), 1)
        finally:
            child.stop()
    nodes = child.farm_nodes
    agent_mb = memory["peak_rss_mb"] - memory["farm_rss_mb"]
    memory["agent_peak_mb"] = round(agent_mb, 1)
    memory["agent_kib_per_node"] = round(agent_mb * 1024 / nodes, 2)
    settled = memory["after_changes_rss_mb"] - memory["farm_rss_mb"]
    memory["agent_settled_kib_per_node"] = round(settled * 1024 / nodes, 2)

    def worst(field: str) -> float | None:
        values = [s[field] for s in samples if field in s]
        return max(values) if values else None

    return {
        "chassis": chassis,
        "nodes": nodes,
        "poll_interval_s": poll_interval,
        "first_sweep": sweep,
        "memory": memory,
        "changes": samples,
        "worst_change": {
            f: worst(f) for f in ("seconds", "agent_cpu_s", "reconcile_cpu_s", "writes")
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ceiling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--chassis", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=10, help="nodes inserted, one at a time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--settle", type=float, default=10.0, help="quiet seconds that end the first sweep"
    )
    parser.add_argument(
        "--poll-interval",
        type=int,
        default=600,
        help="Chassis pollInterval; changes are polled on request",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    path = args.json or RESULTS_DIR / f"ceiling-{args.chassis}.json"
    with tempfile.TemporaryDirectory(prefix="chassisd-ceiling-") as logs:
        result = measure(
            args.chassis,
            changes=args.changes,
            seed=args.seed,
            settle=args.settle,
            log_dir=Path(logs),
            poll_interval=args.poll_interval,
        )
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
