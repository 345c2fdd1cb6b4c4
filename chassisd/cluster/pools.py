"""The pool reconciler: keeps each namespace's DhcpHosts, kubefarm ConfigMaps and NodePool
statuses in step with the known nodes.

Owns reconciling one namespace (a key of its work queue): plan its pools (``chassisd.reconcile``,
pure) from the node memory, apply the owned objects that differ, delete the owned objects
that must go, and write each NodePool's status, with an Event when a new conflict appears.
Rules: an established reservation keeps its MACs through a conflict (what each namespace's
last plan reserved is remembered, and read from the NodePool statuses after a start); only
what differs is written; an owned object is removed only when its pool or chassis
is gone, or this process itself polled the chassis and every node passed its grace period —
never because of a failed poll, an invalid edit or a restart. Only objects carrying the
ownership labels of the pool are applied or deleted (an unknown object is read before its first
apply; one that is somebody else's is that pool's Conflict, never overwritten). A failed write
requeues the namespace. Writes only through the writer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from chassisd.cluster.cache import ObjectCache, key_of
from chassisd.cluster.informer import Change
from chassisd.cluster.nodes import NodeMemory
from chassisd.cluster.owned import Owned, OwnedKey, OwnedObjects, not_owned_by, owned_key
from chassisd.cluster.settings import ReconcileSettings
from chassisd.cluster.specs import NamespaceSpecs
from chassisd.cluster.status import condition, digest, find_condition, summarize
from chassisd.cluster.workqueue import WorkQueue
from chassisd.cluster.writer import Writer
from chassisd.config import Config
from chassisd.errors import ChassisdError
from chassisd.kube.gateway import CHASSIS, CONFIGMAP, DHCPHOSTS, NODEPOOL, KubeGateway
from chassisd.metrics import Metrics
from chassisd.reconcile import (
    CHASSIS_LABEL,
    POOL_LABEL,
    Established,
    Host,
    PoolPlan,
    desired_objects,
    free_addresses,
    plan_pools,
    reserved_macs,
    reserved_names,
)

log = logging.getLogger(__name__)


class PoolReconciler:
    """Reconciles namespaces taken from its work queue."""

    def __init__(
        self,
        cache: ObjectCache,
        specs: NamespaceSpecs,
        memory: NodeMemory,
        writer: Writer,
        gateway: KubeGateway,
        metrics: Metrics,
        settings: ReconcileSettings,
        *,
        confirmed: Callable[[str], set[str]],
        synced: Callable[[], bool],
    ) -> None:
        self._cache = cache
        self._specs = specs
        self._memory = memory
        self._writer = writer
        self._metrics = metrics
        self._settings = settings
        self._confirmed = confirmed
        self._synced = synced
        self.queue: WorkQueue[str] = WorkQueue("reconcile")
        self._owned = OwnedObjects(gateway, settings.relist_interval)
        self._gateway = gateway
        # MAC → node key of each namespace's last plan: an established reservation keeps its
        # MAC through a conflict. Read once from the NodePool statuses (the cache holds them
        # without members), then kept from each plan.
        self._macs: dict[str, dict[str, str]] = {}
        # Per namespace, what its last plan reserved in each dnsmasq (DhcpTarget.key): one
        # dnsmasq may serve the pools of several namespaces, and names and MACs must be unique
        # across all of them.
        self._reserved: dict[str, dict[tuple[str, str], dict[str, str]]] = {}
        self._lock = threading.Lock()
        # Every namespace a namespace's pools write or wrote into (pools deleted while this
        # process runs included), so the objects of a removed pool are found and removed.
        self._targets: dict[str, set[str]] = {}
        self._applies = ThreadPoolExecutor(
            max_workers=settings.write_concurrency, thread_name_prefix="api-write"
        )

    def stop(self) -> None:
        """Wait for applies in flight."""
        self._applies.shutdown(wait=True)

    # --- events -----------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Informer handler (Chassis and NodePools): a spec change re-plans its namespace."""
        if change.key is None:
            self._specs.invalidate()
            self._owned.forget()  # a periodic relist: look at the owned objects again too
            self.enqueue_all()
        elif change.spec_changed:
            self._specs.invalidate(change.key[0])
            self.enqueue(change.key[0])

    def enqueue(self, namespace: str) -> None:
        """Reconcile ``namespace`` soon (changes within ``interval`` are batched)."""
        self.queue.add(namespace, after=self._settings.interval)

    def enqueue_all(self) -> None:
        """Reconcile every namespace that has Chassis or NodePools, now."""
        for namespace in self._cache.namespaces(*_KINDS):
            self.queue.add(namespace)

    # --- reconcile --------------------------------------------------------------------------

    def reconcile(self, namespace: str) -> None:
        """Work-queue handler: reconcile one namespace; requeue it if a write failed."""
        if not self._writer.leading:
            return  # a new leader reconciles every namespace when it starts
        if not self._synced():
            # Before every kind is listed a pool may look deleted: its objects would go.
            self.queue.add(namespace, after=self._settings.interval)
            return
        try:
            ok = self._reconcile(namespace)
        except ChassisdError as exc:
            log.error("namespace=%s reconcile failed, will retry: %s", namespace, exc)
            ok = False
        if not ok:
            with self._lock:
                targets = set(self._targets.get(namespace, set()))
            self._owned.forget(namespace, targets)  # look at what is really there next time
            self.queue.add(namespace, after=self._settings.interval)

    def _reconcile(self, namespace: str) -> bool:
        config, problems = self._specs.config(namespace)
        nodes = self._memory.of_namespace(namespace)
        pool_objs = {key[1]: o for key, o in self._cache.items(NODEPOOL, namespace).items()}
        previous = {
            name: dict((o.get("status") or {}).get("allocations") or {})
            for name, o in pool_objs.items()
        }
        established = Established(
            macs=self._established(namespace), elsewhere=self._elsewhere(namespace)
        )
        plans = plan_pools(config, nodes, previous, established, self._confirmed(namespace))
        self._remember(namespace, plans)
        targets = self._target_namespaces(namespace, plans, pool_objs)
        actual: dict[OwnedKey, Owned] = {}
        for target_ns in sorted(targets):
            actual.update(self._owned.in_namespace(namespace, target_ns))
        # Objects are built pool by pool and only those that differ are kept (a 1,000-chassis
        # farm has thousands, and holding them all would double the agent's memory).
        desired: dict[OwnedKey, str] = {}  # → the pool that writes it
        current: dict[OwnedKey, tuple[str, str, str]] = {}  # → (target ns, pool, chassis)
        written: dict[str, list[dict[str, str]]] = {}
        refused: dict[str, list[str]] = {}
        changed: list[tuple[str, dict[str, Any], Owned | None]] = []
        for pool_name, items, not_written in desired_objects(plans, pool_namespace=namespace):
            refused[pool_name] = not_written
            for item in items:
                obj, key = item.obj, item.key
                desired[key] = pool_name
                chassis = obj["metadata"]["labels"].get(CHASSIS_LABEL)
                if chassis is not None:
                    current[key] = (key[1], pool_name, chassis)
                live = actual.get(key)
                if live is None or not live.carries(obj):
                    changed.append((pool_name, obj, live))
        # Applies go out a few at a time: a first sweep of a large farm writes thousands.
        outcomes = list(self._applies.map(lambda c: self._apply(namespace, *c), changed))
        ok = all(result for result, _ in outcomes)
        for (pool_name, obj, _live), (_, foreign) in zip(changed, outcomes, strict=True):
            if foreign:  # not this pool's: not written, and not this pool's to keep or remove
                refused[pool_name].append(foreign)
                key = owned_key(obj)
                desired.pop(key, None)
                current.pop(key, None)
        for key, pool_name in desired.items():
            written.setdefault(pool_name, []).append(
                {"apiVersion": _API_VERSIONS[key[0]], "kind": key[0], "namespace": key[1],
                 "name": key[2]}
            )  # fmt: skip
        # An object under an older name for a (pool, chassis) that now has its current one
        # goes once the current one is written (an upgrade leaves no orphaned DhcpHosts).
        superseded = set(current.values()) if ok else set()
        ok &= self._remove_stale(namespace, config, pool_objs, actual, set(desired), superseded)
        live_pools = {p.name for p in config.pools}
        for plan in plans:
            name = plan.pool.name
            ok &= self._write_status(
                pool_objs.get(name),
                plan,
                written.get(name, []),
                problems.get(name, ""),
                refused.get(name, []),
            )
        for name, problem in problems.items():
            if name not in live_pools and name in pool_objs:
                ok &= self._write_status(pool_objs[name], None, [], problem)
        return ok

    def _established(self, namespace: str) -> dict[str, str]:
        with self._lock:
            held = self._macs.get(namespace)
        if held is None:
            items, _ = self._gateway.list(NODEPOOL, namespace)
            held = _reserved_macs({o["metadata"]["name"]: o for o in items})
        return held

    def _elsewhere(self, namespace: str) -> dict[tuple[str, str], dict[str, str]]:
        """What the pools of other namespaces reserve in each dnsmasq. Where both this
        namespace and another already hold the same name or MAC, the namespace first by name
        keeps it (the other leaves it out), so the two converge; otherwise the one that holds
        it keeps it."""
        with self._lock:
            mine = self._reserved.get(namespace, {})
            others = sorted((ns, held) for ns, held in self._reserved.items() if ns != namespace)
        result: dict[tuple[str, str], dict[str, str]] = {}
        for other_ns, held in others:
            for target, entries in held.items():
                out = result.setdefault(target, {})
                for key, holder in entries.items():
                    if key in mine.get(target, {}) and namespace < other_ns:
                        continue
                    out.setdefault(key, f"{holder} of namespace {other_ns}")
        return result

    def _remember(self, namespace: str, plans: tuple[PoolPlan, ...]) -> None:
        """Keep what this plan reserved; re-plan the namespaces sharing a dnsmasq if it changed."""
        reserved = reserved_names(plans)
        with self._lock:
            self._macs[namespace] = reserved_macs(plans)
            before = self._reserved.get(namespace, {})
            self._reserved[namespace] = reserved
            targets = set(before) | set(reserved)
            sharing = {
                ns for ns, held in self._reserved.items() if ns != namespace and targets & set(held)
            }
        if before != reserved:
            for other in sorted(sharing):
                self.enqueue(other)

    def _target_namespaces(
        self, namespace: str, plans: tuple[PoolPlan, ...], pool_objs: dict[str, dict[str, Any]]
    ) -> set[str]:
        with self._lock:
            targets = self._targets.setdefault(namespace, set())
            for plan in plans:
                targets.add(plan.pool.dhcp.namespace)
                if plan.pool.kubefarm is not None:
                    targets.add(plan.pool.kubefarm.namespace or plan.pool.dhcp.namespace)
            targets.update(
                ref["namespace"]
                for o in pool_objs.values()
                for ref in (o.get("status") or {}).get("written") or []
            )
            return set(targets)

    def _remove_stale(
        self,
        namespace: str,
        config: Config,
        pool_objs: dict[str, dict[str, Any]],
        actual: dict[OwnedKey, Owned],
        desired: set[OwnedKey],
        superseded: set[tuple[str, str, str]],
    ) -> bool:
        live_pools = {p.name for p in config.pools}
        chassis_names = {c.name for c in config.chassis}
        confirmed = self._confirmed(namespace)
        ok = True
        for key, item in sorted(actual.items()):
            if key in desired:
                continue
            pool = item.labels.get(POOL_LABEL, "")
            chassis = item.labels.get(CHASSIS_LABEL, "")
            gone = pool not in pool_objs or (pool in live_pools and chassis not in chassis_names)
            emptied = pool in live_pools and chassis in confirmed
            renamed = bool(chassis) and (key[1], pool, chassis) in superseded
            if gone or emptied or renamed:
                ok &= self._delete(namespace, key, pool)
        return ok

    def _apply(
        self, namespace: str, pool: str, obj: dict[str, Any], live: Owned | None
    ) -> tuple[bool, str]:
        """Apply ``obj`` for ``pool`` unless the object there is not that pool's: (whether
        nothing failed, why it is not this pool's to write or "")."""
        key = owned_key(obj)
        try:
            if live is None:
                # Not among the objects this namespace's pools own: look before the first
                # apply, so nobody else's object (a kubefarm release's ConfigMap) is taken.
                found = self._gateway.get(_KIND_OF[key[0]], key[1], key[2])
                labels = (found or {}).get("metadata", {}).get("labels") or {}
                why = "" if found is None else not_owned_by(labels, namespace, pool)
            else:
                why = not_owned_by(live.labels, namespace, pool)
            if why:
                return True, f"{key[0]} {key[1]}/{key[2]} exists and {why}: not written"
            self._owned.written(namespace, self._writer.apply(obj))
        except ChassisdError as exc:
            log.error("namespace=%s apply failed: %s", namespace, exc)
            return False, ""
        return True, ""

    def _delete(self, namespace: str, key: OwnedKey, pool: str) -> bool:
        """Delete an object ``pool`` owns; one no longer labelled as its is left alone."""
        kind = _KIND_OF[key[0]]
        try:
            found = self._gateway.get(kind, key[1], key[2])
            if found is not None:
                meta = found["metadata"]
                why = not_owned_by(meta.get("labels") or {}, namespace, pool)
                if why:
                    log.warning("namespace=%s not deleting %s %s/%s: it %s", namespace,
                                key[0], key[1], key[2], why)  # fmt: skip
                else:
                    # Exactly the object looked at: a change since fails with 409 (retried).
                    self._writer.delete(
                        kind, key[1], key[2], resource_version=meta.get("resourceVersion")
                    )
        except ChassisdError as exc:
            log.error("namespace=%s delete failed: %s", namespace, exc)
            return False
        self._owned.deleted(namespace, key)
        return True

    # --- NodePool status --------------------------------------------------------------------

    def _write_status(
        self,
        obj: dict[str, Any] | None,
        plan: PoolPlan | None,
        written: list[dict[str, str]],
        problem: str,
        refused: list[str] | None = None,
    ) -> bool:
        if obj is None:
            return True
        now = datetime.now(UTC)
        old = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        conflicts = [*(plan.conflicts if plan else ()), *(refused or ())]
        unmatched = plan.unmatched if plan else ()
        ready_reason, _, ready_message = problem.partition(": ")
        conditions = [
            condition(
                old,
                "Ready",
                not problem,
                ready_reason or "Reconciled",
                ready_message,
                generation,
                now,
            ),
            condition(
                old,
                "Conflict",
                bool(conflicts),
                "Conflict" if conflicts else "NoConflict",
                summarize(conflicts),
                generation,
                now,
            ),
            condition(
                old,
                "MembersUnmatched",
                bool(unmatched),
                "MembersUnmatched" if unmatched else "AllMatched",
                _unmatched_message(unmatched),
                generation,
                now,
            ),
        ]
        members = [_member(host) for host in plan.hosts] if plan is not None else []
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": conditions,
            "memberCount": len(members),
            "members": members,
            "allocations": dict(sorted((plan.allocations if plan else {}).items())),
            "written": sorted(written, key=lambda r: (r["kind"], r["namespace"], r["name"])),
        }
        pool_label = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        self._metrics.set_pool(
            obj["metadata"]["name"],
            members=len(members),
            conflicts=len(conflicts),
            free=free_addresses(plan) if plan is not None else None,
            namespace=obj["metadata"]["namespace"],
        )
        if self._cache.status_digest(NODEPOOL, key_of(obj)) == digest(status):
            return True
        told = {kind: find_condition(old, kind).get("message") for kind in _WARNINGS}
        try:
            self._writer.status(obj, status)
            for kind, current in zip(_WARNINGS, conditions[1:], strict=True):
                message = current["message"]
                if current["status"] == "True" and told[kind] != message:
                    self._writer.event(obj, reason=kind, message=message, warning=True)
        except ChassisdError as exc:
            log.error("status of NodePool %s not written: %s", pool_label, exc)
            return False
        return True


