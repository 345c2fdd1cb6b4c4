"""The HTTP port (``chassisd.health``) and the metrics behind it (``chassisd.metrics``), served on
127.0.0.1 with a free port and read with httpx and prometheus_client's own text parser."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chassisd.health import HealthServer
from chassisd.metrics import Metrics


class Probes:
    """What the daemon would answer to the liveness and readiness checks; flipped by tests."""

    def __init__(self) -> None:
        self.is_alive = True
        self.readiness: tuple[bool, str] = (False, "CRDs not listed yet")

    def alive(self) -> bool:
        return self.is_alive

    def ready(self) -> tuple[bool, str]:
        return self.readiness


@pytest.fixture
def probes() -> Probes:
    """Fresh probe answers: alive, not ready."""
    return Probes()


@pytest.fixture
def metrics() -> Metrics:
    """Metrics on their own registry, with a fixed version label."""
    return Metrics(version="1.2.3")


@pytest.fixture
def server(metrics: Metrics, probes: Probes) -> Iterator[HealthServer]:
    """A started HealthServer on 127.0.0.1 and a free port, stopped afterwards."""
    health = HealthServer("127.0.0.1", 0, metrics, probes.alive, probes.ready)
    health.start()
    yield health
    health.stop()


@pytest.fixture
def http(server: HealthServer) -> Iterator[httpx.Client]:
    """An HTTP client for the server (ignoring any proxy settings in the environment)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", trust_env=False) as client:
        yield client


