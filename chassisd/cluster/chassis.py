"""The chassis controller: polls every Chassis on its schedule and keeps its status.

Owns one scheduler job per Chassis (first run jittered, the next due an interval after a poll
*started*, back-off while it fails), the poll itself (through the poller, with the targets and
Secrets the namespace's specs resolve), the node memory update (``chassisd.memory``'s grace
period rules: a failed poll changes nothing), and the Chassis status: conditions, failures,
model/firmware and the remembered nodes, written only when it changed (or the heartbeat is
due). A poll that loses many nodes at once is confirmed by the poller with a second session;
what it found is the ``NodesLost`` condition (present once a loss was seen) and an Event. A
Chassis whose spec is invalid is not polled; its status says why. When the nodes a
reservation depends on change, it tells the pool reconciler (``nodes_changed``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chassisd.cluster.cache import Key, ObjectCache, key_of
from chassisd.cluster.informer import Change
from chassisd.cluster.nodes import NodeMemory
from chassisd.cluster.settings import PollSettings
from chassisd.cluster.specs import NamespaceSpecs, parse_chassis
from chassisd.cluster.status import condition, digest, older_than
from chassisd.cluster.writer import Writer
from chassisd.errors import (
    ChassisdError,
    ConfigError,
    ParseError,
    TransientError,
)
from chassisd.farm import name_nodes
from chassisd.kube.gateway import CHASSIS
from chassisd.memory import KnownNode, known_order, known_to_dict, remember
from chassisd.metrics import Metrics, PollResultLabel
from chassisd.poller import PollResult, contain, poll_chassis
from chassisd.registry import Registry
from chassisd.retry import Backoff
from chassisd.scheduler import JobScheduler
from chassisd.timestamps import stamp

log = logging.getLogger(__name__)

POLL_JITTER = 0.05  # share of a chassis's poll interval taken off at random from each wait


@dataclass(frozen=True)
class _Schedule:
    generation: Any
    interval: float
    valid: bool


class ChassisController:
    """Schedules and runs the polls of every followed Chassis."""

    def __init__(
        self,
        cache: ObjectCache,
        specs: NamespaceSpecs,
        memory: NodeMemory,
        writer: Writer,
        scheduler: JobScheduler,
        registry: Registry,
        metrics: Metrics,
        settings: PollSettings,
        *,
        nodes_changed: Callable[[str], None],
    ) -> None:
        self._cache = cache
        self._specs = specs
        self._memory = memory
        self._writer = writer
        self._scheduler = scheduler
        self._registry = registry
        self._metrics = metrics
        self._settings = settings
        self._nodes_changed = nodes_changed
        self._lock = threading.Lock()
        self._scheduled: dict[Key, _Schedule] = {}
        self._failures: dict[Key, int] = {}
        self._confirmed: set[Key] = set()  # chassis polled successfully by this process

    # --- events -----------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Informer handler: load remembered nodes on first sight, (re)schedule on spec change."""
        if change.key is None:
            self._schedule_all()
            return
        if change.new is None:
            self._unschedule(change.key, forget=True)
            return
        nodes = (change.new.get("status") or {}).get("nodes") or []
        self._memory.load(change.key, nodes)
        if change.spec_changed:
            self._schedule(change.key)

    def confirmed(self, namespace: str) -> set[str]:
        """Names of the chassis of ``namespace`` this process has polled successfully."""
        with self._lock:
            return {name for ns, name in self._confirmed if ns == namespace}

    def kick(self) -> None:
        """Poll every scheduled chassis soon (a new leader starts work)."""
        with self._lock:
            keys = list(self._scheduled)
        for key in keys:
            self._scheduler.delay(_job_id(key), random.uniform(0, 2))  # noqa: S311 - jitter

    # --- scheduling -------------------------------------------------------------------------

    def _schedule_all(self) -> None:
        chassis = self._cache.items(CHASSIS)
        for key in chassis:
            self._schedule(key)
        with self._lock:
            stale = (set(self._scheduled) | self._memory.keys()) - set(chassis)
        for key in stale:
            self._unschedule(key, forget=True)

    def _schedule(self, key: Key) -> None:
        obj = self._cache.get(CHASSIS, key)
        if obj is None:
            self._unschedule(key, forget=True)
            return
        try:
            spec = parse_chassis(obj)
        except ConfigError:
            # Not polled; one run soon writes why into its status, then the job removes itself.
            schedule = _Schedule(obj["metadata"].get("generation"), 0.0, valid=False)
            interval = 3600.0
        else:
            if spec.paused:
                self._unschedule(key, forget=False)
                return
            schedule = _Schedule(obj["metadata"].get("generation"), spec.poll_interval, True)
            interval = spec.poll_interval
        with self._lock:
            if self._scheduled.get(key) == schedule:
                return
            self._scheduled[key] = schedule
        self._scheduler.every(
            _job_id(key),
            lambda: self._run(key),
            seconds=interval,
            first_in=random.uniform(0, min(2.0, interval)),  # noqa: S311 - jitter
        )

    def _unschedule(self, key: Key, *, forget: bool) -> None:
        with self._lock:
            scheduled = self._scheduled.pop(key, None) is not None
            if forget:
                self._failures.pop(key, None)
                self._confirmed.discard(key)
        if scheduled:
            self._scheduler.remove(_job_id(key))
        if forget:
            self._metrics.forget_chassis(f"{key[0]}/{key[1]}")
            self._memory.forget(key)

    # --- one poll ---------------------------------------------------------------------------

    def _run(self, key: Key) -> None:
        if not self._writer.leading:
            return
        obj = self._cache.get(CHASSIS, key)
        with self._lock:
            schedule = self._scheduled.get(key)
        if obj is None or schedule is None:
            return
        if not schedule.valid:
            self._scheduler.remove(_job_id(key))
            self._report_invalid(key, obj)
            return
        # The next poll is due an interval after this one *started*, less a little jitter: a
        # chassis keeps the phase its first poll got when the fleet queued for workers, so
        # rounds stay spread out instead of all falling due at once, and a chassis is polled
        # at least every pollInterval (a new node waits at most that long).
        jitter = random.uniform(0, schedule.interval * POLL_JITTER)  # noqa: S311 - jitter
        self._scheduler.delay(_job_id(key), schedule.interval - jitter)
        self.poll(key, obj, schedule.interval)

    def poll(self, key: Key, obj: dict[str, Any], interval: float) -> None:
        """Poll one chassis: inventory, memory, metrics, status; reconcile if nodes changed."""
        namespace, name = key
        config, _problems = self._specs.config(namespace)
        present = {k.node.record.id for k in self._memory.get(key).values() if not k.absent_since}
        try:
            spec = config.chassis_named(name)
            target = config.driver_target(spec)
        except ChassisdError as exc:
            result = PollResult(name, obj["spec"].get("driver", ""), None, exc, 0, 0.0)
        except Exception as exc:  # noqa: BLE001 - one chassis's bad spec must not stop the others
            driver = str(obj["spec"].get("driver", ""))
            result = PollResult(name, driver, None, contain(exc, chassis=name, driver=driver), 0, 0)
        else:
            result = poll_chassis(
                self._registry, spec.driver, target, self._settings.retry, present=present
            )
        now = datetime.now(UTC)
        label = f"{namespace}/{name}"
        fields = {"namespace": namespace, "chassis": name, "driver": result.driver}
        self._metrics.observe_poll(label, result.driver, _result_label(result), result.seconds)
        known = self._memory.get(key)
        if result.ok:
            polled = {name: list(name_nodes(config, [result]))}
            updated, dropped = remember(config, known, polled, now)
            self._memory.replace(key, updated)
            for ref in dropped:
                log.info("chassis=%s node=%s removed after its grace period", label, ref,
                         extra={**fields, "node": ref})  # fmt: skip
            if _reservable(updated) != _reservable(known):
                self._nodes_changed(namespace)
            known = updated
            with self._lock:
                self._confirmed.add(key)
                self._failures[key] = failures = 0
        else:
            with self._lock:
                self._failures[key] = failures = self._failures.get(key, 0) + 1
            log.error("chassis=%s driver=%s poll failed: %s", label, result.driver, result.error,
                      extra={**fields, "reason": result.reason})  # fmt: skip
        self._metrics.set_reachable(label, result.ok)
        self._metrics.set_nodes(label, len(known))
        if result.inventory is not None:
            for warning in result.inventory.warnings:
                log.warning("chassis=%s driver=%s %s", label, result.driver, warning, extra=fields)
        if result.loss is not None:
            reason = "NodesLost" if result.loss.confirmed else "PartialAnswer"
            log.warning("chassis=%s driver=%s %s", label, result.driver, result.loss.message,
                        extra={**fields, "reason": reason})  # fmt: skip
        if failures:
            backoff = Backoff(initial=interval, maximum=self._settings.max_backoff, jitter=0.1)
            self._scheduler.delay(_job_id(key), backoff.delay(failures))
        self._write_status(obj, result, list(known.values()), failures, now)
        if result.loss is not None:
            reason = "NodesLost" if result.loss.confirmed else "PartialAnswer"
            try:
                self._writer.event(obj, reason=reason, message=result.loss.message, warning=True)
            except ChassisdError as exc:
                log.error("event for Chassis %s not written: %s", label, exc)

    # --- status -----------------------------------------------------------------------------

    def _write_status(
        self,
        obj: dict[str, Any],
        result: PollResult,
        nodes: list[KnownNode],
        failures: int,
        now: datetime,
    ) -> None:
        old = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        reachable, reason, message = _reachability(result)
        inventory_valid = not isinstance(result.error, ParseError)
        conditions = [
            condition(old, "Reachable", reachable, reason, message, generation, now),
            condition(
                old,
                "InventoryValid",
                inventory_valid,
                "Parsed" if inventory_valid else "ParseError",
                "" if inventory_valid else str(result.error),
                generation,
                now,
            ),
        ]
        lost = _nodes_lost(old, result, generation, now)
        if lost is not None:
            conditions.append(lost)
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": conditions,
            "consecutiveFailures": failures,
            "nodeCount": len(nodes),
            "nodes": [known_to_dict(k) for k in sorted(nodes, key=known_order)],
        }
        if result.inventory is not None:
            if result.inventory.model:
                status["model"] = result.inventory.model
            if result.inventory.firmware:
                status["firmware"] = result.inventory.firmware
        for name in ("lastPollTime", "lastSuccessTime"):
            if name in old:
                status[name] = old[name]
        stale = older_than(old.get("lastPollTime"), now, self._settings.status_heartbeat)
        if self._cache.status_digest(CHASSIS, key_of(obj)) == digest(status) and not stale:
            return
        status["lastPollTime"] = stamp(now)
        if result.ok:
            status["lastSuccessTime"] = stamp(now)
        self._write(obj, status)

    def read_back(self, key: Key) -> None:
        """A power action read a node's state back into the node memory: show it in the
        Chassis status now, not at the next poll."""
        obj = self._cache.get(CHASSIS, key)
        if obj is None:
            return
        known = sorted(self._memory.get(key).values(), key=known_order)
        status = {
            **(obj.get("status") or {}),
            "nodeCount": len(known),
            "nodes": [known_to_dict(k) for k in known],
        }
        if self._cache.status_digest(CHASSIS, key) != digest(status):
            self._write(obj, status)

    def _report_invalid(self, key: Key, obj: dict[str, Any]) -> None:
        try:
            parse_chassis(obj)
        except ConfigError as error:
            problem = str(error)
        else:
            return  # fixed meanwhile: the spec change reschedules it
        old = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        now = datetime.now(UTC)
        conditions = [condition(old, "Reachable", False, "InvalidSpec", problem, generation, now)]
        status = {**old, "observedGeneration": generation, "conditions": conditions}
        known = list(self._memory.get(key).values())
        if known:  # the cache holds no node list: write the remembered nodes back unchanged
            status["nodes"] = [known_to_dict(k) for k in sorted(known, key=known_order)]
        if self._cache.status_digest(CHASSIS, key) != digest(status):
            self._write(obj, status)

    def _write(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        try:
            self._writer.status(obj, status)
        except ChassisdError as exc:  # an API failure, or this replica stopped leading
            log.error("status of Chassis %s/%s not written: %s", *key_of(obj), exc)


def _job_id(key: Key) -> str:
    return f"poll:{key[0]}/{key[1]}"


def _reservable(known: dict[str, KnownNode]) -> set[tuple[str, str, tuple[str, ...]]]:
    """What of a chassis's nodes the reservations depend on: identity, name, MACs."""
    return {(ref, k.node.name, tuple(map(str, k.node.record.macs))) for ref, k in known.items()}


def _nodes_lost(
    old: dict[str, Any], result: PollResult, generation: Any, now: datetime
) -> dict[str, Any] | None:
    """The ``NodesLost`` condition: True while the last successful poll confirmed a mass
    disappearance; absent until one was first seen, so a quiet chassis's status stays as it was."""
    seen = any(c.get("type") == "NodesLost" for c in old.get("conditions") or [])
    loss = result.loss
    if loss is not None:
        reason = "ConfirmedBySecondSession" if loss.confirmed else "PartialAnswerIgnored"
        return condition(old, "NodesLost", loss.confirmed, reason, loss.message, generation, now)
    if not seen:
        return None
    previous: dict[str, Any] = next(c for c in old["conditions"] if c.get("type") == "NodesLost")
    if not result.ok:  # a failed poll says nothing about the nodes
        return previous
    return condition(old, "NodesLost", False, "NoMassLoss", "", generation, now)


def _reachability(result: PollResult) -> tuple[bool, str, str]:
    if result.ok:
        return True, "PollSucceeded", ""
    return False, result.reason, str(result.error)


def _result_label(result: PollResult) -> PollResultLabel:
    if result.ok:
        return "success"
    return "transient" if isinstance(result.error, TransientError) else "permanent"
