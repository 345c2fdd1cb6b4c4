"""What chassisd owns in the DHCP target namespaces: DhcpHosts and kubefarm ConfigMaps.

Owns the cache of owned objects per (pool namespace, target namespace): listed by ownership
labels at most every ``relist_interval`` (or after a failed write), kept up to date by the
agent's own applies and deletes in between, so a reconcile compares against it instead of
listing every round. An object someone else edits or deletes is put right after the next list.
Each object is held as its labels and a digest of its content. Reads through the gateway only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chassisd.cluster.status import digest
from chassisd.kube.gateway import CONFIGMAP, DHCPHOSTS, KubeGateway
from chassisd.reconcile import MANAGED_BY, POOL_LABEL, POOL_NAMESPACE_LABEL

MANAGED_BY_KEY = next(iter(MANAGED_BY))

OwnedKey = tuple[str, str, str]  # (kind, namespace, name)


@dataclass(frozen=True)
class Owned:
    """What reconcile needs of an owned object: its labels and a digest of its content
    (``spec``, or ``data`` for a ConfigMap)."""

    labels: Mapping[str, str]
    digest: bytes

    @classmethod
    def of(cls, obj: dict[str, Any], kind: str = "") -> Owned:
        """The summary of a live object (``kind``: for the items of a list, which have none)."""
        field = "data" if (kind or obj["kind"]) == CONFIGMAP.kind else "spec"
        return cls(dict(obj["metadata"].get("labels") or {}), digest(obj.get(field)))

    def carries(self, desired: dict[str, Any]) -> bool:
        """Whether the live object already holds everything ``desired`` would apply."""
        labels = desired["metadata"].get("labels", {})
        if any(self.labels.get(k) != v for k, v in labels.items()):
            return False
        field = "spec" if "spec" in desired else "data"
        return digest(desired.get(field)) == self.digest


def not_owned_by(labels: Mapping[str, str], namespace: str, pool: str) -> str:
    """Why an object with ``labels`` is not the pool ``namespace/pool``'s to write or delete,
    or "" when it is: it must carry all three ownership labels with those values."""
    if labels.get(MANAGED_BY_KEY) != "chassisd":
        return "is not labelled app.kubernetes.io/managed-by=chassisd"
    owner = f"{labels.get(POOL_NAMESPACE_LABEL, '')}/{labels.get(POOL_LABEL, '')}"
    if owner != f"{namespace}/{pool}":
        return f"belongs to pool {owner}"
    return ""


def owned_key(obj: dict[str, Any]) -> OwnedKey:
    """An owned object's (kind, namespace, name)."""
    meta = obj["metadata"]
    return obj["kind"], meta["namespace"], meta["name"]


class OwnedObjects:
    """Owned objects per (pool namespace, target namespace), as last listed or written."""

    def __init__(self, gateway: KubeGateway, relist_interval: float) -> None:
        self._gw = gateway
        self._relist_interval = relist_interval
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], tuple[float, dict[OwnedKey, Owned]]] = {}

    def in_namespace(self, namespace: str, target_ns: str) -> dict[OwnedKey, Owned]:
        """The objects the pools of ``namespace`` own in ``target_ns``."""
        with self._lock:
            held = self._held.get((namespace, target_ns))
        if held is not None and time.monotonic() - held[0] < self._relist_interval:
            return dict(held[1])
        selector = f"app.kubernetes.io/managed-by=chassisd,{POOL_NAMESPACE_LABEL}={namespace}"
        listed: dict[OwnedKey, Owned] = {}
        for kind in (DHCPHOSTS, CONFIGMAP):
            # Page by page: only a digest of each is kept (a fleet's DhcpHosts, with their
            # managedFields, are tens of MB as one list).
            for items, _ in self._gw.list_pages(kind, target_ns, selector):
                for item in items:
                    key = (kind.kind, target_ns, item["metadata"]["name"])
                    listed[key] = Owned.of(item, kind.kind)
        with self._lock:
            self._held[(namespace, target_ns)] = (time.monotonic(), listed)
        return dict(listed)

    def written(self, namespace: str, obj: dict[str, Any]) -> None:
        """Record what an apply answered."""
        key = owned_key(obj)
        with self._lock:
            held = self._held.get((namespace, key[1]))
            if held is not None:
                held[1][key] = Owned.of(obj)

    def deleted(self, namespace: str, key: OwnedKey) -> None:
        """Record a deletion."""
        with self._lock:
            held = self._held.get((namespace, key[1]))
            if held is not None:
                held[1].pop(key, None)

    def forget(
        self, namespace: str | None = None, target_namespaces: set[str] | None = None
    ) -> None:
        """List again next time: everything (None), or one namespace's targets."""
        with self._lock:
            if namespace is None:
                self._held.clear()
                return
            for target_ns in target_namespaces or set():
                self._held.pop((namespace, target_ns), None)
