"""Prompt recovery: `chassisctl poll` asks for a poll now whatever the back-off, and an API
server outage is not a chassis failure (the last good Secret is kept); against the real
kube-apiserver (through Toxiproxy for the outage) and simulated chassis."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml

from chassisd.cluster.manager import Manager
from chassisd.cluster.secrets import SecretCache
from chassisd.cluster.settings import AgentSettings, PollSettings
from chassisd.errors import KubeApiError
from chassisd.kube.gateway import CHASSIS, KubeGateway
from chassisd.metrics import Metrics
from chassisd.poller import RetryPolicy
from chassisd.registry import Registry
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import World, open_world
from chassisd.testing.controlplane import ControlPlane
from chassisd.testing.pytest_toxiproxy import KubeApiViaToxiproxy

pytestmark = pytest.mark.kube

BIN = Path(sys.executable).parent


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    """Two simulated chassis and their Secrets; agents stop after."""
    with open_world(kube_api, kube_namespace) as w:
        yield w


def _status(world: World, name: str) -> dict[str, Any]:
    return world.get(CHASSIS, name).get("status") or {}


def test_chassisctl_poll_polls_now_despite_the_back_off(
    world: World, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A chassis failing on credentials backs off (here to ~30 s and more); once the Secret is
    fixed, `chassisctl poll` makes the agent poll it within seconds, not after the back-off."""
    core = k8s.CoreV1Api(world.gateway.api)
    core.patch_namespaced_secret("creds", world.namespace, {"stringData": {"password": "nope"}})
    world.chassis("m1", world.sims["m1"])
    settings = AgentSettings(
        namespace=world.namespace,
        identity="recovery-test",
        poll=PollSettings(retry=RetryPolicy(attempts=1), max_backoff=600.0, secret_ttl=1.0),
    )
    agent = Manager(world.gateway, Registry(), Metrics(), settings, fence=lambda: True)
    agent.start(leading=True)
    world.agents.append(agent)
    # 1 s interval doubling: after 5 failures the next poll is 16-32 s away.
    assert wait_until(lambda: _status(world, "m1").get("consecutiveFailures", 0) >= 5, 60)
    core.patch_namespaced_secret("creds", world.namespace, {"stringData": {"password": "password"}})
    time.sleep(1.5)  # the Secret cache's time
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = world.namespace
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    asked = time.monotonic()
    result = subprocess.run(
        [str(BIN / "chassisctl"), "--kubeconfig", str(kubeconfig), "poll", "m1"],
        text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "chassis/m1 poll requested" in result.stdout

    def reachable() -> bool:
        conds = _status(world, "m1").get("conditions") or []
        return any(c["type"] == "Reachable" and c["status"] == "True" for c in conds)

    assert wait_until(reachable, timeout=10), _status(world, "m1")
    assert time.monotonic() - asked < 10
    missing = subprocess.run(
        [str(BIN / "chassisctl"), "--kubeconfig", str(kubeconfig), "poll", "no-such"],
        text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 3 and "no Chassis 'no-such'" in missing.stderr


def _failing_agent(world: World) -> None:
    """m1 with a wrong password and an agent whose back-off may grow to 10 minutes."""
    core = k8s.CoreV1Api(world.gateway.api)
    core.patch_namespaced_secret("creds", world.namespace, {"stringData": {"password": "nope"}})
    world.chassis("m1", world.sims["m1"])
    settings = AgentSettings(
        namespace=world.namespace,
        identity="recovery-test",
        poll=PollSettings(retry=RetryPolicy(attempts=1), max_backoff=600.0, secret_ttl=1.0),
    )
    agent = Manager(world.gateway, Registry(), Metrics(), settings, fence=lambda: True)
    agent.start(leading=True)
    world.agents.append(agent)


def test_a_fixed_secret_is_used_at_the_next_interval_not_after_the_back_off(
    world: World,
) -> None:
    """Refused credentials back off only while they stay the same: the chassis keeps its
    interval (1 s) without logging in, and once the Secret changed it is polled at once, not
    after its 16-32 s back-off."""
    _failing_agent(world)
    assert wait_until(lambda: _status(world, "m1").get("consecutiveFailures", 0) >= 5, 60)
    logins = world.sims["m1"].stats.logins
    time.sleep(3)  # within the back-off: the same refused credentials are not tried again
    assert world.sims["m1"].stats.logins == logins
    fixed = time.monotonic()
    k8s.CoreV1Api(world.gateway.api).patch_namespaced_secret(
        "creds", world.namespace, {"stringData": {"password": "password"}}
    )

    def reachable() -> bool:
        conds = _status(world, "m1").get("conditions") or []
        return any(c["type"] == "Reachable" and c["status"] == "True" for c in conds)

    assert wait_until(reachable, timeout=10), _status(world, "m1")
    assert time.monotonic() - fixed < 10


def test_an_api_outage_keeps_the_last_good_secret(
    kube_api_via_toxiproxy: KubeApiViaToxiproxy, kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """The Secret cache answers from its last good read while the API server cannot be reached
    (however old), and still says so for a Secret it never had."""
    k8s.CoreV1Api(kube_api).create_namespaced_secret(
        kube_namespace,
        k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="creds"), string_data={"username": "u"}),
    )
    gateway = KubeGateway(kube_api_via_toxiproxy.api, request_timeout=2.0)
    cache = SecretCache(gateway, ttl=0.1)
    assert cache.get(kube_namespace, "creds") == {"username": "u"}
    kube_api_via_toxiproxy.proxy.disable()
    time.sleep(0.2)  # past the TTL: a fresh read is due, and fails
    assert cache.get(kube_namespace, "creds") == {"username": "u"}
    with pytest.raises(KubeApiError):
        cache.get(kube_namespace, "other")
