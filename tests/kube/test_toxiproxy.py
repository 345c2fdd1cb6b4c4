"""``KubeGateway`` against the real kube-apiserver with Toxiproxy between them: what the gateway
reports when the connection is reset, black-holed, slowed down or cut while a watch is open.
The objects' true state is always read back past the proxy, straight from the API server.

The black-hole tests that time a read build their client with ``load_api_client``, as chassisd
does: its clients do not retry, so the gateway's request timeout bounds the whole call."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import kubernetes.client as k8s
import pytest

from chassisd.kube.gateway import CONFIGMAP, KubeApiError, KubeGateway, load_api_client
from chassisd.testing.pytest_toxiproxy import KubeApiViaToxiproxy
from chassisd.testing.toxiproxy import Latency, ResetPeer, Timeout

pytestmark = pytest.mark.kube

SHORT_TIMEOUT = 2.0  # seconds; the gateway's request timeout in the black-hole test


def config_map(namespace: str, name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"value": value},
    }


@pytest.fixture
def via_proxy(kube_api_via_toxiproxy: KubeApiViaToxiproxy) -> KubeApiViaToxiproxy:
    """The proxied client, checked to really point at the proxy and not at the API server."""
    proxy = kube_api_via_toxiproxy.proxy
    assert kube_api_via_toxiproxy.api.configuration.host == f"https://{proxy.listen}"
    assert kube_api_via_toxiproxy.direct_server != f"https://{proxy.listen}"
    return kube_api_via_toxiproxy


@pytest.fixture
def direct(kube_api: k8s.ApiClient) -> KubeGateway:
    """A gateway that bypasses the proxy: the judge of what the API server really holds."""
    return KubeGateway(kube_api)


def stored_value(direct: KubeGateway, namespace: str, name: str) -> str | None:
    obj = direct.get(CONFIGMAP, namespace, name)
    return None if obj is None else str(obj["data"]["value"])


def test_without_toxics_list_and_apply_go_through(
    via_proxy: KubeApiViaToxiproxy, direct: KubeGateway, kube_namespace: str
) -> None:
    """Through a clean proxy, apply writes (TLS verified end to end) and list reads it back."""
    gateway = KubeGateway(via_proxy.api)
    applied = gateway.apply(config_map(kube_namespace, "clean", "one"))
    assert applied["data"] == {"value": "one"}
    items, resource_version = gateway.list(CONFIGMAP, kube_namespace)
    assert [item["metadata"]["name"] for item in items] == ["clean"]
    assert resource_version
    assert stored_value(direct, kube_namespace, "clean") == "one"


def test_reset_peer_turns_a_write_into_status_0_and_writes_nothing(
    via_proxy: KubeApiViaToxiproxy, direct: KubeGateway, kube_namespace: str
) -> None:
    """A connection reset on the request path is ``KubeApiError`` with status 0, the object is
    unchanged on the server, and the same gateway writes again once the fault is gone."""
    gateway = KubeGateway(via_proxy.api)
    gateway.apply(config_map(kube_namespace, "reset", "before"))
    with (
        via_proxy.proxy.toxic(ResetPeer(), stream="upstream"),
        pytest.raises(KubeApiError) as failed,
    ):
        gateway.apply(config_map(kube_namespace, "reset", "during"))
    assert failed.value.status == 0
    assert "unreachable" in str(failed.value)
    assert stored_value(direct, kube_namespace, "reset") == "before"
    gateway.apply(config_map(kube_namespace, "reset", "after"))
    assert stored_value(direct, kube_namespace, "reset") == "after"


def test_black_hole_fails_a_write_within_the_request_timeout(
    via_proxy: KubeApiViaToxiproxy, direct: KubeGateway, kube_namespace: str
) -> None:
    """With every byte to the API server dropped (timeout toxic, never closing), a write fails
    with status 0 after the gateway's request timeout, not later, and writes nothing."""
    gateway = KubeGateway(via_proxy.api, request_timeout=SHORT_TIMEOUT)
    gateway.apply(config_map(kube_namespace, "hole", "before"))  # discovery done, pool warm
    with via_proxy.proxy.toxic(Timeout(0), stream="upstream"):
        started = time.monotonic()
        with pytest.raises(KubeApiError) as failed:
            gateway.apply(config_map(kube_namespace, "hole", "during"))
        elapsed = time.monotonic() - started
    assert failed.value.status == 0
    assert SHORT_TIMEOUT * 0.9 <= elapsed < SHORT_TIMEOUT + 1.5
    assert stored_value(direct, kube_namespace, "hole") == "before"


def test_black_hole_fails_a_read_within_the_request_timeout(
    via_proxy: KubeApiViaToxiproxy, kube_namespace: str
) -> None:
    """The same for a list: a read is not silently retried past the request timeout (urllib3's
    default retries made it four timeouts)."""
    with load_api_client(via_proxy.kubeconfig) as api:
        gateway = KubeGateway(api, request_timeout=SHORT_TIMEOUT)
        gateway.list(CONFIGMAP, kube_namespace)  # discovery done, pool warm
        with via_proxy.proxy.toxic(Timeout(0), stream="upstream"):
            started = time.monotonic()
            with pytest.raises(KubeApiError) as failed:
                gateway.list(CONFIGMAP, kube_namespace)
            elapsed = time.monotonic() - started
    assert failed.value.status == 0
    assert SHORT_TIMEOUT * 0.9 <= elapsed < SHORT_TIMEOUT + 1.5


