"""The in-memory farm behind the ``fake`` driver: chassis, nodes, scripted faults, a command log.

Owns: ``Farm`` (chassis → nodes with MACs, power state and a pending one-time PXE; one login per
chassis), the faults a test scripts per chassis and operation (``Fault``), the log of every
state-changing command that reached a chassis (``SentCommand``), and the directory that maps a
farm's name to the farm (``register_farm`` / ``find_farm``) so a driver built from a
``ChassisTarget`` alone can reach it.

Must not: raise chassisd errors. The farm plays the device and its wire: it raises the plain
exceptions a protocol library would (``DeviceUnreachable``, ``LoginRefused``, ``GarbledReply``,
``ReplyLost``, ``NoSuchNode``), and the driver classifies them, as every real driver does.

Faults, per chassis and ``Operation``, each used by the next ``times`` calls (``None``: every
call until cleared):

==============  ========================================================================
``transient``   nothing reaches the chassis: ``DeviceUnreachable``; nothing changes
``auth``        the chassis refuses the login: ``LoginRefused``; nothing changes
``parse``       the chassis answers text nobody can read: ``GarbledReply``; a state-changing
                command is carried out (and logged) first, only its reply is garbled
``ambiguous``   a state-changing command is carried out (and logged) and no reply comes:
                ``ReplyLost``; not allowed on reads (a lost read is ``transient``)
``slow``        the chassis answers after ``seconds`` (timeouts are not applied)
==============  ========================================================================

The directory is module-level state on purpose: the registry builds a driver from a
``ChassisTarget`` only, so a test hands its farm over by name (``fake://<farm>/<chassis>``).
Tests register a farm for the duration of a test (``chassisd.testing.fake_farm.registered``)
and give each farm a unique name, so tests running in one process never share one.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from chassisd.model import PowerAction

SCHEME = "fake"


class Operation(enum.Enum):
    """What a driver asks of a chassis; faults are scripted per operation."""

    LOGIN = "login"
    INVENTORY = "inventory"
    POWER_STATE = "power-state"
    SET_POWER = "set-power"
    PXE_ONCE = "pxe-once"


STATE_CHANGING = frozenset({Operation.SET_POWER, Operation.PXE_ONCE})


class FaultKind(enum.Enum):
    TRANSIENT = "transient"
    AUTH = "auth"
    PARSE = "parse"
    AMBIGUOUS = "ambiguous"
    SLOW = "slow"


@dataclass(frozen=True)
class Fault:
    """One scripted fault; build it with the class methods."""

    kind: FaultKind
    seconds: float = 0.0
    """How long a ``slow`` answer takes."""

    @classmethod
    def transient(cls) -> Fault:
        return cls(FaultKind.TRANSIENT)

    @classmethod
    def auth(cls) -> Fault:
        return cls(FaultKind.AUTH)

    @classmethod
    def parse(cls) -> Fault:
        return cls(FaultKind.PARSE)

    @classmethod
    def ambiguous(cls) -> Fault:
        return cls(FaultKind.AMBIGUOUS)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(FaultKind.SLOW, seconds)


# -- what the "wire" raises (the driver turns these into chassisd errors) -------------------------


class DeviceUnreachable(ConnectionError):
    """Nothing reached the chassis (no such farm or chassis, or a scripted transient fault)."""


class LoginRefused(PermissionError):
    """The chassis refused the credentials."""


class GarbledReply(ValueError):
    """The chassis answered, but with text no parser understands."""

    def __init__(self, command: str, text: str) -> None:
        self.command = command
        self.text = text
        super().__init__(f"{command}: unreadable reply {text!r}")


class ReplyLost(TimeoutError):
    """A state-changing command was carried out and its reply never came."""


class NoSuchNode(LookupError):
    """The chassis has no node with that id."""


# -- the farm -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeView:
    """One node as a read returns it."""

    id: str
    macs: tuple[str, ...]
    power_on: bool
    pxe_pending: bool


@dataclass(frozen=True)
class SentCommand:
    """A state-changing command that reached a chassis (``ambiguous``: its reply was lost)."""

    chassis: str
    node: str
    action: PowerAction
    ambiguous: bool = False


@dataclass
class _Node:
    macs: tuple[str, ...]
    power_on: bool
    pxe_pending: bool = False


@dataclass
class _ScriptedFault:
    fault: Fault
    remaining: int | None  # None: until cleared


@dataclass
class _Chassis:
    nodes: dict[str, _Node] = field(default_factory=dict)
    faults: dict[Operation, list[_ScriptedFault]] = field(default_factory=dict)


class Farm:
    """Chassis with nodes, behind one lock; every method is safe to call from any thread."""

    def __init__(self, name: str, *, username: str, password: str) -> None:
        if not name or "/" in name:
            raise ValueError(f"a farm name must be non-empty and have no '/': {name!r}")
        self.name = name
        self._username = username
        self._password = password
        self._lock = threading.Lock()
        self._chassis: dict[str, _Chassis] = {}
        self._log: list[SentCommand] = []
        self._calls: Counter[tuple[str, Operation]] = Counter()

    def address(self, chassis: str) -> str:
        """What a ``Chassis`` ``address`` says to reach ``chassis`` through the fake driver."""
        return f"{SCHEME}://{self.name}/{chassis}"

    # -- building and changing the hardware (the test's side) -------------------------------------

    def add_chassis(self, chassis: str) -> None:
        with self._lock:
            self._chassis.setdefault(chassis, _Chassis())

    def add_node(
        self, chassis: str, node: str, macs: Iterable[str] = (), *, power_on: bool = True
    ) -> None:
        """Put a node into ``chassis`` (created if needed), or replace the one with that id."""
        with self._lock:
            box = self._chassis.setdefault(chassis, _Chassis())
            box.nodes[node] = _Node(tuple(macs), power_on)

    def remove_node(self, chassis: str, node: str) -> None:
        with self._lock:
            del self._box(chassis).nodes[node]

    def set_node_power(self, chassis: str, node: str, on: bool) -> None:
        """Out-of-band power change (someone pressed the button); not a command, not logged."""
        with self._lock:
            self._node(chassis, node).power_on = on

    def is_powered_on(self, chassis: str, node: str) -> bool:
        with self._lock:
            return self._node(chassis, node).power_on

    def pxe_pending(self, chassis: str, node: str) -> bool:
        with self._lock:
            return self._node(chassis, node).pxe_pending

    def chassis_names(self) -> list[str]:
        with self._lock:
            return sorted(self._chassis)

    def node_ids(self, chassis: str) -> list[str]:
        with self._lock:
            return sorted(self._box(chassis).nodes)

    # -- faults -----------------------------------------------------------------------------------

    def inject(
        self, chassis: str, operation: Operation, fault: Fault, *, times: int | None = 1
    ) -> None:
        """Script ``fault`` for the next ``times`` calls of ``operation`` (None: until cleared).

        Faults scripted for one operation are used in the order they were injected.
        """
        if fault.kind is FaultKind.AMBIGUOUS and operation not in STATE_CHANGING:
            raise ValueError(
                f"an ambiguous outcome needs a state-changing operation, not {operation}"
            )
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times}")
        with self._lock:
            self._box(chassis).faults.setdefault(operation, []).append(_ScriptedFault(fault, times))

    def clear_faults(self, chassis: str | None = None) -> None:
        with self._lock:
            boxes = self._chassis.values() if chassis is None else [self._box(chassis)]
            for box in boxes:
                box.faults.clear()

    # -- what happened ----------------------------------------------------------------------------

    @property
    def commands(self) -> tuple[SentCommand, ...]:
        """Every state-changing command that reached a chassis, in order."""
        with self._lock:
            return tuple(self._log)

    def count(
        self,
        *,
        chassis: str | None = None,
        node: str | None = None,
        action: PowerAction | None = None,
    ) -> int:
        """How many logged commands match every given field (``count(node="c1n1")``)."""
        return sum(
            1
            for sent in self.commands
            if (chassis is None or sent.chassis == chassis)
            and (node is None or sent.node == node)
            and (action is None or sent.action is action)
        )

    def calls(self, chassis: str, operation: Operation) -> int:
        """How many times a driver asked ``chassis`` for ``operation`` (failed calls included)."""
        with self._lock:
            return self._calls[(chassis, operation)]

    # -- the device side (what the driver calls) --------------------------------------------------

    def login(self, chassis: str, username: str, password: str) -> None:
        self._begin(chassis, Operation.LOGIN, "login")
        with self._lock:
            if (username, password) != (self._username, self._password):
                raise LoginRefused(f"login as {username!r} refused")

    def read_nodes(self, chassis: str) -> tuple[NodeView, ...]:
        fault = self._begin(chassis, Operation.INVENTORY, "list nodes")
        with self._lock:
            nodes = tuple(
                NodeView(node_id, node.macs, node.power_on, node.pxe_pending)
                for node_id, node in sorted(self._box(chassis).nodes.items())
            )
        self._garble_if(fault, "list nodes")
        return nodes

    def read_power(self, chassis: str, node: str) -> bool:
        command = f"power status {node}"
        fault = self._begin(chassis, Operation.POWER_STATE, command)
        with self._lock:
            on = self._node(chassis, node).power_on
        self._garble_if(fault, command)
        return on

    def send_power(self, chassis: str, node: str, action: PowerAction) -> None:
        """Carry out ON, OFF or SHUTDOWN (an immediate off)."""
        if action not in (PowerAction.ON, PowerAction.OFF, PowerAction.SHUTDOWN):
            raise ValueError(f"the fake chassis has no {action.value}")
        command = f"power {action.value} {node}"
        fault = self._begin(chassis, Operation.SET_POWER, command)
        with self._lock:
            target = self._node(chassis, node)
            target.power_on = action is PowerAction.ON
            if target.power_on and target.pxe_pending:
                target.pxe_pending = False  # the one-time PXE is used by this boot
        self._reply(chassis, node, action, fault, command)

    def send_pxe_once(self, chassis: str, node: str) -> None:
        command = f"bootonce pxe {node}"
        fault = self._begin(chassis, Operation.PXE_ONCE, command)
        with self._lock:
            self._node(chassis, node).pxe_pending = True
        self._reply(chassis, node, PowerAction.PXE_ONCE, fault, command)

    # -- helpers ----------------------------------------------------------------------------------

    def _begin(self, chassis: str, operation: Operation, command: str) -> Fault | None:
        """Count the call and apply the faults that act before the chassis does anything.

        Returns the fault that acts afterwards (parse, ambiguous), if any.
        """
        with self._lock:
            if chassis not in self._chassis:
                raise DeviceUnreachable(f"no chassis {chassis!r} in fake farm {self.name!r}")
            self._calls[(chassis, operation)] += 1
            fault = self._next_fault(self._chassis[chassis], operation)
        if fault is None:
            return None
        if fault.kind is FaultKind.TRANSIENT:
            raise DeviceUnreachable(f"{command}: connection reset before it was sent")
        if fault.kind is FaultKind.AUTH:
            raise LoginRefused(f"{command}: session no longer authorised")
        if fault.kind is FaultKind.SLOW:
            time.sleep(fault.seconds)
            return None
        return fault

    @staticmethod
    def _next_fault(box: _Chassis, operation: Operation) -> Fault | None:
        scripted = box.faults.get(operation)
        if not scripted:
            return None
        first = scripted[0]
        if first.remaining is not None:
            first.remaining -= 1
            if first.remaining == 0:
                scripted.pop(0)
        return first.fault

    @staticmethod
    def _garble_if(fault: Fault | None, command: str) -> None:
        if fault is not None and fault.kind is FaultKind.PARSE:
            raise GarbledReply(command, "\x00\x1b[?garbled")

    def _reply(
        self, chassis: str, node: str, action: PowerAction, fault: Fault | None, command: str
    ) -> None:
        """Log the command that was carried out, then answer, garble or lose the reply."""
        lost = fault is not None and fault.kind is FaultKind.AMBIGUOUS
        with self._lock:
            self._log.append(SentCommand(chassis, node, action, ambiguous=lost))
        if lost:
            raise ReplyLost(f"{command}: no reply")
        self._garble_if(fault, command)

    def _box(self, chassis: str) -> _Chassis:
        box = self._chassis.get(chassis)
        if box is None:
            raise KeyError(f"no chassis {chassis!r} in fake farm {self.name!r}")
        return box

    def _node(self, chassis: str, node: str) -> _Node:
        found = self._box(chassis).nodes.get(node)
        if found is None:
            raise NoSuchNode(f"no node {node!r} in chassis {chassis!r}")
        return found


# -- the directory: farm name → farm ---------------------------------------------------------------

_directory_lock = threading.Lock()
_directory: dict[str, Farm] = {}


def register_farm(farm: Farm) -> None:
    """Make ``farm`` reachable as ``fake://<farm.name>/...``; a name is registered once."""
    with _directory_lock:
        if farm.name in _directory and _directory[farm.name] is not farm:
            raise ValueError(f"a different fake farm is registered as {farm.name!r}")
        _directory[farm.name] = farm


def unregister_farm(farm: Farm) -> None:
    with _directory_lock:
        if _directory.get(farm.name) is farm:
            del _directory[farm.name]


def find_farm(address: str) -> tuple[Farm, str]:
    """The farm and chassis name that ``fake://<farm>/<chassis>`` names.

    Raises ``DeviceUnreachable`` for any other address, or when no such farm is registered:
    to the driver that is a device that does not answer.
    """
    parts = urlsplit(address.strip())
    chassis = parts.path.strip("/")
    if parts.scheme != SCHEME or not parts.netloc or not chassis or "/" in chassis:
        raise DeviceUnreachable(f"{address!r} is not a fake://<farm>/<chassis> address")
    with _directory_lock:
        farm = _directory.get(parts.netloc)
    if farm is None:
        raise DeviceUnreachable(f"no fake farm {parts.netloc!r} is registered")
    return farm, chassis
