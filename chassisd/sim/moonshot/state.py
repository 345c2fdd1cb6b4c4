"""Runtime state of one simulated chassis: power, pending transitions, faults, counters.

Owns: everything that changes while a simulator runs, behind one ``threading.Lock``, so that a
test thread can flip faults, insert cartridges or read counters while the server's event loop
answers commands. Power transitions are lazy: a request stores (target, due time) and every read
first settles what is due, so no timers or tasks are needed.

Must not: do I/O, render CLI text, or block (every method holds the lock only for a few dict
operations, so calling it from the event loop is fine).
"""

from __future__ import annotations

import enum
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, CommandKind, Faults, NodeId, Timing


class PowerReport(enum.StrEnum):
    """What ``show node power`` prints after ``Power State:`` [cli §4.3]."""

    ON = "On"
    OFF = "Off"
    POWERING_ON = "PoweringOn"
    UNAVAILABLE = "Unavailable"


@dataclass(frozen=True)
class Stats:
    """A snapshot of one chassis's counters (since start or the last ``reset_stats``)."""

    logins: int
    """Successful authentications. Counted just after the server sends USERAUTH_SUCCESS, so a
    client reading it the instant its login returns may briefly see the old value; after the
    first command on that connection it is always up to date."""
    failed_logins: int
    """Rejected password or public-key attempts (a client may try several per connection)."""
    sessions: int
    """SSH session channels opened (each exec request or interactive shell is one)."""
    active_connections: int
    """Connections currently holding a session slot (see ``max_sessions``)."""
    refused_connections: int
    """Connections disconnected because ``max_sessions`` were already in use."""
    commands: int
    """Command lines answered (exec commands plus non-empty shell lines)."""
    commands_by_kind: Mapping[CommandKind, int]
    pxe_boots: int
    """Power-ons that consumed a pending ``set node bootonce pxe``."""

    def count(self, kind: CommandKind) -> int:
        """Number of commands of ``kind``."""
        return self.commands_by_kind.get(kind, 0)


@dataclass(frozen=True)
class ChassisView:
    """A consistent read of the chassis for answering one command."""

    spec: ChassisSpec
    """Hardware, with each node's ``power_on`` set to its current (settled) state."""
    power: Mapping[NodeId, PowerReport]
    """What ``show node power`` reports per node (may differ from ``power_on`` while pending)."""


@dataclass(frozen=True)
class _Pending:
    target_on: bool
    due: float


