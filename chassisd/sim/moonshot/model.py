"""Configuration of a simulated HPE Moonshot 1500 chassis: hardware, CLI profile, timing, faults.

Owns: the frozen dataclasses that describe *what* a simulated chassis contains (cartridges, nodes,
NICs, power, inventory strings), *how* its CLI prints (layout variant, error texts), *how fast* it
answers (latency, power-transition delays) and *which faults* it injects; plus the deterministic
fleet generator and the YAML/dict loader used by ``chassisd sim moonshot --spec``.

Must not: do any I/O, know about SSH, or share code with the chassisd Moonshot driver. The
simulator is an independent peer of the driver; if both used the same parser or renderer, a bug
in it would be invisible to the tests.

Facts and guesses are tagged with the section of the Moonshot CLI notes (``docs/moonshot-cli.md``,
written ``[cli §N]``) or the capture in ``tests/fixtures/moonshot/`` they come from. Where the
sources say UNKNOWN, the choice made here is spelled out and, where cheap, made configurable.
"""

from __future__ import annotations

import enum
import math
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

MAX_SLOTS = 45
"""A Moonshot 1500 has 45 cartridge slots [cli §2.1]."""

MAX_NODES_PER_CARTRIDGE = 8
"""MAAS documents node ids as ``c1-45n1-8`` [cli §2.1]; no source shows a node number above 1."""

MAX_NICS = 4
"""``show node macaddr`` has four NIC columns [cli §4.2]."""