def test_black_hole_fails_the_first_call_within_the_request_timeout(
    via_proxy: KubeApiViaToxiproxy, kube_namespace: str
) -> None:
    """A new gateway's first call starts with API discovery; against a black hole that fails
    within the request timeout too (the dynamic client's discovery had no timeout at all)."""
    via_proxy.proxy.add_toxic(Timeout(0), stream="upstream")
    with load_api_client(via_proxy.kubeconfig) as api:
        gateway = KubeGateway(api, request_timeout=SHORT_TIMEOUT)
        started = time.monotonic()
        with pytest.raises(KubeApiError) as failed:
            gateway.list(CONFIGMAP, kube_namespace)
        elapsed = time.monotonic() - started
    assert failed.value.status == 0
    assert elapsed < SHORT_TIMEOUT + 1.5


def test_latency_delays_requests_but_they_succeed(
    via_proxy: KubeApiViaToxiproxy, direct: KubeGateway, kube_namespace: str
) -> None:
    """400 ms of latency on the answers slows apply and list down by at least that much; both
    still succeed and the write is on the server."""
    gateway = KubeGateway(via_proxy.api)
    gateway.list(CONFIGMAP, kube_namespace)  # discovery done, pool warm
    with via_proxy.proxy.toxic(Latency(400)):
        started = time.monotonic()
        gateway.apply(config_map(kube_namespace, "slow", "late"))
        apply_took = time.monotonic() - started
        started = time.monotonic()
        items, _ = gateway.list(CONFIGMAP, kube_namespace)
        list_took = time.monotonic() - started
    assert apply_took >= 0.4 and list_took >= 0.4
    assert [item["metadata"]["name"] for item in items] == ["slow"]
    assert stored_value(direct, kube_namespace, "slow") == "late"


WATCH_TIMEOUT = 4  # seconds the server keeps the test watches open


@pytest.fixture
def watch_events(
    via_proxy: KubeApiViaToxiproxy, kube_namespace: str
) -> Iterator[queue.Queue[tuple[str, object]]]:
    """A ConfigMap watch through the proxy in a thread (``WATCH_TIMEOUT``, gateway request
    timeout ``SHORT_TIMEOUT``); each event arrives on the queue as ("event", type), the watch's
    end as ("error", exception) or ("ended", None)."""
    gateway = KubeGateway(via_proxy.api, request_timeout=SHORT_TIMEOUT)
    _, resource_version = gateway.list(CONFIGMAP, kube_namespace)
    events: queue.Queue[tuple[str, object]] = queue.Queue()

    def follow() -> None:
        try:
            for event_type, _ in gateway.watch(
                CONFIGMAP, kube_namespace, resource_version, WATCH_TIMEOUT
            ):
                events.put(("event", event_type))
        except KubeApiError as exc:
            events.put(("error", exc))
            return
        events.put(("ended", None))

    thread = threading.Thread(target=follow, name="watch-via-proxy", daemon=True)
    thread.start()
    yield events
    via_proxy.proxy.disable()  # ends the watch if the test did not
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_watch_ends_with_an_error_when_the_proxy_goes_away(
    via_proxy: KubeApiViaToxiproxy,
    direct: KubeGateway,
    kube_namespace: str,
    watch_events: queue.Queue[tuple[str, object]],
) -> None:
    """A live watch through the proxy sees an ADDED event; when the proxy is disabled (its
    connections closed) the watch ends with ``KubeApiError`` status 0 at once, not with a
    silent end that looks like the watch's own timeout."""
    direct.apply(config_map(kube_namespace, "watched", "x"))
    assert watch_events.get(timeout=10) == ("event", "ADDED")
    started = time.monotonic()
    via_proxy.proxy.disable()
    kind, error = watch_events.get(timeout=10)
    assert kind == "error", f"the watch ended without an error: {kind}"
    assert isinstance(error, KubeApiError) and error.status == 0
    assert time.monotonic() - started < 2.0


def test_watch_ends_normally_at_its_timeout(
    direct: KubeGateway,
    kube_namespace: str,
    watch_events: queue.Queue[tuple[str, object]],
) -> None:
    """Without faults the same watch ends without an error when the server closes it after its
    timeout: the error above comes from the cut, not from every end of a watch."""
    direct.apply(config_map(kube_namespace, "watched", "x"))
    assert watch_events.get(timeout=10) == ("event", "ADDED")
    assert watch_events.get(timeout=WATCH_TIMEOUT + 5) == ("ended", None)


def test_watch_on_a_black_hole_ends_after_its_timeout_plus_a_request_timeout(
    via_proxy: KubeApiViaToxiproxy,
    direct: KubeGateway,
    kube_namespace: str,
    watch_events: queue.Queue[tuple[str, object]],
) -> None:
    """When the answers stop coming (timeout toxic on the server's side, connection kept open)
    the watch does not hang: it ends with ``KubeApiError`` status 0 once nothing arrived for
    its own timeout plus the request timeout (it hung for ever before)."""
    direct.apply(config_map(kube_namespace, "watched", "x"))
    assert watch_events.get(timeout=10) == ("event", "ADDED")
    started = time.monotonic()
    via_proxy.proxy.add_toxic(Timeout(0), stream="downstream")
    kind, error = watch_events.get(timeout=WATCH_TIMEOUT + SHORT_TIMEOUT + 5)
    assert kind == "error", f"the watch ended without an error: {kind}"
    assert isinstance(error, KubeApiError) and error.status == 0
    assert time.monotonic() - started < WATCH_TIMEOUT + SHORT_TIMEOUT + 1.5
