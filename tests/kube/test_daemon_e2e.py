"""`chassisd run` and `chassisctl` as processes against the real control plane and a simulator."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import kubernetes.client as k8s
import pytest
import yaml

from chassisd.kube.gateway import DHCPHOSTS, KubeGateway
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, SimNode
from chassisd.testing import wait_until
from chassisd.testing.controlplane import ControlPlane

pytestmark = pytest.mark.kube
BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "moonshot-farm.yaml"


@pytest.fixture
def chassis() -> Iterator[SimHandle]:
    """A 45-slot single-node chassis with cartridge 43 present and off."""
    spec = ChassisSpec.generate("moonshot-1", seed=5, chassis_index=7, multi_node=0.0)
    spec = spec.with_cartridge(
        43, Cartridge((SimNode(macs=("02:43:00:00:00:01",), power_on=False),))
    )
    with MoonshotSimulator(spec).running() as handle:
        yield handle


@pytest.fixture
def daemon(
    control_plane: ControlPlane, kube_api: k8s.ApiClient, kube_namespace: str, chassis: SimHandle
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """The README's example resources (deploy/examples/moonshot-farm.yaml) applied, and
    `chassisd run` against them; yields the process and its health port."""
    gateway = KubeGateway(kube_api)
    ns = kube_namespace
    text = EXAMPLE.read_text().replace("ADDRESS", f"127.0.0.1:{chassis.port}")
    text = text.replace("KNOWN_HOSTS", json.dumps(chassis.known_hosts_line))
    for doc in yaml.safe_load_all(text):
        doc["metadata"]["namespace"] = ns
        if doc["kind"] == "Chassis":
            doc["spec"]["pollInterval"] = "2s"  # the example polls every minute
        gateway.create(doc)
    process = subprocess.Popen(
        [
            str(BIN / "chassisd"),
            "run",
            "--kubeconfig",
            str(control_plane.kubeconfig),
            "--namespace",
            ns,
            "--health-address",
            "127.0.0.1:0",
            "--identity",
            "e2e",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    port = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not port:
        line = process.stderr.readline()
        if match := re.search(r"health=[\d.]+:(\d+)", line):
            port = int(match.group(1))
    assert port, "chassisd did not report its health port"
    # Keep reading its log so the pipe never fills and blocks the daemon.
    drain = threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True)  # type: ignore[union-attr]
    drain.start()
    try:
        yield process, port
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
        drain.join(timeout=5)
        process.stderr.close()


def test_daemon_fills_dhcphosts_and_chassisctl_powers_through_a_poweraction(
    daemon: tuple[subprocess.Popen[str], int],
    control_plane: ControlPlane,
    kube_api: k8s.ApiClient,
    kube_namespace: str,
    chassis: SimHandle,
) -> None:
    """Every simulated node gets a DhcpHosts entry within a poll; `chassisctl power on c1n43-1`
    succeeds through a PowerAction; health, readiness and metrics answer."""
    _, port = daemon
    gateway = KubeGateway(kube_api)
    expected = sum(1 for _ in chassis.spec.nodes())

    def reserved() -> int:
        items, _ = gateway.list(DHCPHOSTS, kube_namespace)
        return sum(len(i["spec"]["hosts"]) for i in items)

    started = time.monotonic()
    assert wait_until(lambda: reserved() == expected, timeout=30)
    print(f"all {expected} reservations after {time.monotonic() - started:.1f} s")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        assert http.get("/healthz").status_code == 200
        assert wait_until(lambda: http.get("/readyz").status_code == 200, timeout=10)
        metrics = http.get("/metrics").text
        assert "chassisd_polls_total" in metrics and "chassisd_leader 1.0" in metrics
    kube = ["--kubeconfig", str(control_plane.kubeconfig), "-n", kube_namespace]
    assert wait_until(lambda: "c1n43-1" in _ctl(*kube, "nodes").stdout, timeout=15)
    nodes = json.loads(_ctl(*kube, "nodes", "-o", "json").stdout)
    assert nodes["kind"] == "List" and len(nodes["items"]) == expected
    result = _ctl(*kube, "power", "on", "c1n43-1", "--timeout", "30")
    assert result.returncode == 0, result.stderr
    assert "on succeeded, power on, driver moonshot" in result.stdout
    assert chassis.is_powered_on("c43n1")
    missing = _ctl(*kube, "power", "off", "c1n99")
    assert missing.returncode == 3
    assert "no node matches 'c1n99'" in missing.stderr


def _ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chassisctl"), *args], text=True, capture_output=True, timeout=60, check=False
    )