_MAC_RE = re.compile(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$")
_NODE_ID_RE = re.compile(r"^[cC](\d+)[nN](\d+)$")

# Column widths of ``show node list`` (dash-group lengths) [cli §4.1]; values longer than their
# column would shift every later column, which no capture shows, so the model refuses them.
PROC_MANUFACTURER_WIDTH = 22
ARCHITECTURE_WIDTH = 20
MEMORY_WIDTH = 6
HEALTH_WIDTH = 6
STATUS_WIDTH = 8
"""The 2021 ``Status`` column. A health word may take all of it (``Degraded``, ``Critical``):
in the 2014 layout ``Health`` is the last column, so a word wider than its 6 dashes runs on to
the end of the row there and shifts nothing."""


class Layout(enum.StrEnum):
    """Which firmware generation's ``show node list`` table to print [cli §4.1]."""

    STATUS = "status"
    """2021 capture (S9): ``... Power Status   Node Asset Tag``, slot ``  1``."""
    HEALTH = "health"
    """2014 MAAS docstring: ``... Power Health``, no asset tag, slot `` 01``, rows end ``OK ``."""


class Firmware(enum.StrEnum):
    """Chassis Manager generation, as far as ``show firmware`` reveals it [cli §4.9]."""

    CM1 = "cm1"
    """CM 1.x: ``show firmware`` is not a command (MAAS's test assumption, unconfirmed)."""
    CM2 = "cm2"
    """CM 2.0: ``show firmware`` prints the ``Firmware Versions:`` block."""


class CommandKind(enum.StrEnum):
    """Every command the simulator recognises; keys latency settings, fault scopes and counters."""

    NODE_LIST = "node_list"
    NODE_MACADDR = "node_macaddr"
    NODE_MACADDR_ALL = "node_macaddr_all"
    NODE_POWER = "node_power"
    NODE_INFO = "node_info"
    POWER_ON = "power_on"
    POWER_OFF = "power_off"
    POWER_OFF_FORCE = "power_off_force"
    BOOTONCE_PXE = "bootonce_pxe"
    NODE_BOOT = "node_boot"
    FIRMWARE = "firmware"
    HELP = "help"
    EXIT = "exit"
    INVALID = "invalid"


@dataclass(frozen=True, order=True)
class NodeId:
    """A node address ``c<cartridge>n<node>``; cartridge = slot 1-45, node 1-based [cli §1]."""

    cartridge: int
    node: int

    def __str__(self) -> str:
        return f"c{self.cartridge}n{self.node}"

    @classmethod
    def parse(cls, text: str) -> NodeId:
        """Parse ``c1n1`` / ``C1N1`` (one node only: the handle API, not the CLI grammar)."""
        match = _NODE_ID_RE.match(text.strip())
        if match is None:
            raise ValueError(f"not a node id: {text!r} (expected cXnY)")
        return cls(int(match.group(1)), int(match.group(2)))


def normalise_mac(mac: str) -> str:
    """Return ``mac`` lower-case and colon separated; raise ``ValueError`` if it is not a MAC."""
    candidate = mac.strip().lower().replace("-", ":")
    if not _MAC_RE.match(candidate):
        raise ValueError(f"not a MAC address: {mac!r}")
    return candidate


@dataclass(frozen=True)
class SimNode:
    """One server node inside a cartridge, with the values ``show node list`` prints for it."""

    macs: tuple[str, ...]
    """NIC 1..4 MACs in column order (NIC 1 = Switch A, NIC 2 = Switch B, ...) [cli §4.2]."""
    power_on: bool = True
    """Initial power state; the running chassis tracks changes separately."""
    memory_gb: int = 32
    proc_manufacturer: str = "Intel Corporation"
    architecture: str = "x86 Architecture"
    health: str = "OK"
    """The ``Status`` (2021) or ``Health`` (2014) column; only ``OK`` was ever seen in a
    capture, operators report ``Degraded`` (issue 15), the REST API documents ``Warning`` and
    ``Critical`` [cli §7]."""
    asset_tag: str = ""
    """``Node Asset Tag`` column (status layout only); empty in every captured row."""
    no_asset_info: bool = False
    """Render the row as ``N/A  No Asset Information`` (fixture show-node-list.maas-docstring).
    When a real chassis does this is UNKNOWN [cli §4.1]."""
    power_unavailable: bool = False
    """``show node power`` answers ``Unavailable`` and power commands do nothing. MAAS handles
    that word since 2016 [cli §4.3]; when a chassis says it is UNKNOWN, so it is opt-in."""

    def __post_init__(self) -> None:
        macs = tuple(normalise_mac(mac) for mac in self.macs)
        object.__setattr__(self, "macs", macs)
        if not 1 <= len(macs) <= MAX_NICS:
            raise ValueError(f"a node has 1-{MAX_NICS} NICs, got {len(macs)}")
        if len(set(macs)) != len(macs):
            raise ValueError(f"duplicate MAC within one node: {macs}")
        if not 0 < self.memory_gb < 1000:
            raise ValueError(f"memory_gb must fit the 6-column Memory field, got {self.memory_gb}")
        for value, width, label in (
            (self.proc_manufacturer, PROC_MANUFACTURER_WIDTH, "proc_manufacturer"),
            (self.architecture, ARCHITECTURE_WIDTH, "architecture"),
            (self.health, STATUS_WIDTH, "health"),
        ):
            if len(value) > width:
                raise ValueError(f"{label} {value!r} is wider than its {width}-column field")


@dataclass(frozen=True)
class Cartridge:
    """A cartridge in one slot: one node (m710x style) or several (m350/m700 style)."""

    nodes: tuple[SimNode, ...]
    product_name: str = "ProLiant m710x Server Cartridge"
    """``show node info`` Product Name; names seen are listed in cli §2.3."""
    serial_number: str = ""
    """Printed by ``show node info`` only when set: the sample is truncated before any serial
    line, so that line's existence and wording are an ASSUMPTION [cli §4.8]."""

    def __post_init__(self) -> None:
        nodes = tuple(self.nodes)
        object.__setattr__(self, "nodes", nodes)
        if not 1 <= len(nodes) <= MAX_NODES_PER_CARTRIDGE:
            raise ValueError(f"a cartridge has 1-{MAX_NODES_PER_CARTRIDGE} nodes, got {len(nodes)}")


@dataclass(frozen=True)
class ChassisSpec:
    """A whole chassis: a name and the cartridges by slot number (absent slot = empty slot).

    ``cartridges`` is stored as a read-only mapping sorted by slot; build changed copies with
    ``with_cartridge`` / ``without_cartridge``. MACs must be unique within the chassis.
    """

    name: str
    cartridges: Mapping[int, Cartridge] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or any(ch.isspace() for ch in self.name):
            raise ValueError(f"chassis name must be a non-empty word, got {self.name!r}")
        ordered = dict(sorted(self.cartridges.items()))
        for slot in ordered:
            if not 1 <= slot <= MAX_SLOTS:
                raise ValueError(f"slot {slot} outside 1-{MAX_SLOTS}")
        object.__setattr__(self, "cartridges", MappingProxyType(ordered))
        seen: dict[str, NodeId] = {}
        for node_id, node in self.nodes():
            for mac in node.macs:
                if mac in seen:
                    raise ValueError(f"MAC {mac} used by both {seen[mac]} and {node_id}")
                seen[mac] = node_id

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.cartridges.items())))

    def nodes(self) -> Iterator[tuple[NodeId, SimNode]]:
        """Yield every present node in ascending slot, then node order."""
        for slot, cartridge in self.cartridges.items():
            for index, node in enumerate(cartridge.nodes, start=1):
                yield NodeId(slot, index), node

    def node(self, node_id: NodeId) -> SimNode | None:
        """Return the node at ``node_id``, or ``None`` if that slot or node is empty."""
        cartridge = self.cartridges.get(node_id.cartridge)
        if cartridge is None or not 1 <= node_id.node <= len(cartridge.nodes):
            return None
        return cartridge.nodes[node_id.node - 1]

    def macs(self) -> list[str]:
        """All MACs of the chassis in node order."""
        return [mac for _, node in self.nodes() for mac in node.macs]

    def with_cartridge(self, slot: int, cartridge: Cartridge) -> ChassisSpec:
        """Return a copy with ``cartridge`` in ``slot`` (replacing whatever was there)."""
        return replace(self, cartridges={**self.cartridges, slot: cartridge})

    def without_cartridge(self, slot: int) -> ChassisSpec:
        """Return a copy with ``slot`` empty."""
        return replace(self, cartridges={s: c for s, c in self.cartridges.items() if s != slot})

    @classmethod
    def generate(
        cls,
        name: str,
        seed: int,
        *,
        chassis_index: int = 0,
        slots: int = MAX_SLOTS,
        fill: float = 0.8,
        nics: int = 2,
        multi_node: float = 0.1,
        powered_off: float = 0.05,
    ) -> ChassisSpec:
        """Build a realistic, deterministic chassis.

        ``slots`` of the 45 slots are considered (1..slots); each is filled with probability
        ``fill``. A filled slot holds a 4-node ``m350``-style cartridge with probability
        ``multi_node`` (16 GB, 2 NICs per node), otherwise a 1-node ``m710x``-style cartridge
        (32 GB as in the S9 capture, ``nics`` NICs). A node starts powered off with probability
        ``powered_off``.

        MACs are ``02:SS:II:II:TT:NN``: locally administered (``02``, so they cannot clash with
        real hardware on a demo network), ``SS`` = seed mod 256, ``II:II`` = ``chassis_index``,
        ``TT`` = slot, ``NN`` = (node - 1) * 4 + NIC index. So NIC pairs differ by one in the last
        octet, as real m710x pairs do [cli §4.2], and MACs are unique across a fleet as long as
        each chassis gets its own ``chassis_index`` (0-65535) under one seed. Each cartridge has
        the serial ``CN<seed mod 100><chassis_index, 4 hex digits><slot>``.
        """
        if not 1 <= slots <= MAX_SLOTS:
            raise ValueError(f"slots must be 1-{MAX_SLOTS}, got {slots}")
        if not 0 <= chassis_index <= 0xFFFF:
            raise ValueError(f"chassis_index must be 0-65535, got {chassis_index}")
        if not 1 <= nics <= MAX_NICS:
            raise ValueError(f"nics must be 1-{MAX_NICS}, got {nics}")
        for label, fraction in (("fill", fill), ("multi_node", multi_node)):
            if not (math.isfinite(fraction) and 0.0 <= fraction <= 1.0):
                raise ValueError(f"{label} must be between 0 and 1, got {fraction}")
        # Test data, not secrets: a seeded PRNG is the point (same seed, same chassis).
        rng = random.Random(f"chassisd-sim:{seed}:{chassis_index}")  # noqa: S311
        prefix = f"02:{seed % 256:02x}:{chassis_index >> 8:02x}:{chassis_index & 0xFF:02x}"

        def node(slot: int, index: int, nic_count: int, memory_gb: int) -> SimNode:
            macs = tuple(f"{prefix}:{slot:02x}:{index * 4 + nic:02x}" for nic in range(nic_count))
            return SimNode(macs=macs, memory_gb=memory_gb, power_on=rng.random() >= powered_off)

        def serial(slot: int) -> str:
            # 10 characters like CM 2.0's ``CN11111AAA``; unique in a fleet as the MACs are.
            return f"CN{seed % 100:02d}{chassis_index:04X}{slot:02d}"

        cartridges: dict[int, Cartridge] = {}
        for slot in range(1, slots + 1):
            if rng.random() >= fill:
                continue
            if rng.random() < multi_node:
                nodes = tuple(node(slot, i, 2, 16) for i in range(4))
                cartridges[slot] = Cartridge(
                    nodes, product_name="ProLiant m350 Server Cartridge", serial_number=serial(slot)
                )
            else:
                cartridges[slot] = Cartridge((node(slot, 0, nics, 32),), serial_number=serial(slot))
        return cls(name=name, cartridges=cartridges)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ChassisSpec:
        """Build a spec from plain data (e.g. a YAML file); errors name the field path.

        Shape::

            name: moonshot1
            cartridges:
              1:                                  # slot
                product_name: ProLiant m710x Server Cartridge
                nodes:
                  - macs: [94:57:a5:d3:ec:f2, 94:57:a5:d3:ec:f3]
                    power: on                     # on/off or true/false
                    memory_gb: 32                 # other SimNode fields by name
        """
        name = data.get("name")
        if not isinstance(name, str):
            raise ValueError("name: missing or not a string")
        raw_carts = data.get("cartridges", {})
        if not isinstance(raw_carts, Mapping):
            raise ValueError("cartridges: must be a mapping of slot -> cartridge")
        cartridges: dict[int, Cartridge] = {}
        for raw_slot, raw_cart in raw_carts.items():
            path = f"cartridges[{raw_slot}]"
            try:
                slot = int(raw_slot)
                cartridges[slot] = _cartridge_from_mapping(raw_cart, path)
            except (TypeError, ValueError) as exc:
                message = str(exc)
                raise ValueError(message if message.startswith(path) else f"{path}: {exc}") from exc
        return cls(name=name, cartridges=cartridges)

    def to_mapping(self) -> dict[str, Any]:
        """Plain-data form accepted by ``from_mapping`` (round-trips)."""
        return {
            "name": self.name,
            "cartridges": {
                slot: {
                    "product_name": cart.product_name,
                    "serial_number": cart.serial_number,
                    "nodes": [
                        {
                            "macs": list(node.macs),
                            "power": "on" if node.power_on else "off",
                            "memory_gb": node.memory_gb,
                            "proc_manufacturer": node.proc_manufacturer,
                            "architecture": node.architecture,
                            "health": node.health,
                            "asset_tag": node.asset_tag,
                            "no_asset_info": node.no_asset_info,
                            "power_unavailable": node.power_unavailable,
                        }
                        for node in cart.nodes
                    ],
                }
                for slot, cart in self.cartridges.items()
            },
        }


