"""Fair access to devices for power actions: who may talk to which chassis now.

Owns three rules of the power controller's fairness: one device conversation at a time per
(namespace, chassis) — the name alone is not unique across namespaces; at most
``namespace_share`` conversations at once for one namespace *while another namespace is
waiting*, so a burst of actions in one namespace cannot hold every power worker (alone, a
namespace may use them all: the share costs nothing when nobody else needs a worker); and a
chassis that nothing could reach is reported
unreachable for ``hold`` seconds, so its queued actions fail at once instead of each timing
out. Callers never wait here: ``claim`` says yes or no, and a "no" is requeued. Thread-safe;
no I/O.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

ChassisKey = tuple[str, str]  # (namespace, chassis name)

UNREACHABLE_HOLD = 30.0  # seconds a chassis nothing could reach fails its queued actions fast
WAITING_FOR = 2.0  # seconds a refused namespace counts as waiting (its actions retry sooner)


class PowerGate:
    """Claims on chassis for power actions."""

    def __init__(
        self,
        *,
        namespace_share: int,
        hold: float = UNREACHABLE_HOLD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._share = namespace_share
        self._hold = hold
        self._clock = clock
        self._lock = threading.Lock()
        self._busy: set[ChassisKey] = set()
        self._per_namespace: dict[str, int] = {}
        self._unreachable: dict[ChassisKey, tuple[float, str]] = {}
        self._waiting: dict[str, float] = {}  # namespace → when a claim of it was last refused

    def claim(self, chassis: ChassisKey) -> bool:
        """Take the chassis for one conversation; False if it is busy, or its namespace has its
        share while another namespace waits."""
        namespace = chassis[0]
        with self._lock:
            now = self._clock()
            others_wait = any(
                ns != namespace and now - at < WAITING_FOR for ns, at in self._waiting.items()
            )
            over_share = self._per_namespace.get(namespace, 0) >= self._share
            if chassis in self._busy or (over_share and others_wait):
                self._waiting[namespace] = now
                return False
            self._waiting.pop(namespace, None)
            self._busy.add(chassis)
            self._per_namespace[chassis[0]] = self._per_namespace.get(chassis[0], 0) + 1
            return True

    def release(self, chassis: ChassisKey) -> None:
        """Give the chassis back."""
        with self._lock:
            if chassis in self._busy:
                self._busy.discard(chassis)
                self._per_namespace[chassis[0]] -= 1

    def mark_unreachable(self, chassis: ChassisKey, why: str) -> None:
        """Nothing reached the chassis: fail what is queued for it for a while."""
        with self._lock:
            self._unreachable[chassis] = (self._clock() + self._hold, why)

    def unreachable(self, chassis: ChassisKey) -> str:
        """Why the chassis counts as unreachable now ("" if it does not)."""
        with self._lock:
            held = self._unreachable.get(chassis)
            if held is None or self._clock() >= held[0]:
                self._unreachable.pop(chassis, None)
                return ""
            return f"chassis {chassis[1]} was unreachable moments ago: {held[1]}"
