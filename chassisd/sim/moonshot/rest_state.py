"""REST-side state of the simulated Moonshot Chassis Manager API: sessions, faults, counters.

Owns: ``RequestKind`` (every request the API tells apart), ``RestFaults`` (what to inject),
``RestStats`` (a snapshot of the counters) and ``RestState``, which holds sessions, the current
faults and the counters behind one lock so that test threads and server threads share it.

Must not: render resources or answer requests (``rest_api`` does); hardware and power live in
``chassisd.sim.moonshot.state.ChassisState``, shared with the SSH simulator.
"""

from __future__ import annotations

import enum
import hmac
import secrets
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


class RequestKind(enum.StrEnum):
    """Every request the simulator tells apart; keys faults and counters."""

    ROOT = "root"
    SESSION_LOGIN = "session_login"
    SESSION_LOGOUT = "session_logout"
    CHASSIS_COLLECTION = "chassis_collection"
    CHASSIS = "chassis"
    CARTRIDGE_COLLECTION = "cartridge_collection"
    CARTRIDGE = "cartridge"
    SYSTEM_COLLECTION = "system_collection"
    SYSTEM = "system"
    RESET = "reset"
    BOOT = "boot"
    OTHER = "other"


READS: Final = frozenset(
    {
        RequestKind.ROOT,
        RequestKind.CHASSIS_COLLECTION,
        RequestKind.CHASSIS,
        RequestKind.CARTRIDGE_COLLECTION,
        RequestKind.CARTRIDGE,
        RequestKind.SYSTEM_COLLECTION,
        RequestKind.SYSTEM,
    }
)
"""The GET kinds: handy as ``RestFaults(affects=READS)``."""


@dataclass(frozen=True)
class RestFaults:
    """Faults the REST simulator injects; swap the whole object with ``handle.set_faults``."""

    status: int | None = None
    """Answer affected requests with this HTTP status and an error body (e.g. 500)."""
    hang: bool = False
    """Read affected requests, then never answer (until the faults change or the server stops)."""
    malformed_json: bool = False
    """Cut affected JSON answers in half (status 200, not parseable)."""
    reject_all_logins: bool = False
    """Every session login and every Basic-authenticated request gets 401."""
    sessions_unsupported: bool = False
    """``POST /rest/v1/Sessions`` answers 404, so only HTTP Basic works."""
    flood_bytes: int = 0
    """After an affected JSON answer, send this many bytes of junk more (hostile)."""
    endless: bool = False
    """After an affected JSON answer, send junk for as long as the client reads (hostile)."""
    drip_interval: float = 0.0
    """Send affected answers one byte at a time, this many seconds apart (a half-dead BMC)."""
    affects: frozenset[RequestKind] | None = None
    """Limit the per-request faults (all above but the two about logins) to these kinds (None:
    all)."""

    def applies_to(self, kind: RequestKind) -> bool:
        return self.affects is None or kind in self.affects


@dataclass(frozen=True)
class RestStats:
    """A snapshot of the REST counters (since start or the last ``reset_stats``)."""

    logins: int
    """Sessions created."""
    failed_logins: int
    """Refused session logins and refused Basic credentials."""
    logouts: int
    """Sessions deleted by their client."""
    active_sessions: int
    """Sessions currently open (live state, not reset by ``reset_stats``)."""
    basic_auth_requests: int
    """Requests authenticated with HTTP Basic."""
    unauthorized: int
    """Requests answered 401."""
    requests: int
    requests_by_kind: Mapping[RequestKind, int]
    resets: tuple[tuple[str, str], ...]
    """Accepted power requests in order: (node id, ResetType)."""
    boot_patches: int
    """Accepted one-time PXE requests."""
    pxe_boots: int
    """Power-ons that consumed a pending one-time PXE (shared with the SSH simulator)."""
    tls_failures: int
    """Connections whose TLS handshake failed."""

    def count(self, kind: RequestKind) -> int:
        return self.requests_by_kind.get(kind, 0)


class RestState:
    """Thread-safe REST-side state: sessions, faults, counters. Hardware is in ChassisState."""

    def __init__(self, faults: RestFaults) -> None:
        self._lock = threading.Lock()
        self._faults = faults
        self._sessions: dict[str, str] = {}  # token -> session id
        self._serial = 0
        self.reset_counters()

    def reset_counters(self) -> None:
        with self._lock:
            self._logins = 0
            self._failed = 0
            self._logouts = 0
            self._basic = 0
            self._unauthorized = 0
            self._requests: Counter[RequestKind] = Counter()
            self._resets: list[tuple[str, str]] = []
            self._boot_patches = 0

    @property
    def faults(self) -> RestFaults:
        with self._lock:
            return self._faults

    def set_faults(self, faults: RestFaults) -> None:
        with self._lock:
            self._faults = faults

    def count_request(self, kind: RequestKind) -> None:
        with self._lock:
            self._requests[kind] += 1

    def new_session(self) -> tuple[str, str]:
        with self._lock:
            self._serial += 1
            token = secrets.token_hex(16)
            session_id = f"session{self._serial}"
            self._sessions[token] = session_id
            self._logins += 1
            return token, session_id

    def session_for(self, token: str) -> str | None:
        with self._lock:
            for known, session_id in self._sessions.items():
                if hmac.compare_digest(known, token):
                    return session_id
            return None

    def end_session(self, session_id: str) -> bool:
        with self._lock:
            for token, known in list(self._sessions.items()):
                if known.lower() == session_id.lower():
                    del self._sessions[token]
                    self._logouts += 1
                    return True
            return False

    def count_failed_login(self) -> None:
        with self._lock:
            self._failed += 1

    def count_basic(self) -> None:
        with self._lock:
            self._basic += 1

    def count_unauthorized(self) -> None:
        with self._lock:
            self._unauthorized += 1

    def record_reset(self, node: str, reset_type: str) -> None:
        with self._lock:
            self._resets.append((node, reset_type))

    def count_boot_patch(self) -> None:
        with self._lock:
            self._boot_patches += 1

    def stats(self, *, pxe_boots: int, tls_failures: int) -> RestStats:
        with self._lock:
            return RestStats(
                logins=self._logins,
                failed_logins=self._failed,
                logouts=self._logouts,
                active_sessions=len(self._sessions),
                basic_auth_requests=self._basic,
                unauthorized=self._unauthorized,
                requests=sum(self._requests.values()),
                requests_by_kind=MappingProxyType(dict(self._requests)),
                resets=tuple(self._resets),
                boot_patches=self._boot_patches,
                pxe_boots=pxe_boots,
                tls_failures=tls_failures,
            )
