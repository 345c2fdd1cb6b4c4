"""Events as the cluster agent writes them: events.k8s.io/v1 with eventTime, the reporting
controller and instance, a series for repeats, and one on each chassis transition; against the
real kube-apiserver and simulated chassis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.kube.gateway import CHASSIS, EVENT, KubeGateway
from chassisd.sim.moonshot.model import Faults
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import World, chassis_health, open_world, standard_farm

pytestmark = pytest.mark.kube


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    """Two simulated chassis and their Secrets; agents stop after."""
    with open_world(kube_api, kube_namespace) as w:
        yield w


def _events(world: World, reason: str) -> list[dict[str, Any]]:
    items, _ = world.gateway.list(EVENT, world.namespace)
    return [e for e in items if e.get("reason") == reason]


def test_an_event_names_its_reporter_and_counts_repeats(world: World) -> None:
    """One Event object per distinct event: eventTime, reportingController/Instance, action,
    regarding; the same event again sets series.count instead of adding an object."""
    world.chassis("m1", world.sims["m1"])
    chassis = world.get(CHASSIS, "m1")
    gateway = KubeGateway(world.gateway.api, reporting_instance="replica-a")
    gateway.event(chassis, reason="Unreachable", message="timed out", warning=True, now=1000.0)
    (first,) = _events(world, "Unreachable")
    assert first["eventTime"] == "1970-01-01T00:16:40.000000Z"
    assert (first["reportingController"], first["reportingInstance"]) == (
        "chassisd.io/chassisd", "replica-a"
    )  # fmt: skip
    assert first["type"] == "Warning" and first["note"] == "timed out" and first["action"]
    assert first["regarding"]["name"] == "m1" and first["regarding"]["uid"]
    assert "series" not in first
    gateway.event(chassis, reason="Unreachable", message="timed out", warning=True, now=1060.0)
    (again,) = _events(world, "Unreachable")
    assert again["metadata"]["name"] == first["metadata"]["name"]
    assert again["series"]["count"] == 2
    assert again["eventTime"] == first["eventTime"]


def test_chassis_transitions_are_events(world: World) -> None:
    """Login refused: an AuthFailed Warning (once, however many polls fail); logins accepted
    again: a Recovered Normal Event."""
    standard_farm(world)
    world.start_agent()

    def reachable() -> str:
        conds = (world.get(CHASSIS, "m1").get("status") or {}).get("conditions") or []
        return next((c["status"] for c in conds if c["type"] == "Reachable"), "")

    assert wait_until(lambda: reachable() == "True", timeout=20)
    world.sims["m1"].set_faults(Faults(reject_all_logins=True))
    assert wait_until(lambda: bool(_events(world, "AuthFailed")), timeout=20)
    (failed,) = _events(world, "AuthFailed")
    assert failed["type"] == "Warning" and failed["regarding"]["name"] == "m1"
    world.sims["m1"].set_faults(Faults())
    assert wait_until(lambda: bool(_events(world, "Recovered")), timeout=30)
    (recovered,) = _events(world, "Recovered")
    assert recovered["type"] == "Normal" and "AuthFailed" in recovered["note"]
    assert len(_events(world, "AuthFailed")) == 1


def test_a_refused_host_key_is_a_host_key_rejected_event(world: World) -> None:
    """A chassis whose host key is not in its known-hosts Secret: a HostKeyRejected Warning
    naming the fingerprint, and the Reachable condition says the same; once the Secret holds
    the key, a Recovered Event."""
    sim = world.sims["m1"]
    world.gateway.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "otherkeys", "namespace": world.namespace},
            "stringData": {"known_hosts": f"{world.sims['m2'].known_hosts_line}\n"},
        }
    )
    world.chassis("m1", sim, knownHostsSecretRef={"name": "otherkeys"})
    world.start_agent()
    assert wait_until(lambda: bool(_events(world, "HostKeyRejected")), timeout=20)
    (rejected,) = _events(world, "HostKeyRejected")
    assert rejected["type"] == "Warning" and rejected["regarding"]["name"] == "m1"
    assert sim.host_key_fingerprint in rejected["note"]
    assert chassis_health(world, "m1")["reason"] == "HostKeyRejected"
    k8s.CoreV1Api(world.gateway.api).patch_namespaced_secret(
        "otherkeys", world.namespace, {"stringData": {"known_hosts": sim.known_hosts_line}}
    )
    assert wait_until(lambda: bool(_events(world, "Recovered")), timeout=30)
    assert "HostKeyRejected" in _events(world, "Recovered")[0]["note"]
