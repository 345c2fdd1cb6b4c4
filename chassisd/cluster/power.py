"""The power controller: carries out PowerActions.

Owns the PowerAction lifecycle: a pending action is resolved to one node, marked ``Running``,
sent through the power service, and finished with its outcome, the state read back and the
driver used; an action found ``Running`` that this process did not start (a restart or a
leader change) ends ``Unknown`` and is never sent again; finished actions are deleted after
their TTL. Each action key is handled by one worker at a time (the work queue's rule); every
status goes through the writer, so the cache holds what was written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chassisd.cluster.cache import Key, ObjectCache
from chassisd.cluster.informer import Change
from chassisd.cluster.nodes import NodeMemory
from chassisd.cluster.settings import PowerControllerSettings
from chassisd.cluster.specs import NamespaceSpecs
from chassisd.cluster.status import PowerPhase, older_than, phase_of
from chassisd.cluster.workqueue import WorkQueue
from chassisd.cluster.writer import Writer
from chassisd.errors import ChassisdError, NodeRefError
from chassisd.kube.gateway import POWERACTION
from chassisd.metrics import Metrics
from chassisd.model import Outcome, PowerAction
from chassisd.noderef import resolve
from chassisd.power import PowerService
from chassisd.timestamps import parse_time, stamp

log = logging.getLogger(__name__)

_PHASE = {
    Outcome.SUCCEEDED: PowerPhase.SUCCEEDED,
    Outcome.FAILED: PowerPhase.FAILED,
    Outcome.UNKNOWN: PowerPhase.UNKNOWN,
}


class PowerController:
    """Takes PowerAction keys from its work queue and carries the actions out."""

    def __init__(
        self,
        cache: ObjectCache,
        specs: NamespaceSpecs,
        memory: NodeMemory,
        writer: Writer,
        service: PowerService,
        metrics: Metrics,
        settings: PowerControllerSettings,
        *,
        synced: Callable[[], bool],
    ) -> None:
        self._cache = cache
        self._specs = specs
        self._memory = memory
        self._writer = writer
        self._service = service
        self._metrics = metrics
        self._settings = settings
        self._synced = synced
        self.queue: WorkQueue[Key] = WorkQueue("power")
        self._lock = threading.Lock()
        self._started: set[Key] = set()  # actions this process marked Running

    def on_change(self, change: Change) -> None:
        """Informer handler: look at a PowerAction whenever it changes (all after a list)."""
        if change.key is None:
            self.enqueue_all()
        elif change.new is not None:
            self.queue.add(change.key)

    def enqueue_all(self) -> None:
        """Look at every PowerAction now (a new leader starts work)."""
        for key in self._cache.items(POWERACTION):
            self.queue.add(key)

    def handle(self, key: Key) -> None:
        """Work-queue handler: move one PowerAction along its lifecycle."""
        if not self._writer.leading:
            return
        if not self._synced():
            self.queue.add(key, after=0.5)
            return
        obj = self._cache.get(POWERACTION, key)
        if obj is None:
            return
        phase = phase_of(obj)
        if phase.terminal:
            self._expire(key, obj)
            return
        with self._lock:
            mine = key in self._started
        if phase is PowerPhase.RUNNING:
            if not mine:  # a previous run may have sent it: never send again
                self._finish(
                    obj,
                    PowerPhase.UNKNOWN,
                    "chassisd restarted while carrying it out; not re-sent",
                    {},
                )
            return
        if not mine:
            self._carry_out(key, obj)

    def _expire(self, key: Key, obj: dict[str, Any]) -> None:
        finished = (obj.get("status") or {}).get("completionTime")
        now = datetime.now(UTC)
        if older_than(finished, now, self._settings.ttl):
            try:
                self._writer.delete(POWERACTION, *key)
            except ChassisdError as exc:
                log.error("PowerAction %s/%s not deleted: %s", *key, exc)
            return
        moment = parse_time(finished) or now
        left = (moment + timedelta(seconds=self._settings.ttl) - now).total_seconds()
        self.queue.add(key, after=left + 1)

    def _carry_out(self, key: Key, obj: dict[str, Any]) -> None:
        namespace, _name = key
        spec = obj.get("spec") or {}
        started = stamp(datetime.now(UTC))
        with self._lock:
            self._started.add(key)
        try:
            self._writer.status(obj, {"phase": PowerPhase.RUNNING.value, "startTime": started})
        except ChassisdError as exc:
            log.error("PowerAction %s/%s: Running not written: %s", *key, exc)
        extra: dict[str, Any] = {"startTime": started}
        try:
            node = resolve(str(spec.get("node", "")), self._memory.of_namespace(namespace))
            action = PowerAction(spec.get("action"))
        except (NodeRefError, ValueError) as exc:
            self._finish(obj, PowerPhase.FAILED, str(exc), extra)
            return
        extra["resolvedNode"] = node.ref
        config, _ = self._specs.config(namespace)
        try:
            chassis = config.chassis_named(node.chassis)
            routes = config.power_routes(chassis)
            extra["driver"] = chassis.driver
            if not self._writer.leading:
                self._finish(
                    obj, PowerPhase.FAILED, "this replica lost leadership before sending", extra
                )
                return
            result = self._service.run_routes(routes, node.record.id, action)
        except ChassisdError as exc:
            self._metrics.count_power(action.value, "failed", extra.get("driver", ""))
            self._finish(obj, PowerPhase.FAILED, str(exc), extra)
            return
        self._metrics.count_power(action.value, result.outcome.value, result.driver)
        extra.update(powerState=result.state.value, driver=result.driver)
        self._finish(obj, _PHASE[result.outcome], result.message, extra)

    def _finish(
        self, obj: dict[str, Any], phase: PowerPhase, message: str, extra: Mapping[str, Any]
    ) -> None:
        status = {
            **extra,
            "phase": phase.value,
            "message": message[:1024],
            "completionTime": stamp(datetime.now(UTC)),
        }
        meta = obj["metadata"]
        try:
            self._writer.status(obj, status)
        except ChassisdError as exc:
            log.error(
                "PowerAction %s/%s: status not written: %s", meta["namespace"], meta["name"], exc
            )
        log.info("PowerAction %s/%s: %s %s", meta["namespace"], meta["name"], phase.value, message)
