"""CLI text of the simulated Moonshot iLO Chassis Manager: tables, blocks and their framing.

Owns: turning a ``ChassisView`` into the exact characters a chassis prints, for exec channels
and for the interactive shell. Column geometry, padding, blank lines and line endings follow the
captures in ``tests/fixtures/moonshot/`` and ``docs/moonshot-cli.md`` (``[cli §N]``).

Must not: parse commands, touch state, or do I/O; nor be shared with the chassisd driver (the
driver's parser must be tested against an independent renderer).

Shape of a reply: ``Reply.lines`` is the body without line endings. Framing adds the rest:

* exec:  ``<command><echo_terminator>`` + (``\\r\\n`` if ``blank_after_echo``) + body lines each
  ending ``\\r\\n`` + ``trailing_blank_lines`` x ``\\r\\n``  [cli §3.2]
* shell: (the echoed line, ended by the user's Enter, is already on screen) ``\\r\\n`` + body +
  trailing blank lines + ``\\r\\n`` + prompt  [cli §3.3, session capture]

In the session capture the table is followed by two empty lines and then the line where the next
prompt belongs, which is what "trailing blank line + blank line before the prompt" produces; the
banner has the same blank line before its prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from chassisd.sim.moonshot.model import (
    ARCHITECTURE_WIDTH,
    HEALTH_WIDTH,
    MEMORY_WIDTH,
    PROC_MANUFACTURER_WIDTH,
    STATUS_WIDTH,
    CliProfile,
    Firmware,
    Layout,
    NodeId,
    SimNode,
)
from chassisd.sim.moonshot.state import ChassisView

CRLF = "\r\n"


@dataclass(frozen=True)
class Reply:
    """The body of one command's output plus the blank lines around it."""

    lines: tuple[str, ...]
    blank_after_echo: bool = False
    """Exec output has an empty line between the echo and the body (``show node power`` and
    ``show node info`` do, the tables do not) [cli §3.2]."""
    trailing_blank_lines: int = 0
    """Empty lines after the body: 1 for ``show node list``, 2 for ``macaddr`` [cli §3.2]."""
    rows_start: int | None = None
    """Index of the first table row in ``lines`` (tables only; used by the garbage fault)."""

    def with_rows_kept(self, count: int) -> Reply:
        """Keep only the first ``count`` table rows (no-op for non-tables)."""
        if self.rows_start is None:
            return self
        return replace(self, lines=self.lines[: self.rows_start + count])

    def with_line_inserted(self, line: str) -> Reply:
        """Insert ``line`` in the middle of the table rows (no-op for non-tables)."""
        if self.rows_start is None:
            return self
        middle = self.rows_start + (len(self.lines) - self.rows_start) // 2
        return replace(self, lines=(*self.lines[:middle], line, *self.lines[middle:]))


# -- show node list [cli §4.1] ----------------------------------------------------------------

_SLOT_WIDTH = 4
_ID_WIDTH = 5
_POWER_WIDTH = 5
_ASSET_TAG_WIDTH = 14

_COMMON_COLUMNS = (
    ("Slot", _SLOT_WIDTH),
    ("ID", _ID_WIDTH),
    ("Proc Manufacturer", PROC_MANUFACTURER_WIDTH),
    ("Architecture", ARCHITECTURE_WIDTH),
    ("Memory", MEMORY_WIDTH),
    ("Power", _POWER_WIDTH),
)
_NODE_LIST_COLUMNS = {
    # 2021 capture (S9): Status (8) and Node Asset Tag (14).
    Layout.STATUS: (
        *_COMMON_COLUMNS,
        ("Status", STATUS_WIDTH),
        ("Node Asset Tag", _ASSET_TAG_WIDTH),
    ),
    # 2014 MAAS docstring: Health (6), no asset tag column.
    Layout.HEALTH: (*_COMMON_COLUMNS, ("Health", HEALTH_WIDTH)),
}


def _join(fields: Sequence[str], widths: Sequence[int]) -> str:
    """Pad each field to its column and separate columns by one space (the dash-line rule)."""
    return " ".join(text.ljust(width) for text, width in zip(fields, widths, strict=False))


def _header_lines(columns: Sequence[tuple[str, int]]) -> tuple[str, str]:
    titles = [title for title, _ in columns]
    widths = [width for _, width in columns]
    return _join(titles, widths).rstrip(), " ".join("-" * width for width in widths)


def _slot_text(slot: int, layout: Layout) -> str:
    # S9 (2021) right-aligns the slot number (`  1`); the 2014 docstring zero-pads it (` 01`).
    return f"{slot:02d}".rjust(3) if layout is Layout.HEALTH else f"{slot:3d}"


