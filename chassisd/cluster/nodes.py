"""The agent's node memory: every known node of every chassis, shared by the controllers.

Owns the thread-safe store of ``KnownNode`` values per chassis (namespace, name). The chassis
controller loads it from a Chassis status the first time it sees one (so a restart forgets
nothing) and replaces a chassis's nodes after each poll; the pool reconciler and the power
controller read it; a power action records the state it read back. It also notes, per
namespace, which chassis changed in what a plan reads (node ids, names, slots, MACs) until the
pool reconciler takes the list, so it re-plans only those. The rules of remembering are
``chassisd.memory``'s; this module only holds the result.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from chassisd.cluster.cache import Key
from chassisd.memory import KnownNode, known_from_dict
from chassisd.model import PowerState
from chassisd.noderef import NamedNode


class NodeMemory:
    """Known nodes by chassis key, then by ``chassis/id``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[Key, dict[str, KnownNode]] = {}
        self._loaded: set[Key] = set()
        self._changed: dict[str, set[str]] = {}  # namespace → chassis changed since taken

    def load(self, key: Key, recorded: Iterable[Mapping[str, object]]) -> bool:
        """Take the nodes a Chassis status records as known, once per chassis; returns whether
        they were taken (False: already loaded)."""
        now = datetime.now(UTC)
        with self._lock:
            if key in self._loaded:
                return False
            known = self._known.setdefault(key, {})
            for entry in recorded:
                node = known_from_dict(key[1], entry, now)
                known.setdefault(node.node.ref, node)
            self._loaded.add(key)
            self._changed.setdefault(key[0], set()).add(key[1])
            return True

    def get(self, key: Key) -> dict[str, KnownNode]:
        """A copy of one chassis's known nodes."""
        with self._lock:
            return dict(self._known.get(key, {}))

    def replace(self, key: Key, nodes: dict[str, KnownNode]) -> None:
        """Set one chassis's known nodes (after a successful poll)."""
        with self._lock:
            before = self._known.get(key, {})
            if _planned(before) != _planned(nodes):
                self._changed.setdefault(key[0], set()).add(key[1])
            self._known[key] = dict(nodes)
            self._loaded.add(key)

    def forget(self, key: Key) -> None:
        """Drop a deleted chassis."""
        with self._lock:
            if self._known.pop(key, None):
                self._changed.setdefault(key[0], set()).add(key[1])
            self._loaded.discard(key)

    def keys(self) -> set[Key]:
        """Every chassis with known nodes."""
        with self._lock:
            return set(self._known)

    def take_changed(self, namespace: str) -> set[str]:
        """The chassis of ``namespace`` whose nodes changed in what a plan reads since the
        last call (for the one reader that re-plans from them: the pool reconciler)."""
        with self._lock:
            return self._changed.pop(namespace, set())

    def nodes_of(self, key: Key) -> list[NamedNode]:
        """One chassis's known nodes."""
        with self._lock:
            return [entry.node for entry in self._known.get(key, {}).values()]

    def of_namespace(self, namespace: str) -> list[NamedNode]:
        """Every known node of a namespace."""
        with self._lock:
            return [
                entry.node
                for (ns, _), known in self._known.items()
                if ns == namespace
                for entry in known.values()
            ]

    def record_power(self, key: Key, node_id: str, state: PowerState) -> bool:
        """Record a power state read back by a power action; returns whether it changed."""
        with self._lock:
            known = self._known.get(key, {})
            ref = f"{key[1]}/{node_id}"
            entry = known.get(ref)
            if entry is None or entry.node.record.power is state:
                return False
            record = replace(entry.node.record, power=state)
            known[ref] = replace(entry, node=replace(entry.node, record=record))
            return True


def _planned(known: Mapping[str, KnownNode]) -> set[tuple[object, ...]]:
    """What a plan reads of a chassis's nodes: id, name, slot and MACs."""
    return {
        (ref, k.node.name, k.node.record.cartridge, k.node.record.node, k.node.record.macs)
        for ref, k in known.items()
    }
