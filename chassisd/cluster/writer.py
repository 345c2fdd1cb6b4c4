"""The one writer: every status, owned object, deletion and Event the agent writes.

Owns two rules. **Only the leader writes**: every call first asks whether this replica leads
and raises ``NotLeading`` if not (nothing is sent). **The cache learns from the answer**: a
status written to a followed kind is stored in the shared cache from the API server's answer,
so the next decision is made on what was written even while the watch lags behind.

A status write may carry preconditions: the object's ``uid`` (the write fails if the object
was deleted and re-created) and ``resourceVersion`` (it fails with 409 if anything changed it
since). Failures are raised as ``KubeApiError`` for the caller to decide; this module logs
nothing. Deciding *what* to write is the controllers' job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chassisd.cluster.cache import FOLLOWED, ObjectCache
from chassisd.errors import ChassisdError
from chassisd.kube.gateway import Kind, KubeGateway


class NotLeading(ChassisdError):
    """This replica does not lead (any more): nothing was written."""

    def __init__(self) -> None:
        super().__init__("this replica does not lead; nothing was written")


def object_ref(obj: dict[str, Any]) -> dict[str, Any]:
    """The apiVersion, kind, name and namespace of ``obj``: the head of a write."""
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }


class Writer:
    """Writes through the gateway when this replica leads, keeping the cache up to date."""

    def __init__(
        self, gateway: KubeGateway, cache: ObjectCache, leading: Callable[[], bool]
    ) -> None:
        self._gw = gateway
        self._cache = cache
        self._leading = leading

    @property
    def leading(self) -> bool:
        """Whether writes may be made now."""
        return self._leading()

    def _guard(self) -> None:
        if not self._leading():
            raise NotLeading()

    def status(
        self,
        obj: dict[str, Any],
        status: dict[str, Any],
        *,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply ``status`` to ``obj``'s status subresource, with the preconditions
        given; returns the object as the server answered (and caches it)."""
        self._guard()
        body = object_ref(obj)
        if uid is not None:
            body["metadata"]["uid"] = uid
        if resource_version is not None:
            body["metadata"]["resourceVersion"] = resource_version
        written = self._gw.apply_status({**body, "status": status})
        kind = Kind(obj["apiVersion"], obj["kind"])
        if kind in FOLLOWED:
            self._cache.put(kind, written)
        return written

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply an owned object; returns the server's answer."""
        self._guard()
        return self._gw.apply(obj)

    def delete(
        self, kind: Kind, namespace: str, name: str, *, resource_version: str | None = None
    ) -> None:
        """Delete one object (already gone is fine); with ``resource_version``, only if it is
        still exactly that version."""
        self._guard()
        self._gw.delete(kind, namespace, name, resource_version=resource_version)
        if kind in FOLLOWED:
            self._cache.remove(kind, (namespace, name))

    def event(
        self,
        involved: dict[str, Any],
        *,
        reason: str,
        message: str,
        warning: bool,
        action: str = "Reconcile",
    ) -> None:
        """Record an Event about ``involved`` (``action``: what chassisd was doing)."""
        self._guard()
        self._gw.event(involved, reason=reason, message=message, warning=warning, action=action)