def _node_list_row(node_id: NodeId, node: SimNode, layout: Layout) -> str:
    widths = [width for _, width in _NODE_LIST_COLUMNS[layout]]
    slot = _slot_text(node_id.cartridge, layout)
    if node.no_asset_info:
        # Fixture show-node-list.maas-docstring: ` 02  c2n1  N/A                    No Asset
        # Information ` - the text starts in the Architecture column, nothing after it.
        fields = [slot, str(node_id), "N/A", "No Asset Information"]
    else:
        fields = [
            slot,
            str(node_id),
            node.proc_manufacturer,
            node.architecture,
            f"{node.memory_gb} GB",
            "On" if node.power_on else "Off",
            node.health,
        ]
        if layout is Layout.STATUS:
            fields.append(node.asset_tag)
    # The 2014 docstring rows end with exactly one space before CRLF (`OK \r\n`, `Information
    # \r\n`). The 2021 capture cannot show trailing spaces (UNKNOWN), so the same rule is used.
    return _join(fields, widths).rstrip() + " "


def node_list(view: ChassisView, profile: CliProfile) -> Reply:
    """``show node list``: one row per present node, ascending slot; empty slots omitted [S9].

    Multi-node cartridges get one row per node with the slot number repeated: an ASSUMPTION,
    since no source shows a node number above 1 [cli §2.1, §4.1].
    """
    header, dashes = _header_lines(_NODE_LIST_COLUMNS[profile.layout])
    rows = [_node_list_row(nid, node, profile.layout) for nid, node in view.spec.nodes()]
    return Reply(lines=(header, dashes, *rows), trailing_blank_lines=1, rows_start=2)


# -- show node macaddr [cli §4.2] -------------------------------------------------------------

_MAC_WIDTH = 17
_MACADDR_COLUMNS = (
    ("Slot", _SLOT_WIDTH),
    ("ID", _ID_WIDTH),
    ("NIC 1 (Switch A)", _MAC_WIDTH),
    ("NIC 2 (Switch B)", _MAC_WIDTH),
    ("NIC 3 (Switch A)", _MAC_WIDTH),
    ("NIC 4 (Switch B)", _MAC_WIDTH),
)


def macaddr(view: ChassisView, nodes: Sequence[NodeId], profile: CliProfile) -> Reply:
    """``show node macaddr <nodes>``: one row per node, four NIC columns.

    The only sample (fixture show-node-macaddr.c1n1) right-aligns the slot (``  1``) although
    the same firmware zero-pads it in ``show node list``; kept as seen. Its row has no trailing
    space. ``all`` printing the same table with one row per node is an inference [cli §4.2].
    """
    header, dashes = _header_lines(_MACADDR_COLUMNS)
    widths = [width for _, width in _MACADDR_COLUMNS]
    rows = []
    for nid in nodes:
        node = view.spec.node(nid)
        assert node is not None  # the dispatcher resolved `nodes` against this view
        macs = [mac.upper() if profile.mac_upper else mac for mac in node.macs]
        macs += [profile.nic_fill] * (4 - len(macs))
        rows.append(_join([f"{nid.cartridge:3d}", str(nid), *macs], widths).rstrip())
    return Reply(lines=(header, dashes, *rows), trailing_blank_lines=2, rows_start=2)


# -- show node power / info [cli §4.3, §4.8] ----------------------------------------------------


def _blocks(blocks: Sequence[Sequence[str]]) -> tuple[str, ...]:
    lines: list[str] = []
    for block in blocks:
        if lines:
            lines.append("")
        lines.extend(block)
    return tuple(lines)


def power(view: ChassisView, nodes: Sequence[NodeId]) -> Reply:
    """``show node power <nodes>``: ``Cartridge #N`` / ``  Node #M`` / 8-space ``Power State:``.

    Byte-exact for one node (fixture show-node-power.c1n1.maas-test-string). For several nodes
    the layout is UNKNOWN; the blocks are repeated with an empty line between them, which keeps
    the one-node case identical (the empty line then only precedes the first block).
    """
    blocks = [
        (
            f"Cartridge #{nid.cartridge}",
            f"  Node #{nid.node}",
            f"        Power State: {view.power[nid]}",
        )
        for nid in nodes
    ]
    return Reply(lines=_blocks(blocks), blank_after_echo=True)