_NODE_STR_FIELDS = ("proc_manufacturer", "architecture", "health", "asset_tag")
_NODE_BOOL_FIELDS = ("no_asset_info", "power_unavailable")


def _cartridge_from_mapping(raw: object, path: str) -> Cartridge:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: must be a mapping")
    raw_nodes = raw.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise ValueError(f"{path}.nodes: must be a non-empty list")
    nodes = []
    for index, raw_node in enumerate(raw_nodes):
        node_path = f"{path}.nodes[{index}]"
        try:
            nodes.append(_node_from_mapping(raw_node, node_path))
        except (TypeError, ValueError) as exc:
            message = str(exc)
            raise ValueError(
                message if message.startswith(node_path) else f"{node_path}: {exc}"
            ) from exc
    return Cartridge(
        nodes=tuple(nodes),
        product_name=str(raw.get("product_name", "ProLiant m710x Server Cartridge")),
        serial_number=str(raw.get("serial_number", "")),
    )


def _node_from_mapping(raw: object, path: str) -> SimNode:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: must be a mapping")
    macs = raw.get("macs")
    if not isinstance(macs, list):
        raise ValueError(f"{path}.macs: must be a list of MAC addresses")
    unknown = set(raw) - {"macs", "power", "memory_gb", *_NODE_STR_FIELDS, *_NODE_BOOL_FIELDS}
    if unknown:
        raise ValueError(f"{path}: unknown fields {sorted(unknown)}")
    power = raw.get("power", True)
    # YAML 1.1 reads a bare `on`/`off` as a bool; quoted strings are accepted too.
    if isinstance(power, str):
        if power.lower() not in ("on", "off"):
            raise ValueError(f"{path}.power: must be on or off, got {power!r}")
        power = power.lower() == "on"
    if not isinstance(power, bool):
        raise ValueError(f"{path}.power: must be on or off")
    changes: dict[str, Any] = {key: str(raw[key]) for key in _NODE_STR_FIELDS if key in raw}
    changes.update({key: bool(raw[key]) for key in _NODE_BOOL_FIELDS if key in raw})
    if "memory_gb" in raw:
        changes["memory_gb"] = int(raw["memory_gb"])
    return replace(SimNode(macs=tuple(str(mac) for mac in macs), power_on=power), **changes)


