"""Cluster mode: follow Chassis, NodePool and PowerAction objects and keep DhcpHosts right.

Owns the agent's loop in a cluster: caches of the three kinds (list, then watch, relisting
when a watch ends), one scheduler job per chassis (jitter, back-off while it fails), the
memory of known nodes (kept in each Chassis's status so a restart forgets nothing), the
reconcile step per namespace (at most every ``reconcile_interval``), and PowerActions.

Rules it keeps: a failed poll changes no reservation; a node a successful poll no longer
reports keeps its reservation until its pool's grace period has passed; nothing is written when
nothing changed (objects are compared before writing); objects chassisd does not own are never
touched; only the leader polls, writes and powers. Talks to Kubernetes only through
``KubeGateway`` and to devices only through the poller and the power service.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chassisd.config import ChassisSpec, Config, NodePoolSpec, parse_object
from chassisd.errors import (
    AuthError,
    ChassisdError,
    ConfigError,
    NodeRefError,
    ParseError,
    TransientError,
    TrustError,
)
from chassisd.farm import name_nodes
from chassisd.kube.gateway import (
    CHASSIS,
    CONFIGMAP,
    DHCPHOSTS,
    NODEPOOL,
    POWERACTION,
    Kind,
    KubeApiError,
    KubeGateway,
)
from chassisd.metrics import Metrics, PollResultLabel
from chassisd.model import Outcome, PowerAction
from chassisd.noderef import NamedNode, node_from_dict, node_to_dict, resolve
from chassisd.poller import PollResult, RetryPolicy, poll_chassis
from chassisd.power import PowerService
from chassisd.reconcile import (
    CHASSIS_LABEL,
    POOL_LABEL,
    POOL_NAMESPACE_LABEL,
    KnownNode,
    PoolPlan,
    dhcphosts_objects,
    kubefarm_configmap,
    plan_pools,
    remember,
)
from chassisd.registry import Registry
from chassisd.scheduler import JobScheduler

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Unknown"})
POLL_JITTER = 0.05  # share of a chassis's poll interval taken off at random from each wait


@dataclass(frozen=True)
class AgentSettings:
    """Cluster-mode settings (seconds unless said otherwise)."""

    namespace: str | None = None  # None: every namespace
    workers: int = 16  # chassis polled at once: each poll is one mostly-waiting device session
    power_workers: int = 4  # power requests carried out at once (one per chassis at a time)
    write_concurrency: int = 4  # DhcpHosts/ConfigMap applies in flight at once in a reconcile
    secret_ttl: float = 30.0  # a Secret read for a poll is used this long before reading again
    relist_interval: int = 300  # a watch is restarted with a fresh list this often (safety net)
    reconcile_interval: float = 2.0  # pools of a namespace are reconciled at most this often
    status_heartbeat: float = 600.0  # refresh lastPollTime/lastSuccessTime even if unchanged
    backoff_max: float = 1800.0  # longest wait before polling a failing chassis again
    power_ttl: float = 3600.0  # finished PowerActions are deleted this long after finishing
    retry: RetryPolicy = RetryPolicy()


class ClusterAgent:
    """The cluster-mode agent. ``start`` it; ``stop`` it; ``may_act`` says if it leads."""

    def __init__(
        self,
        gateway: KubeGateway,
        registry: Registry,
        metrics: Metrics,
        settings: AgentSettings = AgentSettings(),
        *,
        may_act: Callable[[], bool] = lambda: True,
        power: PowerService | None = None,
    ) -> None:
        self._gw = gateway
        self._registry = registry
        self._metrics = metrics
        self._settings = settings
        self.may_act = may_act
        self._power = power or PowerService(registry)
        self._lock = threading.RLock()
        self._objects: dict[Kind, dict[Key, dict[str, Any]]] = {
            CHASSIS: {},
            NODEPOOL: {},
            POWERACTION: {},
        }
        # Digest of each cached object's full status: the cache keeps Chassis and NodePool
        # objects without their node lists (45,000 nodes are held once, in _known).
        self._digests: dict[tuple[Kind, Key], bytes] = {}
        # Owned DhcpHosts/ConfigMaps per (pool namespace, target namespace), as last listed or
        # written, with the time of the list: reconcile compares against this, not a fresh
        # list every round.
        self._owned: dict[Key, tuple[float, dict[tuple[str, str, str], _Owned]]] = {}
        self._synced: set[Kind] = set()
        # What is known, per chassis (namespace, name) → chassis/id → node. Per chassis so one
        # poll touches only its own nodes (a 1,000-chassis farm has 45,000).
        self._known: dict[Key, dict[str, KnownNode]] = {}
        self._configs: dict[str, tuple[Config, dict[str, str]]] = {}  # parsed, per namespace
        self._memory_loaded: set[Key] = set()  # chassis whose status nodes are in _known
        self._failures: dict[Key, int] = {}
        self._confirmed: set[Key] = set()  # chassis polled successfully by this process
        self._target_namespaces: dict[str, set[str]] = {}  # namespace → where its pools write
        self._scheduled: dict[Key, tuple[Any, ...]] = {}  # chassis → (generation, interval)
        self._dirty: set[str] = set()
        self._running_actions: set[Key] = set()
        self._scheduler = JobScheduler(workers=settings.workers)
        self._power_pool = ThreadPoolExecutor(max_workers=settings.power_workers)
        self._secrets = SecretCache(gateway, settings.secret_ttl)
        self._write_pool = ThreadPoolExecutor(
            max_workers=settings.write_concurrency, thread_name_prefix="api-write"
        )
        self._stop = threading.Event()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start following the API and the scheduler's housekeeping jobs."""
        for kind in (CHASSIS, NODEPOOL, POWERACTION):
            thread = threading.Thread(target=self._follow, args=(kind,), daemon=True,
                                      name=f"watch-{kind.kind}")  # fmt: skip
            thread.start()
        self._scheduler.start()
        self._scheduler.every(
            "reconcile",
            self._reconcile_dirty,
            seconds=self._settings.reconcile_interval,
            housekeeping=True,
        )
        self._scheduler.every("power", self._power_tick, seconds=0.5, housekeeping=True)

    def stop(self) -> None:
        """Stop the jobs and wait for running work. Watch threads are daemons that end when
        their current watch does (at most ``relist_interval``); they change nothing after stop."""
        self._stop.set()
        self._scheduler.shutdown()
        self._power_pool.shutdown(wait=True)
        self._write_pool.shutdown(wait=True)

    def kick(self) -> None:
        """Poll every chassis and reconcile every namespace soon (a new leader starts work)."""
        for key in list(self._scheduled):
            self._scheduler.delay(_job_id(key), random.uniform(0, 2))  # noqa: S311 - jitter
        with self._lock:
            self._dirty.update(ns for ns, _ in self._objects[CHASSIS])
            self._dirty.update(ns for ns, _ in self._objects[NODEPOOL])

    @property
    def synced(self) -> bool:
        """True once all three kinds have been listed."""
        return len(self._synced) == 3

    # --- following the API --------------------------------------------------------------------

    def _follow(self, kind: Kind) -> None:
        """List, then watch until the watch ends, forever; errors wait and start over."""
        delay = 1.0
        while not self._stop.is_set():
            try:
                items, version = self._gw.list(kind, self._settings.namespace)
                with self._lock:
                    self._objects[kind] = {}
                    for item in items:
                        self._store(kind, item)
                    self._synced.add(kind)
                self._changed(kind, None)
                delay = 1.0
                for event, obj in self._gw.watch(
                    kind, self._settings.namespace, version, self._settings.relist_interval
                ):
                    if self._stop.is_set():
                        return
                    key = _key(obj)
                    with self._lock:
                        if event == "DELETED":
                            old = self._objects[kind].pop(key, None)
                            self._digests.pop((kind, key), None)
                        else:
                            old = self._objects[kind].get(key)
                            if old is not None and _older(obj, old):
                                continue  # we already hold what our own write returned
                            self._store(kind, obj)
                    # Our own status writes come back as events: only spec changes matter.
                    if old is None or event == "DELETED" or _generation(old) != _generation(obj):
                        self._changed(kind, key)
            except KubeApiError as exc:
                log.warning("following %s failed, retrying in %.0f s: %s", kind.kind, delay, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def _store(self, kind: Kind, obj: dict[str, Any]) -> None:
        """Cache ``obj`` (call with the lock held): without managedFields, and for Chassis and
        NodePools without the node lists of their status, kept as a digest of the full status.
        A Chassis seen for the first time first hands its recorded nodes to the memory."""
        key = _key(obj)
        meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
        slim = {**obj, "metadata": meta}
        status = obj.get("status")
        heavy = {CHASSIS: "nodes", NODEPOOL: "members"}.get(kind)
        if heavy is not None:
            if kind is CHASSIS and key not in self._memory_loaded:
                self._load_memory(key, obj)
            if status is None:
                self._digests.pop((kind, key), None)
            else:
                self._digests[(kind, key)] = _digest(status)
                slim["status"] = {k: v for k, v in status.items() if k != heavy}
        self._objects[kind][key] = slim

    def _changed(self, kind: Kind, key: Key | None) -> None:
        """The spec of ``key`` changed, it appeared or it went (None: a fresh list of every
        object of ``kind``)."""
        if kind is POWERACTION:
            return
        with self._lock:
            if key is None:
                self._configs.clear()
                self._owned.clear()  # a periodic relist: look at the owned objects again too
                self._dirty.update(ns for ns, _ in self._objects[CHASSIS])
                self._dirty.update(ns for ns, _ in self._objects[NODEPOOL])
            else:
                self._configs.pop(key[0], None)
                self._dirty.add(key[0])
        if kind is CHASSIS:
            self._schedule_chassis(None if key is None else [key])

    def _schedule_chassis(self, keys: list[Key] | None = None) -> None:
        """One poll job per valid, unpaused chassis (``keys``, or all); the jobs and memory of
        deleted chassis removed, and the jobs of invalid or paused ones."""
        with self._lock:
            chassis = dict(self._objects[CHASSIS])
        for key in chassis if keys is None else keys:
            obj = chassis.get(key)
            if obj is None:
                self._unschedule(key, forget=True)
                continue
            try:
                spec = _parse_chassis(obj)
            except ConfigError as exc:
                self._unschedule(key, forget=False)
                self._report_invalid_chassis(obj, exc)
                continue
            if spec.paused:
                self._unschedule(key, forget=False)
                continue
            schedule = (obj["metadata"].get("generation"), spec.poll_interval)
            if self._scheduled.get(key) != schedule:
                self._scheduled[key] = schedule
                self._scheduler.every(
                    _job_id(key),
                    lambda key=key: self._poll(key),  # type: ignore[misc]
                    seconds=spec.poll_interval,
                    first_in=random.uniform(0, min(2.0, spec.poll_interval)),  # noqa: S311 - jitter
                )
        if keys is None:
            for key in set(self._scheduled) | set(self._known):
                if key not in chassis:
                    self._unschedule(key, forget=True)

    def _unschedule(self, key: Key, *, forget: bool) -> None:
        """Stop polling a chassis; ``forget`` its nodes too when the Chassis was deleted."""
        if self._scheduled.pop(key, None) is not None:
            self._scheduler.remove(_job_id(key))
        if forget:
            self._metrics.forget_chassis(f"{key[0]}/{key[1]}")
            with self._lock:
                self._known.pop(key, None)
                self._memory_loaded.discard(key)
                self._digests.pop((CHASSIS, key), None)

    def _load_memory(self, key: Key, obj: dict[str, Any]) -> None:
        """Take the nodes a previous run recorded in the Chassis status as known (call with
        the lock held, with the full object)."""
        name = key[1]
        with self._lock:
            known = self._known.setdefault(key, {})
            for entry in (obj.get("status") or {}).get("nodes") or []:
                node = node_from_dict(name, entry)
                first = _parse_time(entry.get("firstSeen")) or datetime.now(UTC)
                known.setdefault(
                    node.ref, KnownNode(node, first, _parse_time(entry.get("absentSince")))
                )
            self._memory_loaded.add(key)

    def _nodes_of(self, namespace: str) -> list[NamedNode]:
        """Every known node of a namespace (call with the lock held)."""
        return [
            entry.node
            for (ns, _), known in self._known.items()
            if ns == namespace
            for entry in known.values()
        ]

    # --- configuration of one namespace -------------------------------------------------------

    def _config(self, namespace: str) -> tuple[Config, dict[str, str]]:
        """The valid Chassis and NodePools of a namespace, and pool problems by pool name;
        parsed again only after a spec in the namespace changed."""
        with self._lock:
            cached = self._configs.get(namespace)
        if cached is not None:
            return cached
        built = self._build_config(namespace)
        with self._lock:
            self._configs[namespace] = built
        return built

    def _build_config(self, namespace: str) -> tuple[Config, dict[str, str]]:
        with self._lock:
            chassis_objs = [o for (ns, _), o in self._objects[CHASSIS].items() if ns == namespace]
            pool_objs = [o for (ns, _), o in self._objects[NODEPOOL].items() if ns == namespace]
        chassis: list[ChassisSpec] = []
        for obj in chassis_objs:
            try:
                chassis.append(_parse_chassis(obj))
            except ConfigError:
                continue  # reported in its own status
        names = {c.name for c in chassis}
        pools: list[NodePoolSpec] = []
        problems: dict[str, str] = {}
        catch_all = ""
        for obj in sorted(pool_objs, key=lambda o: o["metadata"]["name"]):
            name = obj["metadata"]["name"]
            try:
                pool = parse_object(obj, label=f"{namespace}")
            except ConfigError as exc:
                problems[name] = f"InvalidSpec: {exc}"
                continue
            assert isinstance(pool, NodePoolSpec)
            missing = sorted({m.chassis for m in pool.members} - names)
            if missing:
                problems[name] = f"UnknownChassis: no valid Chassis named {', '.join(missing)}"
            if pool.catch_all:
                if catch_all:
                    problems[name] = f"DuplicateCatchAll: {catch_all!r} is already the catch-all"
                    continue
                catch_all = name
            pools.append(pool)
        secrets = _ClusterSecrets(self._secrets, namespace)
        return Config(chassis=tuple(chassis), pools=tuple(pools), secrets=secrets), problems

    # --- polling ------------------------------------------------------------------------------

    def _poll(self, key: Key) -> None:
        """One poll of one chassis: inventory, memory, status, and mark its namespace dirty."""
        if not self.may_act() or self._stop.is_set():
            return
        namespace, name = key
        with self._lock:
            obj = self._objects[CHASSIS].get(key)
            schedule = self._scheduled.get(key)
        if obj is None:
            return
        if schedule is not None:
            # The next poll is due an interval after this one *started*, less a little jitter:
            # a chassis keeps the phase its first poll got when the fleet queued for workers,
            # so rounds stay spread out instead of all falling due at once, and a chassis is
            # polled at least every pollInterval (a new node waits at most that long).
            interval = float(schedule[1])
            jitter = random.uniform(0, interval * POLL_JITTER)  # noqa: S311 - jitter
            self._scheduler.delay(_job_id(key), interval - jitter)
        config, _problems = self._config(namespace)
        try:
            spec = config.chassis_named(name)
            target = config.target(spec)
        except ChassisdError as exc:
            result = PollResult(name, obj["spec"].get("driver", ""), None, exc, 0, 0.0)
        else:
            result = poll_chassis(self._registry, spec.driver, target, self._settings.retry)
        now = datetime.now(UTC)
        label = f"{namespace}/{name}"
        self._metrics.observe_poll(label, result.driver, _result_label(result), result.seconds)
        with self._lock:
            known = self._known.setdefault(key, {})
            if result.ok:
                self._confirmed.add(key)
                polled = {name: list(name_nodes(config, [result]))}
                updated, dropped = remember(config, known, polled, now)
                self._known[key] = updated
                for ref in dropped:
                    log.info("chassis=%s node=%s removed after its grace period", label, ref)
                if _reservable(updated) != _reservable(known):
                    self._dirty.add(namespace)  # nodes, names or MACs changed
                self._failures[key] = 0
            else:
                self._failures[key] = self._failures.get(key, 0) + 1
                log.error(
                    "chassis=%s driver=%s poll failed: %s", label, result.driver, result.error
                )
            failures = self._failures[key]
            mine = list(self._known[key].values())
        self._metrics.set_reachable(label, result.ok)
        self._metrics.set_nodes(label, len(mine))
        if result.inventory is not None:
            for warning in result.inventory.warnings:
                log.warning("chassis=%s driver=%s %s", label, result.driver, warning)
        if failures:
            backoff = min(_spec_interval(obj) * 2 ** (failures - 1), self._settings.backoff_max)
            self._scheduler.delay(_job_id(key), backoff * random.uniform(0.9, 1.1))  # noqa: S311
        self._write_chassis_status(obj, result, mine, failures, now)

    def _write_chassis_status(
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
            _condition(old, "Reachable", reachable, reason, message, generation, now),
            _condition(
                old,
                "InventoryValid",
                inventory_valid,
                "Parsed" if inventory_valid else "ParseError",
                "" if inventory_valid else str(result.error),
                generation,
                now,
            ),
        ]
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": conditions,
            "consecutiveFailures": failures,
            "nodeCount": len(nodes),
            "nodes": [_node_status(k) for k in sorted(nodes, key=_known_order)],
        }
        if result.inventory is not None:
            if result.inventory.model:
                status["model"] = result.inventory.model
            if result.inventory.firmware:
                status["firmware"] = result.inventory.firmware
        for stamp in ("lastPollTime", "lastSuccessTime"):
            if stamp in old:
                status[stamp] = old[stamp]
        stale = _older_than(old.get("lastPollTime"), now, self._settings.status_heartbeat)
        with self._lock:
            unchanged = self._digests.get((CHASSIS, _key(obj))) == _digest(status)
        if unchanged and not stale:
            return
        status["lastPollTime"] = _stamp(now)
        if result.ok:
            status["lastSuccessTime"] = _stamp(now)
        self._write(lambda: self._apply_status(CHASSIS, obj, status))

    # --- reconcile ----------------------------------------------------------------------------

    def _reconcile_dirty(self) -> None:
        if not self.may_act() or not self.synced:
            return
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        for namespace in sorted(dirty):
            try:
                self.reconcile(namespace)
            except KubeApiError as exc:
                log.error("namespace=%s reconcile failed, will retry: %s", namespace, exc)
                with self._lock:
                    self._dirty.add(namespace)

    def reconcile(self, namespace: str) -> None:
        """Bring the DhcpHosts, kubefarm ConfigMaps and NodePool statuses of a namespace up to
        date with what is known; write only what differs."""
        config, problems = self._config(namespace)
        with self._lock:
            nodes = self._nodes_of(namespace)
            pool_objs = {
                name: o for (ns, name), o in self._objects[NODEPOOL].items() if ns == namespace
            }
        previous = {
            name: dict((o.get("status") or {}).get("allocations") or {})
            for name, o in pool_objs.items()
        }
        plans = plan_pools(config, nodes, previous)
        # Every namespace this namespace's pools write or wrote into (pools deleted while this
        # process runs included), so objects of a removed pool are found and removed.
        with self._lock:
            target_namespaces = self._target_namespaces.setdefault(namespace, set())
            for plan in plans:
                dhcp_ns = plan.pool.dhcp.namespace
                target_namespaces.add(dhcp_ns)
                if plan.pool.kubefarm is not None:
                    target_namespaces.add(plan.pool.kubefarm.namespace or dhcp_ns)
            target_namespaces.update(
                ref["namespace"]
                for o in pool_objs.values()
                for ref in (o.get("status") or {}).get("written") or []
            )
            target_namespaces = set(target_namespaces)
        actual: dict[tuple[str, str, str], _Owned] = {}
        for target_ns in sorted(target_namespaces):
            actual.update(self._owned_in(namespace, target_ns))
        # Objects are built pool by pool and only those that differ are kept (a 1,000-chassis
        # farm has thousands, and holding them all would double the agent's memory).
        desired: set[tuple[str, str, str]] = set()
        written: dict[str, list[dict[str, str]]] = {}
        changed: list[dict[str, Any]] = []
        for plan in plans:
            objs = dhcphosts_objects(plan, pool_namespace=namespace)
            configmap = kubefarm_configmap(plan, pool_namespace=namespace)
            for obj in [*objs, *([configmap] if configmap else [])]:
                meta = obj["metadata"]
                key = (obj["kind"], meta["namespace"], meta["name"])
                desired.add(key)
                written.setdefault(plan.pool.name, []).append(
                    {
                        "apiVersion": obj["apiVersion"],
                        "kind": obj["kind"],
                        "namespace": meta["namespace"],
                        "name": meta["name"],
                    }
                )
                if not _same_content(obj, actual.get(key)):
                    changed.append(obj)
        # Applies go out a few at a time: a first sweep of a large farm writes thousands.
        applied = self._write_pool.map(
            lambda obj: self._write(lambda: self._apply_owned(namespace, obj)), changed
        )
        ok = all(list(applied))
        live_pools = {p.name for p in config.pools}
        chassis_names = {c.name for c in config.chassis}
        with self._lock:
            confirmed = {name for ns, name in self._confirmed if ns == namespace}
        for key, item in sorted(actual.items()):
            if key in desired:
                continue
            labels = item.labels
            pool, chassis = labels.get(POOL_LABEL, ""), labels.get(CHASSIS_LABEL, "")
            # Remove an owned object only when its pool is gone, or its chassis is gone, or this
            # process has itself polled the chassis and every node has passed its grace period.
            # Never because of a failed poll, an invalid edit, or a restart.
            gone = pool not in pool_objs or (pool in live_pools and chassis not in chassis_names)
            emptied = pool in live_pools and chassis in confirmed
            if gone or emptied:
                ok &= self._write(lambda key=key: self._delete_owned(namespace, key))  # type: ignore[misc]
        for plan in plans:
            name = plan.pool.name
            ok &= self._write_pool_status(
                pool_objs.get(name), plan, written.get(name, []), problems.get(name, "")
            )
        for name, problem in problems.items():
            if name not in live_pools and name in pool_objs:
                ok &= self._write_pool_status(pool_objs[name], None, [], problem)
        if not ok:
            with self._lock:
                self._dirty.add(namespace)  # try the failed writes again next round
                for target_ns in target_namespaces:  # and look at what is really there
                    self._owned.pop((namespace, target_ns), None)

    def _owned_in(self, namespace: str, target_ns: str) -> dict[tuple[str, str, str], _Owned]:
        """The DhcpHosts and ConfigMaps in ``target_ns`` that the pools of ``namespace`` own:
        listed at most every ``relist_interval`` (or after a failed write), kept up to date
        by our own writes in between. An object someone else edits or deletes is put right
        at the next list."""
        cache_key = (namespace, target_ns)
        with self._lock:
            cached = self._owned.get(cache_key)
        if cached is not None and time.monotonic() - cached[0] < self._settings.relist_interval:
            return dict(cached[1])
        selector = f"app.kubernetes.io/managed-by=chassisd,{POOL_NAMESPACE_LABEL}={namespace}"
        listed: dict[tuple[str, str, str], _Owned] = {}
        for kind in (DHCPHOSTS, CONFIGMAP):
            items, _ = self._gw.list(kind, target_ns, selector)
            for item in items:
                listed[(kind.kind, target_ns, item["metadata"]["name"])] = _Owned.of(item)
        with self._lock:
            self._owned[cache_key] = (time.monotonic(), listed)
        return dict(listed)

    def _apply_owned(self, namespace: str, obj: dict[str, Any]) -> None:
        written = self._gw.apply(obj)
        meta = written["metadata"]
        with self._lock:
            cached = self._owned.get((namespace, meta["namespace"]))
            if cached is not None:
                cached[1][(written["kind"], meta["namespace"], meta["name"])] = _Owned.of(written)

    def _delete_owned(self, namespace: str, key: tuple[str, str, str]) -> None:
        kind = DHCPHOSTS if key[0] == DHCPHOSTS.kind else CONFIGMAP
        self._gw.delete(kind, key[1], key[2])
        with self._lock:
            cached = self._owned.get((namespace, key[1]))
            if cached is not None:
                cached[1].pop(key, None)

    def _write_pool_status(
        self,
        obj: dict[str, Any] | None,
        plan: PoolPlan | None,
        written: list[dict[str, str]],
        problem: str,
    ) -> bool:
        if obj is None:
            return True
        now = datetime.now(UTC)
        old = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        conflicts = list(plan.conflicts) if plan else []
        ready_reason, _, ready_message = problem.partition(": ")
        conditions = [
            _condition(
                old,
                "Ready",
                not problem,
                ready_reason or "Reconciled",
                ready_message,
                generation,
                now,
            ),
            _condition(
                old,
                "Conflict",
                bool(conflicts),
                "Conflict" if conflicts else "NoConflict",
                "; ".join(conflicts)[:2048],
                generation,
                now,
            ),
        ]
        members = []
        if plan is not None:
            for host in plan.hosts:
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
                members.append(member)
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": conditions,
            "memberCount": len(members),
            "members": members,
            "allocations": dict(sorted((plan.allocations if plan else {}).items())),
            "written": sorted(written, key=lambda r: (r["kind"], r["namespace"], r["name"])),
        }
        pool_label = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        self._metrics.set_pool(pool_label, members=len(members), conflicts=len(conflicts))
        with self._lock:
            unchanged = self._digests.get((NODEPOOL, _key(obj))) == _digest(status)
        if unchanged:
            return True
        old_conflict: dict[str, Any] = next(
            (c for c in old.get("conditions") or [] if c.get("type") == "Conflict"), {}
        )
        ok = self._write(lambda: self._apply_status(NODEPOOL, obj, status))
        message = conditions[1]["message"]
        if ok and conflicts and old_conflict.get("message") != message:
            self._write(
                lambda: self._gw.event(obj, reason="Conflict", message=message, warning=True)
            )
        return ok

    # --- power --------------------------------------------------------------------------------

    def _power_tick(self) -> None:
        """Start pending PowerActions; delete finished ones after their TTL."""
        if not self.may_act() or not self.synced:
            return
        now = datetime.now(UTC)
        with self._lock:
            actions = dict(self._objects[POWERACTION])
        for key, obj in sorted(actions.items()):
            status = obj.get("status") or {}
            phase = status.get("phase", "Pending")
            if phase in TERMINAL_PHASES:
                if _older_than(status.get("completionTime"), now, self._settings.power_ttl):
                    self._write(lambda key=key: self._gw.delete(POWERACTION, key[0], key[1]))  # type: ignore[misc]
                continue
            with self._lock:
                if key in self._running_actions:
                    continue
                self._running_actions.add(key)
            if phase == "Running":
                # A previous run may have sent it: never send again.
                self._finish_action(
                    obj, "Unknown", "chassisd restarted while carrying it out; not re-sent", {}
                )
                with self._lock:
                    self._running_actions.discard(key)
                continue
            self._power_pool.submit(self._carry_out, key, obj)

    def _carry_out(self, key: Key, obj: dict[str, Any]) -> None:
        try:
            self._carry_out_unguarded(key, obj)
        except Exception:
            log.exception("PowerAction %s/%s: unexpected failure", *key)
        finally:
            with self._lock:
                self._running_actions.discard(key)

    def _carry_out_unguarded(self, key: Key, obj: dict[str, Any]) -> None:
        namespace, _name = key
        spec = obj.get("spec") or {}
        started = _stamp(datetime.now(UTC))
        self._write(
            lambda: self._gw.apply_status(
                {**_ref(obj), "status": {"phase": "Running", "startTime": started}}
            )
        )
        with self._lock:
            nodes = self._nodes_of(namespace)
        extra: dict[str, Any] = {"startTime": started}
        try:
            node = resolve(str(spec.get("node", "")), nodes)
            action = PowerAction(spec.get("action"))
        except (NodeRefError, ValueError) as exc:
            self._finish_action(obj, "Failed", str(exc), extra)
            return
        extra["resolvedNode"] = node.ref
        config, _ = self._config(namespace)
        try:
            chassis = config.chassis_named(node.chassis)
            routes = config.power_routes(chassis)
            extra["driver"] = chassis.driver
            if not self.may_act():
                self._finish_action(
                    obj, "Failed", "this replica lost leadership before sending", extra
                )
                return
            result = self._power.run_routes(routes, node.record.id, action)
        except ChassisdError as exc:
            self._metrics.count_power(action.value, "failed", extra.get("driver", ""))
            self._finish_action(obj, "Failed", str(exc), extra)
            return
        self._metrics.count_power(action.value, result.outcome.value, result.driver)
        phase = {
            Outcome.SUCCEEDED: "Succeeded",
            Outcome.FAILED: "Failed",
            Outcome.UNKNOWN: "Unknown",
        }[result.outcome]
        extra.update(powerState=result.state.value, driver=result.driver)
        self._finish_action(obj, phase, result.message, extra)

    def _finish_action(
        self, obj: dict[str, Any], phase: str, message: str, extra: Mapping[str, Any]
    ) -> None:
        status = {
            **extra,
            "phase": phase,
            "message": message[:1024],
            "completionTime": _stamp(datetime.now(UTC)),
        }
        self._write(lambda: self._gw.apply_status({**_ref(obj), "status": status}))
        log.info(
            "PowerAction %s/%s: %s %s",
            obj["metadata"]["namespace"],
            obj["metadata"]["name"],
            phase,
            message,
        )

    # --- helpers ----------------------------------------------------------------------------

    def _apply_status(self, kind: Kind, obj: dict[str, Any], status: dict[str, Any]) -> None:
        """Write a status and keep the answer as the cached object, so the next comparison is
        against what was written even when the watch lags behind (a large farm)."""
        written = self._gw.apply_status({**_ref(obj), "status": status})
        with self._lock:
            if _key(written) in self._objects[kind]:
                self._store(kind, written)

    def _write(self, call: Callable[[], object]) -> bool:
        """Make one write if this replica may act. An API failure is logged and returned as
        False (the caller tries again later); nothing is lost by a failed write."""
        if not self.may_act():
            return False
        try:
            call()
        except KubeApiError as exc:
            log.error("API write failed: %s", exc)
            return False
        return True

    def _report_invalid_chassis(self, obj: dict[str, Any], error: ConfigError) -> None:
        old = obj.get("status") or {}
        now = datetime.now(UTC)
        generation = obj["metadata"].get("generation")
        conditions = [
            _condition(old, "Reachable", False, "InvalidSpec", str(error), generation, now)
        ]
        key = _key(obj)
        with self._lock:
            known = list(self._known.get(key, {}).values())
            before = self._digests.get((CHASSIS, key))
        status = {**old, "observedGeneration": generation, "conditions": conditions}
        if known:  # the cache holds no node list: write the remembered nodes back unchanged
            status["nodes"] = [_node_status(k) for k in sorted(known, key=_known_order)]
        if before == _digest(status) or not self.may_act():
            return
        try:
            self._gw.apply_status({**_ref(obj), "status": status})
        except KubeApiError as exc:
            log.error("status of invalid Chassis %s: %s", obj["metadata"]["name"], exc)