def scrape(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics and parse it: {(sample name, sorted labels): value}."""
    response = http.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_healthz_follows_the_liveness_callable(http: httpx.Client, probes: Probes) -> None:
    """/healthz answers 200 while alive() is true and 503 once it is false."""
    response = http.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")
    probes.is_alive = False
    assert http.get("/healthz").status_code == 503


def test_readyz_is_503_with_the_reason_until_ready(http: httpx.Client, probes: Probes) -> None:
    """/readyz answers 503 with ready()'s reason in plain text, then 200 once ready."""
    response = http.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "not ready: CRDs not listed yet\n"
    probes.readiness = (True, "")
    response = http.get("/readyz")
    assert (response.status_code, response.text) == (200, "ok\n")


def test_a_raising_check_is_a_503_not_a_crash(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    """A readiness or liveness callable that raises makes its probe fail; the server stays up."""

    def broken_alive() -> bool:
        raise RuntimeError("boom")

    def broken_ready() -> tuple[bool, str]:
        raise RuntimeError("boom")

    health = HealthServer("127.0.0.1", 0, metrics, broken_alive, broken_ready)
    health.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{health.port}", trust_env=False) as own:
            assert own.get("/readyz").status_code == 503
            assert own.get("/healthz").status_code == 503
            assert own.get("/metrics").status_code == 200
    finally:
        health.stop()
    assert any("readiness check raised" in r.getMessage() for r in caplog.records)


def test_metrics_are_served_in_the_prometheus_text_format(
    http: httpx.Client, metrics: Metrics
) -> None:
    """/metrics has the 0.0.4 text content type and shows what the Metrics methods recorded."""
    metrics.observe_poll("moonshot-1", "moonshot", "success", 1.25, namespace="farm")
    metrics.observe_poll("moonshot-1", "moonshot", "transient", 3.0, namespace="farm")
    metrics.set_nodes("moonshot-1", 45, namespace="farm")
    metrics.set_reachable("moonshot-1", True, namespace="farm")
    metrics.set_pool("farm-a", members=40, conflicts=2, free=10, namespace="farm")
    metrics.count_write("DhcpHosts", "apply")
    metrics.count_write("DhcpHosts", "apply")
    metrics.count_power("cycle", "unknown", "moonshot")
    metrics.set_leader(True)

    assert http.get("/metrics").headers["content-type"] == (
        "text/plain; version=0.0.4; charset=utf-8"
    )
    samples = scrape(http)
    chassis = (("chassis", "moonshot-1"), ("namespace", "farm"))
    poll = (("chassis", "moonshot-1"), ("driver", "moonshot"), ("namespace", "farm"))
    assert samples[("chassisd_polls_total", (*poll, ("result", "success")))] == 1
    assert samples[("chassisd_polls_total", (*poll, ("result", "transient")))] == 1
    assert samples[("chassisd_polls_total", (*poll, ("result", "permanent")))] == 0
    success = (("driver", "moonshot"), ("result", "success"))
    assert samples[("chassisd_poll_duration_seconds_count", success)] == 1
    assert samples[("chassisd_poll_duration_seconds_sum", success)] == 1.25
    buckets = {
        dict(labels)["le"]: value
        for (name, labels), value in samples.items()
        if name == "chassisd_poll_duration_seconds_bucket" and ("result", "success") in labels
    }
    assert (buckets["1.0"], buckets["2.5"], buckets["+Inf"]) == (0, 1, 1)
    assert samples[("chassisd_nodes", chassis)] == 45
    assert samples[("chassisd_chassis_reachable", chassis)] == 1
    assert samples[("chassisd_chassis_consecutive_failures", chassis)] == 1
    pool = (("namespace", "farm"), ("pool", "farm-a"))
    assert samples[("chassisd_pool_members", pool)] == 40
    assert samples[("chassisd_pool_conflicts", pool)] == 2
    assert samples[("chassisd_pool_free_addresses", pool)] == 10
    assert samples[("chassisd_api_writes_total", (("kind", "DhcpHosts"), ("verb", "apply")))] == 2
    power = (("action", "cycle"), ("driver", "moonshot"), ("outcome", "unknown"))
    assert samples[("chassisd_power_actions_total", power)] == 1
    assert samples[("chassisd_leader", ())] == 1
    assert samples[("chassisd_build_info", (("version", "1.2.3"),))] == 1


def test_forgetting_a_chassis_or_pool_removes_only_its_series(metrics: Metrics) -> None:
    """forget_chassis and forget_pool drop every series of that chassis or pool, and no other."""
    for namespace in ("farm", "lab"):
        for chassis in ("moonshot-1", "moonshot-2"):
            metrics.observe_poll(chassis, "moonshot", "permanent", 0.5, namespace=namespace)
            metrics.set_nodes(chassis, 45, namespace=namespace)
            metrics.set_reachable(chassis, False, namespace=namespace)
    metrics.set_pool("farm-a", members=1, conflicts=0, namespace="farm")
    metrics.set_pool("farm-b", members=2, conflicts=0, namespace="farm")

    metrics.forget_chassis("moonshot-1", namespace="farm")
    metrics.forget_pool("farm-a", namespace="farm")

    value = metrics.registry.get_sample_value
    result = {"driver": "moonshot", "result": "permanent"}
    one = {"namespace": "farm", "chassis": "moonshot-1"}
    for name in ("chassisd_nodes", "chassisd_chassis_reachable",
                 "chassisd_chassis_consecutive_failures"):  # fmt: skip
        assert value(name, one) is None
        assert value(name, {"namespace": "lab", "chassis": "moonshot-1"}) is not None
    assert value("chassisd_polls_total", {**one, **result}) is None
    assert value("chassisd_polls_total", {**one, **result, "namespace": "lab"}) == 1
    assert value("chassisd_nodes", {"namespace": "farm", "chassis": "moonshot-2"}) == 45
    assert value("chassisd_pool_members", {"namespace": "farm", "pool": "farm-a"}) is None
    assert value("chassisd_pool_members", {"namespace": "farm", "pool": "farm-b"}) == 2


def test_each_metrics_object_has_its_own_registry() -> None:
    """Two Metrics objects do not collide and do not share values (no global registry)."""
    first, second = Metrics(version="a"), Metrics(version="b")
    first.count_write("DhcpHosts", "apply")
    assert (
        first.registry.get_sample_value(
            "chassisd_api_writes_total", {"kind": "DhcpHosts", "verb": "apply"}
        )
        == 1
    )
    assert (
        second.registry.get_sample_value(
            "chassisd_api_writes_total", {"kind": "DhcpHosts", "verb": "apply"}
        )
        is None
    )


def test_an_unknown_poll_result_is_refused(metrics: Metrics) -> None:
    """observe_poll accepts only success, transient and permanent (label values stay bounded)."""
    with pytest.raises(ValueError, match="transient"):
        metrics.observe_poll("moonshot-1", "moonshot", "timeout", 1.0)  # type: ignore[arg-type]


def test_unknown_paths_are_404_and_head_has_no_body(http: httpx.Client) -> None:
    """Paths other than the three answer 404; HEAD answers like GET without a body."""
    assert http.get("/").status_code == 404
    assert http.get("/metrics/extra").status_code == 404
    head = http.head("/healthz")
    assert head.status_code == 200 and head.content == b""
    assert http.get("/healthz?verbose=1").status_code == 200  # a query string is ignored


def test_stop_closes_the_port_and_leaves_no_threads(metrics: Metrics, probes: Probes) -> None:
    """After stop() the port refuses connections and no thread the server started is left."""
    before = set(threading.enumerate())
    health = HealthServer("127.0.0.1", 0, metrics, probes.alive, probes.ready)
    health.start()
    port = health.port
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            client.get(path)
    health.stop()
    health.stop()  # idempotent

    assert set(threading.enumerate()) == before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError, match="not started"):
        _ = health.port


def test_prometheus_conventions(http: httpx.Client, metrics: Metrics) -> None:
    """No _created series, process_* metrics present, no trailing space in the Server header."""
    metrics.observe_poll("moonshot-1", "moonshot", "success", 1.0, namespace="farm")
    metrics.count_write("DhcpHosts", "apply")
    response = http.get("/metrics")
    names = {name for name, _labels in scrape(http)}
    assert not any(name.endswith("_created") for name in names), sorted(names)
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert response.headers["server"] == "chassisd"


def test_last_success_and_consecutive_failures(metrics: Metrics) -> None:
    """A success stamps the time and resets the failure count; each failure adds one."""
    value = metrics.registry.get_sample_value
    labels = {"namespace": "farm", "chassis": "m1"}
    metrics.observe_poll("m1", "moonshot", "transient", 1.0, namespace="farm")
    assert value("chassisd_chassis_last_success_timestamp_seconds", labels) is None
    metrics.observe_poll("m1", "moonshot", "success", 1.0, namespace="farm", now=1000.0)
    metrics.observe_poll("m1", "moonshot", "permanent", 1.0, namespace="farm")
    metrics.observe_poll("m1", "moonshot", "transient", 1.0, namespace="farm")
    assert value("chassisd_chassis_last_success_timestamp_seconds", labels) == 1000.0
    assert value("chassisd_chassis_consecutive_failures", labels) == 2
    metrics.observe_poll("m1", "moonshot", "success", 1.0, namespace="farm", now=2000.0)
    assert value("chassisd_chassis_consecutive_failures", labels) == 0
    assert value("chassisd_chassis_last_success_timestamp_seconds", labels) == 2000.0


def test_series_per_chassis_stay_few_at_1000_chassis(metrics: Metrics) -> None:
    """1,000 chassis, each polled with every result, export at most 8 series per chassis."""

    def series() -> int:
        return sum(len(family.samples) for family in metrics.registry.collect())

    before = series()
    for index in range(1000):
        for result in ("success", "transient", "permanent"):
            metrics.observe_poll(f"m{index}", "moonshot", result, 1.0, namespace="farm")  # type: ignore[arg-type]
        metrics.set_nodes(f"m{index}", 45, namespace="farm")
        metrics.set_reachable(f"m{index}", True, namespace="farm")
    # the histogram is per driver and result: a fixed 3 x 14 series, whatever the farm size
    assert series() - before <= 1000 * 7 + 3 * 14