DEFAULT_BANNER = (
    "Type 'HELP HELP' to display more detailed information about the help system.",
    "",
    "Visit http://www.hpe.com/info/moonshot/docs for current product documentation.",
)
"""The banner lines visible in the S9 capture [cli §3.3]. Lines above them had scrolled off, so
what a real chassis prints before them is UNKNOWN; set ``CliProfile.banner`` to add some."""


@dataclass(frozen=True)
class CliProfile:
    """How the simulated CLI prints: the choices where firmware versions or sources differ."""

    layout: Layout = Layout.STATUS
    firmware: Firmware = Firmware.CM1
    prompt: str = "hpiLO-> "
    """``hpiLO->`` plus one space [cli §3.3]."""
    banner: tuple[str, ...] = DEFAULT_BANNER
    echo_terminator: str = "\r\r\n"
    """What follows the echoed command in exec output [cli §3.2]. CM 2.0 samples show a lone
    ``\\r`` (fixture show-firmware.cm2); whether that is real is UNKNOWN."""
    nic_fill: str = "N/A"
    """Printed for absent NICs in ``show node macaddr``: ``N/A`` (a hand-written MAAS fixture,
    unconfirmed [cli §4.2]) or ``""`` (blank)."""
    mac_upper: bool = False
    """Print MACs upper case. Real output is lower case [cli §4.2]; upper case is a test knob."""
    invalid_command_text: str = "Invalid command"
    """Reply to unknown commands. Real text UNKNOWN [cli §4.13]; the only public hint is MAAS's
    test assumption that CM 1.x answers ``show firmware`` with ``Invalid command`` [cli §4.9]."""
    invalid_node_text: str = "Error: Invalid node specification."
    """Reply to a bad or absent node id, and to ``macaddr all`` when refused. Real text UNKNOWN."""

    def __post_init__(self) -> None:
        if self.nic_fill not in ("N/A", ""):
            raise ValueError(f"nic_fill must be 'N/A' or '', got {self.nic_fill!r}")


