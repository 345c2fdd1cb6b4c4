"""Fixtures for the deployment tests: helm and kustomize-build (found or built once per session by
tools/helm/helm.sh), the container image (built once per session by tools/image/build.sh, or the
one `make test` built), the chart, and fresh namespaces.

A missing Go toolchain or a failed build makes the tests that need the binary FAIL with
helm.sh's message; nothing here skips. The first test that needs a binary gets a longer timeout,
because it pays for the one build (3.5 min cold on 2 cores, measured; instant afterwards).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import kubernetes.client as k8s
import pytest

from tests.deploy.deploy_helpers import (
    BUILD_TIMEOUT,
    BuiltImage,
    Helm,
    build_image,
    ensure_namespace,
    tool,
)

TOOL_FIXTURES = ("helm", "kustomize_build", "built_image")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give the first test that needs helm (or kustomize-build) time for a cold build."""
    seen: set[str] = set()
    for item in items:
        needed = [f for f in TOOL_FIXTURES if f in getattr(item, "fixturenames", ())]
        if any(f not in seen for f in needed):
            item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT + 120))
            seen.update(needed)


@pytest.fixture(scope="session")
def helm() -> Path:
    """Path to the pinned helm binary ($HELM, the cache, or a fresh build)."""
    return tool("helm")


@pytest.fixture(scope="session")
def kustomize_build() -> Path:
    """Path to tools/helm/kustomize-build (`kustomize build DIR` through the krusty library)."""
    return tool("kustomize")


@pytest.fixture(scope="session")
def built_image() -> BuiltImage:
    """chassisd's image in buildah's storage: $CHASSISD_IMAGE (with $CONTAINERS_STORAGE_CONF)
    when `make test` built it, else built now by tools/image/build.sh."""
    return build_image()


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment for helm: its cache, config and data kept out of the user's home."""
    home = tmp_path_factory.mktemp("helm-home")
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


@pytest.fixture(scope="session")
def chart(helm: Path, helm_env: dict[str, str]) -> Helm:
    """helm, ready to lint, render and install the chart."""
    return Helm(helm, helm_env)


@pytest.fixture
def new_namespace(kube_api: k8s.ApiClient) -> Iterator[Callable[[], str]]:
    """Creates a fresh namespace per call; their deletion is requested afterwards."""
    created: list[str] = []

    def make() -> str:
        name = f"test-{uuid.uuid4().hex[:10]}"
        ensure_namespace(kube_api, name)
        created.append(name)
        return name

    yield make
    for name in created:
        k8s.CoreV1Api(kube_api).delete_namespace(name)
