"""The power controller: carries out each PowerAction exactly once, or not at all.

Owns the PowerAction lifecycle, a state machine::

    Pending ──(deadline passed)──────────────> Expired     device never touched
    Pending ──(deleted / being deleted)──────> Cancelled   device never touched
    Pending ──(bad reference or action)──────> Failed      device never touched
    Pending ──(Running written AND confirmed)─> Running ──(sent)──> Succeeded | Failed | Unknown
    Running, not in this process's ledger ───> Unknown     never re-sent

The one rule: **nothing is sent unless the transition to Running has been written and
confirmed by the API server** — applied with the object's ``uid`` and ``resourceVersion`` as
preconditions, carrying this agent's identity and a fresh attempt id — and the answer shows the
object still exists, is not being deleted, and this replica still leads. What happens at each
step when something fails:

- *Running write fails* (API error, 5xx/429, dropped connection, RBAC denies the status
  subresource, 404 deleted, 409 changed): nothing is sent; the action stays Pending and is
  looked at again after a back-off — until its deadline, then it ends Expired. A write that
  reached etcd though its answer was lost shows up from the watch as Running with *our* attempt
  id, and the ledger knows nothing was sent: it goes on from there, still exactly once.
- *Crash after Running was written* (SIGKILL, node loss) or *leader change*: the next leader
  finds Running with an attempt it has no record of and ends it Unknown, never re-sent.
- *Final status write fails*: the outcome stays in the in-memory **ledger** (per uid) and the
  write is retried with back-off until it is persisted; the ledger is consulted before anything
  else, so a lagging watch or a stale cache can never cause a second send.

Fairness: one device conversation at a time per (namespace, chassis) — a worker never waits
for a busy chassis, it requeues the action; at most half the workers serve one namespace; a
chassis that nothing could reach fails its queued actions at once for a short while instead of
timing out one by one. The state read back is recorded in the node memory and the Chassis
status (``read_back``). Statuses go only through the writer, so the cache holds what was written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chassisd.cluster.cache import Key, ObjectCache, key_of
from chassisd.cluster.informer import Change
from chassisd.cluster.nodes import NodeMemory
from chassisd.cluster.powergate import PowerGate
from chassisd.cluster.powerledger import WRITE_BACKOFF, LedgerEntry, PowerLedger
from chassisd.cluster.settings import PowerControllerSettings
from chassisd.cluster.specs import NamespaceSpecs
from chassisd.cluster.status import PowerPhase, older_than, phase_of
from chassisd.cluster.workqueue import WorkQueue
from chassisd.cluster.writer import Writer
from chassisd.errors import ChassisdError, NodeRefError, TransientError
from chassisd.kube.gateway import POWERACTION
from chassisd.metrics import Metrics
from chassisd.model import Outcome, PowerAction, PowerState
from chassisd.noderef import NamedNode, resolve
from chassisd.power import PowerService
from chassisd.timestamps import parse_time, stamp

log = logging.getLogger(__name__)

_PHASE = {
    Outcome.SUCCEEDED: PowerPhase.SUCCEEDED,
    Outcome.FAILED: PowerPhase.FAILED,
    Outcome.UNKNOWN: PowerPhase.UNKNOWN,
}
DEFAULT_DEADLINE = 300  # seconds; the CRD's default for spec.deadlineSeconds
READ_STATE = "status"  # spec.action that only reads the node's power state
BUSY_REQUEUE = 0.2  # seconds before looking again at an action whose chassis is busy


class PowerController:
    """Takes PowerAction keys from its work queue and moves each along its lifecycle."""

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
        identity: str,
        synced: Callable[[], bool],
        read_back: Callable[[Key], None],
    ) -> None:
        self._cache = cache
        self._specs = specs
        self._memory = memory
        self._writer = writer
        self._service = service
        self._metrics = metrics
        self._settings = settings
        self._identity = identity
        self._synced = synced
        self._read_back = read_back
        self.queue: WorkQueue[Key] = WorkQueue("power")
        self._ledger = PowerLedger()
        self._gate = PowerGate(namespace_share=max(1, settings.workers // 2))

    # --- events -----------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Informer handler: look at a PowerAction whenever it changes (all after a list)."""
        if change.key is None:
            self.enqueue_all()
        elif change.new is not None:
            self.queue.add(change.key)
        elif change.old is not None:  # deleted: its ledger entry is of no more use
            self._ledger.forget(change.old["metadata"].get("uid", ""))

    def enqueue_all(self) -> None:
        """Look at every PowerAction now (a new leader starts work)."""
        for key in self._cache.items(POWERACTION):
            self.queue.add(key)

    def ledger_entry(self, uid: str) -> LedgerEntry | None:
        """What this process did with the action ``uid`` (tests and diagnostics)."""
        return self._ledger.get(uid)

    # --- the state machine --------------------------------------------------------------------

    def handle(self, key: Key) -> None:
        """Work-queue handler: move one PowerAction along its lifecycle."""
        if not self._writer.leading:
            return  # a new leader looks at every action when it starts
        if not self._synced():
            self.queue.add(key, after=0.5)
            return
        obj = self._cache.get(POWERACTION, key)
        if obj is None:
            return  # deleted: a pending action is never carried out
        uid = obj["metadata"].get("uid", "")
        entry = self._ledger.get(uid)
        phase = phase_of(obj)
        if entry is not None and entry.final is not None:
            if not entry.persisted:
                self._persist(key, obj, entry)
            elif phase.terminal:
                self._expire_later(key, obj)
            return
        if phase.terminal:
            self._expire_later(key, obj)
            return
        status = obj.get("status") or {}
        if phase is PowerPhase.RUNNING:
            ours = entry is not None and entry.made(status.get("attempt"))
            if ours and entry is not None and not entry.sent:
                self._send(key, obj, entry)  # our Running write reached etcd; nothing was sent
                return
            why = (
                "sent, but its outcome was not recorded; not re-sent"
                if ours
                else "chassisd restarted or lost leadership while carrying it out; not re-sent"
            )  # ours and sent: the send ended in an unexpected error; either way, maybe sent
            self._conclude(key, obj, PowerPhase.UNKNOWN, why, {}, entry)
            return
        self._start(key, obj, entry)

    def _start(self, key: Key, obj: dict[str, Any], entry: LedgerEntry | None) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            self._conclude(key, obj, PowerPhase.CANCELLED, "deleted before it started", {}, entry)
            return
        deadline = _deadline(obj)
        if deadline is not None and datetime.now(UTC) >= deadline:
            self._conclude(
                key, obj, PowerPhase.EXPIRED,
                f"not started within {_deadline_seconds(obj)} s of its creation; not sent",
                {}, entry,
            )  # fmt: skip
            return
        spec = obj.get("spec") or {}
        namespace = key[0]
        try:
            node = resolve(str(spec.get("node", "")), self._memory.of_namespace(namespace))
            _action(spec)
        except (NodeRefError, ValueError) as exc:
            self._conclude(key, obj, PowerPhase.FAILED, str(exc), {}, entry)
            return
        chassis = (namespace, node.chassis)
        hold = self._gate.unreachable(chassis)
        if hold:
            self._conclude(
                key, obj, PowerPhase.FAILED, f"not sent: {hold}", {"resolvedNode": node.ref},
                entry,
            )  # fmt: skip
            return
        if not self._gate.claim(chassis):
            self.queue.add(key, after=BUSY_REQUEUE)  # chassis or namespace busy: look again
            return
        try:
            entry = self._ledger.new_attempt(meta["uid"])
            started = stamp(datetime.now(UTC))
            running = {
                "phase": PowerPhase.RUNNING.value,
                "startTime": started,
                "agent": self._identity,
                "attempt": entry.attempt,
                "resolvedNode": node.ref,
            }
            try:
                answer = self._writer.status(
                    obj, running, uid=meta["uid"], resource_version=meta.get("resourceVersion")
                )
            except ChassisdError as exc:
                # Nothing is sent. If the write did reach etcd, the watch shows our attempt.
                log.warning("PowerAction %s/%s: Running not confirmed, not sent: %s",
                            *key, exc)  # fmt: skip
                self.queue.add(key, after=self._ledger.write_failed(entry))
                return
            if answer["metadata"].get("deletionTimestamp"):
                self._conclude(key, answer, PowerPhase.CANCELLED, "deleted before it started",
                               {"startTime": started}, entry)  # fmt: skip
                return
            self._send(key, answer, entry, node=node, claimed=True)
        finally:
            self._gate.release(chassis)

    def _send(
        self,
        key: Key,
        obj: dict[str, Any],
        entry: LedgerEntry,
        *,
        node: NamedNode | None = None,
        claimed: bool = False,
    ) -> None:
        namespace = key[0]
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        extra: dict[str, Any] = {
            k: status[k] for k in ("startTime", "agent", "attempt", "resolvedNode") if k in status
        }
        try:
            node = node or resolve(str(spec.get("node", "")), self._memory.of_namespace(namespace))
            action = _action(spec)
        except (NodeRefError, ValueError) as exc:
            self._conclude(key, obj, PowerPhase.FAILED, str(exc), extra, entry)
            return
        verb = action.value if action is not None else READ_STATE
        chassis_key = (namespace, node.chassis)
        if not claimed and not self._gate.claim(chassis_key):
            self.queue.add(key, after=BUSY_REQUEUE)
            return
        try:
            config, _ = self._specs.config(namespace)
            driver = ""
            try:
                chassis = config.chassis_named(node.chassis)
                routes = config.power_routes(chassis)
                driver = chassis.driver
                extra["driver"] = driver
                if not self._writer.leading:
                    self._conclude(key, obj, PowerPhase.FAILED,
                                   "this replica lost leadership before sending; not sent",
                                   extra, entry)  # fmt: skip
                    return
                self._ledger.mark_sent(entry)  # from here on, never again
                if action is None:  # only read the state: `chassisctl power status --live`
                    route = routes[0]
                    state = self._service.status(route.driver, route.target, node.record.id)
                    outcome, used, message = Outcome.SUCCEEDED, route.driver, ""
                else:
                    result = self._service.run_routes(routes, node.record.id, action)
                    outcome, state, used = result.outcome, result.state, result.driver
                    message = result.message
            except ChassisdError as exc:
                if isinstance(exc, TransientError):
                    self._gate.mark_unreachable(chassis_key, str(exc))
                self._metrics.count_power(verb, "failed", driver)
                self._conclude(key, obj, PowerPhase.FAILED, str(exc), extra, entry)
                return
        finally:
            if not claimed:
                self._gate.release(chassis_key)
        self._metrics.count_power(verb, outcome.value, used)
        extra.update(powerState=state.value, driver=used)
        if state is not PowerState.UNKNOWN and self._memory.record_power(
            (namespace, node.chassis), node.record.id, state
        ):
            self._read_back((namespace, node.chassis))
        self._conclude(key, obj, _PHASE[outcome], message, extra, entry)

    def _conclude(
        self,
        key: Key,
        obj: dict[str, Any],
        phase: PowerPhase,
        message: str,
        extra: Mapping[str, Any],
        entry: LedgerEntry | None,
    ) -> None:
        """Record the final status in the ledger, then persist it."""
        final = {
            **extra,
            "phase": phase.value,
            "message": message[:1024],
            "completionTime": stamp(datetime.now(UTC)),
        }
        entry = self._ledger.conclude(obj["metadata"].get("uid", ""), final)
        log.info("PowerAction %s/%s: %s %s", *key, phase.value, message)
        self._persist(key, obj, entry)

    def _persist(self, key: Key, obj: dict[str, Any], entry: LedgerEntry) -> None:
        assert entry.final is not None
        try:
            self._writer.status(obj, entry.final, uid=obj["metadata"].get("uid"))
        except ChassisdError as exc:
            if getattr(exc, "status", 0) == 404:
                self._ledger.persisted(entry)  # the object is gone: nothing left to record
                return
            delay = self._ledger.write_failed(entry)
            log.error("PowerAction %s/%s: final status not written, retrying in %.1f s: %s",
                      *key, delay, exc)  # fmt: skip
            self.queue.add(key, after=delay)
            return
        self._ledger.persisted(entry)
        self._record_event(obj, entry.final)
        self.queue.add(key, after=self._settings.ttl)

    def _record_event(self, obj: dict[str, Any], final: dict[str, Any]) -> None:
        """One Event per finished action, for `kubectl describe` and the audit trail; a lost
        Event is logged and otherwise ignored (the status holds the outcome)."""
        phase = final.get("phase", "")
        message = final.get("message") or f"{phase.lower()}; power {final.get('powerState', '?')}"
        try:
            self._writer.event(
                obj,
                reason=f"Power{phase}",
                message=f"{(obj.get('spec') or {}).get('action')} {final.get('resolvedNode') or ''}"
                f": {message}",
                warning=phase != PowerPhase.SUCCEEDED.value,
                action="Power",
            )
        except ChassisdError as exc:
            log.warning("PowerAction %s/%s: Event not recorded: %s", *key_of(obj), exc)

    def _expire_later(self, key: Key, obj: dict[str, Any]) -> None:
        """Delete a finished action once its TTL passed; look again then."""
        finished = (obj.get("status") or {}).get("completionTime")
        now = datetime.now(UTC)
        if older_than(finished, now, self._settings.ttl):
            try:
                self._writer.delete(POWERACTION, *key)
            except ChassisdError as exc:
                log.error("PowerAction %s/%s not deleted: %s", *key, exc)
                self.queue.add(key, after=WRITE_BACKOFF.maximum)
                return
            self._ledger.forget(obj["metadata"].get("uid", ""))
            return
        moment = parse_time(finished) or now
        left = (moment + timedelta(seconds=self._settings.ttl) - now).total_seconds()
        self.queue.add(key, after=left + 1)


def _action(spec: dict[str, Any]) -> PowerAction | None:
    """The action asked for; None for ``status`` (read the state, change nothing)."""
    text = spec.get("action")
    return None if text == READ_STATE else PowerAction(text)


def _deadline_seconds(obj: dict[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("deadlineSeconds")
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_DEADLINE


def _deadline(obj: dict[str, Any]) -> datetime | None:
    created = parse_time(obj["metadata"].get("creationTimestamp"))
    if created is None:
        return None
    return created + timedelta(seconds=_deadline_seconds(obj))
