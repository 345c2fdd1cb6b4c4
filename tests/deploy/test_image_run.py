"""chassisd's image, built by tools/image/build.sh (`make image`), run the way the kubelet runs
the chart's pod (see image_runner): as UID/GID 65532 with a read-only root filesystem, the
chart's /tmp emptyDir, the ServiceAccount's token, CA and namespace files mounted and
KUBERNETES_SERVICE_HOST/PORT set, against the real kube-apiserver with exactly the chart's RBAC
(`helm install` of the chart). No kubeconfig exists in the image and none is named, so the agent
takes the in-cluster configuration path.

The agent is driven only through its command line (the rendered Deployment's args) and the
Kubernetes objects: it takes the Lease, discovers a simulated Moonshot chassis (chassisd.sim, on
127.0.0.1 on the host), writes DhcpHosts, carries out a PowerAction (one power command in the
simulator's log), serves /healthz, /readyz and /metrics, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import kubernetes.client as k8s
import pytest
import yaml

from chassisd.kube.gateway import DHCPHOSTS, POWERACTION, Kind, KubeGateway
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, CommandKind, SimNode
from chassisd.testing.controlplane import ControlPlane, service_account_client
from tests.deploy.deploy_helpers import CHART, EXAMPLE_VALUES, REPO, BuiltImage, Helm, find
from tests.deploy.image_runner import ImageRun, buildah, image_config

pytestmark = [pytest.mark.image, pytest.mark.slow]
EXAMPLE = REPO / "deploy" / "examples" / "moonshot-farm.yaml"
LEASE = Kind("coordination.k8s.io/v1", "Lease")
POD_NAME = "chassisd-image-0"


def _wait(condition: Callable[[], object], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _version() -> str:
    with (REPO / "pyproject.toml").open("rb") as f:
        version: str = tomllib.load(f)["project"]["version"]
        return version


@pytest.fixture
def chassis() -> Iterator[SimHandle]:
    """A 45-slot single-node chassis with cartridge 43 present and off."""
    spec = ChassisSpec.generate("moonshot-1", seed=11, chassis_index=3, multi_node=0.0)
    spec = spec.with_cartridge(
        43, Cartridge((SimNode(macs=("02:43:00:00:00:03",), power_on=False),))
    )
    with MoonshotSimulator(spec).running() as handle:
        yield handle


def _run(image: BuiltImage, work: Path, args: list[str], **kwargs: Any) -> ImageRun:
    defaults: dict[str, Any] = {"env": {}, "user": "65532:65532", "service_account": {}}
    return ImageRun(image.storage_env, image.name, args, work=work, **{**defaults, **kwargs})


@pytest.mark.timeout(300)
def test_image_is_what_the_chart_and_the_package_expect(built_image: BuiltImage) -> None:
    """The image runs `chassisd run` as 65532:65532, carries the version and revision labels
    and an SBOM naming chassisd at the package's version, and holds neither pip nor a
    compiler; the chart's default image tag is that same version."""
    config = image_config(built_image.storage_env, built_image.name)
    version = _version()
    assert built_image.name == f"localhost/chassisd:{version}"
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["chassisd"] and config["Cmd"] == ["run"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == version
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if head:  # a clone; an exported tree has no revision to compare
        assert labels["org.opencontainers.image.revision"].removesuffix("-dirty") == head
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    assert yaml.safe_load((CHART / "values.yaml").read_text())["image"]["tag"] == ""

    sbom = json.loads((REPO / "build" / "image" / f"chassisd-{version}.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["metadata"]["component"]["name"] == "chassisd"
    assert sbom["metadata"]["component"]["version"] == version
    names = {c["name"].lower(): c.get("version") for c in sbom["components"]}
    assert names["kubernetes"] == "37.0.2" and names["paramiko"] == "4.0.0"
    assert "pip" not in names and "setuptools" not in names

    # No pip, no compiler, no wheels to install from; every module compiled ahead of time.
    ctr = buildah(built_image.storage_env, "from", "--pull-never", built_image.name).strip()
    try:
        probe = (
            "import importlib.util, shutil, glob, sys\n"
            "print(json.dumps({'pip': importlib.util.find_spec('pip') is not None,"
            " 'compilers': [c for c in ('cc', 'gcc', 'clang', 'pip', 'pip3') if shutil.which(c)],"
            " 'wheels': glob.glob('/usr/**/*.whl', recursive=True),"
            " 'sources_without_pyc': [p for p in glob.glob('/opt/chassisd/lib/**/*.py',"
            " recursive=True) if not importlib.util.cache_from_source(p) or"
            " not __import__('os').path.exists(importlib.util.cache_from_source(p))][:5]}))"
        )
        out = buildah(
            built_image.storage_env,
            "run",
            "--isolation",
            "chroot",
            "--user",
            "65532:65532",
            ctr,
            "--",
            "python3",
            "-c",
            "import json\n" + probe,
        )
    finally:
        buildah(built_image.storage_env, "rm", ctr)
    found = json.loads(out.strip().splitlines()[-1])
    assert found == {"pip": False, "compilers": [], "wheels": [], "sources_without_pyc": []}


@pytest.mark.timeout(120)
def test_nothing_is_writable_but_tmp(built_image: BuiltImage, tmp_path: Path) -> None:
    """Under the read-only root filesystem the pod's user can write /tmp (the chart's emptyDir)
    and /dev/shm, and no other directory of the image: the emulation holds, and anything
    chassisd wrote elsewhere would fail."""
    walk = (
        "import os, json\n"
        "skip = ('/proc', '/sys', '/dev', '/tmp')\n"
        "found = []\n"
        "for top, dirs, files in os.walk('/'):\n"
        "    dirs[:] = [d for d in dirs if os.path.join(top, d) not in skip]\n"
        "    if os.access(top, os.W_OK):\n"
        "        found.append(top)\n"
        "print(json.dumps({'writable': found, 'tmp': os.access('/tmp', os.W_OK),"
        " 'shm': os.access('/dev/shm', os.W_OK), 'uid': os.getuid(), 'gid': os.getgid()}))\n"
    )
    run = _run(built_image, tmp_path, ["-c", walk], entrypoint=["python3"])
    try:
        run.start()
        assert run.process is not None
        assert run.process.wait(timeout=90) == 0, run.tail()
    finally:
        run.stop()
    result = json.loads(next(line for line in reversed(run.log) if line.startswith("{")))
    assert result == {"writable": [], "tmp": True, "shm": True, "uid": 65532, "gid": 65532}


@pytest.fixture
def installed(
    chart: Helm,
    control_plane: ControlPlane,
    kube_api: k8s.ApiClient,
    new_namespace: Callable[[], str],
    chassis: SimHandle,
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The chart installed (example values, watch and DHCP namespace a fresh one) and the
    example farm applied; yields (namespace, release, the rendered Deployment)."""
    ns = new_namespace()
    release = f"chassisd-{uuid.uuid4().hex[:6]}"
    settings = ["--values", str(EXAMPLE_VALUES), "--set", f"watchNamespace={ns}"]
    settings += ["--set", f"dhcpNamespaces={{{ns}}}"]
    kubeconfig = ["--kubeconfig", str(control_plane.kubeconfig), "--namespace", ns]
    rendered = chart.run("template", release, str(CHART), *kubeconfig, *settings).stdout
    deployment = find([d for d in yaml.safe_load_all(rendered) if d], "Deployment")
    chart.run("install", release, str(CHART), *kubeconfig, *settings, "--skip-crds")
    try:
        admin = KubeGateway(kube_api)
        text = EXAMPLE.read_text().replace("ADDRESS", f"127.0.0.1:{chassis.port}")
        text = text.replace("KNOWN_HOSTS", json.dumps(chassis.known_hosts_line))
        for doc in yaml.safe_load_all(text):
            doc["metadata"]["namespace"] = ns
            if doc["kind"] == "Chassis":
                doc["spec"]["pollInterval"] = "2s"
            admin.create(doc)
        yield ns, release, deployment
    finally:
        chart.run("uninstall", release, *kubeconfig, "--ignore-not-found", check=False)


@pytest.mark.kube
@pytest.mark.timeout(300)
def test_image_runs_the_farm_in_cluster(
    built_image: BuiltImage,
    control_plane: ControlPlane,
    kube_api: k8s.ApiClient,
    installed: tuple[str, str, dict[str, Any]],
    chassis: SimHandle,
    tmp_path: Path,
) -> None:
    """As the chart's pod: Lease taken, every node reserved, a PowerAction carried out with one
    power command, health and metrics served, the Lease handed back on SIGTERM with exit 0;
    no request refused, nothing written to the read-only root filesystem and nothing to /tmp
    but the kubernetes client's discovery cache."""
    ns, release, deployment = installed
    admin = KubeGateway(kube_api)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = {**pod["securityContext"], **container["securityContext"]}
    assert security["readOnlyRootFilesystem"] is True
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]

    # The pod's environment: its fieldRefs, then what the kubelet adds for the API server.
    server = urlsplit(control_plane.server)
    assert server.hostname == "127.0.0.1" and server.port  # the serving cert names 127.0.0.1
    field_refs = {"metadata.name": POD_NAME, "metadata.namespace": ns}
    env = {e["name"]: field_refs[e["valueFrom"]["fieldRef"]["fieldPath"]] for e in container["env"]}
    env |= {"KUBERNETES_SERVICE_HOST": server.hostname, "KUBERNETES_SERVICE_PORT": str(server.port)}
    health_port = _free_port()  # the host's network: 8080 may be taken, and loopback only
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]
    args = [
        f"--health-address=127.0.0.1:{health_port}" if a.startswith("--health-address=") else a
        for a in args
    ]
    assert not any("kubeconfig" in a for a in args)
    with service_account_client(control_plane, ns, pod["serviceAccountName"]) as sa_client:
        token = str(sa_client.configuration.api_key["authorization"])
    run = _run(
        built_image,
        tmp_path,
        args,
        env=env,
        user=f"{security['runAsUser']}:{security['runAsGroup']}",
        service_account={
            "token": token.encode(),
            "ca.crt": control_plane.ca_file.read_bytes(),
            "namespace": ns.encode(),
        },
    )
    expected_nodes = sum(1 for _ in chassis.spec.nodes())
    try:
        run.start()

        def hosts() -> int:
            items, _ = admin.list(DHCPHOSTS, ns)
            return sum(len(i["spec"]["hosts"]) for i in items)

        assert _wait(lambda: hosts() == expected_nodes, timeout=120), (
            f"{hosts()} of {expected_nodes} reservations; " + run.tail()
        )
        lease = admin.get(LEASE, ns, f"{release}-leader")
        assert lease is not None and lease["spec"]["holderIdentity"] == POD_NAME

        with httpx.Client(base_url=f"http://127.0.0.1:{health_port}", timeout=10) as http:
            assert http.get("/healthz").status_code == 200
            assert _wait(lambda: http.get("/readyz").status_code == 200, timeout=20)
            metrics = http.get("/metrics").text
        assert "chassisd_leader 1.0" in metrics
        assert re.search(r"chassisd_nodes\{[^}]*\} " + str(float(expected_nodes)), metrics), (
            metrics[-2000:]
        )

        # A PowerAction, carried out by the agent with exactly one power-on command.
        before = chassis.stats.count(CommandKind.POWER_ON)
        admin.create(
            {
                "apiVersion": "chassisd.io/v1alpha1",
                "kind": "PowerAction",
                "metadata": {"name": "power-on-c1n43", "namespace": ns},
                "spec": {"node": "c1n43-1", "action": "on"},
            }
        )

        def phase() -> str:
            action = admin.get(POWERACTION, ns, "power-on-c1n43")
            return str(((action or {}).get("status") or {}).get("phase", ""))

        assert _wait(lambda: phase() in {"Succeeded", "Failed"}, timeout=60), run.tail()
        assert phase() == "Succeeded", run.tail()
        assert chassis.is_powered_on("c43n1")
        assert chassis.stats.count(CommandKind.POWER_ON) - before == 1

        # SIGTERM to the container's process: a clean exit that hands the Lease back.
        assert run.terminate(timeout=30) == 0, run.tail()
        lease = admin.get(LEASE, ns, f"{release}-leader")
        assert lease is not None and not lease["spec"].get("holderIdentity")
    finally:
        run.stop()
    log = "".join(run.log)
    assert not re.search(r"forbidden|\b403\b", log, re.I), log[-3000:]
    assert not re.search(r"read-only file system|EROFS|Traceback", log, re.I), log[-3000:]
    # /tmp holds only the kubernetes client's discovery cache (DynamicClient writes
    # $TMPDIR/osrcp-<hash>.json and carries on without it when it cannot).
    assert all(re.fullmatch(r"osrcp-\w+\.json", p.name) for p in run.tmp.iterdir())
