"""Power exactly once under real faults: Toxiproxy between the agent and the kube-apiserver
(connection resets, black holes, latency, an unreachable API server), a leader change in the
middle of an action, and the agent process killed with SIGKILL while an action runs. Every
state-changing command is counted on the simulator."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.cluster.status import TERMINAL_PHASES
from chassisd.kube.gateway import CHASSIS, POWERACTION, KubeGateway
from chassisd.kube.leader import LeaderElector
from chassisd.metrics import Metrics
from chassisd.sim.moonshot.model import CommandKind, Timing
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import API, World, all_hosts, open_world, standard_farm
from chassisd.testing.controlplane import ControlPlane
from chassisd.testing.pytest_toxiproxy import KubeApiViaToxiproxy
from chassisd.testing.toxiproxy import Latency, ResetPeer, Timeout

pytestmark = [pytest.mark.kube, pytest.mark.slow]
BIN = Path(sys.executable).parent
SENDS = (CommandKind.POWER_ON, CommandKind.POWER_OFF, CommandKind.POWER_OFF_FORCE)
#: m1's nodes as the standard farm names them (c1n{cartridge}) and their native ids.
M1_NODES = {f"c1n{i}": f"c{i}n1" for i in range(2, 7)}  # c1n1 is also m2's native id


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    """Two simulated chassis (6 nodes each), their Secrets, and the gateway; agents stop after."""
    with open_world(kube_api, kube_namespace) as w:
        yield w


def sends(w: World) -> int:
    by_kind = w.sims["m1"].stats.commands_by_kind
    return sum(by_kind.get(kind, 0) for kind in SENDS)


def create_offs(w: World, prefix: str, names: list[str]) -> list[str]:
    created = []
    for name in names:
        obj = w.gateway.create(
            {
                "apiVersion": API,
                "kind": "PowerAction",
                "metadata": {"name": f"{prefix}-{name}", "namespace": w.namespace},
                "spec": {"node": name, "action": "off"},
            }
        )
        created.append(obj["metadata"]["name"])
    return created


def phases(w: World, names: list[str]) -> dict[str, str]:
    found = {}
    for name in names:
        obj = w.gateway.get(POWERACTION, w.namespace, name)
        found[name] = "gone" if obj is None else (obj.get("status") or {}).get("phase", "Pending")
    return found


def all_finished(w: World, names: list[str]) -> bool:
    return all(p in TERMINAL_PHASES for p in phases(w, names).values())


def steady(w: World, via: KubeApiViaToxiproxy) -> None:
    """Farm up, the agent talking to the API server only through the proxy."""
    standard_farm(w)
    w.start_agent(gateway=KubeGateway(via.api, request_timeout=2.0))
    assert wait_until(lambda: len(all_hosts(w)) == 12, timeout=40), all_hosts(w)
    assert wait_until(
        lambda: all(
            n["power"] == "on"
            for n in (w.get(CHASSIS, "m1").get("status") or {}).get("nodes") or []
        ),
        timeout=20,
    )


@pytest.mark.parametrize(
    ("toxic", "stream", "toxicity"),
    [
        pytest.param(ResetPeer(timeout_ms=0), "downstream", 0.4, id="answers-reset"),
        pytest.param(ResetPeer(timeout_ms=0), "upstream", 0.4, id="requests-reset"),
        pytest.param(Timeout(timeout_ms=1500), "downstream", 0.4, id="black-hole"),
        pytest.param(Latency(latency_ms=1200, jitter_ms=400), "downstream", 1.0, id="slow-api"),
    ],
)
def test_faults_on_the_api_path_never_send_twice(
    world: World,
    kube_api_via_toxiproxy: KubeApiViaToxiproxy,
    toxic: Any,
    stream: str,
    toxicity: float,
) -> None:
    """Five offs while the agent's API connections are reset, black-holed or slowed (writes and
    the watch alike): exactly one power command per action, and once the fault is gone every
    action ends Succeeded with its node off."""
    via = kube_api_via_toxiproxy
    steady(world, via)
    before = sends(world)
    via.proxy.add_toxic(toxic, stream=stream, toxicity=toxicity)  # type: ignore[arg-type]
    names = create_offs(world, "fault", list(M1_NODES))
    time.sleep(8)
    for info in via.proxy.toxics():
        via.proxy.remove_toxic(info.name)
    assert wait_until(lambda: all_finished(world, names), timeout=60), phases(world, names)
    time.sleep(2)
    sent = sends(world) - before
    result = phases(world, names)
    # Each action was sent exactly once, and none was lost: the device answered every command,
    # so every outcome is known once the API path works again.
    assert sent == len(names), (sent, result)
    assert set(result.values()) == {"Succeeded"}, result
    for name in names:
        node = M1_NODES[name.removeprefix("fault-")]
        assert not world.sims["m1"].is_powered_on(node)


def test_api_server_unreachable_mid_action_sends_once(
    world: World, kube_api_via_toxiproxy: KubeApiViaToxiproxy
) -> None:
    """The API server becomes unreachable (proxy disabled) while slow offs run on the device,
    and comes back: each action was sent once and its outcome is written after all."""
    via = kube_api_via_toxiproxy
    steady(world, via)
    world.sims["m1"].set_timing(Timing(latency={CommandKind.POWER_OFF_FORCE: 1.0,
                                                CommandKind.POWER_OFF: 1.0}))  # fmt: skip
    before = sends(world)
    names = create_offs(world, "outage", ["c1n2", "c1n3"])
    assert wait_until(lambda: "Running" in phases(world, names).values(), timeout=20)
    via.proxy.disable()
    time.sleep(5)
    via.proxy.enable()
    assert wait_until(lambda: all_finished(world, names), timeout=60), phases(world, names)
    time.sleep(2)
    statuses = {n: world.get(POWERACTION, n).get("status") for n in names}
    assert sends(world) - before == 2, statuses
    assert set(phases(world, names).values()) <= {"Succeeded", "Unknown"}


def test_leader_change_mid_action_never_resends(world: World) -> None:
    """The leader stops (its Lease released) while its off is on the device: the new leader
    finds the action Running under another attempt and ends it Unknown; one command in all."""
    standard_farm(world)
    electors: list[LeaderElector] = []
    stops: list[threading.Event] = []
    for identity in ("a", "b"):
        elector = LeaderElector(world.gateway.api, namespace=world.namespace,
                                name="chassisd-leader", identity=identity, lease_duration=3,
                                renew_deadline=2, retry_period=0.3)  # fmt: skip
        agent = world.start_agent(Metrics(), fence=lambda e=elector: e.is_leader,
                                  identity=identity)  # fmt: skip
        stop = threading.Event()
        threading.Thread(target=elector.run, args=(stop, agent.lead, agent.follow),
                         daemon=True).start()  # fmt: skip
        electors.append(elector)
        stops.append(stop)
    assert wait_until(lambda: any(e.is_leader for e in electors), timeout=10)
    assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=30)
    leader = 0 if electors[0].is_leader else 1
    world.sims["m1"].set_timing(Timing(latency={CommandKind.POWER_OFF_FORCE: 4.0,
                                                CommandKind.POWER_OFF: 4.0}))  # fmt: skip
    before = sends(world)
    names = create_offs(world, "handover", ["c1n3"])
    assert wait_until(lambda: phases(world, names)[names[0]] == "Running", timeout=20)
    # The leader gives up while its command is on the device (4 s of latency there), not
    # between the Running mark and the send: there it would rightly send nothing at all.
    assert wait_until(lambda: sends(world) - before == 1, timeout=10)
    stops[leader].set()
    assert wait_until(lambda: electors[1 - leader].is_leader, timeout=15)
    assert wait_until(lambda: all_finished(world, names), timeout=30), phases(world, names)
    time.sleep(5)  # the old leader's command finishes meanwhile; nothing else goes out
    assert sends(world) - before == 1
    stops[1 - leader].set()


def _daemon(cp: ControlPlane, namespace: str) -> tuple[subprocess.Popen[str], threading.Thread]:
    process = subprocess.Popen(
        [str(BIN / "chassisd"), "run", "--kubeconfig", str(cp.kubeconfig), "--namespace",
         namespace, "--health-address", "127.0.0.1:0", "--no-leader-election",
         "--identity", "killed"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if re.search(r"health=", process.stderr.readline()):
            break
    drain = threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True)  # type: ignore[union-attr]
    drain.start()
    return process, drain


@pytest.mark.parametrize("moment", ["before-pickup", "on-the-device", "settling", "finished"])
def test_sigkill_at_each_step_never_resends(
    world: World, control_plane: ControlPlane, moment: str
) -> None:
    """`chassisd run` is killed with SIGKILL at one step of an off, and started again: an
    action not yet started is carried out once; one killed on the device or while the state
    settles ends Unknown and is not sent again; a finished one stays finished."""
    standard_farm(world)
    process, drain = _daemon(control_plane, world.namespace)
    try:
        assert wait_until(lambda: len(all_hosts(world)) == 12, timeout=40)
        if moment == "on-the-device":
            world.sims["m1"].set_timing(Timing(latency={CommandKind.POWER_OFF_FORCE: 5.0,
                                                        CommandKind.POWER_OFF: 5.0}))  # fmt: skip
        if moment == "settling":
            world.sims["m1"].set_timing(Timing(power_delay=6.0))
        before = sends(world)
        if moment == "before-pickup":
            _end(process, drain, signal.SIGKILL)
        names = create_offs(world, "kill", ["c1n4"])
        if moment in ("on-the-device", "settling"):
            assert wait_until(lambda: phases(world, names)[names[0]] == "Running", timeout=20)
            time.sleep(1)
        if moment == "finished":
            assert wait_until(lambda: all_finished(world, names), timeout=30)
        if process.poll() is None:
            _end(process, drain, signal.SIGKILL)
        process, drain = _daemon(control_plane, world.namespace)
        assert wait_until(lambda: all_finished(world, names), timeout=40), phases(world, names)
        time.sleep(3)
        expected = {"before-pickup": "Succeeded", "on-the-device": "Unknown",
                    "settling": "Unknown", "finished": "Succeeded"}[moment]  # fmt: skip
        assert phases(world, names)[names[0]] == expected
        assert sends(world) - before == 1
    finally:
        _end(process, drain, signal.SIGTERM)


def _end(process: subprocess.Popen[str], drain: threading.Thread, sig: signal.Signals) -> None:
    """Send ``sig`` to the daemon (if it still runs), wait for it, close its log pipe."""
    if process.poll() is None:
        process.send_signal(sig)
    process.wait(timeout=30)
    drain.join(timeout=5)
    if process.stderr is not None:
        process.stderr.close()
