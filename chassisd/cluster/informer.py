"""Informers: keep the shared cache in step with the API server, one kind each.

Owns the list → watch → relist loop of one kind (a watch ends after ``relist_interval`` and the
kind is listed afresh, a safety net for missed events; an API failure waits with back-off and
starts over), and telling the controllers what changed. A handler gets a ``Change`` per object
that appeared, changed or went, then, after a list, one ``Change`` with ``key=None`` ("every
object of this kind may have changed"). Handlers run on the informer's thread and must only
record or enqueue work, never write to the API.

It never writes; what the agent writes reaches the cache through the writer, and the echo of
that write from the watch is ignored as not newer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chassisd.cluster.cache import Key, ObjectCache, generation_of, key_of
from chassisd.errors import KubeApiError
from chassisd.kube.gateway import Kind, KubeGateway
from chassisd.retry import Backoff

log = logging.getLogger(__name__)

#: Waits between attempts to list or watch again after an API failure: 1 s, doubling to 30 s.
WATCH_BACKOFF = Backoff(initial=1.0, factor=2.0, maximum=30.0)


@dataclass(frozen=True)
class Change:
    """Something the cache learnt about one object (or, with ``key=None``, a fresh list)."""

    kind: Kind
    key: Key | None
    old: dict[str, Any] | None  # the slim object held before (None: new)
    new: dict[str, Any] | None  # the full object as received (None: deleted)

    @property
    def spec_changed(self) -> bool:
        """Whether this is more than a status update: appeared, went, or a new generation."""
        return (
            self.old is None
            or self.new is None
            or generation_of(self.old) != generation_of(self.new)
        )


Handler = Callable[[Change], None]


class Informer:
    """Follows one kind into the shared cache and calls the handlers on every change."""

    def __init__(
        self,
        gateway: KubeGateway,
        cache: ObjectCache,
        kind: Kind,
        *,
        namespace: str | None,
        relist_interval: int,
    ) -> None:
        self._gw = gateway
        self._cache = cache
        self.kind = kind
        self._namespace = namespace
        self._relist_interval = relist_interval
        self._handlers: list[Handler] = []
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler`` on every change (register before ``start``)."""
        self._handlers.append(handler)

    @property
    def synced(self) -> bool:
        """True once the kind has been listed."""
        return self._synced.is_set()

    def start(self) -> None:
        """Follow the kind in a daemon thread."""
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"watch-{self.kind.kind}"
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop calling handlers (the thread ends with its current watch)."""
        self._stop.set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                version = self._list()
                failures = 0
                for event, obj in self._gw.watch(
                    self.kind, self._namespace, version, self._relist_interval
                ):
                    if self._stop.is_set():
                        return
                    self._apply(event, obj)
            except KubeApiError as exc:
                failures += 1
                delay = WATCH_BACKOFF.delay(failures)
                log.warning(
                    "following %s failed, retrying in %.0f s: %s", self.kind.kind, delay, exc
                )
                self._stop.wait(delay)

    def _list(self) -> str:
        # Page by page: the cache keeps slim copies, and the handlers see each whole object
        # while its page is held, so a list of 1,000 Chassis with their node lists is never
        # held whole (``KubeGateway.list_pages``).
        before = self._cache.items(self.kind, self._namespace)
        version = ""
        for items, page_version in self._gw.list_pages(self.kind, self._namespace):
            version = page_version or version  # the list's, given with its last page
            for obj in items:
                key = key_of(obj)
                old = before.pop(key, None)
                stored, held = self._cache.put(self.kind, obj)
                if self._stop.is_set():
                    continue
                if stored and (
                    old is None
                    or old["metadata"].get("resourceVersion")
                    != obj["metadata"].get("resourceVersion")
                ):
                    self._notify(Change(self.kind, key, held, obj))
        for key in before:  # gone since the last list
            old = self._cache.remove(self.kind, key)
            if not self._stop.is_set():
                self._notify(Change(self.kind, key, old, None))
        if self._stop.is_set():
            return version
        self._synced.set()
        self._notify(Change(self.kind, None, None, None))
        return version

    def _apply(self, event: str, obj: dict[str, Any]) -> None:
        if event == "DELETED":
            key = key_of(obj)
            old = self._cache.remove(self.kind, key)
            self._notify(Change(self.kind, key, old, None))
            return
        stored, old = self._cache.put(self.kind, obj)
        if stored:
            self._notify(Change(self.kind, key_of(obj), old, obj))

    def _notify(self, change: Change) -> None:
        for handler in self._handlers:
            try:
                handler(change)
            except Exception:  # a handler's bug must not stop the cache from following
                log.exception("handler of %s failed", self.kind.kind)
