"""Pure helpers for the statuses chassisd writes: conditions, time stamps, digests, phases.

Owns the shape of a condition (``type``/``status``/``reason``/``message``/
``lastTransitionTime``/``observedGeneration``), the RFC 3339 stamps chassisd writes, the digest
that says "this status is what we last wrote", and the PowerAction phases. No I/O, no clock of
its own: callers pass ``now``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chassisd.timestamps import parse_time, stamp

#: Longest condition message written; the rest is summarised (the API server takes 32 KiB).
MAX_MESSAGE = 2048


class PowerPhase(StrEnum):
    """Where a PowerAction is in its lifecycle (``status.phase``)."""

    PENDING = "Pending"  # created, nothing done yet (also: no status at all)
    RUNNING = "Running"  # the agent persisted that it is about to send; may have sent
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"  # nothing reached the device, or the device said no
    UNKNOWN = "Unknown"  # a command may have been sent; the outcome is not known
    EXPIRED = "Expired"  # not started before its deadline; the device was never touched
    CANCELLED = "Cancelled"  # deleted or cancelled before it started; never sent

    @property
    def terminal(self) -> bool:
        """Whether the action is over (nothing more will ever be sent for it)."""
        return self not in (PowerPhase.PENDING, PowerPhase.RUNNING)


TERMINAL_PHASES = frozenset(p.value for p in PowerPhase if p.terminal)


def phase_of(obj: dict[str, Any]) -> PowerPhase:
    """The phase a PowerAction object is in (``Pending`` when it has none, or an unknown one)."""
    text = (obj.get("status") or {}).get("phase") or PowerPhase.PENDING.value
    try:
        return PowerPhase(text)
    except ValueError:
        return PowerPhase.PENDING


def older_than(text: str | None, now: datetime, seconds: float) -> bool:
    """Whether the stamp ``text`` is missing or more than ``seconds`` before ``now``."""
    moment = parse_time(text)
    return moment is None or now - moment > timedelta(seconds=seconds)


def digest(value: Any) -> bytes:
    """A digest of a JSON value, equal for equal values whatever their key order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def condition(
    old_status: dict[str, Any],
    kind: str,
    ok: bool | None,
    reason: str,
    message: str,
    generation: Any,
    now: datetime,
) -> dict[str, Any]:
    """A condition of type ``kind`` (``ok`` None: ``Unknown``, nothing was observed); its
    transition time moves only when its status changes."""
    value = "Unknown" if ok is None else "True" if ok else "False"
    old: dict[str, Any] = next(
        (c for c in old_status.get("conditions") or [] if c.get("type") == kind), {}
    )
    changed = old.get("status") != value
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "lastTransitionTime": stamp(now)
        if changed or not old.get("lastTransitionTime")
        else old["lastTransitionTime"],
        "observedGeneration": generation,
    }


def summarize(items: list[str], limit: int = MAX_MESSAGE, separator: str = "; ") -> str:
    """``items`` joined, as many whole items as fit in ``limit`` characters, then how many
    more there are (a Conflict message used to stop mid-item at 2,048 characters)."""
    text = separator.join(items)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for index, item in enumerate(items):
        tail = f"{separator}… and {len(items) - index - 1} more"
        candidate = separator.join([*kept, item])
        if len(candidate) + len(tail) > limit:
            rest = len(items) - len(kept)
            return separator.join(kept) + f"{separator if kept else ''}… and {rest} more"
        kept.append(item)
    return separator.join(kept)


def find_condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    """The condition of type ``kind`` in ``status`` (an empty dict when there is none)."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})
