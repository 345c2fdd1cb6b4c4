"""Parsers for the HPE Moonshot iLO Chassis Manager CLI output. Pure functions, no I/O.

Owns turning the text of ``show node list``, ``show node macaddr …``, ``show node power …``
and ``show node info …`` into values. Tables are read by their geometry: the dash line under
the header gives each column's start and width (``moonshot-cli.md`` §4.1, §9.2), so multi-word
values ("Intel Corporation", "x86 Architecture") need no guessing. Any line that is not
understood raises ``ParseError`` naming the command and the line; nothing is silently dropped
(the one exception: the indented lines of a ``show node info`` block other than product and
serial, whose shapes no sample shows).

Input is the command's output with the echoed command already removed and line ends
normalised to ``\\n`` (see ``clean_output``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chassisd.errors import DeviceError, ParseError, excerpt
from chassisd.model import Health, MacAddress, NodeId, PowerState, normalize_mac

_DASHES = re.compile(r"-+")
_POWER_STATE = re.compile(r"Power State:\s*(\S+)")
_CARTRIDGE = re.compile(r"Cartridge #(\d+)")
_NODE = re.compile(r"Node #(\d+)")

#: ``show node list`` / ``show node power`` words → power (moonshot-cli.md §4.3, MAAS S1):
#: ``PoweringOn`` is on its way up, ``Unavailable`` has no power.
POWER_STATES = {
    "on": PowerState.ON,
    "poweringon": PowerState.ON,
    "off": PowerState.OFF,
    "unavailable": PowerState.OFF,
}
#: ``Status``/``Health`` words → our levels. Captures show only ``OK`` (moonshot-cli.md §4.1);
#: the chassis manager's REST API documents ``Warning`` and ``Critical`` (§7), and operators see
#: ``Degraded`` on a cartridge that needs attention but still runs: a warning, not unknown. Any
#: other word is UNKNOWN.
HEALTH_STATES = {
    "ok": Health.OK,
    "warning": Health.WARNING,
    "degraded": Health.WARNING,
    "critical": Health.CRITICAL,
}

#: Error words seen as answers instead of tables. The real texts are UNKNOWN
#: (moonshot-cli.md §4.13); the only one any source assumes is ``Invalid command``.
_ERROR_WORDS = re.compile(r"\b(error|invalid|not (?:found|present|valid)|unknown|denied)\b", re.I)


def clean_output(raw: str, command: str) -> str:
    """Strip the echoed command and normalise line ends.

    Exec output starts with the command followed by ``\\r\\r\\n`` (fixture
    ``show-node-list.maas-docstring``); CM 2.0 samples show a lone ``\\r`` after the echo
    (``show-firmware.cm2``). Lines end in ``\\r\\n``.
    """
    text = raw.replace("\r\r\n", "\n").replace("\r\n", "\n").replace("\r", "\n")
    first, _, rest = text.partition("\n")
    if first.strip().lower() == command.strip().lower():
        return rest
    return text


@dataclass(frozen=True)
class _Column:
    name: str
    start: int
    end: int | None  # None: to the end of the line


@dataclass(frozen=True)
class Table:
    """A parsed CLI table: column names (header text) and rows of cell text.

    Each row is (1-based line number in the output, the line as sent, its cells).
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[int, str, dict[str, str]], ...]


def find_table(text: str) -> tuple[int, int] | None:
    """Return (header index, dash index) of the first header + dash-line pair, if any."""
    lines = text.split("\n")
    for i in range(len(lines) - 1):
        dashes = lines[i + 1].rstrip()
        if dashes and set(dashes) <= {"-", " "} and lines[i].strip():
            return i, i + 1
    return None


def parse_table(text: str, *, command: str, first_column: str = "Slot") -> Table:
    """Parse a header/dash table; every non-blank line after the dashes must be a row."""
    lines = text.split("\n")
    found = find_table(text)
    if found is None:
        first = next(((n, line) for n, line in enumerate(lines, 1) if line.strip()), None)
        if first is None:
            raise ParseError("empty output, expected a table", command=command)
        line_no, line = first
        if _ERROR_WORDS.search(line):
            raise DeviceError(f"{command!r} answered: {line.strip()}")
        raise ParseError("expected a table header", command=command, line=line, line_no=line_no)
    header_at, dash_at = found
    for n, line in enumerate(lines[:header_at], 1):
        if line.strip():
            raise ParseError(
                "unexpected text before the table", command=command, line=line, line_no=n
            )
    header, dash_line = lines[header_at], lines[dash_at].rstrip()
    spans = [(m.start(), m.end()) for m in _DASHES.finditer(dash_line)]
    columns: list[_Column] = []
    for index, (start, _end) in enumerate(spans):
        nxt = spans[index + 1][0] if index + 1 < len(spans) else None
        name = (header[start:nxt] if nxt is not None else header[start:]).strip()
        if not name:
            raise ParseError(
                f"header has no name above dash group {index + 1}",
                command=command,
                line=header,
                line_no=header_at + 1,
            )
        columns.append(_Column(name, start, nxt))
    if columns[0].name != first_column:
        raise ParseError(
            f"expected first column {first_column!r}, got {columns[0].name!r}",
            command=command,
            line=header,
            line_no=header_at + 1,
        )
    rows: list[tuple[int, str, dict[str, str]]] = []
    for n, line in enumerate(lines[dash_at + 1 :], dash_at + 2):
        if not line.strip():
            continue
        cells = {
            col.name: (line[col.start : col.end] if col.end is not None else line[col.start :])
            for col in columns
        }
        # A value must start in its own column: a non-blank character just before a column's
        # start means the row does not follow the header's geometry.
        for col in columns[1:]:
            if col.start <= len(line) and line[col.start - 1] != " ":
                raise ParseError(
                    f"value crosses into column {col.name!r}", command=command, line=line, line_no=n
                )
        rows.append((n, line, {k: v.strip() for k, v in cells.items()}))
    return Table(tuple(c.name for c in columns), tuple(rows))


