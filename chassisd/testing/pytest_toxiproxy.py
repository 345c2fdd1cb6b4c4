"""pytest fixtures that put Toxiproxy between a client and the test's peers
(``chassisd.testing.toxiproxy``).

Owns: the fixtures ``toxiproxy`` (one toxiproxy-server for the whole session, started only when
a test first asks for it; yields a client of its API) and ``kube_api_via_toxiproxy`` (per test:
a fresh Toxiproxy proxy in front of the test control plane's kube-apiserver, an admin
``ApiClient`` whose every connection goes through it, and a kubeconfig that leads there too, for
clients built the way chassisd builds its own). Register it next to the control-plane
plugin: ``pytest_plugins = ["chassisd.testing.pytest_controlplane",
"chassisd.testing.pytest_toxiproxy"]``.

Must not: skip. When toxiproxy-server is missing or does not start, the requesting tests FAIL
with a message saying what to install, as the control-plane fixtures do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client as k8s

from chassisd.testing.controlplane import ControlPlane, api_client
from chassisd.testing.toxiproxy import Proxy, ToxiproxyClient, ToxiproxyError, start_toxiproxy

__all__ = ["KubeApiViaToxiproxy", "kube_api_via_toxiproxy", "toxiproxy"]


@dataclass(frozen=True)
class KubeApiViaToxiproxy:
    """An admin ``ApiClient`` that reaches kube-apiserver only through ``proxy``.

    TLS runs end to end through the proxy (Toxiproxy sees only ciphertext) and the API server's
    certificate is verified as usual. Add toxics with ``proxy.add_toxic`` / ``proxy.toxic``;
    ``proxy.disable()`` closes every connection and refuses new ones.
    """

    api: k8s.ApiClient
    proxy: Proxy
    kubeconfig: Path  # the admin kubeconfig with the proxy as its server
    direct_server: str  # https://127.0.0.1:<port> of kube-apiserver itself, bypassing the proxy


@pytest.fixture(scope="session")
def toxiproxy() -> Iterator[ToxiproxyClient]:
    """A client of a running toxiproxy-server's API (127.0.0.1, free port)."""
    # pytest.fail outside the except block: one clear message, no chained traceback.
    failure = None
    try:
        with start_toxiproxy() as server, ToxiproxyClient(server.url) as client:
            yield client
    except ToxiproxyError as exc:  # raised only while starting; stopping never raises it
        failure = f"toxiproxy-server did not start: {exc}"
    if failure is not None:
        pytest.fail(failure, pytrace=False)


@pytest.fixture
def kube_api_via_toxiproxy(
    control_plane: ControlPlane, toxiproxy: ToxiproxyClient, tmp_path: Path
) -> Iterator[KubeApiViaToxiproxy]:
    """A fresh proxy (no toxics) to kube-apiserver, an admin client and a kubeconfig through it;
    the client is closed and the proxy deleted afterwards."""
    upstream = urlsplit(control_plane.server).netloc  # 127.0.0.1:<port>
    proxy = toxiproxy.create_proxy(f"kube-apiserver-{uuid.uuid4().hex[:10]}", upstream)
    server = f"https://{proxy.listen}"
    kubeconfig = tmp_path / "kubeconfig-via-toxiproxy"
    doc = yaml.safe_load(control_plane.kubeconfig.read_text())
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = server
    kubeconfig.touch(mode=0o600)  # it holds the admin's private key
    kubeconfig.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        with api_client(control_plane, server=server) as api:
            yield KubeApiViaToxiproxy(
                api=api, proxy=proxy, kubeconfig=kubeconfig, direct_server=control_plane.server
            )
    finally:
        toxiproxy.delete_proxy(proxy.name)
