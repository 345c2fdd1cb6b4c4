"""Lists a page at a time against the real kube-apiserver: the gateway's pages, and an
informer that follows more objects than one page holds."""

from __future__ import annotations

import threading
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.cluster.cache import ObjectCache
from chassisd.cluster.informer import Change, Informer
from chassisd.kube.gateway import CHASSIS, DHCPHOSTS, KubeGateway
from chassisd.testing import wait_until

pytestmark = pytest.mark.kube


def _dhcphosts(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": DHCPHOSTS.api_version,
        "kind": DHCPHOSTS.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {"paged": "yes"}},
        "spec": {"controller": "", "hosts": [{"macs": ["52:54:00:12:34:56"], "hostname": name}]},
    }


def _chassis(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": CHASSIS.api_version,
        "kind": CHASSIS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "driver": "fake",
            "address": name,
            "paused": True,
            "credentialsSecretRef": {"name": "creds"},
        },
    }


def test_paged_list_returns_every_object_once_and_the_version_with_the_last_page(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """Five objects in pages of two: 2 + 2 + 1, each object once, the label selector kept, and
    the list's resourceVersion only with the last page."""
    gateway = KubeGateway(kube_api, page_size=2)
    for i in range(5):
        gateway.create(_dhcphosts(f"h{i}", kube_namespace))
    gateway.create({**_dhcphosts("other", kube_namespace), "metadata": {
        "name": "other", "namespace": kube_namespace}})  # fmt: skip
    pages = list(gateway.list_pages(DHCPHOSTS, kube_namespace, "paged=yes"))
    assert [len(items) for items, _ in pages] == [2, 2, 1]
    assert [version for _, version in pages][:2] == ["", ""]
    assert pages[-1][1].isdigit()
    names = [item["metadata"]["name"] for items, _ in pages for item in items]
    assert sorted(names) == [f"h{i}" for i in range(5)]


def test_informer_follows_more_objects_than_a_page(
    kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """An informer listing in pages of two holds all five Chassis, tells its handler about
    each and then that the list is complete, and notices one deleted at the next list."""
    gateway = KubeGateway(kube_api, page_size=2)
    for i in range(5):
        gateway.create(_chassis(f"c{i}", kube_namespace))
    cache = ObjectCache()
    seen: list[Change] = []
    lock = threading.Lock()

    def record(change: Change) -> None:
        with lock:
            seen.append(change)

    informer = Informer(gateway, cache, CHASSIS, namespace=kube_namespace, relist_interval=1)
    informer.add_handler(record)
    informer.start()
    try:
        assert wait_until(lambda: informer.synced, timeout=10)
        assert set(cache.items(CHASSIS)) == {(kube_namespace, f"c{i}") for i in range(5)}
        with lock:
            first = list(seen)
        assert [c.key for c in first[:5]] == [(kube_namespace, f"c{i}") for i in range(5)]
        assert all(c.new is not None and c.old is None for c in first[:5])
        assert first[5].key is None
        gateway.delete(CHASSIS, kube_namespace, "c3")
        assert wait_until(lambda: (kube_namespace, "c3") not in cache.items(CHASSIS), timeout=10)
        with lock:
            gone = [c for c in seen if c.key == (kube_namespace, "c3") and c.new is None]
        assert len(gone) >= 1
    finally:
        informer.stop()
