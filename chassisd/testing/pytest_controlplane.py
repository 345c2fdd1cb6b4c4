"""pytest fixtures for tests that talk to a real kube-apiserver (``chassisd.testing.controlplane``).

Owns: the fixtures ``control_plane`` (one etcd + kube-apiserver for the whole session, started
only when a test first asks for it), ``kube_api`` (an admin ``ApiClient`` per test) and
``kube_namespace`` (a fresh namespace per test). Register it with
``pytest_plugins = ["chassisd.testing.pytest_controlplane"]`` or ``-p
chassisd.testing.pytest_controlplane``.

Must not: skip. When the binaries are missing or the control plane does not come up, the
requesting tests FAIL with a message saying what to install; a skipped Kubernetes test would
count as coverage that never ran.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from chassisd.testing.controlplane import (
    ControlPlane,
    ControlPlaneError,
    api_client,
    find_assets,
    start_control_plane,
)

__all__ = ["control_plane", "kube_api", "kube_namespace"]


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """A running etcd + kube-apiserver with chassisd's and dnsmasq-controller's CRDs installed."""
    # pytest.fail is called outside the except blocks so the report shows one clear message
    # instead of "During handling of the above exception, another exception occurred".
    failure = None
    try:
        assets = find_assets()
    except ControlPlaneError as exc:
        failure = str(exc)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    try:
        with start_control_plane(assets) as cp:
            yield cp
    except ControlPlaneError as exc:  # raised only while starting; stopping never raises it
        failure = f"the test control plane did not start: {exc}"
    if failure is not None:
        pytest.fail(failure, pytrace=False)


@pytest.fixture
def kube_api(control_plane: ControlPlane) -> Iterator[k8s.ApiClient]:
    """An ``ApiClient`` authenticated as cluster-admin (group system:masters), closed after."""
    with api_client(control_plane) as api:
        yield api


@pytest.fixture
def kube_namespace(kube_api: k8s.ApiClient) -> Iterator[str]:
    """The name of a namespace created for this test (deletion is requested afterwards; without
    a controller-manager it stays Terminating, which is harmless in a throw-away etcd)."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    core = k8s.CoreV1Api(kube_api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)