@dataclass(frozen=True)
class Timing:
    """How long the simulated chassis takes. All values in seconds; defaults answer at once."""

    latency: Mapping[CommandKind, float] = field(default_factory=dict)
    """Extra delay before a command's output, per kind (e.g. ``{NODE_LIST: 0.3,
    NODE_MACADDR_ALL: 0.5}``); kinds not listed have none. Real timings are UNKNOWN [cli §3.5]."""
    power_delay: float = 0.0
    """Time from ``set node power on`` / ``off force`` to the new state being reported."""
    force_off_delay: float | None = None
    """Time for ``set node power off force`` (a hard power cut) alone; ``None`` = power_delay.
    How long a real chassis takes is UNKNOWN [cli §4.5]."""
    graceful_off_delay: float | None = None
    """Time for ``set node power off`` (graceful, an OS shutdown); ``None`` = 3 x power_delay."""
    report_powering_on: bool = False
    """While a power-on is pending, ``show node power`` says ``PoweringOn`` (a CM 2.0 word MAAS
    accepts [cli §4.3]) instead of the old state ``Off``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "latency", MappingProxyType(dict(self.latency)))
        values = [*self.latency.values(), self.power_delay]
        values += [v for v in (self.graceful_off_delay, self.force_off_delay) if v is not None]
        if any(not (math.isfinite(v) and v >= 0) for v in values):
            raise ValueError("latencies and delays must be finite and >= 0 seconds")

    def __hash__(self) -> int:
        return hash(
            (
                tuple(self.latency.items()),
                self.power_delay,
                self.graceful_off_delay,
                self.force_off_delay,
            )
        )

    def latency_for(self, kind: CommandKind) -> float:
        """Seconds to wait before answering a command of ``kind``."""
        return self.latency.get(kind, 0.0)

    def off_delay(self, *, graceful: bool) -> float:
        """Seconds until a power-off takes effect."""
        if not graceful:
            return self.power_delay if self.force_off_delay is None else self.force_off_delay
        if self.graceful_off_delay is not None:
            return self.graceful_off_delay
        return 3 * self.power_delay


@dataclass(frozen=True)
class Faults:
    """Faults the simulator injects; swap the whole object at runtime with ``set_faults``."""

    reject_all_logins: bool = False
    """Every login fails, even with the right password or key."""
    hang: bool = False
    """A command is echoed, then never answered (until the client goes away)."""
    disconnect_mid_output: bool = False
    """Half of a command's output is sent, then the channel closes without an exit status."""
    garbage_line: str | None = None
    """A line inserted in the middle of the rows of a ``show node list``/``macaddr`` table."""
    refuse_macaddr_all: bool = False
    """``show node macaddr all`` answers ``CliProfile.invalid_node_text`` instead of a table."""
    refuse_info_all: bool = False
    """``show node info all`` answers ``CliProfile.invalid_node_text``: no source shows ``all``
    with ``info`` [cli §4.8]."""
    keep_rows: int | None = None
    """Cut a table after this many rows, at a line boundary, and end normally (exit 0): a
    truncated answer that looks complete."""
    flood_bytes: int = 0
    """After the answer, send this many bytes more, in lines of ``flood_line`` bytes (hostile)."""
    endless: bool = False
    """After the answer, send lines of junk for as long as the client reads (hostile)."""
    flood_line: int = 1024
    """Length of one junk line of ``flood_bytes``/``endless``; larger than the flood for one
    endless line without a newline."""
    drip_interval: float = 0.0
    """Send the answer one byte at a time, this many seconds apart (a half-dead card)."""
    affects: frozenset[CommandKind] | None = None
    """Limit the per-command faults (all above but ``reject_all_logins``, ``refuse_*_all``)
    to these kinds (None: all)."""
    logins: int | None = None
    """Apply the per-command faults only in the sessions of the first this many logins after
    ``set_faults`` (None: all): a one-off misbehaviour a second session does not see."""

    def applies_to(self, kind: CommandKind) -> bool:
        """Whether the per-command faults apply to a command of ``kind``."""
        return self.affects is None or kind in self.affects
