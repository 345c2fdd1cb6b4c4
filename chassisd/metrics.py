"""Every Prometheus metric chassisd exports, on one registry per ``Metrics`` object.

Owns: the metric names, help texts, label sets and histogram buckets, and one method per fact
recorded (``observe_poll``, ``count_write``, ``set_leader`` …), so callers never touch
``prometheus_client`` objects and label values are checked in one place.

Must not: use ``prometheus_client``'s global registry (two ``Metrics`` objects, e.g. in tests,
must not collide), import ``kubernetes`` or ``apscheduler``, serve HTTP (``chassisd.health``
does), or put unbounded values into labels: labels are namespace, chassis, driver and pool
names, result and outcome words, Kubernetes kinds and verbs; never node ids, MACs, addresses or
messages. ``namespace`` and ``chassis`` (or ``pool``) are separate labels, as Prometheus
convention wants (standalone mode has no namespace: the label is empty). Counters and
histograms export no ``_created`` series, and the registry carries ``process_*`` metrics.

Per chassis there are 7 series (3 poll counters, nodes, reachable, last success, consecutive
failures): the poll duration histogram is per driver and result, not per chassis, so a farm of
1,000 chassis exports about 7,000 series, not 50,000.

::

    chassisd_poll_duration_seconds  histogram  {driver, result}
    chassisd_polls_total            counter    {namespace, chassis, driver, result}
                                               result: success | transient | permanent
    chassisd_nodes                  gauge      {namespace, chassis}  nodes known
    chassisd_chassis_reachable      gauge      {namespace, chassis}  1 if the last poll reached it
    chassisd_chassis_last_success_timestamp_seconds
                                    gauge      {namespace, chassis}  Unix time of the last success
    chassisd_chassis_consecutive_failures
                                    gauge      {namespace, chassis}  failed polls since then
    chassisd_pool_conflicts         gauge      {namespace, pool}     claims left out
    chassisd_pool_members           gauge      {namespace, pool}     resolved members
    chassisd_pool_free_addresses    gauge      {namespace, pool}     range addresses not reserved
    chassisd_api_writes_total       counter    {kind, verb}  Kubernetes writes (apply, delete …)
    chassisd_reconcile_cpu_seconds  histogram  {mode}  CPU of one namespace reconcile
                                               mode: full | incremental
    chassisd_power_actions_total    counter    {action, outcome, driver}
    chassisd_leader                 gauge                    1 while this replica leads
    chassisd_poll_workers           gauge                    chassis polled at once (--workers)
    chassisd_build_info             gauge      {version}     always 1
    process_*                       the process's CPU, memory, file descriptors, start time
"""

from __future__ import annotations

import importlib.metadata
import time
from typing import Final, Literal, get_args

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)

__all__ = [
    "POLL_DURATION_BUCKETS",
    "POLL_RESULTS",
    "RECONCILE_CPU_BUCKETS",
    "Metrics",
    "PollResultLabel",
]

PollResultLabel = Literal["success", "transient", "permanent"]
"""How a poll cycle ended: an inventory, a failure that may pass, or one that will not."""

POLL_RESULTS: Final[tuple[PollResultLabel, ...]] = get_args(PollResultLabel)

POLL_DURATION_BUCKETS: Final = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds. A Moonshot poll is an SSH login plus two commands (1-5 s on real chassis managers);
transient retries add 1-10 s of back-off; the top buckets catch a chassis manager that answers
slowly enough to threaten a poll interval of a few minutes."""

RECONCILE_CPU_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds of the reconciling thread's CPU. After one chassis changed, a reconcile re-plans
only the pools it feeds (a few milliseconds; the target is 50 ms on a 1,000-chassis farm); a
full one (a start, a spec change, after a failed write) plans every node, about a second there."""


