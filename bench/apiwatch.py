"""API changes as a watch sees them: the cross-check on the agent's own write counter.

Owns one watch per kind the agent writes in the bench namespace (Chassis, NodePool, DhcpHosts,
PowerAction, Event). Every ADDED/MODIFIED/DELETED event is one change that reached etcd with a
new resourceVersion; they are kept with the time they arrived, so the runner can count the
changes in a window and compare them with ``chassisd_api_writes_total`` (a no-op apply is a
write request but no change), and tell the Chassis status changes that only refreshed the
10-minute ``lastPollTime`` heartbeat from real ones. Also records when each MAC first appears in
any ``DhcpHosts`` and when each PowerAction reaches a final phase.

Must not: write anything. Times are ``time.monotonic()`` on arrival (watch delivery adds a few
milliseconds on a local API server).
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes.client as k8s
from kubernetes.watch import Watch

log = logging.getLogger(__name__)

FINAL_PHASES = frozenset({"Succeeded", "Failed", "Unknown"})
WATCH_SECONDS = 240  # server-side timeout of one watch request; the loop starts a new one


#: Status fields the agent refreshes on a timer even when nothing changed (``lastPollTime``
#: every ``status_heartbeat``, 10 minutes): a change of only these is a heartbeat.
HEARTBEAT_FIELDS = ("lastPollTime", "lastSuccessTime")


@dataclass(frozen=True)
class Change:
    """One change of one object: when it arrived, what, and its new resourceVersion."""

    at: float
    kind: str
    name: str
    event: str
    resource_version: str
    heartbeat: bool = False  # a Chassis status change of only HEARTBEAT_FIELDS


@dataclass(frozen=True)
class _Kind:
    kind: str
    list_fn: Callable[..., Any]
    args: tuple[str, ...]


class ApiRecorder:
    """Watches the bench namespace from ``start`` to ``stop``."""

    def __init__(self, api: k8s.ApiClient, namespace: str) -> None:
        custom = k8s.CustomObjectsApi(api)
        core = k8s.CoreV1Api(api)
        group = ("chassisd.io", "v1alpha1", namespace)
        self._kinds = (
            _Kind("Chassis", custom.list_namespaced_custom_object, (*group, "chassis")),
            _Kind("NodePool", custom.list_namespaced_custom_object, (*group, "nodepools")),
            _Kind("PowerAction", custom.list_namespaced_custom_object, (*group, "poweractions")),
            _Kind(
                "DhcpHosts",
                custom.list_namespaced_custom_object,
                ("dnsmasq.kvaps.cf", "v1beta1", namespace, "dhcphosts"),
            ),
            _Kind("Event", core.list_namespaced_event, (namespace,)),
        )
        self._lock = threading.Lock()
        self._changes: list[Change] = []
        self._mac_seen: dict[str, float] = {}
        self._finished: dict[str, tuple[float, dict[str, Any]]] = {}
        self._chassis_state: dict[str, str] = {}  # name → spec and status without heartbeats
        self._stop = threading.Event()
        self._watches: list[Watch] = []
        self._threads: list[threading.Thread] = []
        self.restarts = 0  # watches restarted from a fresh list (410 Gone): changes may be missed

    def start(self) -> None:
        """List every kind (nothing before this counts) and start watching."""
        for kind in self._kinds:
            version = self._list_version(kind)
            watch = Watch()  # type: ignore[no-untyped-call]  # kubernetes.watch is untyped
            self._watches.append(watch)
            thread = threading.Thread(
                target=self._follow, args=(kind, watch, version), daemon=True,
                name=f"bench-watch-{kind.kind}",
            )  # fmt: skip
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """End every watch and wait for the threads."""
        self._stop.set()
        for watch in self._watches:
            watch.stop()  # type: ignore[no-untyped-call]
        for thread in self._threads:
            thread.join(timeout=10)

    def _list_version(self, kind: _Kind) -> str:
        result = kind.list_fn(*kind.args, limit=1)
        meta = result["metadata"] if isinstance(result, dict) else result.metadata
        version = meta["resourceVersion"] if isinstance(meta, dict) else meta.resource_version
        return str(version)

    def _relist(self, kind: _Kind) -> str:
        """After a lost watch: take the current objects as seen now (changes in the gap are not
        counted, ``restarts`` says it happened) and return the version to watch from."""
        result = kind.list_fn(*kind.args)
        if not isinstance(result, dict):
            return str(result.metadata.resource_version)
        for obj in result.get("items") or []:
            self._note(kind.kind, obj, time.monotonic())
        return str(result["metadata"]["resourceVersion"])

    def _follow(self, kind: _Kind, watch: Watch, version: str) -> None:
        while not self._stop.is_set():
            try:
                for event in watch.stream(  # type: ignore[no-untyped-call]
                    kind.list_fn,
                    *kind.args,
                    resource_version=version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=WATCH_SECONDS,
                    deserialize=False,
                ):
                    version = self._record(kind.kind, event) or version
                    if self._stop.is_set():
                        return
            except k8s.ApiException as exc:
                if self._stop.is_set():
                    return
                if exc.status != 410:
                    raise
                self.restarts += 1
                version = self._relist(kind)
            except KeyError:
                # kubernetes.watch reads event["raw_object"] on an ERROR event (an expired
                # resourceVersion), which it only sets when it deserialises: start over.
                if self._stop.is_set():
                    return
                self.restarts += 1
                version = self._relist(kind)
            except Exception:
                if self._stop.is_set():
                    return  # stop() shut the socket down under the read
                raise

    def _record(self, kind: str, event: dict[str, Any]) -> str | None:
        """Keep one event; return the resourceVersion to resume from."""
        now = time.monotonic()
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        version = meta.get("resourceVersion")
        if event["type"] == "BOOKMARK":
            return str(version) if version else None
        name = meta.get("name", "")
        heartbeat = False
        if kind == "Chassis":
            status = {
                k: v for k, v in (obj.get("status") or {}).items() if k not in HEARTBEAT_FIELDS
            }
            state = json.dumps([obj.get("spec"), status], sort_keys=True)
            heartbeat = event["type"] == "MODIFIED" and self._chassis_state.get(name) == state
            self._chassis_state[name] = state
        change = Change(now, kind, name, event["type"], str(version), heartbeat)
        with self._lock:
            self._changes.append(change)
        if event["type"] != "DELETED":
            self._note(kind, obj, now)
        return str(version) if version else None

    def _note(self, kind: str, obj: dict[str, Any], now: float) -> None:
        """Record the MACs of a DhcpHosts and a PowerAction's final phase, first sighting only."""
        with self._lock:
            if kind == "DhcpHosts":
                for host in (obj.get("spec") or {}).get("hosts") or []:
                    for mac in host.get("macs") or []:
                        self._mac_seen.setdefault(mac, now)
            if kind == "PowerAction":
                phase = (obj.get("status") or {}).get("phase")
                if phase in FINAL_PHASES:
                    self._finished.setdefault(obj["metadata"]["name"], (now, obj))

    # --- queries ------------------------------------------------------------------------------

    def changes(self, start: float, end: float) -> Counter[str]:
        """Changes that arrived in ``[start, end)``, by kind."""
        with self._lock:
            times = [c.at for c in self._changes]
            lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
            return Counter(c.kind for c in self._changes[lo:hi])

    def heartbeats(self, start: float, end: float) -> int:
        """Changes in ``[start, end)`` that only refreshed a Chassis's heartbeat timestamps."""
        with self._lock:
            return sum(1 for c in self._changes if c.heartbeat and start <= c.at < end)

    def distinct_versions(self, start: float, end: float) -> int:
        """Distinct (kind, name, resourceVersion) in ``[start, end)``: changes that etcd kept."""
        with self._lock:
            return len(
                {(c.kind, c.name, c.resource_version) for c in self._changes if start <= c.at < end}
            )

    def last_change(self) -> float:
        """Arrival time of the newest change (0.0 if none)."""
        with self._lock:
            return self._changes[-1].at if self._changes else 0.0

    def macs_seen(self) -> int:
        with self._lock:
            return len(self._mac_seen)

    def mac_seen_at(self, mac: str) -> float | None:
        with self._lock:
            return self._mac_seen.get(mac)

    def finished(self, name: str) -> tuple[float, dict[str, Any]] | None:
        """When the PowerAction ``name`` reached a final phase, and the object then."""
        with self._lock:
            return self._finished.get(name)
