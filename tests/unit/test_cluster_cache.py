"""The cluster agent's shared cache: slim objects, status digests, never back in time."""

from __future__ import annotations

from typing import Any

from chassisd.cluster.cache import ObjectCache
from chassisd.cluster.status import digest
from chassisd.kube.gateway import CHASSIS, POWERACTION


def chassis(version: str, nodes: int, generation: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "chassisd.io/v1alpha1",
        "kind": "Chassis",
        "metadata": {
            "name": "m1",
            "namespace": "farm",
            "resourceVersion": version,
            "generation": generation,
            "managedFields": [{"manager": "chassisd"}],
        },
        "spec": {"driver": "moonshot"},
        "status": {"nodeCount": nodes, "nodes": [{"id": f"c{i}n1"} for i in range(nodes)]},
    }


def test_chassis_is_held_without_its_node_list_but_with_a_digest_of_it() -> None:
    """The node list is left out of the cached object; the digest covers the full status."""
    cache = ObjectCache()
    obj = chassis("10", 3)
    cache.put(CHASSIS, obj)
    held = cache.get(CHASSIS, ("farm", "m1"))
    assert held is not None
    assert "nodes" not in held["status"] and held["status"]["nodeCount"] == 3
    assert "managedFields" not in held["metadata"]
    assert cache.status_digest(CHASSIS, ("farm", "m1")) == digest(obj["status"])


def test_an_older_version_never_replaces_a_newer_one() -> None:
    """What a write answered (version 12) is kept when a lagging watch delivers version 11."""
    cache = ObjectCache()
    assert cache.put(CHASSIS, chassis("12", 4))[0]
    stored, previous = cache.put(CHASSIS, chassis("11", 3))
    assert not stored and previous is not None
    held = cache.get(CHASSIS, ("farm", "m1"))
    assert held is not None and held["status"]["nodeCount"] == 4


def test_replace_all_returns_what_was_held_and_forgets_the_rest() -> None:
    """A fresh list replaces the kind; the objects held before are returned."""
    cache = ObjectCache()
    cache.put(POWERACTION, {**chassis("1", 0), "kind": "PowerAction"})
    before = cache.replace_all(POWERACTION, [])
    assert list(before) == [("farm", "m1")]
    assert cache.items(POWERACTION) == {}
    assert cache.status_digest(POWERACTION, ("farm", "m1")) is None