@dataclass(frozen=True)
class NodeListRow:
    """One row of ``show node list``."""

    slot: int
    node_id: NodeId
    power: PowerState
    health: Health
    has_asset_info: bool
    asset_tag: str = ""


def parse_node_list(text: str, *, command: str = "show node list") -> list[NodeListRow]:
    """Parse ``show node list`` in either firmware layout (Status + asset tag, or Health).

    Accepts zero-padded slots (`` 01``, 2014 firmware) and right-aligned ones (``  1``, 2021),
    and ``N/A … No Asset Information`` rows (no power or health).
    """
    table = parse_table(text, command=command)
    health_column = next((c for c in ("Status", "Health") if c in table.columns), None)
    for needed in ("ID", "Power"):
        if needed not in table.columns:
            raise ParseError(f"table has no {needed!r} column", command=command)
    if health_column is None:
        raise ParseError("table has no 'Status' or 'Health' column", command=command)
    result: list[NodeListRow] = []
    seen: set[NodeId] = set()
    for line_no, line, cells in table.rows:

        def fail(problem: str, line_no: int = line_no, line: str = line) -> ParseError:
            return ParseError(problem, command=command, line=line, line_no=line_no)

        try:
            slot = int(cells["Slot"])
            node_id = NodeId.parse(cells["ID"])
        except ValueError:
            raise fail("expected a slot number and a node id") from None
        if node_id.cartridge != slot or not 1 <= slot <= 45:
            raise fail(f"slot {slot} does not match node id {node_id}")
        if node_id in seen:
            raise fail(f"node {node_id} listed twice")
        seen.add(node_id)
        no_asset = "No Asset Information" in line
        if no_asset:
            result.append(
                NodeListRow(slot, node_id, PowerState.UNKNOWN, Health.UNKNOWN, has_asset_info=False)
            )
            continue
        power_word = cells["Power"].lower()
        health_word = cells[health_column].lower()
        if power_word not in POWER_STATES and not power_word.isalpha():
            raise fail(f"power {cells['Power']!r} is not a word")
        result.append(
            NodeListRow(
                slot=slot,
                node_id=node_id,
                power=POWER_STATES.get(power_word, PowerState.UNKNOWN),
                health=HEALTH_STATES.get(health_word, Health.UNKNOWN),
                has_asset_info=True,
                asset_tag=cells.get("Node Asset Tag", ""),
            )
        )
    return result


def parse_macaddr(text: str, *, command: str) -> dict[NodeId, tuple[MacAddress, ...]]:
    """Parse ``show node macaddr <node>|all``: node id → its MACs in NIC order.

    NIC cells that are blank or ``N/A`` (a node with fewer NICs) are skipped; MACs of any case
    are normalised.
    """
    table = parse_table(text, command=command)
    nic_columns = [c for c in table.columns if c.upper().startswith("NIC")]
    if "ID" not in table.columns or not nic_columns:
        raise ParseError("expected ID and NIC columns", command=command)
    result: dict[NodeId, tuple[MacAddress, ...]] = {}
    for line_no, line, cells in table.rows:
        try:
            node_id = NodeId.parse(cells["ID"])
            slot = int(cells["Slot"])
        except ValueError:
            raise ParseError(
                "expected a slot number and a node id", command=command, line=line, line_no=line_no
            ) from None
        if slot != node_id.cartridge or node_id in result:
            raise ParseError(
                f"slot {slot} / node {node_id} inconsistent or repeated",
                command=command,
                line=line,
                line_no=line_no,
            )
        macs: list[MacAddress] = []
        for column in nic_columns:
            value = cells[column]
            if value in ("", "N/A"):
                continue
            try:
                macs.append(MacAddress(normalize_mac(value)))
            except ValueError:
                raise ParseError(
                    f"{column}: {value!r} is not a MAC address",
                    command=command,
                    line=line,
                    line_no=line_no,
                ) from None
        result[node_id] = tuple(macs)
    return result