class ChassisState:
    """Thread-safe mutable state of one chassis; the handle API delegates here."""

    def __init__(
        self,
        spec: ChassisSpec,
        *,
        timing: Timing,
        faults: Faults,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._spec = spec
        self._timing = timing
        self._faults = faults
        self._logins_since_faults = 0
        self._power: dict[NodeId, bool] = {nid: node.power_on for nid, node in spec.nodes()}
        self._pending: dict[NodeId, _Pending] = {}
        self._bootonce: set[NodeId] = set()
        self._boot_device: dict[NodeId, str] = {}
        self._reset_counters()
        self._active_connections = 0

    def _reset_counters(self) -> None:
        self._logins = 0
        self._failed_logins = 0
        self._sessions = 0
        self._refused = 0
        self._commands: Counter[CommandKind] = Counter()
        self._pxe_boots = 0

    # -- configuration switchable at runtime ------------------------------------------------

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._logins_since_faults = 0

    def session_faults(self, login: int) -> Faults:
        """The faults for a session whose login was the ``login``-th since ``set_faults``:
        the per-command ones cleared once ``Faults.logins`` were spent."""
        with self._lock:
            faults = self._faults
        if faults.logins is None or login <= faults.logins:
            return faults
        return Faults(
            reject_all_logins=faults.reject_all_logins,
            refuse_macaddr_all=faults.refuse_macaddr_all,
            refuse_info_all=faults.refuse_info_all,
        )

    @property
    def timing(self) -> Timing:
        with self._lock:
            return self._timing

    def set_timing(self, timing: Timing) -> None:
        with self._lock:
            self._timing = timing

    # -- hardware ----------------------------------------------------------------------------

    @property
    def spec(self) -> ChassisSpec:
        """The current hardware, with each node's ``power_on`` set to its settled state."""
        return self.view().spec

    def view(self) -> ChassisView:
        """Settle due power transitions and return a consistent snapshot."""
        with self._lock:
            self._settle()
            spec = self._spec_with_power()
            power = {nid: self._report(nid, node.power_unavailable) for nid, node in spec.nodes()}
            return ChassisView(spec=spec, power=MappingProxyType(power))

    def replace_spec(self, spec: ChassisSpec) -> None:
        """Swap the whole hardware; nodes take the power state written in ``spec``."""
        with self._lock:
            self._spec = spec
            self._power = {nid: node.power_on for nid, node in spec.nodes()}
            self._pending.clear()
            self._bootonce.clear()
            self._boot_device.clear()

    def insert_cartridge(self, slot: int, cartridge: Cartridge) -> None:
        """Put ``cartridge`` into an empty ``slot`` (``ValueError`` if occupied or MACs clash)."""
        with self._lock:
            if slot in self._spec.cartridges:
                raise ValueError(f"slot {slot} is occupied; remove the cartridge first")
            self._spec = self._spec.with_cartridge(slot, cartridge)
            for index, node in enumerate(cartridge.nodes, start=1):
                self._power[NodeId(slot, index)] = node.power_on

    def remove_cartridge(self, slot: int) -> Cartridge:
        """Pull the cartridge out of ``slot`` and return it (``KeyError`` if empty)."""
        with self._lock:
            cartridge = self._spec.cartridges[slot]
            self._spec = self._spec.without_cartridge(slot)
            for nid in [nid for nid in self._power if nid.cartridge == slot]:
                del self._power[nid]
                self._pending.pop(nid, None)
                self._bootonce.discard(nid)
                self._boot_device.pop(nid, None)
            return cartridge

    # -- power ---------------------------------------------------------------------------------

    def is_powered_on(self, node_id: NodeId) -> bool:
        """Settled power state (``KeyError`` if the node is absent)."""
        with self._lock:
            self._settle()
            return self._power[node_id]

    def set_node_power(self, node_id: NodeId, on: bool) -> None:
        """Change a node's power at once, out of band (e.g. someone pressed its button)."""
        with self._lock:
            if node_id not in self._power:
                raise KeyError(f"no node {node_id}")
            self._pending.pop(node_id, None)
            self._apply(node_id, on)

    def request_power(self, nodes: Iterable[NodeId], *, on: bool, graceful: bool = False) -> None:
        """A ``set node power`` command: the change lands after the configured delay.

        A new request for the other state replaces a pending one; a repeat of the pending request
        keeps its due time (the node is already on its way; a retrying client such as MAAS's
        power driver must not restart the transition); asking for the state a node already has
        (and no transition pending) does nothing. Nodes marked ``power_unavailable`` ignore
        requests.
        """
        with self._lock:
            self._settle()
            delay = self._timing.power_delay if on else self._timing.off_delay(graceful=graceful)
            now = self._clock()
            for nid in nodes:
                node = self._spec.node(nid)
                if node is None or node.power_unavailable:
                    continue
                pending = self._pending.get(nid)
                if pending is not None and pending.target_on == on:
                    continue
                if self._power[nid] == on:
                    self._pending.pop(nid, None)
                elif delay <= 0:
                    self._pending.pop(nid, None)
                    self._apply(nid, on)
                else:
                    self._pending[nid] = _Pending(target_on=on, due=now + delay)

    def set_bootonce_pxe(self, nodes: Iterable[NodeId]) -> None:
        """Remember a one-time PXE boot; the next completed power-on consumes it."""
        with self._lock:
            self._bootonce.update(nodes)

    def set_boot_device(self, nodes: Iterable[NodeId], device: str) -> None:
        """A ``set node boot <device>``: the persistent boot device (nothing else changes)."""
        with self._lock:
            for nid in nodes:
                self._boot_device[nid] = device

    def boot_device(self, node_id: NodeId) -> str | None:
        """The persistent boot device last set, or ``None`` (the factory default is UNKNOWN)."""
        with self._lock:
            return self._boot_device.get(node_id)

    def bootonce_pending(self, node_id: NodeId) -> bool:
        """Whether a ``set node bootonce pxe`` is waiting for the node's next power-on."""
        with self._lock:
            self._settle()
            return node_id in self._bootonce

    def _settle(self) -> None:
        now = self._clock()
        for nid, pending in list(self._pending.items()):
            if pending.due <= now:
                del self._pending[nid]
                self._apply(nid, pending.target_on)

    def _apply(self, nid: NodeId, on: bool) -> None:
        was_on = self._power[nid]
        self._power[nid] = on
        if on and not was_on and nid in self._bootonce:
            self._bootonce.discard(nid)
            self._pxe_boots += 1

    def _report(self, nid: NodeId, unavailable: bool) -> PowerReport:
        if unavailable:
            return PowerReport.UNAVAILABLE
        pending = self._pending.get(nid)
        if pending is not None and pending.target_on and self._timing.report_powering_on:
            return PowerReport.POWERING_ON
        return PowerReport.ON if self._power[nid] else PowerReport.OFF

    def _spec_with_power(self) -> ChassisSpec:
        cartridges = {
            slot: replace(
                cart,
                nodes=tuple(
                    replace(node, power_on=self._power[NodeId(slot, index)])
                    for index, node in enumerate(cart.nodes, start=1)
                ),
            )
            for slot, cart in self._spec.cartridges.items()
        }
        return replace(self._spec, cartridges=cartridges)

    # -- counters ------------------------------------------------------------------------------

    def stats(self) -> Stats:
        with self._lock:
            return Stats(
                logins=self._logins,
                failed_logins=self._failed_logins,
                sessions=self._sessions,
                active_connections=self._active_connections,
                refused_connections=self._refused,
                commands=sum(self._commands.values()),
                commands_by_kind=MappingProxyType(dict(self._commands)),
                pxe_boots=self._pxe_boots,
            )

    def reset_stats(self) -> None:
        """Zero the counters (``active_connections`` is live state and is kept)."""
        with self._lock:
            self._reset_counters()

    def record_login(self, *, ok: bool) -> int:
        """Count a login; return how many succeeded since the faults were last set."""
        with self._lock:
            if ok:
                self._logins += 1
                self._logins_since_faults += 1
            else:
                self._failed_logins += 1
            return self._logins_since_faults

    def record_session(self) -> None:
        with self._lock:
            self._sessions += 1

    def record_command(self, kind: CommandKind) -> None:
        with self._lock:
            self._commands[kind] += 1

    def acquire_connection_slot(self, max_sessions: int | None) -> bool:
        """Take a session slot; ``False`` (and counted as refused) if all are in use."""
        with self._lock:
            if max_sessions is not None and self._active_connections >= max_sessions:
                self._refused += 1
                return False
            self._active_connections += 1
            return True

    def release_connection_slot(self) -> None:
        with self._lock:
            self._active_connections -= 1
