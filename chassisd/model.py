"""Values that flow between the layers: MAC addresses, nodes, inventories, power.

Owns the frozen dataclasses and the explicit state maps. MACs are normalised here, once, when a
value is built; nothing downstream re-normalises. No I/O, no logging, no library imports
beyond the standard library.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime

_MAC_HEX = re.compile(r"[0-9a-fA-F]{12}")
_MAC_CANONICAL = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_MAC_SEPARATORS = re.compile(r"[:\-.]")
_NODE_ID = re.compile(r"[cC](\d+)[nN](\d+)")


def normalize_mac(text: str) -> str:
    """Return ``text`` as a lower-case, colon-separated MAC, or raise ``ValueError``.

    Accepts ``:``, ``-`` or ``.`` separators and any case (devices differ; see
    ``docs/moonshot-cli.md`` §4.2).
    """
    if _MAC_CANONICAL.fullmatch(text):
        return text  # already normal: the usual case (a MacAddress from a parser)
    digits = _MAC_SEPARATORS.sub("", text.strip())
    if not _MAC_HEX.fullmatch(digits):
        raise ValueError(f"not a MAC address: {text!r}")
    digits = digits.lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


@dataclass(frozen=True, order=True, slots=True)
class MacAddress:
    """One hardware address, always lower-case colon form."""

    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalize_mac(self.value))

    def __str__(self) -> str:
        return self.value

    @property
    def unusable(self) -> str:
        """Why this address must never be reserved ("" if it may): the all-zero address, the
        broadcast address, or a multicast one (the group bit, the lowest bit of the first
        octet: ``01:00:5e:…`` IPv4, ``33:33:…`` IPv6). Devices report such values for absent
        or unconfigured ports; a DHCP server cannot tell one client by them."""
        if self.value == "00:00:00:00:00:00":
            return "the all-zero address"
        if self.value == "ff:ff:ff:ff:ff:ff":
            return "the broadcast address"
        if int(self.value[:2], 16) & 1:
            return "a multicast address"
        return ""


class PowerState(enum.Enum):
    """A node's power as chassisd reports it; a device word we do not know is UNKNOWN."""

    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


class Health(enum.Enum):
    """Health as reported by the device, reduced to the levels operators act on."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class Details(enum.Enum):
    """Where a node record's product and serial come from.

    Most drivers read them with every inventory (``CURRENT``). A driver whose device needs an
    extra command for them (Moonshot: ``show node info``) leaves them ``DEFERRED``, and the
    poller asks its ``describe`` only for the nodes the caller's memory says are due (a new
    node, a changed cartridge, or details older than ``chassisd.memory.DETAILS_MAX_AGE``), so a
    steady poll sends no extra command.
    """

    CURRENT = "current"  # as the device says: read with the inventory, or as remembered
    DEFERRED = "deferred"  # not read by this poll: the node keeps those it was last seen with
    READ = "read"  # read by this poll's ``describe``
    FAILED = "failed"  # asked by this poll, no usable answer: the node keeps what it had


class PowerAction(enum.Enum):
    """The power requests chassisd accepts (``PowerAction`` CR ``spec.action``, ``chassisctl``)."""

    ON = "on"
    OFF = "off"  # hard off
    SHUTDOWN = "shutdown"  # graceful (ACPI) off
    CYCLE = "cycle"  # off, confirmed, then on
    RESET = "reset"  # hard reset without an off phase
    PXE_ONCE = "pxe-once"  # boot from the network at the next boot only; no power change


class Feature(enum.Enum):
    """What a driver can do; declared by each driver and checked against its methods."""

    INVENTORY = "inventory"
    POWER_STATE = "power-state"
    POWER_SET = "power-set"
    PXE_ONCE = "pxe-once"


@dataclass(frozen=True, order=True, slots=True)
class NodeId:
    """A node's native id on its chassis: Moonshot ``c<cartridge>n<node>``."""

    cartridge: int
    node: int

    @classmethod
    def parse(cls, text: str) -> NodeId:
        """Parse ``c43n1`` (any case); raise ``ValueError`` for anything else."""
        match = _NODE_ID.fullmatch(text.strip())
        if not match:
            raise ValueError(f"not a node id of the form c<cartridge>n<node>: {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"c{self.cartridge}n{self.node}"


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One node as one poll saw it.

    ``macs_known`` is False when the device does not expose host MACs (some IPMI BMCs): an empty
    ``macs`` then means "unknown", not "none". ``details`` says whether ``product`` and
    ``serial`` were read by this poll (``Details``).
    """

    id: str
    macs: tuple[MacAddress, ...] = ()
    power: PowerState = PowerState.UNKNOWN
    health: Health = Health.UNKNOWN
    product: str = ""
    serial: str = ""
    cartridge: int | None = None
    node: int | None = None
    macs_known: bool = True
    asset_tag: str = ""
    details: Details = Details.CURRENT


@dataclass(frozen=True, slots=True)
class NodeDetails:
    """What ``Driver.describe`` reads of one node: its product name and serial number."""

    product: str = ""
    serial: str = ""


@dataclass(frozen=True)
class Inventory:
    """Everything one successful poll of one chassis returned."""

    chassis: str
    driver: str
    nodes: tuple[NodeRecord, ...]
    taken_at: datetime
    model: str = ""
    firmware: str = ""
    warnings: tuple[str, ...] = field(default=())

    def node(self, node_id: str) -> NodeRecord | None:
        """Return the node with native id ``node_id`` (case-insensitive), if present."""
        wanted = node_id.lower()
        for record in self.nodes:
            if record.id.lower() == wanted:
                return record
        return None


class Outcome(enum.Enum):
    """How a power request ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"  # sent, but no answer: not re-sent (AmbiguousOutcome)


class RouteResult(enum.Enum):
    """What happened on one route (driver + address) of a power request."""

    USED = "used"  # this route carried the request out; the PowerResult says how it ended
    UNSUPPORTED = "unsupported"  # the driver or device cannot do this action: nothing was sent
    NOT_REACHED = "not-reached"  # nothing reached the device (TransientError): nothing was sent


@dataclass(frozen=True, slots=True)
class RouteAttempt:
    """One route a power request tried: which driver, for which chassis, and what happened.

    ``message`` is the error that made the request move on (empty for the route used).
    """

    driver: str
    chassis: str
    result: RouteResult
    message: str = ""


@dataclass(frozen=True)
class PowerResult:
    """The result of one power request on one node, with the state read back afterwards.

    ``routes`` lists the routes tried in order: those that could not carry the request out,
    then the one that did (``driver``).
    """

    chassis: str
    node_id: str
    action: PowerAction
    outcome: Outcome
    state: PowerState
    driver: str
    message: str = ""
    routes: tuple[RouteAttempt, ...] = ()
