"""Containment in cluster mode on the real kube-apiserver: a chassis whose Secret or address is
bad gets that as its own condition; the healthy chassis beside it is polled and reserved."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.testing import wait_until
from chassisd.testing.clusterworld import World, all_hosts, chassis_health, open_world

pytestmark = pytest.mark.kube

BINARY = base64.b64encode(b"\xff\xfecanary-\x80\x81").decode()


@pytest.fixture
def world(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[World]:
    with open_world(kube_api, kube_namespace) as w:
        yield w


def reachable(world: World, name: str) -> dict[str, Any]:
    return chassis_health(world, name)


def test_a_secret_value_that_is_not_utf8_is_its_chassis_config_error(world: World) -> None:
    """m2's credentials Secret holds a binary password: m2 is Reachable=False InvalidConfig
    naming the Secret and key (never the value); m1 is polled and reserved as usual."""
    world.gateway.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "binary", "namespace": world.namespace},
            "data": {"username": base64.b64encode(b"admin").decode(), "password": BINARY},
        }
    )
    world.chassis("m1", world.sims["m1"])
    world.chassis("m2", world.sims["m2"], credentialsSecretRef={"name": "binary"})
    world.pool("all", {"catchAll": True, "dhcp": {"namespace": world.namespace}})
    world.start_agent()
    assert wait_until(lambda: reachable(world, "m2").get("status") == "False", timeout=20)
    condition = reachable(world, "m2")
    assert condition["reason"] == "InvalidConfig"
    assert "Secret " in condition["message"] and "/binary: data.password" in condition["message"]
    assert BINARY not in condition["message"] and "canary" not in condition["message"]
    assert wait_until(lambda: len(all_hosts(world)) == 6, timeout=20)
    assert reachable(world, "m1")["status"] == "True"
