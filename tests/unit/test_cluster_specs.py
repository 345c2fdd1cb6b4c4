"""The parsed specs of a namespace are never kept older than the cache they were built from."""

from __future__ import annotations

from typing import Any

from chassisd.cluster.cache import ObjectCache
from chassisd.cluster.secrets import SecretCache
from chassisd.cluster.specs import NamespaceSpecs
from chassisd.config import Config
from chassisd.kube.gateway import CHASSIS

PoolProblems = dict[str, str]


def _chassis(name: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": CHASSIS.api_version,
        "kind": CHASSIS.kind,
        "metadata": {
            "name": name,
            "namespace": "farm",
            "resourceVersion": version,
            "generation": 1,
        },
        "spec": {"driver": "fake", "address": name, "credentialsSecretRef": {"name": "c"}},
    }


class _Racing(NamespaceSpecs):
    """Specs whose next parse is overtaken by the informer: a Chassis arrives in the cache and
    the namespace is invalidated while the parse runs (as a paged list does at start)."""

    def __init__(self, cache: ObjectCache) -> None:
        super().__init__(cache, SecretCache(None, 30.0))  # type: ignore[arg-type]  # no Secret read
        self.arriving: dict[str, Any] | None = None

    def _build(self, namespace: str) -> tuple[Config, PoolProblems]:
        built = super()._build(namespace)
        if self.arriving is not None:
            self._cache.put(CHASSIS, self.arriving)
            self.invalidate(namespace)
            self.arriving = None
        return built


def test_a_parse_overtaken_by_a_change_is_not_kept() -> None:
    """The parse that raced the change answers once; the next call sees the new Chassis
    (kept instead, every poll of it failed with "no chassis named" until another change)."""
    cache = ObjectCache()
    cache.put(CHASSIS, _chassis("m1", "1"))
    specs = _Racing(cache)
    specs.arriving = _chassis("m2", "2")
    first, _ = specs.config("farm")
    assert [c.name for c in first.chassis] == ["m1"]
    second, _ = specs.config("farm")
    assert sorted(c.name for c in second.chassis) == ["m1", "m2"]
    assert specs.config("farm")[0] is second  # kept once nothing overtook it
