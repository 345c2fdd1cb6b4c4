"""Helpers for the deployment tests: the pinned helm, rendering the chart, server-side dry runs,
and the container image tools/image/build.sh builds."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "chassisd"
EXAMPLE_VALUES = CHART / "examples" / "moonshot-farm-values.yaml"
HELM_SH = REPO / "tools" / "helm" / "helm.sh"
IMAGE_BUILD_SH = REPO / "tools" / "image" / "build.sh"
BUILD_TIMEOUT = 1800.0  # seconds for a cold `go build` of helm on a slow CI machine


def tool(name: str) -> Path:
    """The binary tools/helm/helm.sh prints last; pytest.fail with its stderr if it cannot."""
    failure = None
    try:
        result = subprocess.run(
            ["bash", str(HELM_SH), name],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        failure = f"tools/helm/helm.sh {name} did not finish within {BUILD_TIMEOUT:.0f} s"
    else:
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines:
            failure = (
                f"tools/helm/helm.sh {name} could not find or build {name} (exit "
                f"{result.returncode}). Install Go >= 1.26 with access to the module proxy, or "
                f"set {'HELM' if name == 'helm' else 'KUSTOMIZE_BUILD'} to an existing binary.\n"
                f"{result.stderr[-3000:]}"
            )
        else:
            path = Path(lines[-1])
            if os.access(path, os.X_OK):
                return path
            failure = f"tools/helm/helm.sh {name} printed {path}, which is not executable"
    pytest.fail(failure, pytrace=False)


@dataclass(frozen=True)
class BuiltImage:
    """An image in buildah's storage and the environment buildah needs to find it."""

    name: str  # localhost/chassisd:<version>
    storage_env: dict[str, str]  # os.environ plus CONTAINERS_STORAGE_CONF


def build_image() -> BuiltImage:
    """$CHASSISD_IMAGE and $CONTAINERS_STORAGE_CONF when both are set (`make test` built the
    image), else the image tools/image/build.sh builds now; pytest.fail with its output if it
    cannot."""
    name, conf = os.environ.get("CHASSISD_IMAGE"), os.environ.get("CONTAINERS_STORAGE_CONF")
    if name and conf:
        return BuiltImage(name, {**os.environ, "CONTAINERS_STORAGE_CONF": conf})
    try:
        result = subprocess.run(
            ["bash", str(IMAGE_BUILD_SH)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"tools/image/build.sh did not finish within {BUILD_TIMEOUT:.0f} s")
    found = dict(line.split("=", 1) for line in result.stdout.splitlines()[-2:] if "=" in line)
    if result.returncode != 0 or set(found) != {"CONTAINERS_STORAGE_CONF", "CHASSISD_IMAGE"}:
        pytest.fail(
            f"tools/image/build.sh could not build the image (exit {result.returncode}). It "
            "needs root, buildah and mmdebstrap (`make deps-debian`), PyPI and a Debian "
            f"mirror.\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    conf = found["CONTAINERS_STORAGE_CONF"]
    return BuiltImage(found["CHASSISD_IMAGE"], {**os.environ, "CONTAINERS_STORAGE_CONF": conf})


@dataclass(frozen=True)
class Helm:
    """Runs the pinned helm binary with a private home."""

    binary: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``helm ARGS``; with ``check`` a non-zero exit fails the test with helm's output."""
        result = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"helm {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n"
                f"{result.stderr}",
                pytrace=False,
            )
        return result

    def template(
        self,
        *,
        release: str = "chassisd",
        namespace: str = "chassisd",
        values: Sequence[Path] = (),
        set_values: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """The objects ``helm template`` renders from the chart (CRDs not included)."""
        args = ["template", release, str(CHART), "--namespace", namespace]
        for path in values:
            args += ["--values", str(path)]
        for item in set_values:
            args += ["--set", item]
        out = self.run(*args, *extra).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]


def find(objects: Sequence[dict[str, Any]], kind: str, name: str = "") -> dict[str, Any]:
    """The one rendered object of ``kind`` (and ``name``, if given)."""
    found = [
        o for o in objects if o["kind"] == kind and (not name or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{len(found)} {kind} objects named {name or '*'}"
    return found[0]


def dry_run_apply(api: k8s.ApiClient, obj: dict[str, Any]) -> Any:
    """Server-side apply ``obj`` with ``dryRun=All`` and ``fieldValidation=Strict``: the API
    server runs defaulting, schema, admission and RBAC escalation checks and persists nothing;
    an unknown or duplicated field is an error, not a warning."""
    dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]
    resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    meta = obj["metadata"]
    path = resource.path(name=meta["name"], namespace=meta.get("namespace"))
    return dynamic.request(
        "patch",
        path,
        body=json.dumps(obj),
        content_type="application/apply-patch+yaml",
        query_params=[
            ("dryRun", "All"),
            ("fieldManager", "chassisd-chart-test"),
            ("fieldValidation", "Strict"),
            ("force", "true"),
        ],
    )


def ensure_namespace(api: k8s.ApiClient, name: str) -> None:
    """Create namespace ``name`` unless it exists (tests share one control plane)."""
    try:
        k8s.CoreV1Api(api).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    except ApiException as exc:
        if exc.status != 409:
            raise


def token_kubeconfig(admin_kubeconfig: Path, client: k8s.ApiClient, path: Path) -> Path:
    """Write a kubeconfig for the bearer token ``client`` holds (a ServiceAccount's, from
    ``service_account_client``), with the server and CA of ``admin_kubeconfig``."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    token = client.configuration.api_key["authorization"]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "testenv",
                "cluster": {
                    "server": cluster["server"],
                    "certificate-authority-data": cluster["certificate-authority-data"],
                },
            }
        ],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": "token", "context": {"cluster": "testenv", "user": "token"}}],
        "current-context": "token",
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path