def info(view: ChassisView, nodes: Sequence[NodeId]) -> Reply:
    """``show node info <nodes>``: one block per cartridge named by the nodes (fixture
    show-node-info.c1n1: ``Cartridge #1 `` with a trailing space, two-space indented fields).

    The sample stops after Product Name; the ``Serial Number`` line (only when the cartridge has
    one) is an ASSUMPTION. One block per cartridge, not per node, for multi-node cartridges is
    UNKNOWN too: the fields describe the cartridge.
    """
    slots = list(dict.fromkeys(nid.cartridge for nid in nodes))
    blocks = []
    for slot in slots:
        cartridge = view.spec.cartridges[slot]
        block = [
            f"Cartridge #{slot} ",
            "  Type: Compute",
            "  Manufacturer: HP",
            f"  Product Name: {cartridge.product_name}",
        ]
        if cartridge.serial_number:
            block.append(f"  Serial Number: {cartridge.serial_number}")
        blocks.append(block)
    return Reply(lines=_blocks(blocks), blank_after_echo=True)


# -- set commands: output UNKNOWN [cli §4.5, §4.7] ----------------------------------------------


def power_ack(nodes: Sequence[NodeId], action: str) -> Reply:
    """Reply to ``set node power ...``. Real output is UNKNOWN (clients ignore it); the simulator
    prints one short line per node, e.g. ``c1n1: power on requested``, in lower case so that
    clients globbing ``*On``/``*Off`` are not misled [cli §4.3]."""
    return Reply(lines=tuple(f"{nid}: {action} requested" for nid in nodes))


def bootonce_ack(nodes: Sequence[NodeId]) -> Reply:
    """Reply to ``set node bootonce pxe``: Mozilla's expect waits for ``bootonce: PXE`` [cli §4.7];
    the rest of the line (``c1n1 bootonce: PXE``) is an ASSUMPTION."""
    return Reply(lines=tuple(f"{nid} bootonce: PXE" for nid in nodes))


def boot_ack(nodes: Sequence[NodeId], device: str) -> Reply:
    """Reply to ``set node boot <device>``: UNKNOWN (MAAS ignores it [cli §5.1]); the simulator
    answers like ``bootonce``, e.g. ``c1n1 boot: M.2`` (an ASSUMPTION)."""
    return Reply(lines=tuple(f"{nid} boot: {device}" for nid in nodes))


# -- show firmware [cli §4.9] -------------------------------------------------------------------


def firmware(profile: CliProfile) -> Reply:
    """CM 2.0 prints a version block (indents 8/16 as in MAAS's SHOW_FIRMWARE_2 fixture); CM 1.x
    has no such command, so it gets the invalid-command reply (MAAS's test assumption)."""
    if profile.firmware is Firmware.CM1:
        return error(profile.invalid_command_text)
    return Reply(
        lines=(
            "Firmware Versions:",
            "        Chassis Manager:",
            "                HPE Moonshot Chassis Manager 2.0: 2.0-b176",
            "                HPE Moonshot Chassis Manager 2.0 Base Image: 1.3",
        )
    )


def error(text: str) -> Reply:
    """An error reply: one line. The real error texts are UNKNOWN [cli §4.13]."""
    return Reply(lines=(text,))


def help_text() -> Reply:
    """``HELP``: the real text is UNKNOWN [cli §4.11]; this lists what the simulator knows and
    says that it is a simulator, so nobody mistakes it for vendor output."""
    return Reply(
        lines=(
            "HPE Moonshot iLO Chassis Manager simulator (chassisd.sim); supported commands:",
            "  show node list",
            "  show node macaddr <nodes>|all",
            "  show node power <nodes>|all",
            "  show node info <nodes>|all",
            "  set node power on <nodes>|all",
            "  set node power off [force] <nodes>|all",
            "  set node bootonce pxe <nodes>|all",
            "  set node boot M.2|hdd|pxe <nodes>|all",
            "  show firmware",
            "  exit",
            "<nodes>: c1n1, C1N1, or a cartridge list such as c1,5,7n1",
        )
    )


# -- framing ------------------------------------------------------------------------------------


def _body(reply: Reply) -> str:
    return "".join(line + CRLF for line in reply.lines) + CRLF * reply.trailing_blank_lines


def exec_echo(command: str, profile: CliProfile) -> str:
    """The first bytes of exec output: the command echoed, then ``\\r\\r\\n`` [cli §3.2]."""
    return command + profile.echo_terminator


def exec_rest(reply: Reply) -> str:
    """Exec output after the echo."""
    return (CRLF if reply.blank_after_echo else "") + _body(reply)


def shell_rest(reply: Reply, profile: CliProfile) -> str:
    """Shell output after the echoed line: blank line, body, blank line, prompt (see capture)."""
    return CRLF + _body(reply) + CRLF + profile.prompt


def banner(profile: CliProfile) -> str:
    """What an interactive session shows first: banner lines, an empty line, the prompt."""
    return "".join(line + CRLF for line in profile.banner) + CRLF + profile.prompt