def parse_power(text: str, *, command: str) -> dict[NodeId, PowerState]:
    """Parse ``show node power <nodes>``: ``Cartridge #N``, ``Node #M``, ``Power State:`` lines."""
    result: dict[NodeId, PowerState] = {}
    cartridge: int | None = None
    node: int | None = None
    lines = text.split("\n")
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        if m := _CARTRIDGE.fullmatch(stripped):
            cartridge, node = int(m.group(1)), None
        elif m := _NODE.fullmatch(stripped):
            if cartridge is None:
                raise ParseError("node before any cartridge", command=command, line=line, line_no=n)
            node = int(m.group(1))
        elif m := _POWER_STATE.fullmatch(stripped):
            if cartridge is None or node is None:
                raise ParseError(
                    "power state outside a node block", command=command, line=line, line_no=n
                )
            result[NodeId(cartridge, node)] = POWER_STATES.get(
                m.group(1).lower(), PowerState.UNKNOWN
            )
            node = None
        elif not result and _ERROR_WORDS.search(stripped):
            raise DeviceError(f"{command!r} answered: {stripped}")
        else:
            raise ParseError("unexpected line", command=command, line=line, line_no=n)
    if not result:
        raise ParseError("no 'Power State:' in output", command=command)
    return result


#: Characters a product name or serial number may have. The longest product name seen is 33
#: ("ProLiant m710x Server Cartridge", moonshot-cli.md §2.3), serials are 10 (CM 2.0
#: ``SerialNumber: CN11111AAA``): anything longer is not one, and would be stored in every
#: status and printed in every listing.
MAX_DETAIL_CHARS = 64
#: ``show node info`` keys read; the serial's wording is not in any sample (§4.8 stops after
#: Product Name), CM 2.0's ``show blades`` says ``SerialNumber``.
_PRODUCT_KEYS = ("product name",)
_SERIAL_KEYS = ("serial number", "serialnumber")


@dataclass(frozen=True)
class CartridgeInfo:
    """What ``show node info`` says of one cartridge."""

    product: str = ""
    serial: str = ""


def parse_node_info(text: str, *, command: str) -> dict[int, CartridgeInfo]:
    """Parse ``show node info <nodes>|all``: cartridge slot → its product name and serial.

    Each cartridge is a ``Cartridge #N`` line (fixture show-node-info.c1n1: with a trailing
    space) followed by indented ``Key: value`` lines. The sample stops after ``Product Name``
    (moonshot-cli.md §4.8), so indented lines of any other shape (sub-sections) are part of
    their block and not read; the first ``Product Name`` and serial line of a block count. A
    line outside any block, a block repeated, a value too long or holding control characters
    is a ``ParseError``; an error word before any block is the device refusing (``DeviceError``).
    """
    result: dict[int, CartridgeInfo] = {}
    slot: int | None = None
    for n, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if m := _CARTRIDGE.fullmatch(stripped):
            slot = int(m.group(1))
            if not 1 <= slot <= 45 or slot in result:
                raise ParseError(
                    f"cartridge {slot} out of range or repeated", command=command, line=line,
                    line_no=n,
                )  # fmt: skip
            result[slot] = CartridgeInfo()
            continue
        if slot is None or not line[:1].isspace():
            if slot is None and not result and _ERROR_WORDS.search(stripped):
                raise DeviceError(f"{command!r} answered: {excerpt(stripped)}")
            raise ParseError(
                "expected 'Cartridge #N' or an indented line of its block",
                command=command,
                line=line,
                line_no=n,
            )
        key, colon, value = stripped.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not colon or key not in (*_PRODUCT_KEYS, *_SERIAL_KEYS):
            continue
        if len(value) > MAX_DETAIL_CHARS or not value.isprintable():
            raise ParseError(
                f"{key} is not printable text of at most {MAX_DETAIL_CHARS} characters",
                command=command,
                line=line,
                line_no=n,
            )
        info = result[slot]
        if key in _PRODUCT_KEYS and not info.product:
            result[slot] = CartridgeInfo(value, info.serial)
        elif key in _SERIAL_KEYS and not info.serial:
            result[slot] = CartridgeInfo(info.product, value)
    if not result:
        raise ParseError("no 'Cartridge #N' in output", command=command)
    return result


def check_set_reply(text: str, *, command: str, expect: str = "") -> None:
    """Check the reply to a ``set …`` command: no error words, and ``expect`` if given.

    The replies of ``set node power`` are UNKNOWN (moonshot-cli.md §4.5), so only error words
    count; ``set node bootonce pxe`` must echo ``bootonce: PXE`` (fragments.from-scripts).
    """
    stripped = " ".join(text.split())
    if _ERROR_WORDS.search(stripped):
        raise DeviceError(f"{command!r} answered: {stripped}")
    if expect and expect.lower() not in stripped.lower():
        raise DeviceError(f"{command!r}: expected {expect!r} in the reply, got {stripped!r}")
