"""The chart's RBAC is sufficient and minimal: `helm install` into the real control plane, then
`chassisd run` with the rendered Deployment's arguments, authenticated as the chart's
ServiceAccount, carries out the whole farm scenario (every permission used, none refused), an
operator bound to the chart's operator ClusterRole powers a node with `chassisctl`, and the
ServiceAccount is refused what the chart does not grant.

The farm is deploy/examples/moonshot-farm.yaml against a Moonshot simulator, with both pools'
DHCP target moved to a separate namespace (as a farm with a dnsmasq namespace has it), a
kubefarm ConfigMap on cluster-a, and later a second pool claiming a node of cluster-a.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import kubernetes.client as k8s
import pytest
import yaml

from chassisd.kube.gateway import (
    CHASSIS,
    CONFIGMAP,
    DHCPHOSTS,
    EVENT,
    NODEPOOL,
    POWERACTION,
    SECRET,
    Kind,
    KubeApiError,
    KubeGateway,
)
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, SimNode
from chassisd.testing import wait_until
from chassisd.testing.controlplane import ControlPlane, service_account_client
from tests.deploy.deploy_helpers import CHART, EXAMPLE_VALUES, REPO, Helm, find, token_kubeconfig

pytestmark = [pytest.mark.kube, pytest.mark.slow]
BIN = Path(sys.executable).parent
EXAMPLE = REPO / "deploy" / "examples" / "moonshot-farm.yaml"
LEASE = Kind("coordination.k8s.io/v1", "Lease")
IDENTITY = "chassisd-e2e-0"  # the pod name kubelet would put in $(POD_NAME)
CONFIGMAP_NAME = "cluster-a-nodepools"


@dataclass
class Farm:
    """The installed release, its namespaces and the identities that act in it."""

    release: str
    namespace: str  # release namespace = watch namespace
    dhcp_namespace: str  # the only entry of dhcpNamespaces
    outside_namespace: str  # neither watched nor a DHCP target
    deployment: dict[str, Any]
    notes: str
    agent_kubeconfig: Path
    operator_kubeconfig: Path
    agent: KubeGateway  # as the chart's ServiceAccount
    operator: KubeGateway  # as a ServiceAccount bound to <release>-operator
    admin: KubeGateway
    expected_nodes: int
    log: list[str] = field(default_factory=list)


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
def farm(
    chart: Helm,
    control_plane: ControlPlane,
    kube_api: k8s.ApiClient,
    new_namespace: Callable[[], str],
    chassis: SimHandle,
    tmp_path: Path,
) -> Iterator[Farm]:
    """The chart installed with the example values (watch namespace and DHCP namespace set to
    fresh ones), the example farm applied as admin, and kubeconfigs for the chart's
    ServiceAccount and for an operator bound to the chart's operator ClusterRole."""
    ns, dhcp_ns, outside = new_namespace(), new_namespace(), new_namespace()
    release = f"chassisd-{uuid.uuid4().hex[:6]}"  # cluster-scoped names stay unique
    settings = ["--values", str(EXAMPLE_VALUES), "--set", f"watchNamespace={ns}"]
    settings += ["--set", f"dhcpNamespaces={{{dhcp_ns}}}"]
    kubeconfig = ["--kubeconfig", str(control_plane.kubeconfig), "--namespace", ns]
    rendered = chart.run("template", release, str(CHART), *kubeconfig, *settings).stdout
    deployment = find([d for d in yaml.safe_load_all(rendered) if d], "Deployment")
    with contextlib.ExitStack() as stack:
        # Removes the cluster-scoped ClusterRole too; harmless if the install never happened.
        stack.callback(
            chart.run, "uninstall", release, *kubeconfig, "--ignore-not-found", check=False
        )
        # --skip-crds: the control plane already serves them (from crds/, the source of truth).
        installed = chart.run("install", release, str(CHART), *kubeconfig, *settings, "--skip-crds")
        admin = KubeGateway(kube_api)
        agent_api = stack.enter_context(service_account_client(control_plane, ns, release))
        operator_api = stack.enter_context(service_account_client(control_plane, ns, "operator"))
        admin.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "operator", "namespace": ns},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"{release}-operator",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": ns}],
            }
        )
        _apply_example(admin, ns, dhcp_ns, chassis)
        admin.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "unrelated", "namespace": ns},
                "stringData": {"password": "not for chassisd"},
            }
        )
        yield Farm(
            release=release,
            namespace=ns,
            dhcp_namespace=dhcp_ns,
            outside_namespace=outside,
            deployment=deployment,
            notes=installed.stdout,
            agent_kubeconfig=token_kubeconfig(
                control_plane.kubeconfig, agent_api, tmp_path / "agent.kubeconfig"
            ),
            operator_kubeconfig=token_kubeconfig(
                control_plane.kubeconfig, operator_api, tmp_path / "operator.kubeconfig"
            ),
            agent=KubeGateway(agent_api),
            operator=KubeGateway(operator_api),
            admin=admin,
            expected_nodes=sum(1 for _ in chassis.spec.nodes()),
        )


