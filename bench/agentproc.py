"""``chassisd run`` as a subprocess, and what it exports on ``/metrics``.

Owns starting the agent exactly as an operator would (cluster mode, ``--kubeconfig``,
``--namespace``, ``--no-leader-election`` or a Lease in the bench namespace, ``--workers``,
health on an ephemeral port), keeping its log in a file (counting failed polls), reading
``/metrics`` into a ``MetricsSnapshot`` (and whether it leads), and stopping it with SIGTERM
(or SIGKILL, to model a replica that dies). With ``profile`` it runs the agent under
``bench.agent_profiled`` instead, which adds cProfile or tracemalloc.

Must not: import the agent or reach into it; everything is measured from outside.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from prometheus_client.parser import text_string_to_metric_families

_START_TIMEOUT = 120.0
_STOP_TIMEOUT = 120.0
_HEALTH = re.compile(r"health=[\d.]+:(\d+)")


@dataclass(frozen=True)
class MetricsSnapshot:
    """The agent's counters at one moment (summed over chassis)."""

    writes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, verb) → n
    polls: Counter[str] = field(default_factory=Counter)  # result → n
    poll_seconds: float = 0.0  # chassisd_poll_duration_seconds_sum
    poll_count: float = 0.0  # chassisd_poll_duration_seconds_count
    # chassisd_reconcile_cpu_seconds{mode="incremental"}: sum, count, and le → cumulative count
    reconcile_cpu_s: float = 0.0
    reconciles: float = 0.0
    reconcile_buckets: dict[float, float] = field(default_factory=dict)
    workers: int = 0  # chassisd_poll_workers: chassis polled at once now

    @property
    def total_writes(self) -> int:
        return int(sum(self.writes.values()))

    @property
    def total_polls(self) -> int:
        return int(sum(self.polls.values()))

    def minus(self, earlier: MetricsSnapshot) -> MetricsSnapshot:
        """What happened between ``earlier`` and this snapshot."""
        writes = Counter(self.writes)
        writes.subtract(earlier.writes)
        polls = Counter(self.polls)
        polls.subtract(earlier.polls)
        return MetricsSnapshot(
            +writes,
            +polls,
            self.poll_seconds - earlier.poll_seconds,
            self.poll_count - earlier.poll_count,
            self.reconcile_cpu_s - earlier.reconcile_cpu_s,
            self.reconciles - earlier.reconciles,
            {le: n - earlier.reconcile_buckets.get(le, 0.0)
             for le, n in self.reconcile_buckets.items()},
            self.workers,
        )  # fmt: skip

    def reconcile_cpu_bound(self) -> float:
        """The smallest histogram bound every incremental reconcile stayed under (inf: one
        took longer than the largest bucket; nan: none happened)."""
        if not self.reconciles:
            return float("nan")
        return min((le for le, n in self.reconcile_buckets.items() if n >= self.reconciles),
                   default=float("inf"))  # fmt: skip


def parse_metrics(text: str) -> MetricsSnapshot:
    """The figures the bench uses, from Prometheus text format."""
    writes: Counter[tuple[str, str]] = Counter()
    polls: Counter[str] = Counter()
    seconds = count = reconcile_cpu = reconciles = 0.0
    buckets: dict[float, float] = {}
    workers = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("chassisd_reconcile_cpu_seconds"):
                if sample.labels.get("mode") != "incremental":
                    continue
                if sample.name.endswith("_sum"):
                    reconcile_cpu += sample.value
                elif sample.name.endswith("_count"):
                    reconciles += sample.value
                elif sample.name.endswith("_bucket"):
                    buckets[float(sample.labels["le"])] = sample.value
                continue
            if sample.name == "chassisd_api_writes_total":
                writes[(sample.labels["kind"], sample.labels["verb"])] += int(sample.value)
            elif sample.name == "chassisd_polls_total":
                polls[sample.labels["result"]] += int(sample.value)
            elif sample.name == "chassisd_poll_duration_seconds_sum":
                seconds += sample.value
            elif sample.name == "chassisd_poll_duration_seconds_count":
                count += sample.value
            elif sample.name == "chassisd_poll_workers":
                workers = int(sample.value)
    return MetricsSnapshot(
        writes, polls, seconds, count, reconcile_cpu, reconciles, buckets, workers
    )


class AgentProcess:
    """One ``chassisd run`` in cluster mode against the bench namespace."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        namespace: str,
        workers: int | None,
        log_path: Path,
        profile: tuple[Path, str] | None = None,
        identity: str = "bench",
        leader_election: bool = False,
    ) -> None:
        args = [
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
            "--health-address",
            "127.0.0.1:0",
            "--workers",
            "auto" if workers is None else str(workers),
            "--identity",
            identity,
        ]
        # With leader election the Lease lives in the bench namespace, with the default timings.
        args += ["--lease-namespace", namespace] if leader_election else ["--no-leader-election"]
        if profile is not None:
            directory, mode = profile
            self._argv = [sys.executable, "-m", "bench.agent_profiled", str(directory), mode, *args]
        else:
            self._argv = [sys.executable, "-m", "chassisd.daemon", *args]
        self._log_path = log_path
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._drain: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self.failed_polls = 0
        self.started_at = 0.0  # monotonic time of the spawn
        self.ready_at = 0.0  # monotonic time it reported its health port

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        """Spawn the agent and wait until it reports its health port."""
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self._log_path.open("w", encoding="utf-8")
        self.started_at = time.monotonic()
        self._process = subprocess.Popen(
            self._argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        stderr = self._process.stderr
        assert stderr is not None
        port = 0
        deadline = time.monotonic() + _START_TIMEOUT
        while not port and time.monotonic() < deadline:
            line = stderr.readline()
            if not line:
                break
            self._log.write(line)
            if match := _HEALTH.search(line):
                port = int(match.group(1))
        if not port:
            self.stop()
            raise RuntimeError(f"chassisd did not report its health port; see {self._log_path}")
        self.ready_at = time.monotonic()
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0)
        self._drain = threading.Thread(target=self._copy_log, args=(stderr,), daemon=True)
        self._drain.start()

    def _copy_log(self, stderr: IO[str]) -> None:
        assert self._log is not None
        for line in stderr:
            if "poll failed" in line:
                self.failed_polls += 1
            self._log.write(line)

    def metrics(self) -> MetricsSnapshot:
        """Scrape ``/metrics`` once."""
        assert self._http is not None
        response = self._http.get("/metrics")
        response.raise_for_status()
        return parse_metrics(response.text)

    def leading(self) -> bool:
        """Whether ``/metrics`` says this replica leads (``chassisd_leader 1``)."""
        assert self._http is not None
        response = self._http.get("/metrics")
        response.raise_for_status()
        return bool(re.search(r"^chassisd_leader 1(\.0)?$", response.text, re.MULTILINE))

    def kill(self) -> None:
        """SIGKILL: the process dies at once, releasing nothing (its Lease stays held)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, wait, close everything (idempotent); returns the exit code."""
        code = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
            try:
                code = self._process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                code = self._process.wait()
            if self._drain is not None:
                self._drain.join(timeout=10)
            if self._process.stderr is not None:
                self._process.stderr.close()
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code
