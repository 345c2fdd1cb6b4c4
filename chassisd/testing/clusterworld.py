"""A throw-away farm in a namespace of the test control plane, and the agents serving it.

Owns ``World`` (Secrets, simulated Moonshot chassis, Chassis and NodePool objects, and the
``Manager`` instances started for it, stopped afterwards), the standard two-chassis farm the
cluster tests share, and reading back what the agents wrote. Test support only: production
code never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client as k8s

from chassisd.cluster.manager import Manager
from chassisd.cluster.settings import (
    AgentSettings,
    PollSettings,
    PowerControllerSettings,
    ReconcileSettings,
)
from chassisd.kube.gateway import CHASSIS, DHCPHOSTS, KubeGateway
from chassisd.metrics import Metrics
from chassisd.poller import RetryPolicy
from chassisd.power import PowerSettings
from chassisd.registry import Registry
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec

API = "chassisd.io/v1alpha1"


@dataclass
class World:
    """A namespace with credentials, chassis and pools, and the agent(s) serving it."""

    namespace: str
    gateway: KubeGateway
    sims: dict[str, SimHandle]
    agents: list[Manager] = field(default_factory=list)

    def chassis(self, name: str, handle: SimHandle, **spec: Any) -> None:
        """Create a Moonshot Chassis for a simulator (polled every second)."""
        body = {
            "driver": "moonshot",
            "address": f"127.0.0.1:{handle.port}",
            "credentialsSecretRef": {"name": "creds"},
            "knownHostsSecretRef": {"name": "hostkeys"},
            "pollInterval": "1s",
            "connectTimeout": "5s",
            "commandTimeout": "5s",
            **spec,
        }
        self.gateway.create(
            {
                "apiVersion": API,
                "kind": "Chassis",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": body,
            }
        )

    def pool(self, name: str, spec: dict[str, Any]) -> None:
        """Create a NodePool."""
        self.gateway.create(
            {
                "apiVersion": API,
                "kind": "NodePool",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": spec,
            }
        )

    def get(self, kind: Any, name: str) -> dict[str, Any]:
        """One object of the namespace (it must exist)."""
        obj = self.gateway.get(kind, self.namespace, name)
        assert obj is not None, f"{kind.kind} {name} not found"
        return obj

    def dhcphosts(self) -> dict[str, dict[str, Any]]:
        """The DhcpHosts objects of the namespace, by name."""
        items, _ = self.gateway.list(DHCPHOSTS, self.namespace)
        return {i["metadata"]["name"]: i for i in items}

    def start_agent(
        self,
        metrics: Metrics | None = None,
        fence: Callable[[], bool] | None = None,
        *,
        gateway: KubeGateway | None = None,
        identity: str = "test-agent",
        workers: int | None = None,
    ) -> Manager:
        """A manager with short intervals; it leads at once unless ``fence`` is given (then
        the caller's leader election calls ``lead``/``follow``). ``gateway``: the agent's own
        (another identity, or a faulty path), else the world's. ``workers``: ``--workers``
        (None: auto)."""
        settings = AgentSettings(
            namespace=self.namespace,
            identity=identity,
            poll=PollSettings(
                workers=workers, retry=RetryPolicy(attempts=1), max_backoff=1.0, secret_ttl=2.0
            ),
            reconcile=ReconcileSettings(interval=0.2, relist_interval=3),
            power=PowerControllerSettings(
                device=PowerSettings(settle_timeout=10, settle_interval=0.1)
            ),
        )
        agent = Manager(
            gateway or self.gateway,
            Registry(),
            metrics or Metrics(),
            settings,
            fence=fence or (lambda: True),
        )
        agent.start(leading=fence is None)
        self.agents.append(agent)
        return agent


def sim_spec(name: str, index: int, slots: int = 6) -> ChassisSpec:
    """A full chassis of ``slots`` single-node cartridges."""
    return ChassisSpec.generate(
        name, seed=11, chassis_index=index, slots=slots, fill=1.0, multi_node=0.0
    )


@contextmanager
def open_world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    """Two simulated chassis (6 nodes each) and their Secrets in ``kube_namespace``; the agents
    started for the world are stopped when it closes."""
    with (
        MoonshotSimulator(sim_spec("m1", 1)).running() as one,
        MoonshotSimulator(sim_spec("m2", 2)).running() as two,
    ):
        gateway = KubeGateway(kube_api)
        w = World(kube_namespace, gateway, {"m1": one, "m2": two})
        gateway.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds", "namespace": kube_namespace},
                "stringData": {"username": "admin", "password": "password"},
            }
        )
        gateway.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "hostkeys", "namespace": kube_namespace},
                "stringData": {"known_hosts": f"{one.known_hosts_line}\n{two.known_hosts_line}\n"},
            }
        )
        try:
            yield w
        finally:
            for agent in w.agents:
                agent.stop()


def standard_farm(w: World, grace: str = "1h") -> None:
    """Chassis m1 (named c1n{cartridge}) and m2, pool cluster-a (m1 c1-4) and a catch-all."""
    w.chassis("m1", w.sims["m1"], nodeNameTemplate="c1n{cartridge}")
    w.chassis("m2", w.sims["m2"])
    w.pool(
        "cluster-a",
        {
            "members": [{"chassis": "m1", "nodes": ["c1-4n1"]}],
            "addressing": {"range": {"start": "10.28.36.10", "end": "10.28.36.50"}},
            "dhcp": {"namespace": w.namespace, "setTags": ["cluster-a"]},
            "gracePeriod": grace,
        },
    )
    w.pool("unknown", {"catchAll": True, "dhcp": {"namespace": w.namespace, "leaseTime": "1h"}})


def all_hosts(w: World) -> dict[str, dict[str, Any]]:
    """Every host of every DhcpHosts object in the world's namespace, by hostname."""
    return {h["hostname"]: h for obj in w.dhcphosts().values() for h in obj["spec"]["hosts"]}


def chassis_health(w: World, name: str) -> dict[str, Any]:
    """The condition that says what is wrong with the chassis (ConfigValid, Reachable or
    InventoryValid, the first that is False), else its Reachable condition."""
    conditions = (w.get(CHASSIS, name).get("status") or {}).get("conditions", [])
    by_type = {c["type"]: c for c in conditions}
    for kind in ("ConfigValid", "Reachable", "InventoryValid"):
        if by_type.get(kind, {}).get("status") == "False":
            return dict(by_type[kind])
    return dict(by_type.get("Reachable", {}))
