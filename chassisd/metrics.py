"""Every Prometheus metric chassisd exports, on one registry per ``Metrics`` object.

Owns: the metric names, help texts, label sets and histogram buckets, and one method per fact
recorded (``observe_poll``, ``count_write``, ``set_leader`` …), so callers never touch
``prometheus_client`` objects and label values are checked in one place.

Must not: use ``prometheus_client``'s global registry (two ``Metrics`` objects, e.g. in tests,
must not collide), import ``kubernetes`` or ``apscheduler``, serve HTTP (``chassisd.health``
does), or put unbounded values into labels: labels are chassis, driver and pool names, result
and outcome words, Kubernetes kinds and verbs; never node ids, MACs, addresses or messages.

::

    chassisd_poll_duration_seconds  histogram  {chassis, driver, result}
    chassisd_polls_total            counter    {chassis, driver, result}
                                               result: success | transient | permanent
    chassisd_nodes                  gauge      {chassis}     nodes in the last good inventory
    chassisd_chassis_reachable      gauge      {chassis}     1 when the last poll reached it
    chassisd_pool_conflicts         gauge      {pool}        MAC/IP claims left out
    chassisd_pool_members           gauge      {pool}        resolved members
    chassisd_api_writes_total       counter    {kind, verb}  Kubernetes writes (apply, delete …)
    chassisd_power_actions_total    counter    {action, outcome, driver}
    chassisd_leader                 gauge                    1 while this replica leads
    chassisd_build_info             gauge      {version}     always 1
"""

from __future__ import annotations

import importlib.metadata
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["POLL_DURATION_BUCKETS", "POLL_RESULTS", "Metrics", "PollResultLabel"]

PollResultLabel = Literal["success", "transient", "permanent"]
"""How a poll cycle ended: an inventory, a failure that may pass, or one that will not."""

POLL_RESULTS: Final[tuple[PollResultLabel, ...]] = get_args(PollResultLabel)

POLL_DURATION_BUCKETS: Final = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds. A Moonshot poll is an SSH login plus two commands (1-5 s on real chassis managers);
transient retries add 1-10 s of back-off; the top buckets catch a chassis manager that answers
slowly enough to threaten a poll interval of a few minutes."""


def _installed_version() -> str:
    try:
        return importlib.metadata.version("chassisd")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class Metrics:
    """The agent's metrics. Thread-safe: every method may be called from any thread."""

    def __init__(self, version: str | None = None) -> None:
        """Create the metrics on a new registry; ``version`` defaults to the installed one."""
        self.registry: Final = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._poll_duration = Histogram(
            "chassisd_poll_duration_seconds",
            "Duration of one poll cycle of one chassis, retries included.",
            ["chassis", "driver", "result"],
            buckets=POLL_DURATION_BUCKETS,
            registry=registry,
        )
        self._polls = Counter(
            "chassisd_polls",
            "Poll cycles by result: success, transient (may pass) or permanent (will not).",
            ["chassis", "driver", "result"],
            registry=registry,
        )
        self._nodes = Gauge(
            "chassisd_nodes",
            "Nodes in the chassis's last successful inventory.",
            ["chassis"],
            registry=registry,
        )
        self._reachable = Gauge(
            "chassisd_chassis_reachable",
            "1 when the last poll reached the chassis manager or BMC, else 0.",
            ["chassis"],
            registry=registry,
        )
        self._pool_conflicts = Gauge(
            "chassisd_pool_conflicts",
            "MAC or IP claims of the pool left out because another claim came first.",
            ["pool"],
            registry=registry,
        )
        self._pool_members = Gauge(
            "chassisd_pool_members",
            "Nodes resolved as members of the pool.",
            ["pool"],
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
        build_info = Gauge(
            "chassisd_build_info",
            "Always 1; the version label says which chassisd is running.",
            ["version"],
            registry=registry,
        )
        build_info.labels(version or _installed_version()).set(1)

    # --- polling ------------------------------------------------------------------------------

    def observe_poll(
        self, chassis: str, driver: str, result: PollResultLabel, seconds: float
    ) -> None:
        """Record one finished poll cycle: its duration and its result."""
        if result not in POLL_RESULTS:
            raise ValueError(f"poll result {result!r} is not one of {', '.join(POLL_RESULTS)}")
        # Every result starts at 0, so rate() and alerts work before the first failure.
        for each in POLL_RESULTS:
            self._polls.labels(chassis, driver, each)
        self._polls.labels(chassis, driver, result).inc()
        self._poll_duration.labels(chassis, driver, result).observe(seconds)

    def set_nodes(self, chassis: str, count: int) -> None:
        """Record how many nodes the chassis's last successful inventory held."""
        self._nodes.labels(chassis).set(count)

    def set_reachable(self, chassis: str, reachable: bool) -> None:
        """Record whether the last poll reached the chassis."""
        self._reachable.labels(chassis).set(1 if reachable else 0)

    def forget_chassis(self, chassis: str) -> None:
        """Remove every series of a chassis that no longer exists (its Chassis was deleted)."""
        for metric in (self._poll_duration, self._polls, self._nodes, self._reachable):
            metric.remove_by_labels({"chassis": chassis})

    # --- pools --------------------------------------------------------------------------------

    def set_pool(self, pool: str, *, members: int, conflicts: int) -> None:
        """Record a pool's resolved members and the conflicting claims left out of it."""
        self._pool_members.labels(pool).set(members)
        self._pool_conflicts.labels(pool).set(conflicts)

    def forget_pool(self, pool: str) -> None:
        """Remove the series of a pool that no longer exists."""
        for metric in (self._pool_members, self._pool_conflicts):
            metric.remove_by_labels({"pool": pool})

    # --- writes, power, leadership -----------------------------------------------------------

    def count_write(self, kind: str, verb: str) -> None:
        """Count one write to the Kubernetes API (``kind`` e.g. DhcpHosts, ``verb`` e.g. apply)."""
        self._api_writes.labels(kind, verb).inc()

    def count_power(self, action: str, outcome: str, driver: str) -> None:
        """Count one power request: ``action`` as requested (on, off, cycle …), ``outcome``
        succeeded, failed or unknown (sent, no answer)."""
        self._power_actions.labels(action, outcome, driver).inc()

    def set_leader(self, leading: bool) -> None:
        """Record whether this replica leads (call from the leader-election callbacks)."""
        self._leader.set(1 if leading else 0)
