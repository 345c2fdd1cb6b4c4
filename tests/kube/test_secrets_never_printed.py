"""Secrets are never printed, in cluster mode on the real kube-apiserver: a canary password and
private key through a working poll, a refused password, a refused key, a value that is not
UTF-8 and a power request that fails at login never appear in Chassis, NodePool or PowerAction
statuses, Events, DhcpHosts, metrics, or the logs at debug level (text and JSON)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import kubernetes.client as k8s
import pytest
from prometheus_client import generate_latest

from chassisd.daemon import JsonFormatter
from chassisd.kube.gateway import CHASSIS, DHCPHOSTS, EVENT, NODEPOOL, POWERACTION
from chassisd.metrics import Metrics
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec, Faults
from chassisd.testing import wait_until
from chassisd.testing.clusterworld import API, World, open_world
from tests.hostile.test_secrets_never_printed import CANARIES, KEY_TEXT, PASSWORD

pytestmark = pytest.mark.kube


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    with open_world(kube_api, kube_namespace) as w:
        yield w


@pytest.fixture
def canary_chassis() -> Iterator[SimHandle]:
    spec = ChassisSpec.generate("m3", seed=5, slots=3, fill=1.0, multi_node=0.0)
    with MoonshotSimulator(spec, users={"admin": PASSWORD}).running() as handle:
        yield handle


def secret(world: World, name: str, data: dict[str, str]) -> None:
    world.gateway.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": world.namespace},
            "data": {k: base64.b64encode(v.encode("utf-8", "surrogateescape")).decode()
                     for k, v in data.items()},
        }
    )  # fmt: skip


def chassis(world: World, name: str, handle: SimHandle, credentials: str) -> None:
    world.gateway.create(
        {
            "apiVersion": API,
            "kind": "Chassis",
            "metadata": {"name": name, "namespace": world.namespace},
            "spec": {
                "driver": "moonshot",
                "address": f"127.0.0.1:{handle.port}",
                "credentialsSecretRef": {"name": credentials},
                "knownHosts": handle.known_hosts_line,
                "pollInterval": "1s",
                "connectTimeout": "3s",
                "commandTimeout": "3s",
            },
        }
    )


def status_of(world: World, name: str) -> dict[str, Any]:
    return world.get(CHASSIS, name).get("status") or {}


def reason(world: World, name: str) -> str:
    """The reason of the first failing condition (ConfigValid, Reachable, InventoryValid),
    else of Reachable."""
    by_type = {c["type"]: c for c in status_of(world, name).get("conditions") or []}
    for kind in ("ConfigValid", "Reachable", "InventoryValid"):
        if by_type.get(kind, {}).get("status") == "False":
            return str(by_type[kind].get("reason", ""))
    return str(by_type.get("Reachable", {}).get("reason", ""))


def test_no_status_event_metric_or_log_line_holds_a_canary(
    world: World, canary_chassis: SimHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """Four chassis with canary credentials (one works), a failing power request: every
    outcome is reached, and no canary is anywhere the agent writes or logs."""
    caplog.set_level(logging.DEBUG)
    for noisy in ("paramiko", "kubernetes", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=noisy)
    secret(world, "works", {"username": "admin", "password": PASSWORD})
    secret(world, "wrong", {"username": "admin", "password": PASSWORD + "x"})
    secret(world, "key", {"username": "admin", "ssh-privatekey": KEY_TEXT})
    secret(world, "binary", {"username": "admin", "password": PASSWORD + "\udcff"})
    for name, credentials in (("w", "works"), ("p", "wrong"), ("k", "key"), ("b", "binary")):
        chassis(world, name, canary_chassis, credentials)
    world.pool("all", {"catchAll": True, "dhcp": {"namespace": world.namespace}})
    metrics = Metrics()
    world.start_agent(metrics)
    assert wait_until(lambda: reason(world, "w") == "PollSucceeded", timeout=20)
    assert wait_until(lambda: reason(world, "p") == "AuthFailed", timeout=20)
    assert wait_until(lambda: reason(world, "k") == "AuthFailed", timeout=20)
    assert wait_until(lambda: reason(world, "b") == "InvalidConfig", timeout=20)
    canary_chassis.set_faults(Faults(reject_all_logins=True))
    world.gateway.create(
        {
            "apiVersion": API,
            "kind": "PowerAction",
            "metadata": {"name": "on", "namespace": world.namespace},
            "spec": {"node": "w/c1n1", "action": "on"},
        }
    )

    def power_phase() -> str:
        obj = world.gateway.get(POWERACTION, world.namespace, "on") or {}
        return str((obj.get("status") or {}).get("phase", ""))

    assert wait_until(lambda: power_phase() == "Failed", timeout=30)
    written: list[Any] = [world.gateway.get(POWERACTION, world.namespace, "on")]
    for kind in (CHASSIS, NODEPOOL, DHCPHOSTS, EVENT):
        written.extend(world.gateway.list(kind, world.namespace)[0])
    formatter, json_formatter = logging.Formatter(), JsonFormatter()
    logs = [formatter.format(r) + json_formatter.format(r) for r in caplog.records]
    everything = json.dumps(written) + generate_latest(metrics.registry).decode() + "".join(logs)
    for canary in CANARIES:
        assert canary not in everything, canary
    assert "refused" in everything and "data.password" in everything
    assert any(r.name.startswith("paramiko") for r in caplog.records)
