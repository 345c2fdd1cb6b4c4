"""The pool reconciler: keeps each namespace's DhcpHosts, kubefarm ConfigMaps and NodePool
statuses in step with the known nodes.

Owns reconciling one namespace (a key of its work queue): plan its pools (``chassisd.planner``,
pure and incremental: the node memory says which chassis changed since the last reconcile, and
only the pools they feed are planned again) from the node memory, apply the owned objects that
differ, delete the owned objects that must go, and write each NodePool's status, with an Event
when a new conflict appears. After one chassis changed, only the objects and statuses of the
pools whose plan changed are built and compared (of the catch-all, only that chassis's
object); a start, a spec change, a periodic relist or a failed write makes the next reconcile
compare everything again.
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
import time
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
from chassisd.config import Config, NodePoolSpec
from chassisd.errors import ChassisdError
from chassisd.kube.gateway import CHASSIS, CONFIGMAP, DHCPHOSTS, NODEPOOL, KubeGateway
from chassisd.metrics import Metrics
from chassisd.noderef import NamedNode
from chassisd.planner import PlanChange, PoolPlanner
from chassisd.reconcile import (
    CHASSIS_LABEL,
    POOL_LABEL,
    Established,
    Host,
    PoolPlan,
    desired_objects,
    dhcphosts_name,
    dhcphosts_objects,
    free_addresses,
    kubefarm_configmap,
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
        # Each namespace's plan, updated as its chassis change. Its MACs (node key of each
        # reservation) are the next plan's established ones: an established reservation keeps
        # its MAC through a conflict. At the first plan they are read from the NodePool
        # statuses (the cache holds them without members).
        self._planners: dict[str, PoolPlanner] = {}
        # Namespaces whose next reconcile compares every object and status (not only what
        # the plan changed): after a start, a failed write, a relist.
        self._compare_all: set[str] = set()
        # Objects a pool may not write because they are somebody else's, as last found.
        self._foreign: dict[tuple[str, str], dict[OwnedKey, str]] = {}
        # Per namespace, what its last plan reserved in each dnsmasq (DhcpTarget.key): one
        # dnsmasq may serve the pools of several namespaces, and names and MACs must be unique
        # across all of them. Built from the plan when another namespace asks (None: stale).
        self._reserved: dict[str, dict[tuple[str, str], dict[str, str]] | None] = {}
        self._dnsmasqs: dict[str, set[tuple[str, str]]] = {}  # the dnsmasqs each one feeds
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
        """Reconcile every namespace that has Chassis or NodePools, now, comparing every
        object (a new leader, a relist: somebody else may have written meanwhile)."""
        with self._lock:
            self._compare_all.update(self._planners)
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
        started = time.thread_time()
        full = True
        try:
            ok, full = self._reconcile(namespace)
        except ChassisdError as exc:
            log.error("namespace=%s reconcile failed, will retry: %s", namespace, exc)
            ok = False
        self._metrics.observe_reconcile(time.thread_time() - started, full=full)
        if not ok:
            with self._lock:
                self._compare_all.add(namespace)
            with self._lock:
                targets = set(self._targets.get(namespace, set()))
            self._owned.forget(namespace, targets)  # look at what is really there next time
            self.queue.add(namespace, after=self._settings.interval)

    def _reconcile(self, namespace: str) -> tuple[bool, bool]:
        """(whether every write went through, whether everything was compared)."""
        config, problems = self._specs.config(namespace)
        changed = self._memory.take_changed(namespace)
        pool_objs = {key[1]: o for key, o in self._cache.items(NODEPOOL, namespace).items()}
        # The status's own map, not a copy: the planner sees at once whether it is the same.
        previous = {
            name: (o.get("status") or {}).get("allocations") or {} for name, o in pool_objs.items()
        }
        planner, change = self._plan(namespace, config, changed, previous)
        with self._lock:
            compare_all = change is None or namespace in self._compare_all
            self._compare_all.discard(namespace)
        self._remember(namespace, config, change)
        if compare_all:
            ok = self._sync_all(namespace, config, problems, planner.plans(), pool_objs)
        else:
            assert change is not None  # compare_all is True without one
            ok = self._sync_changed(namespace, config, problems, planner, change, pool_objs)
        return ok, compare_all

    def _plan(
        self,
        namespace: str,
        config: Config,
        changed: set[str],
        previous: dict[str, Any],
    ) -> tuple[PoolPlanner, PlanChange | None]:
        """Update the namespace's plan after ``changed`` chassis changed; plan it whole the
        first time and after a spec change (no ``PlanChange`` then: everything may differ)."""
        with self._lock:
            planner = self._planners.get(namespace)
        elsewhere = self._elsewhere(namespace)
        polled = self._confirmed(namespace)
        if planner is not None and planner.config is not config and planner.config == config:
            planner.config = config  # parsed again (a relist), and the same: plan on from it
        if planner is not None and planner.config is config:
            nodes = {c: self._memory.nodes_of((namespace, c)) for c in changed}
            try:
                return planner, planner.update(nodes, previous, elsewhere, polled)
            except ValueError:  # the catch-all's remembered addresses changed: plan it whole
                pass
        macs = planner.reserved_macs() if planner is not None else self._established(namespace)
        by_chassis: dict[str, list[NamedNode]] = {}
        for node in self._memory.of_namespace(namespace):
            by_chassis.setdefault(node.chassis, []).append(node)
        planner = PoolPlanner(
            config, by_chassis, previous, Established(macs=macs, elsewhere=elsewhere), polled
        )
        with self._lock:
            self._planners[namespace] = planner
        return planner, None

    def _sync_all(
        self,
        namespace: str,
        config: Config,
        problems: dict[str, str],
        plans: tuple[PoolPlan, ...],
        pool_objs: dict[str, dict[str, Any]],
    ) -> bool:
        """Compare and write every object and status of the namespace."""
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
        with self._lock:
            for pool in config.pools:
                self._foreign.pop((namespace, pool.name), None)
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
                with self._lock:
                    self._foreign.setdefault((namespace, pool_name), {})[key] = foreign
        for key, pool_name in desired.items():
            written.setdefault(pool_name, []).append(_ref(key))
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

    def _sync_changed(
        self,
        namespace: str,
        config: Config,
        problems: dict[str, str],
        planner: PoolPlanner,
        change: PlanChange,
        pool_objs: dict[str, dict[str, Any]],
    ) -> bool:
        """Compare and write only what the plan changed: the objects of the (pool, chassis)
        pairs whose hosts changed (and the pool's kubefarm ConfigMap), and the statuses of the
        pools whose plan changed."""
        pools = {p.name: p for p in config.pools}
        holders = _configmap_holders(config)
        ok = True
        for name in sorted(change.pools | set(change.chassis)):
            pool = pools[name]
            plan = planner.plan_of(name)
            moved = sorted(change.chassis.get(name, ()))
            objs: list[dict[str, Any]] = []
            for chassis in moved:
                part = PoolPlan(pool, planner.hosts_on(name, chassis), (), {})
                objs += dhcphosts_objects(part, pool_namespace=namespace)
            configmap = kubefarm_configmap(plan, pool_namespace=namespace) if moved else None
            refused = [
                f"{kind} {ns}/{obj_name} is written by pool {holders[(kind, ns, obj_name)]!r}, "
                "not written"
                for kind, ns, obj_name in _configmap_keys(pool)
                if holders[(kind, ns, obj_name)] != name
            ]
            if configmap is not None and holders[owned_key(configmap)] == name:
                objs.append(configmap)
            actual: dict[OwnedKey, Owned] = {}
            for target_ns in sorted({o["metadata"]["namespace"] for o in objs}
                                    | {pool.dhcp.namespace}):  # fmt: skip
                actual.update(self._owned.in_namespace(namespace, target_ns))
            changed = [
                (name, obj, live)
                for obj in objs
                if (live := actual.get(owned_key(obj))) is None or not live.carries(obj)
            ]
            outcomes = list(self._applies.map(lambda c: self._apply(namespace, *c), changed))
            ok &= all(result for result, _ in outcomes)
            with self._lock:
                foreign = self._foreign.setdefault((namespace, name), {})
                for obj in objs:
                    foreign.pop(owned_key(obj), None)
                for (_, obj, _live), (_, why) in zip(changed, outcomes, strict=True):
                    if why:
                        foreign[owned_key(obj)] = why
                refused += foreign.values()
                mine = set(foreign)
            desired = {owned_key(o) for o in objs} - mine
            gone = {
                key: actual[key]
                for chassis in moved
                if (key := _dhcphosts_key(pool, chassis, namespace)) in actual
            }
            ok &= self._remove_stale(namespace, config, pool_objs, gone, desired, set())
            written = [
                _ref(key)
                for chassis in sorted({h.chassis for h in plan.hosts})
                if (key := _dhcphosts_key(pool, chassis, namespace)) not in mine
            ]
            written += [
                _ref(k) for k in _configmap_keys(pool) if holders[k] == name and k not in mine
            ]
            if name in change.pools or moved:
                ok &= self._write_status(
                    pool_objs.get(name), plan, written, problems.get(name, ""), refused
                )
        return ok

    def _established(self, namespace: str) -> dict[str, str]:
        items, _ = self._gateway.list(NODEPOOL, namespace)
        return _reserved_macs({o["metadata"]["name"]: o for o in items})

    def _elsewhere(self, namespace: str) -> dict[tuple[str, str], dict[str, str]]:
        """What the pools of other namespaces reserve in each dnsmasq. Where both this
        namespace and another already hold the same name or MAC, the namespace first by name
        keeps it (the other leaves it out), so the two converge; otherwise the one that holds
        it keeps it."""
        with self._lock:
            mine_dnsmasqs = self._dnsmasqs.get(namespace, set())
            names = sorted(ns for ns in self._dnsmasqs if ns != namespace)
        if not names:
            return {}  # one namespace: nobody else reserves anything (the usual farm)
        mine = self._reserved_names(namespace) if mine_dnsmasqs else {}
        others = [(ns, self._reserved_names(ns)) for ns in names]
        result: dict[tuple[str, str], dict[str, str]] = {}
        for other_ns, held in others:
            for target, entries in held.items():
                out = result.setdefault(target, {})
                for key, holder in entries.items():
                    if key in mine.get(target, {}) and namespace < other_ns:
                        continue
                    out.setdefault(key, f"{holder} of namespace {other_ns}")
        return result

    def _remember(self, namespace: str, config: Config, change: PlanChange | None) -> None:
        """Note what this plan reserved; re-plan the namespaces sharing a dnsmasq if it changed."""
        if change is not None and not change.reservations:
            return
        dnsmasqs = {p.dhcp.key for p in config.pools}
        with self._lock:
            before = self._reserved.get(namespace)
            was = self._dnsmasqs.get(namespace, set())
            self._dnsmasqs[namespace] = dnsmasqs
            self._reserved[namespace] = None
            sharing = {
                ns for ns, held in self._dnsmasqs.items()
                if ns != namespace and (dnsmasqs | was) & held
            }  # fmt: skip
        if sharing and before != self._reserved_names(namespace):
            for other in sorted(sharing):
                self.enqueue(other)

    def _reserved_names(self, namespace: str) -> dict[tuple[str, str], dict[str, str]]:
        """What a namespace's plan reserves in each dnsmasq (built when first asked)."""
        with self._lock:
            held = self._reserved.get(namespace)
            planner = self._planners.get(namespace)
        if held is None:
            held = reserved_names(planner.plans()) if planner is not None else {}
            with self._lock:
                self._reserved[namespace] = held
        return held

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


def _ref(key: OwnedKey) -> dict[str, str]:
    """An object as a NodePool status's ``written`` list names it."""
    return {"apiVersion": _API_VERSIONS[key[0]], "kind": key[0], "namespace": key[1],
            "name": key[2]}  # fmt: skip


def _dhcphosts_key(pool: NodePoolSpec, chassis: str, namespace: str) -> OwnedKey:
    name = dhcphosts_name(pool.name, chassis, pool_namespace=namespace)
    return DHCPHOSTS.kind, pool.dhcp.namespace, name


def _configmap_keys(pool: NodePoolSpec) -> list[OwnedKey]:
    """The kubefarm ConfigMap a pool writes, if it has one."""
    output = pool.kubefarm
    if output is None:
        return []
    return [(CONFIGMAP.kind, output.namespace or pool.dhcp.namespace, output.config_map)]


def _configmap_holders(config: Config) -> dict[OwnedKey, str]:
    """Which pool writes each kubefarm ConfigMap: the first by name (as ``desired_objects``)."""
    holders: dict[OwnedKey, str] = {}
    for pool in sorted(config.pools, key=lambda p: p.name):
        for key in _configmap_keys(pool):
            holders.setdefault(key, pool.name)
    return holders


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
