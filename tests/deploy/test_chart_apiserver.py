"""The chart against the real kube-apiserver: every rendered object passes a server-side dry-run
apply (schema, defaulting, admission, RBAC escalation; unknown fields are errors), and the NOTES
`helm install` prints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import kubernetes.client as k8s
import pytest
import yaml

from chassisd.testing.controlplane import ControlPlane
from tests.deploy.deploy_helpers import CHART, EXAMPLE_VALUES, Helm, dry_run_apply, ensure_namespace

pytestmark = pytest.mark.kube


@pytest.mark.parametrize("values", [[], [EXAMPLE_VALUES]], ids=["default", "moonshot-farm"])
def test_rendered_objects_pass_server_side_dry_run(
    chart: Helm,
    kube_api: k8s.ApiClient,
    new_namespace: Callable[[], str],
    values: list[Path],
) -> None:
    """Each object of `helm template` (CRDs included) is accepted by a dry-run server-side
    apply with strict field validation, in a fresh release namespace."""
    release_ns = new_namespace()
    rendered = chart.run(
        "template",
        "chassisd",
        str(CHART),
        "--namespace",
        release_ns,
        "--include-crds",
        *[arg for path in values for arg in ("--values", str(path))],
    ).stdout
    objects = [doc for doc in yaml.safe_load_all(rendered) if doc]
    # The Roles of the example values go to namespaces it names (farm); they must exist.
    for namespace in {o["metadata"].get("namespace") for o in objects} - {None, release_ns}:
        ensure_namespace(kube_api, namespace)
    kinds = set()
    for obj in objects:
        answer = dry_run_apply(kube_api, obj)
        assert answer.metadata.name == obj["metadata"]["name"]
        kinds.add(obj["kind"])
    assert {"CustomResourceDefinition", "Deployment", "ServiceAccount", "Service"} <= kinds
    assert {"Role", "RoleBinding", "ClusterRole"} <= kinds


def test_install_notes_say_how_to_check_and_upgrade(
    chart: Helm, control_plane: ControlPlane, new_namespace: Callable[[], str]
) -> None:
    """`helm install` (client dry run against the control plane) prints NOTES with the checks,
    the CRDs-first upgrade step, and a warning when no Secret may be read."""
    ns = new_namespace()
    result = chart.run(
        "install",
        "chassisd",
        str(CHART),
        "--namespace",
        ns,
        "--kubeconfig",
        str(control_plane.kubeconfig),
        "--dry-run=client",
    )
    notes = result.stdout.partition("NOTES:")[2]
    assert "kubectl -n <namespace> get chassis,nodepools" in notes
    assert "/metrics" in notes and "--field-selector reason=Conflict" in notes
    assert "kubectl apply --server-side -f deploy/helm/chassisd/crds/" in notes
    assert "Helm installs the CRDs only on the first install and never upgrades them" in notes
    assert f"It may write DhcpHosts and kubefarm ConfigMaps in: {ns}" in notes
    assert "WARNING: secretNames is empty" in notes
