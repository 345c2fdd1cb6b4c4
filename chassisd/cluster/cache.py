"""The agent's one shared cache of the objects it follows: Chassis, NodePools, PowerActions.

Owns the store (kind → (namespace, name) → object) and the rule that it never goes back in
time: an object older than the one held (by resourceVersion) is ignored, so what a write
answered is not replaced by a watch event that lags behind it. Objects are kept slim: no
``managedFields``, and Chassis and NodePools without the node lists of their status (45,000
nodes are held once, in the node memory), with a digest of the full status so a status can be
compared with what is about to be written. Thread-safe; does no I/O.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from chassisd.cluster.status import digest
from chassisd.kube.gateway import CHASSIS, NODEPOOL, POWERACTION, Kind

Key = tuple[str, str]  # (namespace, name)

#: The kinds the cache holds, and the status field left out of each (held elsewhere).
FOLLOWED: dict[Kind, str | None] = {CHASSIS: "nodes", NODEPOOL: "members", POWERACTION: None}


def key_of(obj: dict[str, Any]) -> Key:
    """An object's (namespace, name)."""
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def generation_of(obj: dict[str, Any] | None) -> Any:
    """An object's ``metadata.generation`` (None for no object)."""
    return None if obj is None else obj["metadata"].get("generation")


class ObjectCache:
    """Slim copies of every followed object, as last listed, watched or written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Kind, dict[Key, dict[str, Any]]] = {k: {} for k in FOLLOWED}
        self._digests: dict[tuple[Kind, Key], bytes] = {}

    def put(self, kind: Kind, obj: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """Store ``obj`` unless an equal or newer version is held. Returns (stored, previous)."""
        key = key_of(obj)
        slim, status_digest = _slim(kind, obj)
        with self._lock:
            old = self._objects[kind].get(key)
            if old is not None and not _newer(obj, old):
                return False, old
            self._objects[kind][key] = slim
            if status_digest is None:
                self._digests.pop((kind, key), None)
            else:
                self._digests[(kind, key)] = status_digest
        return True, old

    def replace_all(self, kind: Kind, objs: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
        """Hold exactly ``objs`` of ``kind`` (a fresh list); returns what was held before."""
        fresh = {key_of(o): _slim(kind, o) for o in objs}
        with self._lock:
            before = self._objects[kind]
            self._objects[kind] = {k: slim for k, (slim, _) in fresh.items()}
            for key in before:
                self._digests.pop((kind, key), None)
            for key, (_, status_digest) in fresh.items():
                if status_digest is not None:
                    self._digests[(kind, key)] = status_digest
        return before

    def remove(self, kind: Kind, key: Key) -> dict[str, Any] | None:
        """Forget one object; returns it, or None if it was not held."""
        with self._lock:
            self._digests.pop((kind, key), None)
            return self._objects[kind].pop(key, None)

    def get(self, kind: Kind, key: Key) -> dict[str, Any] | None:
        """The slim object, or None."""
        with self._lock:
            return self._objects[kind].get(key)

    def items(self, kind: Kind, namespace: str | None = None) -> dict[Key, dict[str, Any]]:
        """A snapshot of the objects of ``kind`` (in ``namespace``, or all)."""
        with self._lock:
            held = self._objects[kind]
            if namespace is None:
                return dict(held)
            return {k: o for k, o in held.items() if k[0] == namespace}

    def namespaces(self, *kinds: Kind) -> set[str]:
        """The namespaces that hold at least one object of ``kinds``."""
        with self._lock:
            return {ns for kind in kinds for ns, _ in self._objects[kind]}

    def status_digest(self, kind: Kind, key: Key) -> bytes | None:
        """The digest of the full status last stored for ``key`` (None: no status)."""
        with self._lock:
            return self._digests.get((kind, key))


def _slim(kind: Kind, obj: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    slim = {**obj, "metadata": meta}
    status = obj.get("status")
    heavy = FOLLOWED.get(kind)
    if heavy is None or status is None:
        return slim, None if status is None else digest(status)
    slim["status"] = {k: v for k, v in status.items() if k != heavy}
    allocations = status.get("allocations")
    if kind == NODEPOOL and isinstance(allocations, dict):
        # Keyed by node ref (``chassis/id``): the interned ref every NamedNode holds, not one
        # more copy of it per pool member (``chassisd.noderef.NamedNode.ref``).
        slim["status"]["allocations"] = {sys.intern(str(k)): v for k, v in allocations.items()}
    return slim, digest(status)


def _newer(obj: dict[str, Any], than: dict[str, Any]) -> bool:
    """Whether ``obj`` is a later version than ``than``. resourceVersions are opaque to clients
    in general; kube-apiserver's are etcd revisions (integers), compared only then."""
    a, b = obj["metadata"].get("resourceVersion", ""), than["metadata"].get("resourceVersion", "")
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return a != b or not a