def _installed_version() -> str:
    try:
        return importlib.metadata.version("chassisd")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class Metrics:
    """The agent's metrics. Thread-safe: every method may be called from any thread."""

    def __init__(self, version: str | None = None) -> None:
        """Create the metrics on a new registry; ``version`` defaults to the installed one."""
        # ``_created`` series double every counter and histogram and no alert or dashboard of
        # ours reads them. prometheus_client keeps this switch process-wide (it is read when
        # samples are collected); chassisd never wants them, in any registry.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry: Final = CollectorRegistry(auto_describe=True)
        registry = self.registry
        ProcessCollector(registry=registry)
        chassis_labels = ["namespace", "chassis"]
        pool_labels = ["namespace", "pool"]
        self._poll_duration = Histogram(
            "chassisd_poll_duration_seconds",
            "Duration of one poll cycle of one chassis, retries included.",
            ["driver", "result"],
            buckets=POLL_DURATION_BUCKETS,
            registry=registry,
        )
        self._reconcile_cpu = Histogram(
            "chassisd_reconcile_cpu_seconds",
            "CPU time (of the reconciling thread) one namespace reconcile took: planning, "
            "building and comparing objects, statuses; not the API calls' wait.",
            ["mode"],
            buckets=RECONCILE_CPU_BUCKETS,
            registry=registry,
        )
        self._polls = Counter(
            "chassisd_polls",
            "Poll cycles by result: success, transient (may pass) or permanent (will not).",
            ["namespace", "chassis", "driver", "result"],
            registry=registry,
        )
        self._nodes = Gauge(
            "chassisd_nodes",
            "Nodes known of the chassis (its last good inventory and nodes kept since).",
            chassis_labels,
            registry=registry,
        )
        self._reachable = Gauge(
            "chassisd_chassis_reachable",
            "1 when the last poll reached the chassis manager or BMC, else 0.",
            chassis_labels,
            registry=registry,
        )
        self._last_success = Gauge(
            "chassisd_chassis_last_success_timestamp_seconds",
            "Unix time of the chassis's last successful poll (absent before the first).",
            chassis_labels,
            registry=registry,
        )
        self._failures = Gauge(
            "chassisd_chassis_consecutive_failures",
            "Failed polls of the chassis since its last successful one.",
            chassis_labels,
            registry=registry,
        )
        self._pool_conflicts = Gauge(
            "chassisd_pool_conflicts",
            "Claims of the pool left out (a MAC, IP or node claimed twice, no MAC, range full).",
            pool_labels,
            registry=registry,
        )
        self._pool_members = Gauge(
            "chassisd_pool_members",
            "Nodes resolved as members of the pool.",
            pool_labels,
            registry=registry,
        )
        self._pool_free = Gauge(
            "chassisd_pool_free_addresses",
            "Addresses of the pool's range not reserved (absent for a pool without a range).",
            pool_labels,
            registry=registry,
        )
        self._api_writes = Counter(
            "chassisd_api_writes",
            "Writes to the Kubernetes API by object kind and verb.",
            ["kind", "verb"],
            registry=registry,
        )
        self._power_actions = Counter(
            "chassisd_power_actions",
            "Power requests carried out, by action, outcome and driver.",
            ["action", "outcome", "driver"],
            registry=registry,
        )
        self._leader = Gauge(
            "chassisd_leader",
            "1 while this replica holds the leader lease, else 0.",
            registry=registry,
        )
        self._poll_workers = Gauge(
            "chassisd_poll_workers",
            "Chassis polled at once: --workers, or what --workers auto derived from the fleet.",
            registry=registry,
        )
        build_info = Gauge(
            "chassisd_build_info",
            "Always 1; the version label says which chassisd is running.",
            ["version"],
            registry=registry,
        )
        build_info.labels(version or _installed_version()).set(1)

    # --- reconcile ----------------------------------------------------------------------------

    def observe_reconcile(self, seconds: float, *, full: bool) -> None:
        """Record the CPU one namespace reconcile took, full or incremental."""
        self._reconcile_cpu.labels("full" if full else "incremental").observe(seconds)

    # --- polling ------------------------------------------------------------------------------

    def observe_poll(
        self,
        chassis: str,
        driver: str,
        result: PollResultLabel,
        seconds: float,
        *,
        namespace: str = "",
        now: float | None = None,
    ) -> None:
        """Record one finished poll cycle: its duration, its result, and the chassis's last
        success (``now``, Unix time, default the clock) or one more consecutive failure."""
        if result not in POLL_RESULTS:
            raise ValueError(f"poll result {result!r} is not one of {', '.join(POLL_RESULTS)}")
        # Every result starts at 0, so rate() and alerts work before the first failure.
        for each in POLL_RESULTS:
            self._polls.labels(namespace, chassis, driver, each)
        self._polls.labels(namespace, chassis, driver, result).inc()
        self._poll_duration.labels(driver, result).observe(seconds)
        if result == "success":
            self._last_success.labels(namespace, chassis).set(time.time() if now is None else now)
            self._failures.labels(namespace, chassis).set(0)
        else:
            self._failures.labels(namespace, chassis).inc()

    def set_nodes(self, chassis: str, count: int, *, namespace: str = "") -> None:
        """Record how many nodes of the chassis are known."""
        self._nodes.labels(namespace, chassis).set(count)

    def set_reachable(self, chassis: str, reachable: bool, *, namespace: str = "") -> None:
        """Record whether the last poll reached the chassis."""
        self._reachable.labels(namespace, chassis).set(1 if reachable else 0)

    def forget_chassis(self, chassis: str, *, namespace: str = "") -> None:
        """Remove every series of a chassis that no longer exists (its Chassis was deleted)."""
        for metric in (self._polls, self._nodes, self._reachable, self._last_success,
                       self._failures):  # fmt: skip
            metric.remove_by_labels({"namespace": namespace, "chassis": chassis})

    # --- pools --------------------------------------------------------------------------------

    def set_pool(
        self,
        pool: str,
        *,
        members: int,
        conflicts: int,
        free: int | None = None,
        namespace: str = "",
    ) -> None:
        """Record a pool's resolved members, the claims left out of it and (for a pool with an
        address range) how many of the range's addresses are not reserved."""
        self._pool_members.labels(namespace, pool).set(members)
        self._pool_conflicts.labels(namespace, pool).set(conflicts)
        if free is not None:
            self._pool_free.labels(namespace, pool).set(free)

    def forget_pool(self, pool: str, *, namespace: str = "") -> None:
        """Remove the series of a pool that no longer exists."""
        for metric in (self._pool_members, self._pool_conflicts, self._pool_free):
            metric.remove_by_labels({"namespace": namespace, "pool": pool})

    # --- writes, power, leadership -----------------------------------------------------------

    def count_write(self, kind: str, verb: str) -> None:
        """Count one write to the Kubernetes API (``kind`` e.g. DhcpHosts, ``verb`` e.g. apply)."""
        self._api_writes.labels(kind, verb).inc()

    def count_power(self, action: str, outcome: str, driver: str) -> None:
        """Count one power request: ``action`` as requested (on, off, cycle …), ``outcome``
        succeeded, failed or unknown (sent, no answer)."""
        self._power_actions.labels(action, outcome, driver).inc()

    def set_poll_workers(self, workers: int) -> None:
        """Record how many chassis may be polled at once now."""
        self._poll_workers.set(workers)

    def set_leader(self, leading: bool) -> None:
        """Record whether this replica leads (call from the leader-election callbacks)."""
        self._leader.set(1 if leading else 0)
