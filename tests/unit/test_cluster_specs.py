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


def test_a_namespace_change_parses_again_only_the_objects_whose_generation_changed(
    monkeypatch: Any,
) -> None:
    """While a large namespace is first listed every Chassis is a change, and polls running
    meanwhile ask for the namespace's specs: each rebuild parses only the new or changed
    objects (parsing all 10,000 every time made the first sweep quadratic); a new generation
    or a recreated object (another uid) is parsed again."""
    import chassisd.cluster.specs as specs_module

    parsed: list[str] = []
    real = specs_module.parse_object

    def counting(obj: Any, **kwargs: Any) -> Any:
        parsed.append(obj["metadata"]["name"])
        return real(obj, **kwargs)

    monkeypatch.setattr(specs_module, "parse_object", counting)
    cache = ObjectCache()
    specs = NamespaceSpecs(cache, SecretCache(None, 30.0))  # type: ignore[arg-type]
    for index in range(1, 51):
        cache.put(CHASSIS, _chassis(f"m{index}", str(index)))
        specs.invalidate("farm")
        assert len(specs.config("farm")[0].chassis) == index
    assert len(parsed) == 50  # each once, not 1 + 2 + ... + 50
    changed = _chassis("m7", "60")
    changed["metadata"]["generation"] = 2
    changed["spec"]["address"] = "elsewhere"
    cache.put(CHASSIS, changed)
    specs.invalidate("farm")
    config, _ = specs.config("farm")
    assert parsed[50:] == ["m7"]
    assert config.chassis_named("m7").address == "elsewhere"
    recreated = _chassis("m8", "61")
    recreated["metadata"]["uid"] = "another"
    cache.put(CHASSIS, recreated)
    specs.invalidate("farm")
    specs.config("farm")
    assert parsed[51:] == ["m8"]