def _apply_example(admin: KubeGateway, ns: str, dhcp_ns: str, chassis: SimHandle) -> None:
    text = EXAMPLE.read_text().replace("ADDRESS", f"127.0.0.1:{chassis.port}")
    text = text.replace("KNOWN_HOSTS", json.dumps(chassis.known_hosts_line))
    for doc in yaml.safe_load_all(text):
        doc["metadata"]["namespace"] = ns
        if doc["kind"] == "Chassis":
            doc["spec"]["pollInterval"] = "2s"  # the example polls every minute
        if doc["kind"] == "NodePool":
            doc["spec"]["dhcp"]["namespace"] = dhcp_ns
            if doc["metadata"]["name"] == "cluster-a":
                doc["spec"]["kubefarm"] = {"configMapName": CONFIGMAP_NAME}
        admin.create(doc)


@pytest.fixture
def daemon(farm: Farm) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`chassisd` with the rendered Deployment's arguments, as the pod would run it (kubelet's
    $(VAR) expansion, POD_NAME/POD_NAMESPACE), but on 127.0.0.1 and with the ServiceAccount's
    kubeconfig; yields the process and its health port. Its log lines go to ``farm.log``."""
    container = farm.deployment["spec"]["template"]["spec"]["containers"][0]
    env = {"POD_NAME": IDENTITY, "POD_NAMESPACE": farm.namespace}
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]
    args = [
        "--health-address=127.0.0.1:0" if a.startswith("--health-address=") else a for a in args
    ]
    assert args[0] == "run" and f"--namespace={farm.namespace}" in args
    assert f"--lease-namespace={farm.namespace}" in args
    process = subprocess.Popen(
        [str(BIN / "chassisd"), "run", "--kubeconfig", str(farm.agent_kubeconfig), *args[1:]],
        stderr=subprocess.PIPE,
        text=True,
        env={**_clean_env(), **env},
    )
    assert process.stderr is not None
    port = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not port:
        line = process.stderr.readline()
        farm.log.append(line)
        if match := re.search(r"health=[\d.]+:(\d+)", line):
            port = int(match.group(1))
    assert port, "chassisd did not report its health port:\n" + _tail(farm.log)
    # Keep reading its log so the pipe never fills and blocks the daemon.
    drain = threading.Thread(target=_drain, args=(process.stderr, farm.log), daemon=True)
    drain.start()
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        drain.join(timeout=5)
        process.stderr.close()


def _drain(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)


def _clean_env() -> dict[str, str]:
    """This process's environment without what would point chassisd at another cluster."""
    drop = {"KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _tail(log: list[str], lines: int = 30) -> str:
    return "chassisd's log ends:\n" + "".join(log[-lines:])


def _hosts(gateway: KubeGateway, namespace: str) -> int:
    items, _ = gateway.list(DHCPHOSTS, namespace)
    return sum(len(i["spec"]["hosts"]) for i in items)


def _ctl(kubeconfig: Path, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chassisctl"), "--kubeconfig", str(kubeconfig), "-n", namespace, *args],
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
        env=_clean_env(),
    )


def _refused(call: Callable[[], object]) -> int:
    with pytest.raises(KubeApiError) as caught:
        call()
    return caught.value.status


@pytest.mark.timeout(240)
def test_chart_rbac_runs_the_farm_and_refuses_the_rest(
    farm: Farm, daemon: tuple[subprocess.Popen[str], int], chassis: SimHandle
) -> None:
    """As the chart's ServiceAccount chassisd fills DhcpHosts and the kubefarm ConfigMap in the
    DHCP namespace, reports status, records a Conflict Event, deletes what a removed pool owned,
    holds and releases its Lease, and never meets a 403; the operator role powers c1n43-1 through
    chassisctl; the ServiceAccount is refused other Secrets, other namespaces and Chassis
    deletion."""
    process, port = daemon
    admin, ns, dhcp_ns = farm.admin, farm.namespace, farm.dhcp_namespace
    assert "kubectl apply --server-side -f deploy/helm/chassisd/crds/" in farm.notes
    assert f"It may read these Secrets: moonshot-credentials (in {ns})" in farm.notes

    # Reservations for every node, in the DHCP namespace only; the kubefarm values beside them.
    assert wait_until(lambda: _hosts(admin, dhcp_ns) == farm.expected_nodes, timeout=45), (
        f"{_hosts(admin, dhcp_ns)} of {farm.expected_nodes} reservations:\n" + _tail(farm.log)
    )
    assert wait_until(lambda: admin.get(CONFIGMAP, dhcp_ns, CONFIGMAP_NAME) is not None, 10)
    assert _hosts(admin, ns) == 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        assert wait_until(lambda: http.get("/readyz").status_code == 200, timeout=10)
        assert "chassisd_leader 1.0" in http.get("/metrics").text
    lease = admin.get(LEASE, ns, f"{farm.release}-leader")
    assert lease is not None and lease["spec"]["holderIdentity"] == IDENTITY
    chassis_obj = admin.get(CHASSIS, ns, "moonshot-1")
    assert chassis_obj is not None
    assert len(chassis_obj["status"]["nodes"]) == farm.expected_nodes

    # An operator (ClusterRole <release>-operator, bound in the farm namespace) powers a node.
    result = _ctl(farm.operator_kubeconfig, ns, "power", "on", "c1n43-1", "--timeout", "30")
    assert result.returncode == 0, result.stderr + _tail(farm.log)
    assert "on succeeded, power on, driver moonshot" in result.stdout
    assert chassis.is_powered_on("c43n1")

    # A second pool claiming c1n1: a Conflict condition and an Event, written by chassisd.
    admin.create(
        {
            "apiVersion": "chassisd.io/v1alpha1",
            "kind": "NodePool",
            "metadata": {"name": "cluster-b", "namespace": ns},
            "spec": {
                "members": [{"chassis": "moonshot-1", "nodes": ["c1n1"]}],
                "addressing": {"range": {"start": "10.28.37.10", "end": "10.28.37.20"}},
                "dhcp": {"namespace": dhcp_ns},
            },
        }
    )

    def conflict_events() -> list[dict[str, Any]]:
        items, _ = admin.list(EVENT, ns)
        return [e for e in items if e.get("reason") == "Conflict"]

    assert wait_until(lambda: bool(conflict_events()), timeout=20), _tail(farm.log)
    event = conflict_events()[0]
    assert event["reportingController"] == "chassisd.io/chassisd" and event["eventTime"]
    assert event["reportingInstance"] and event["regarding"]["name"] == "cluster-b"

    # Pools removed: chassisd deletes the DhcpHosts and ConfigMap cluster-a owned.
    admin.delete(NODEPOOL, ns, "cluster-b")
    admin.delete(NODEPOOL, ns, "cluster-a")

    def cluster_a_objects() -> list[str]:
        items, _ = admin.list(DHCPHOSTS, dhcp_ns)
        names = [i["metadata"]["name"] for i in items if "cluster-a" in i["metadata"]["name"]]
        if admin.get(CONFIGMAP, dhcp_ns, CONFIGMAP_NAME) is not None:
            names.append(CONFIGMAP_NAME)
        return names

    assert wait_until(lambda: not cluster_a_objects(), timeout=20), cluster_a_objects()

    # Deleting a finished PowerAction (the agent does it after an hour) is allowed.
    actions, _ = admin.list(POWERACTION, ns)
    assert [a["status"]["phase"] for a in actions] == ["Succeeded"]
    farm.agent.delete(POWERACTION, ns, actions[0]["metadata"]["name"])
    assert admin.get(POWERACTION, ns, actions[0]["metadata"]["name"]) is None

    # What the chart does not grant.
    agent = farm.agent
    stray = {
        "apiVersion": "dnsmasq.kvaps.cf/v1beta1",
        "kind": "DhcpHosts",
        "metadata": {"name": "stray", "namespace": farm.outside_namespace},
        "spec": {"hosts": [{"macs": ["02:00:00:00:00:01"], "ip": "10.0.0.1"}]},
    }
    assert _refused(lambda: agent.get(SECRET, ns, "unrelated")) == 403
    assert _refused(lambda: agent.list(SECRET, ns)) == 403
    assert _refused(lambda: agent.apply(stray)) == 403
    in_watch_ns = {**stray, "metadata": {"name": "stray", "namespace": ns}}
    assert _refused(lambda: agent.apply(in_watch_ns)) == 403
    assert _refused(lambda: agent.list(DHCPHOSTS, farm.outside_namespace)) == 403
    assert _refused(lambda: agent.delete(CHASSIS, ns, "moonshot-1")) == 403
    assert _refused(lambda: agent.get(LEASE, ns, "another-lease")) == 403
    assert _refused(lambda: farm.operator.delete(CHASSIS, ns, "moonshot-1")) == 403

    # A clean stop hands the Lease back; nothing chassisd asked for was ever refused.
    process.terminate()
    assert process.wait(timeout=30) == 0
    lease = admin.get(LEASE, ns, f"{farm.release}-leader")
    assert lease is not None and not lease["spec"].get("holderIdentity")
    time.sleep(0.2)  # let the drain thread take the last lines
    refused = [line for line in farm.log if re.search(r"forbidden|\b403\b", line, re.I)]
    assert not refused, "".join(refused)