@dataclass(frozen=True)
class _Owned:
    """What reconcile needs of an owned DhcpHosts or ConfigMap: its labels and a digest of its
    content (``spec``, or ``data`` for a ConfigMap)."""

    labels: Mapping[str, str]
    digest: bytes

    @classmethod
    def of(cls, obj: dict[str, Any]) -> _Owned:
        field = "data" if obj["kind"] == CONFIGMAP.kind else "spec"
        return cls(dict(obj["metadata"].get("labels") or {}), _digest(obj.get(field)))


class SecretCache:
    """Secrets read through the API and kept for ``ttl`` seconds, in memory only (never logged,
    never written anywhere). Every poll needs its chassis's credentials and known hosts; with a
    fleet-wide known_hosts Secret, reading it per poll cost a 100 KB GET per chassis. A rotated
    credential is used within ``ttl``; a missing Secret is not remembered (read again next time).
    """

    def __init__(self, gateway: KubeGateway, ttl: float) -> None:
        self._gw = gateway
        self._ttl = ttl
        self._lock = threading.Lock()
        self._data: dict[Key, tuple[float, Mapping[str, str]]] = {}

    def get(self, namespace: str, name: str) -> Mapping[str, str]:
        """The Secret's data; ``ConfigError`` if it does not exist."""
        now = time.monotonic()
        with self._lock:
            cached = self._data.get((namespace, name))
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        data = self._gw.secret_data(namespace, name)
        with self._lock:
            self._data[(namespace, name)] = (now, data)
        return data


