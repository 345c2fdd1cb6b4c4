"""The parsed specs of each namespace: its valid Chassis and NodePools as one ``Config``.

Owns parsing the cached Chassis and NodePool objects of a namespace into the same ``Config``
standalone mode loads from a file, once per change (a namespace is assembled again only after a
spec in it changed, and then only the objects whose generation changed are parsed again: while
10,000 Chassis are first listed, every one is a change, and polls already running must not
re-parse the whole namespace each time), and the problems found per pool. An invalid Chassis
is left out here and reported in its own status by the chassis controller. Reads the shared
cache; writes nothing.
"""

from __future__ import annotations

import threading
from typing import Any

from chassisd.cluster.cache import ObjectCache
from chassisd.cluster.secrets import SecretCache
from chassisd.config import (
    ChassisResource,
    Config,
    NodePoolSpec,
    check_references,
    parse_object,
    surviving_pools,
)
from chassisd.errors import ConfigError
from chassisd.kube.gateway import CHASSIS, NODEPOOL

#: Problems of a namespace's pools, by pool name: "Reason: message".
PoolProblems = dict[str, str]


def parse_chassis(obj: dict[str, Any]) -> ChassisResource:
    """A Chassis object's spec, validated (``ConfigError`` naming the field)."""
    parsed = parse_object(obj, label=obj["metadata"].get("namespace", ""))
    if not isinstance(parsed, ChassisResource):
        raise ConfigError("not a Chassis")
    return parsed


class NamespaceSpecs:
    """``Config`` per namespace, built from the cache and kept until a spec there changes."""

    def __init__(self, cache: ObjectCache, secrets: SecretCache) -> None:
        self._cache = cache
        self._secrets = secrets
        self._lock = threading.Lock()
        self._built: dict[str, tuple[Config, PoolProblems]] = {}
        # Counts invalidations (all namespaces, then per namespace): a parse that an
        # invalidation overtook is used once but not kept, or a Chassis added meanwhile would
        # stay unknown to its own polls ("no chassis named ...") until the next change.
        self._epoch = 0
        self._changes: dict[str, int] = {}
        # Per namespace, each object's parse by (kind, name) with the (uid, generation) it was
        # parsed at: a ChassisResource/NodePoolSpec, or the ConfigError it raised.
        self._parsed: dict[str, dict[tuple[str, str], tuple[tuple[Any, Any], object]]] = {}

    def invalidate(self, namespace: str | None = None) -> None:
        """Forget the parsed specs of ``namespace`` (None: of every namespace)."""
        with self._lock:
            if namespace is None:
                self._built.clear()
                self._epoch += 1
            else:
                self._built.pop(namespace, None)
                self._changes[namespace] = self._changes.get(namespace, 0) + 1

    def config(self, namespace: str) -> tuple[Config, PoolProblems]:
        """The valid Chassis and NodePools of ``namespace``, and the problems of its pools."""
        with self._lock:
            built = self._built.get(namespace)
            seen = (self._epoch, self._changes.get(namespace, 0))
        if built is None:
            built = self._build(namespace)
            with self._lock:
                if (self._epoch, self._changes.get(namespace, 0)) == seen:
                    self._built[namespace] = built
        return built

    def _build(self, namespace: str) -> tuple[Config, PoolProblems]:
        with self._lock:
            before = self._parsed.get(namespace, {})
        parsed: dict[tuple[str, str], tuple[tuple[Any, Any], object]] = {}

        def parse(kind: str, obj: dict[str, Any]) -> object:
            meta = obj["metadata"]
            key, marker = (kind, meta["name"]), (meta.get("uid"), meta.get("generation"))
            held = before.get(key)
            if held is not None and held[0] == marker and marker[1] is not None:
                result = held[1]
            else:
                try:
                    result = parse_object(obj, label=namespace)
                except ConfigError as exc:
                    result = exc
            parsed[key] = (marker, result)
            return result

        chassis: list[ChassisResource] = []
        for obj in self._cache.items(CHASSIS, namespace).values():
            resource = parse(CHASSIS.kind, obj)
            if isinstance(resource, ChassisResource):
                chassis.append(resource)  # an invalid one is reported in its own status
        pools: list[NodePoolSpec] = []
        problems: PoolProblems = {}
        pool_objs = self._cache.items(NODEPOOL, namespace).values()
        for obj in sorted(pool_objs, key=lambda o: o["metadata"]["name"]):
            pool = parse(NODEPOOL.kind, obj)
            if isinstance(pool, ConfigError):
                problems[obj["metadata"]["name"]] = f"InvalidSpec: {pool}"
            elif isinstance(pool, NodePoolSpec):
                pools.append(pool)
            else:
                problems[obj["metadata"]["name"]] = "InvalidSpec: not a NodePool"
        with self._lock:
            self._parsed[namespace] = parsed
        # The same cross-resource checks as standalone mode; here each pool records its own.
        found = check_references(chassis, pools)
        problems.update((p.pool, str(p)) for p in found)
        config = Config(
            chassis=tuple(chassis),
            pools=surviving_pools(pools, found),
            secrets=self._secrets.of_namespace(namespace),
        )
        return config, problems
