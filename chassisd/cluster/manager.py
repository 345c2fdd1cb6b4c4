"""The manager: wires the cluster agent's parts together and holds no logic of its own.

Owns the objects and their lifecycle: the shared cache and its three informers (Chassis,
NodePools, PowerActions), the writer, the node memory and namespace specs, the three
controllers (chassis, pools, power) with their scheduler and work-queue workers, and
leadership. Informers run on every replica, so a standby's cache is warm; only the leader
polls (the scheduler is paused otherwise), reconciles and writes (the writer refuses
otherwise). ``lead`` and ``follow`` are what leader election calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from chassisd.cluster.cache import ObjectCache
from chassisd.cluster.chassis import ChassisController
from chassisd.cluster.informer import Informer
from chassisd.cluster.nodes import NodeMemory
from chassisd.cluster.pools import PoolReconciler
from chassisd.cluster.power import PowerController
from chassisd.cluster.secrets import SecretCache
from chassisd.cluster.settings import AgentSettings
from chassisd.cluster.specs import NamespaceSpecs
from chassisd.cluster.workqueue import start_workers
from chassisd.cluster.writer import Writer
from chassisd.kube.gateway import CHASSIS, NODEPOOL, POWERACTION, KubeGateway
from chassisd.metrics import Metrics
from chassisd.power import PowerService
from chassisd.registry import Registry
from chassisd.scheduler import JobScheduler
from chassisd.workers import MIN_WORKERS


class Manager:
    """The cluster agent. ``start``, then ``lead``/``follow`` as leadership changes; ``stop``.

    ``fence`` is checked before every write as well as the leading flag: a leader elector's
    ``is_leader`` turns False as soon as a renewal deadline passes, before ``follow`` is called.
    """

    def __init__(
        self,
        gateway: KubeGateway,
        registry: Registry,
        metrics: Metrics,
        settings: AgentSettings | None = None,
        *,
        fence: Callable[[], bool] = lambda: True,
    ) -> None:
        settings = settings or AgentSettings()
        self._leading = threading.Event()
        self._fence = fence
        self.cache = ObjectCache()
        self.memory = NodeMemory()
        self.writer = Writer(gateway, self.cache, self._may_write)
        secrets = SecretCache(gateway, settings.poll.secret_ttl)
        specs = NamespaceSpecs(self.cache, secrets)
        self._scheduler = JobScheduler(workers=settings.poll.workers or MIN_WORKERS)
        self.pools = PoolReconciler(
            self.cache,
            specs,
            self.memory,
            self.writer,
            gateway,
            metrics,
            settings.reconcile,
            confirmed=lambda namespace: self.chassis.confirmed(namespace),
            synced=lambda: self.synced,
        )
        self.chassis = ChassisController(
            self.cache,
            specs,
            self.memory,
            self.writer,
            self._scheduler,
            registry,
            metrics,
            settings.poll,
            nodes_changed=self.pools.enqueue,
        )
        self.power = PowerController(
            self.cache,
            specs,
            self.memory,
            self.writer,
            PowerService(registry, settings.power.device),
            metrics,
            settings.power,
            identity=settings.identity,
            synced=lambda: self.synced,
            read_back=lambda key: self.chassis.read_back(key),
        )
        self._settings = settings
        self._informers = {
            kind: Informer(
                gateway,
                self.cache,
                kind,
                namespace=settings.namespace,
                relist_interval=settings.reconcile.relist_interval,
            )
            for kind in (CHASSIS, NODEPOOL, POWERACTION)
        }
        # The pools' handler first: it drops the namespace's parsed specs, so a Chassis the
        # chassis controller schedules is in the specs its first poll reads.
        self._informers[CHASSIS].add_handler(self.pools.on_change)
        self._informers[CHASSIS].add_handler(self.chassis.on_change)
        self._informers[NODEPOOL].add_handler(self.pools.on_change)
        self._informers[POWERACTION].add_handler(self.power.on_change)

    def _may_write(self) -> bool:
        return self._leading.is_set() and self._fence()

    @property
    def synced(self) -> bool:
        """True once every followed kind has been listed."""
        return all(i.synced for i in self._informers.values())

    @property
    def poll_workers(self) -> int:
        """Chassis polled at once now (``--workers``, or what ``auto`` derived so far)."""
        return self._scheduler.workers

    @property
    def leading(self) -> bool:
        """Whether this replica acts (polls, reconciles, writes, powers)."""
        return self._may_write()

    def start(self, *, leading: bool = False) -> None:
        """Start following the API and the workers; act at once if ``leading``."""
        for informer in self._informers.values():
            informer.start()
        self._scheduler.start(paused=True)
        start_workers(self.pools.queue, self.pools.reconcile, 1)
        start_workers(self.power.queue, self.power.handle, self._settings.power.workers)
        if leading:
            self.lead()

    def lead(self) -> None:
        """This replica leads: poll every chassis and look at every object soon."""
        self._leading.set()
        self._scheduler.resume()
        self.chassis.kick()
        self.pools.enqueue_all()
        self.power.enqueue_all()

    def follow(self) -> None:
        """This replica stands by: no polls, no writes (work in progress finishes or fails)."""
        self._leading.clear()
        self._scheduler.pause()

    def stop(self) -> None:
        """Stop following and acting; waits for polls and applies in progress."""
        self._leading.clear()
        for informer in self._informers.values():
            informer.stop()
        self.pools.queue.shutdown()
        self.power.queue.shutdown()
        self._scheduler.shutdown()
        self.pools.stop()