class _ClusterSecrets(Mapping[str, Mapping[str, str]]):
    """Secrets of one namespace, read when a chassis needs them, through a ``SecretCache``."""

    def __init__(self, cache: SecretCache, namespace: str) -> None:
        self._cache = cache
        self._namespace = namespace

    def __getitem__(self, name: str) -> Mapping[str, str]:
        try:
            return self._cache.get(self._namespace, name)
        except ConfigError:
            raise KeyError(name) from None

    def __contains__(self, name: object) -> bool:
        try:
            self[str(name)]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _parse_chassis(obj: dict[str, Any]) -> ChassisSpec:
    parsed = parse_object(obj, label=obj["metadata"].get("namespace", ""))
    if not isinstance(parsed, ChassisSpec):
        raise ConfigError("not a Chassis")
    return parsed


def _spec_interval(obj: dict[str, Any]) -> float:
    """The chassis's poll interval, or the default when its spec is not readable."""
    try:
        return _parse_chassis(obj).poll_interval
    except ConfigError:
        return 300.0


def _older(obj: dict[str, Any], than: dict[str, Any]) -> bool:
    """Whether ``obj`` is an earlier version than ``than``. resourceVersions are opaque to
    clients in general; kube-apiserver's are etcd revisions (integers), compared only then."""
    a, b = obj["metadata"].get("resourceVersion", ""), than["metadata"].get("resourceVersion", "")
    return a.isdigit() and b.isdigit() and int(a) < int(b)


