"""The power controller's ledger: what this process did with each PowerAction, by uid.

Owns the memory that makes power exactly-once survive failed writes: the attempts this process
made to mark an action Running (the latest and the earlier ones, whose write may reach the
watch late), whether a command was sent, and the final status still to be persisted with its
write back-off. It is consulted before anything else, so neither a stale cache nor a lagging
watch can cause a second send. In memory only: after a restart, an action found Running is
one this process never started (the controller ends it Unknown). Thread-safe; no I/O.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from chassisd.retry import Backoff

#: Waits before writing a final status again after a failed write: 0.5 s doubling to 30 s.
WRITE_BACKOFF = Backoff(initial=0.5, factor=2.0, maximum=30.0)


@dataclass
class LedgerEntry:
    """What this process did with one PowerAction."""

    attempt: str  # the latest attempt to mark it Running ("" if none was made)
    earlier: tuple[str, ...] = ()  # attempts whose Running write may have reached etcd unseen
    sent: bool = False
    final: dict[str, Any] | None = None  # the terminal status to persist
    persisted: bool = False
    failures: int = 0  # failed writes in a row (back-off)

    def made(self, attempt: str | None) -> bool:
        """Whether ``attempt`` (a Running status's) is one of this process's."""
        return bool(attempt) and attempt in (self.attempt, *self.earlier)


class PowerLedger:
    """Ledger entries by PowerAction uid."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, LedgerEntry] = {}

    def get(self, uid: str) -> LedgerEntry | None:
        """The entry of ``uid``, if this process did anything with it."""
        with self._lock:
            return self._entries.get(uid)

    def new_attempt(self, uid: str) -> LedgerEntry:
        """A fresh attempt to mark ``uid`` Running, remembering the earlier ones."""
        with self._lock:
            before = self._entries.get(uid)
            entry = LedgerEntry(
                attempt=uuid.uuid4().hex,
                earlier=(*before.earlier, before.attempt) if before is not None else (),
            )
            self._entries[uid] = entry
            return entry

    def mark_sent(self, entry: LedgerEntry) -> None:
        """A command is about to go out: from here on, never again."""
        with self._lock:
            entry.sent = True

    def conclude(self, uid: str, final: dict[str, Any]) -> LedgerEntry:
        """Record the final status of ``uid`` (to be persisted)."""
        with self._lock:
            entry = self._entries.setdefault(uid, LedgerEntry(attempt=""))
            entry.final = final
            return entry

    def persisted(self, entry: LedgerEntry) -> None:
        """The final status is written (or the object is gone)."""
        with self._lock:
            entry.persisted = True
            entry.failures = 0

    def write_failed(self, entry: LedgerEntry) -> float:
        """A write for ``entry`` failed: seconds to wait before the next one."""
        with self._lock:
            entry.failures += 1
            return WRITE_BACKOFF.delay(entry.failures)

    def forget(self, uid: str) -> None:
        """The action is gone: nothing more to remember."""
        with self._lock:
            self._entries.pop(uid, None)
