"""The chassis controller: polls every Chassis on its schedule.

Owns one scheduler job per Chassis (first run jittered, the next due an interval after a poll
*started*, back-off while it fails, a poll at once when asked through the annotation), the poll
itself (through the poller, with the targets and Secrets the namespace's specs resolve), and the
node memory update (``chassisd.memory``'s grace period rules: a failed poll changes nothing).
What the poll means for the Chassis status is ``chassis_status``'s to write. A Chassis whose
spec is invalid is not polled. When the nodes a reservation depends on change, it tells the pool
reconciler (``nodes_changed``). A poll that loses many nodes at once is confirmed by the poller
with a second session before anything is believed (``PollResult.loss``). With ``--workers auto``
it also keeps the number of poll workers up with the fleet (``chassisd.workers``: the Chassis
scheduled, their intervals and how long polls take), re-evaluated as the fleet grows.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chassisd.cluster.cache import Key, ObjectCache
from chassisd.cluster.chassis_status import ChassisStatus
from chassisd.cluster.informer import Change
from chassisd.cluster.nodes import NodeMemory
from chassisd.cluster.settings import PollSettings
from chassisd.cluster.specs import NamespaceSpecs, parse_chassis
from chassisd.cluster.writer import Writer
from chassisd.driver import ChassisTarget
from chassisd.errors import (
    AuthError,
    ChassisdError,
    ConfigError,
    KubeApiError,
    TransientError,
    TrustError,
)
from chassisd.farm import name_nodes
from chassisd.kube.gateway import CHASSIS
from chassisd.listing import POLL_REQUEST
from chassisd.memory import KnownNode, details_wanted, remember
from chassisd.metrics import Metrics, PollResultLabel
from chassisd.poller import PollResult, contain, poll_chassis
from chassisd.registry import Registry
from chassisd.retry import Backoff
from chassisd.scheduler import JobScheduler
from chassisd.workers import PollDurations, poll_workers, sweep_rate

log = logging.getLogger(__name__)

POLL_JITTER = 0.05  # share of a chassis's poll interval taken off at random from each wait
RATE_RESUM_SECONDS = 1.0  # the polls per second needed are summed again at most this often


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
        self._status = ChassisStatus(cache, memory, writer, heartbeat=settings.status_heartbeat)
        self._lock = threading.Lock()
        self._scheduled: dict[Key, _Schedule] = {}
        self._failures: dict[Key, int] = {}
        self._confirmed: set[Key] = set()  # chassis polled successfully by this process
        # Chassis refused on credentials, trust or config: a digest of the material used and
        # when its back-off ends (they keep their normal interval to notice a fixed Secret).
        self._refused: dict[Key, tuple[bytes, float]] = {}
        self._durations = PollDurations()  # of successful polls, for --workers auto
        self._rate = 0.0  # polls per second the scheduled chassis need (chassisd.workers)
        self._rate_stale, self._rate_at = False, -RATE_RESUM_SECONDS
        self._metrics.set_poll_workers(scheduler.workers)

    # --- events -----------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Informer handler: load remembered nodes on first sight, (re)schedule on spec change."""
        if change.key is None:
            self._schedule_all()
            self._fit_workers(rescheduled=True)
            return
        if change.new is None:
            self._unschedule(change.key, forget=True)
            return
        nodes = (change.new.get("status") or {}).get("nodes") or []
        self._memory.load(change.key, nodes)
        if change.spec_changed:
            self._schedule(change.key)
            self._fit_workers(rescheduled=True)
        requested = poll_requested(change.new)
        if requested and requested != poll_requested(change.old):
            self.poll_soon(change.key)

    def _still_refused(self, key: Key, material: bytes) -> bool:
        """Whether this chassis was refused (credentials, trust, config) with exactly this
        material and its back-off has not ended."""
        with self._lock:
            refused = self._refused.get(key)
            if refused is None:
                return False
            if refused[0] == material and time.monotonic() < refused[1]:
                return True
            del self._refused[key]
            return False

    def poll_soon(self, key: Key) -> None:
        """Poll a chassis now, whatever its back-off (``chassisctl poll``, the annotation
        ``POLL_REQUEST``): an operator who fixed a Secret wants to see it work."""
        with self._lock:
            if key not in self._scheduled:
                return
            self._failures[key] = 0
            self._refused.pop(key, None)
        self._scheduler.delay(_job_id(key), 0.1)

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

    def _fit_workers(self, *, rescheduled: bool = False) -> None:
        """With ``--workers auto``: as many poll workers as ``chassisd.workers`` says the
        scheduled chassis need, given how long polls take (grows only). ``rescheduled``: the
        schedules changed, so the polls per second they need are summed again."""
        if self._settings.workers is not None:
            return
        with self._lock:
            # Summed again at most once a second (a first list of 10,000 Chassis reschedules
            # each in turn); a change left unsummed is taken by the next call after that.
            self._rate_stale |= rescheduled
            now = time.monotonic()
            if self._rate_stale and now - self._rate_at >= RATE_RESUM_SECONDS:
                self._rate = sweep_rate(s.interval for s in self._scheduled.values() if s.valid)
                self._rate_stale, self._rate_at = False, now
            rate = self._rate
        wanted = poll_workers(rate, self._durations.average)
        if wanted > self._scheduler.workers:
            self._scheduler.grow(wanted)
            self._metrics.set_poll_workers(wanted)
            log.debug("poll workers: %d (%.2f polls/s of %.2f s)", wanted, rate,
                      self._durations.average)  # fmt: skip

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
                self._refused.pop(key, None)
                self._confirmed.discard(key)
        if scheduled:
            self._scheduler.remove(_job_id(key))
        if forget:
            self._metrics.forget_chassis(key[1], namespace=key[0])
            self._memory.forget(key)
            self._status.forget(key)

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
            self._status.invalid(key, obj)
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
        # Nodes this chassis had: a poll losing many of them is confirmed by a second session.
        present = {k.node.record.id for k in self._memory.get(key).values() if not k.absent_since}
        try:
            spec = config.chassis_named(name)
            target = config.driver_target(spec)
        except KubeApiError as exc:
            # The API server could not be asked for a Secret it had not given before: that is
            # an API outage, not the chassis failing. No failure, no back-off, no status.
            log.warning("chassis=%s/%s not polled: %s", namespace, name, exc)
            return
        except ChassisdError as exc:
            result = PollResult(name, obj["spec"].get("driver", ""), None, exc, 0, 0.0)
            material = b""
        except Exception as exc:  # noqa: BLE001 - one chassis's bad spec must not stop the others
            driver = str(obj["spec"].get("driver", ""))
            result = PollResult(name, driver, None, contain(exc, chassis=name, driver=driver), 0, 0)
            material = b""
        else:
            material = _trust_material(target)
            if self._still_refused(key, material):
                return  # the same credentials and trust were refused: wait out the back-off
            result = poll_chassis(
                self._registry,
                spec.driver,
                target,
                self._settings.retry,
                present=present,
                details_due=details_wanted(self._memory.get(key), name, datetime.now(UTC)),
            )
        now = datetime.now(UTC)
        label = f"{namespace}/{name}"
        fields = {"namespace": namespace, "chassis": name, "driver": result.driver}
        self._metrics.observe_poll(
            name, result.driver, _result_label(result), result.seconds, namespace=namespace
        )
        known = self._memory.get(key)
        if result.ok:
            polled = {name: list(name_nodes(config, [result]))}
            updated, dropped = remember(config, known, polled, now)
            self._memory.replace(key, updated)
            for ref in dropped:
                log.info("chassis=%s node=%s removed after its grace period", label, ref)
            if updated != known and _reservable(updated) != _reservable(known):
                self._nodes_changed(namespace)
            known = updated
            with self._lock:
                self._confirmed.add(key)
                self._failures[key] = failures = 0
            self._durations.observe(result.seconds)
            self._fit_workers()
        else:
            with self._lock:
                self._failures[key] = failures = self._failures.get(key, 0) + 1
            log.error("chassis=%s driver=%s poll failed: %s", label, result.driver, result.error,
                      extra={**fields, "reason": result.reason})  # fmt: skip
        self._metrics.set_reachable(name, result.ok, namespace=namespace)
        self._metrics.set_nodes(name, len(known), namespace=namespace)
        if result.inventory is not None:
            for warning in result.inventory.warnings:
                log.warning("chassis=%s driver=%s %s", label, result.driver, warning, extra=fields)
        if result.loss is not None:
            reason = "NodesLost" if result.loss.confirmed else "PartialAnswer"
            log.warning("chassis=%s driver=%s %s", label, result.driver, result.loss.message,
                        extra={**fields, "reason": reason})  # fmt: skip
        if failures:
            backoff = Backoff(initial=interval, maximum=self._settings.max_backoff, jitter=0.1)
            wait = backoff.delay(failures)
            if isinstance(result.error, AuthError | TrustError | ConfigError):
                # What an operator fixes (a Secret, the known hosts): keep the normal interval
                # and poll again as soon as the material changed; the back-off only holds
                # while it is the same material the device refused.
                with self._lock:
                    self._refused[key] = (material, time.monotonic() + wait)
            else:
                self._scheduler.delay(_job_id(key), wait)
        else:
            with self._lock:
                self._refused.pop(key, None)
        self._status.after_poll(obj, result, list(known.values()), failures, now, interval)
        if result.loss is not None:
            self._status.loss_event(obj, result.loss)

    def read_back(self, key: Key) -> None:
        """A power action read a node's state back into the node memory: show it now."""
        self._status.read_back(key)


def _job_id(key: Key) -> str:
    return f"poll:{key[0]}/{key[1]}"


def _reservable(known: dict[str, KnownNode]) -> set[tuple[str, str, tuple[str, ...]]]:
    """What of a chassis's nodes the reservations depend on: identity, name, MACs."""
    return {(ref, k.node.name, tuple(map(str, k.node.record.macs))) for ref, k in known.items()}


def _trust_material(target: ChassisTarget) -> bytes:
    """A digest of everything an operator may fix in Secrets or the spec for a chassis: its
    whole target (address, credentials, known hosts, CA, fingerprint). Kept in memory only."""
    creds = target.credentials
    # repr() hides the secret fields on purpose, so they are named one by one.
    parts = (repr(target), creds.username, creds.password, creds.private_key,
             target.known_hosts, target.ca_bundle)  # fmt: skip
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).digest()


def poll_requested(obj: dict[str, Any] | None) -> str:
    """The ``POLL_REQUEST`` annotation's value ("" when there is none)."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(POLL_REQUEST) or "")


def _result_label(result: PollResult) -> PollResultLabel:
    if result.ok:
        return "success"
    return "transient" if isinstance(result.error, TransientError) else "permanent"