def _generation(obj: dict[str, Any]) -> Any:
    return obj["metadata"].get("generation")


def _reservable(known: Mapping[str, KnownNode]) -> set[tuple[str, str, tuple[str, ...]]]:
    """What of a chassis's nodes the reservations depend on: identity, name, MACs."""
    return {(ref, k.node.name, tuple(map(str, k.node.record.macs))) for ref, k in known.items()}


def _key(obj: dict[str, Any]) -> Key:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _job_id(key: Key) -> str:
    return f"poll:{key[0]}/{key[1]}"


def _ref(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _older_than(text: str | None, now: datetime, seconds: float) -> bool:
    moment = _parse_time(text)
    return moment is None or now - moment > timedelta(seconds=seconds)


def _digest(value: Any) -> bytes:
    """A digest of a JSON value, equal for equal values whatever their key order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _same_content(desired: dict[str, Any], actual: _Owned | None) -> bool:
    """Whether the live object already carries everything we would apply."""
    if actual is None:
        return False
    labels = actual.labels
    if any(labels.get(k) != v for k, v in desired["metadata"].get("labels", {}).items()):
        return False
    field = "spec" if "spec" in desired else "data"
    return _digest(desired.get(field)) == actual.digest


def _condition(
    old_status: dict[str, Any],
    kind: str,
    ok: bool,
    reason: str,
    message: str,
    generation: Any,
    now: datetime,
) -> dict[str, Any]:
    value = "True" if ok else "False"
    old: dict[str, Any] = next(
        (c for c in old_status.get("conditions") or [] if c.get("type") == kind), {}
    )
    changed = old.get("status") != value
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message[:2048],
        "lastTransitionTime": _stamp(now)
        if changed or not old.get("lastTransitionTime")
        else old["lastTransitionTime"],
        "observedGeneration": generation,
    }


#: Why a chassis is not reachable, by error class (first match wins).
UNREACHABLE_REASONS: tuple[tuple[type[ChassisdError], str], ...] = (
    (AuthError, "AuthFailed"),
    (TrustError, "NotTrusted"),
    (TransientError, "Unreachable"),
    (ParseError, "ParseError"),
    (ConfigError, "InvalidConfig"),
    (ChassisdError, "DeviceError"),
)


def _reachability(result: PollResult) -> tuple[bool, str, str]:
    if result.ok:
        return True, "PollSucceeded", ""
    error = result.error
    reason = next((r for cls, r in UNREACHABLE_REASONS if isinstance(error, cls)), "Unknown")
    return False, reason, str(error)


def _result_label(result: PollResult) -> PollResultLabel:
    if result.ok:
        return "success"
    return "transient" if isinstance(result.error, TransientError) else "permanent"


def _known_order(entry: KnownNode) -> tuple[int, int, str]:
    rec = entry.node.record
    return rec.cartridge or 0, rec.node or 0, rec.id


def _node_status(entry: KnownNode) -> dict[str, Any]:
    status = node_to_dict(entry.node)
    status["firstSeen"] = _stamp(entry.first_seen)
    if entry.absent_since is not None:
        status["absentSince"] = _stamp(entry.absent_since)
    return status


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes (tests and the CLI use it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