_KINDS = (CHASSIS, NODEPOOL)
_WARNINGS = ("Conflict", "MembersUnmatched")  # the conditions that raise a Warning Event
_KIND_OF = {DHCPHOSTS.kind: DHCPHOSTS, CONFIGMAP.kind: CONFIGMAP}
_API_VERSIONS = {kind: k.api_version for kind, k in _KIND_OF.items()}


def _unmatched_message(unmatched: tuple[str, ...]) -> str:
    if not unmatched:
        return ""
    return "member ids that match no node of their (successfully polled) chassis: " + ", ".join(
        unmatched
    )


def _reserved_macs(pool_objs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """MAC → ``chassis/id`` of the reservations the NodePool statuses record (pools in name
    order): what an established reservation keeps through a conflict."""
    held: dict[str, str] = {}
    for _name, obj in sorted(pool_objs.items()):
        for member in (obj.get("status") or {}).get("members") or []:
            for mac in member.get("macs") or []:
                held.setdefault(mac, f"{member.get('chassis')}/{member.get('id')}")
    return held


def _member(host: Host) -> dict[str, Any]:
    chassis, _, node_id = host.key.partition("/")
    member: dict[str, Any] = {
        "node": host.hostname,
        "chassis": chassis,
        "id": node_id,
        "macs": list(host.macs),
        "hostname": host.hostname,
    }
    if host.ip:
        member["ip"] = host.ip
    return member
