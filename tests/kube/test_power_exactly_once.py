"""Power goes out exactly once, or not at all: the PowerAction state machine against the real
kube-apiserver, with every device command counted on the simulator."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.cluster.manager import Manager
from chassisd.cluster.status import TERMINAL_PHASES
from chassisd.kube.gateway import CHASSIS, POWERACTION, KubeGateway
from chassisd.sim.moonshot.model import CommandKind
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import API, World, all_hosts, open_world, standard_farm
from chassisd.testing.controlplane import ControlPlane, service_account_client

pytestmark = pytest.mark.kube

BIN = Path(sys.executable).parent
POWER_COMMANDS = (CommandKind.POWER_ON, CommandKind.POWER_OFF, CommandKind.POWER_OFF_FORCE)


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    """Two simulated chassis (6 nodes each), their Secrets, and the gateway; agents stop after."""
    with open_world(kube_api, kube_namespace) as w:
        yield w


def power_commands(w: World, chassis: str = "m1") -> int:
    """State-changing power commands the simulator received."""
    by_kind = w.sims[chassis].stats.commands_by_kind
    return sum(by_kind.get(kind, 0) for kind in POWER_COMMANDS)


def create_action(w: World, name: str, node: str, action: str, **spec: Any) -> dict[str, Any]:
    return w.gateway.create(
        {
            "apiVersion": API,
            "kind": "PowerAction",
            "metadata": {"name": name, "namespace": w.namespace},
            "spec": {"node": node, "action": action, **spec},
        }
    )


def phase(w: World, name: str) -> str:
    obj = w.gateway.get(POWERACTION, w.namespace, name)
    return "" if obj is None else str((obj.get("status") or {}).get("phase", "Pending"))


def started_farm(w: World, **kwargs: Any) -> Manager:
    standard_farm(w)
    agent = w.start_agent(**kwargs)
    assert wait_until(lambda: len(all_hosts(w)) == 12, timeout=30), all_hosts(w)
    return agent


def agent_gateway(cp: ControlPlane, w: World, *, status_allowed: bool) -> KubeGateway:
    """A gateway as a ServiceAccount with the agent's permissions in the namespace; without
    ``poweractions/status`` when ``status_allowed`` is False."""
    rbac = k8s.RbacAuthorizationV1Api(w.gateway.api)
    status_resources = ["chassis/status", "nodepools/status"]
    if status_allowed:
        status_resources.append("poweractions/status")
    rules = [
        k8s.V1PolicyRule(
            api_groups=["chassisd.io"],
            resources=["chassis", "nodepools", "poweractions"],
            verbs=["get", "list", "watch", "delete"],
        ),
        k8s.V1PolicyRule(
            api_groups=["chassisd.io"], resources=status_resources, verbs=["get", "patch"]
        ),
        k8s.V1PolicyRule(
            api_groups=["dnsmasq.kvaps.cf"],
            resources=["dhcphosts"],
            verbs=["get", "list", "watch", "create", "patch", "delete"],
        ),
        k8s.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["get"]),
        k8s.V1PolicyRule(api_groups=[""], resources=["events"], verbs=["create"]),
        k8s.V1PolicyRule(
            api_groups=[""],
            resources=["configmaps"],
            verbs=["get", "list", "watch", "create", "patch", "delete"],
        ),
    ]
    rbac.create_namespaced_role(
        w.namespace, k8s.V1Role(metadata=k8s.V1ObjectMeta(name="agent"), rules=rules)
    )
    rbac.create_namespaced_role_binding(
        w.namespace,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="agent"),
            role_ref=k8s.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="agent"
            ),
            subjects=[
                k8s.RbacV1Subject(kind="ServiceAccount", name="agent", namespace=w.namespace)
            ],
        ),
    )
    gateway = KubeGateway(service_account_client(cp, w.namespace, "agent"))
    # RBAC is cached by the authorizer for a moment: wait until the binding is in force.
    assert wait_until(lambda: _can_list(gateway, w.namespace), timeout=10)
    return gateway


def _can_list(gateway: KubeGateway, namespace: str) -> bool:
    try:
        gateway.list(CHASSIS, namespace)
    except Exception:  # noqa: BLE001 - any refusal means "not yet"
        return False
    return True


def test_status_subresource_denied_sends_nothing(world: World, control_plane: ControlPlane) -> None:
    """With RBAC refusing poweractions/status the Running state cannot be persisted: the agent
    sends no power command at all (the old agent sent one per power tick, forever)."""
    gateway = agent_gateway(control_plane, world, status_allowed=False)
    started_farm(world, gateway=gateway)
    before = power_commands(world)
    create_action(world, "off-c1n2", "c1n2", "off")
    time.sleep(6)
    assert power_commands(world) == before
    assert world.sims["m1"].is_powered_on("c2n1")
    assert phase(world, "off-c1n2") == "Pending"


def test_one_cycle_is_one_cycle_with_status_writes_allowed(
    world: World, control_plane: ControlPlane
) -> None:
    """The same agent identity with the status subresource allowed: one action, one
    off and one on, Succeeded, and nothing more sent in the seconds after."""
    gateway = agent_gateway(control_plane, world, status_allowed=True)
    started_farm(world, gateway=gateway)
    before = power_commands(world)
    create_action(world, "cycle-c1n2", "c1n2", "cycle")
    assert wait_until(lambda: phase(world, "cycle-c1n2") in TERMINAL_PHASES, timeout=30)
    assert phase(world, "cycle-c1n2") == "Succeeded"
    time.sleep(3)
    assert power_commands(world) - before == 2  # off, then on


def test_running_written_by_a_process_that_is_gone_ends_unknown_and_is_not_sent(
    world: World,
) -> None:
    """An action found Running with an attempt this process never made (a crash or a leader
    change after the Running write) ends Unknown; nothing is sent."""
    standard_farm(world)
    created = create_action(world, "orphan", "c1n2", "off")
    world.gateway.apply_status(
        {
            "apiVersion": API,
            "kind": "PowerAction",
            "metadata": {"name": "orphan", "namespace": world.namespace},
            "status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z"},
        }
    )
    assert created["metadata"]["uid"]
    world.start_agent()
    assert wait_until(lambda: phase(world, "orphan") == "Unknown", timeout=30)
    time.sleep(2)
    assert power_commands(world) == 0


def test_an_action_being_deleted_is_never_sent(world: World) -> None:
    """A pending action with a finalizer that was deleted (deletionTimestamp set) ends
    Cancelled without touching the device."""
    standard_farm(world)
    world.gateway.create(
        {
            "apiVersion": API,
            "kind": "PowerAction",
            "metadata": {
                "name": "doomed",
                "namespace": world.namespace,
                "finalizers": ["example.com/hold"],
            },
            "spec": {"node": "c1n2", "action": "off"},
        }
    )
    world.gateway.delete(POWERACTION, world.namespace, "doomed")
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=30)
    assert wait_until(lambda: phase(world, "doomed") == "Cancelled", timeout=20)
    assert power_commands(world) == 0
    assert world.sims["m1"].is_powered_on("c2n1")


def test_an_action_not_started_before_its_deadline_expires_untouched(world: World) -> None:
    """An action created while no agent runs, with a 1 s deadline, ends Expired when an agent
    comes: the operator was told it did not happen, and it does not happen later."""
    standard_farm(world)
    create_action(world, "late", "c1n2", "off", deadlineSeconds=1)
    time.sleep(2)
    world.start_agent()
    assert wait_until(lambda: phase(world, "late") == "Expired", timeout=30)
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=30)
    assert power_commands(world) == 0
    assert world.sims["m1"].is_powered_on("c2n1")


def test_the_state_read_back_reaches_the_chassis_status_at_once(world: World) -> None:
    """After an off succeeds the node is off in the Chassis status, long before the next poll
    (the interval is an hour here), and one Event records the outcome."""
    standard_farm(world)
    k8s.CustomObjectsApi(world.gateway.api).patch_namespaced_custom_object(
        "chassisd.io", "v1alpha1", world.namespace, "chassis", "m1",
        {"spec": {"pollInterval": "1h"}},
    )  # fmt: skip
    world.start_agent()
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=30)

    def node_power() -> str:
        nodes = (world.get(CHASSIS, "m1").get("status") or {}).get("nodes") or []
        return next((n["power"] for n in nodes if n["id"] == "c2n1"), "")

    assert wait_until(lambda: node_power() == "on", timeout=10)
    create_action(world, "off", "c1n2", "off")
    assert wait_until(lambda: phase(world, "off") in TERMINAL_PHASES, timeout=30)
    assert phase(world, "off") == "Succeeded"
    assert wait_until(lambda: node_power() == "off", timeout=5)

    def power_events() -> list[str]:
        events = k8s.EventsV1Api(world.gateway.api).list_namespaced_event(world.namespace)
        return [e.reason for e in events.items if e.regarding and e.regarding.name == "off"]

    assert wait_until(lambda: power_events() == ["PowerSucceeded"], timeout=5), power_events()


def _ctl(cp: ControlPlane, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chassisctl"), "--kubeconfig", str(cp.kubeconfig), "-n", namespace, *args],
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_chassisctl_cancels_what_it_waited_for_in_vain(
    world: World, control_plane: ControlPlane
) -> None:
    """With the agent down, `power off c1n2 --timeout 3` exits 4 saying it cancelled the action
    and nothing was sent; when the agent comes back the node is still on (the old chassisctl
    left the action to run ~30 s later)."""
    first = started_farm(world)
    assert wait_until(lambda: len(_nodes_in_status(world)) == 6, timeout=20)
    first.stop()
    world.agents.remove(first)
    result = _ctl(control_plane, world.namespace, "power", "off", "c1n2", "--timeout", "3")
    assert result.returncode == 4, result
    assert "cancelled (deleted); nothing was sent" in result.stderr
    items, _ = world.gateway.list(POWERACTION, world.namespace)
    assert items == []
    world.start_agent()
    time.sleep(4)
    assert power_commands(world) == 0
    assert world.sims["m1"].is_powered_on("c2n1")


def test_chassisctl_power_cancel_and_live_status(world: World, control_plane: ControlPlane) -> None:
    """`power cancel NODE` deletes the pending actions for that node; `power status --live`
    asks the device through a PowerAction and sees a change the last poll did not."""
    first = started_farm(world)
    assert wait_until(lambda: len(_nodes_in_status(world)) == 6, timeout=20)
    first.stop()
    world.agents.remove(first)
    queued = _ctl(control_plane, world.namespace, "power", "off", "c1n3", "--no-wait")
    assert queued.returncode == 0, queued.stderr
    cancelled = _ctl(control_plane, world.namespace, "power", "cancel", "c1n3")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancelled" in cancelled.stdout
    items, _ = world.gateway.list(POWERACTION, world.namespace)
    assert items == []
    world.sims["m1"].set_node_power("c4n1", False)  # behind the agent's back
    world.start_agent()
    live = _ctl(control_plane, world.namespace, "power", "status", "--live", "c1n4")
    assert live.returncode == 0, live.stderr
    assert "power off" in live.stdout
    assert power_commands(world) == 0
    assert world.sims["m1"].is_powered_on("c3n1")


def _nodes_in_status(w: World) -> list[dict[str, Any]]:
    return list((w.get(CHASSIS, "m1").get("status") or {}).get("nodes") or [])
