"""Command grammar and dispatcher of the simulated Moonshot CLI.

Owns: reading one command line (keywords case-insensitive, node specs ``all`` / ``c1n1`` /
``C1,5,7N1`` [cli §2.2]), resolving node specs against the chassis, applying state changes
(power, bootonce) and choosing the ``render`` function for the reply.

Must not: do I/O or sleep (latency and faults that touch the transport live in ``moonshot``), or
share parsing code with the chassisd driver.

Decisions on UNKNOWNs [cli §2.2, §4.13]:

* Ranges (``c1-5n1``) and lists of full ids (``c1n1,c2n1``) are not accepted: no source shows them.
* A spec naming any empty slot, absent node or slot outside 1-45 fails the whole command with
  ``CliProfile.invalid_node_text``, and changes nothing (no partial effects).
* Extra or missing words make the line an invalid command (``CliProfile.invalid_command_text``).
* ``set node boot <device> <nodes>`` accepts the devices clients are seen sending: ``M.2``
  (MAAS since 2014-07) and ``hdd`` / ``pxe`` (MAAS's 2014-06 versions) [cli §4.7]; the full list
  is UNKNOWN, so any other device is an invalid command.
* ``all`` means every present node; a list is answered in ascending slot order without
  duplicates, as a firmware walking its slots would (the order for ``c5,1n1`` is UNKNOWN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chassisd.sim.moonshot import render
from chassisd.sim.moonshot.model import CliProfile, CommandKind, Faults, NodeId
from chassisd.sim.moonshot.render import Reply
from chassisd.sim.moonshot.state import ChassisState, ChassisView

_SPEC_RE = re.compile(r"^c(\d+(?:,\d+)*)n(\d+)$")

ALL = "all"


@dataclass(frozen=True)
class Command:
    """One parsed command line."""

    kind: CommandKind
    text: str
    """The line as received (echoed back verbatim)."""
    node_spec: str | None = None
    """The node-spec word, lower-cased, for commands that take one."""
    device: str | None = None
    """``set node boot``'s device, as the simulator names it (``M.2``, ``HDD``, ``PXE``)."""


# word sequence (lower case) -> kind; the node spec, when required, is the one word after it.
_WITH_NODES: dict[tuple[str, ...], CommandKind] = {
    ("show", "node", "macaddr"): CommandKind.NODE_MACADDR,
    ("show", "node", "power"): CommandKind.NODE_POWER,
    ("show", "node", "info"): CommandKind.NODE_INFO,
    ("set", "node", "power", "on"): CommandKind.POWER_ON,
    ("set", "node", "power", "off"): CommandKind.POWER_OFF,
    ("set", "node", "power", "off", "force"): CommandKind.POWER_OFF_FORCE,
    ("set", "node", "bootonce", "pxe"): CommandKind.BOOTONCE_PXE,
}
_WITHOUT_NODES: dict[tuple[str, ...], CommandKind] = {
    ("show", "node", "list"): CommandKind.NODE_LIST,
    ("show", "firmware"): CommandKind.FIRMWARE,
    ("exit",): CommandKind.EXIT,
}
# ``set node boot <device> <nodes>``: device word (lower case) -> the name the state keeps.
_BOOT_DEVICES = {"m.2": "M.2", "hdd": "HDD", "pxe": "PXE"}


def parse(line: str) -> Command:
    """Classify a command line; anything unrecognised is ``CommandKind.INVALID``."""
    words = tuple(word.lower() for word in line.split())
    if words in _WITHOUT_NODES:
        return Command(_WITHOUT_NODES[words], line)
    if words and words[0] == "help":
        return Command(CommandKind.HELP, line)
    if len(words) == 5 and words[:3] == ("set", "node", "boot") and words[3] in _BOOT_DEVICES:
        device = _BOOT_DEVICES[words[3]]
        return Command(CommandKind.NODE_BOOT, line, node_spec=words[4], device=device)
    if len(words) >= 2 and words[:-1] in _WITH_NODES:
        kind = _WITH_NODES[words[:-1]]
        if kind is CommandKind.NODE_MACADDR and words[-1] == ALL:
            kind = CommandKind.NODE_MACADDR_ALL
        return Command(kind, line, node_spec=words[-1])
    return Command(CommandKind.INVALID, line)


def resolve_nodes(spec: str, view: ChassisView) -> list[NodeId] | None:
    """Expand a lower-case node spec to present nodes, or ``None`` if any part is invalid."""
    if spec == ALL:
        return [nid for nid, _ in view.spec.nodes()]
    match = _SPEC_RE.match(spec)
    if match is None:
        return None
    node = int(match.group(2))
    nodes = [NodeId(int(cart), node) for cart in match.group(1).split(",")]
    if any(view.spec.node(nid) is None for nid in nodes):
        return None
    return sorted(set(nodes))


def execute(command: Command, state: ChassisState, profile: CliProfile, faults: Faults) -> Reply:
    """Run ``command`` against ``state`` and return the reply body (without framing)."""
    kind = command.kind
    if kind is CommandKind.INVALID:
        return render.error(profile.invalid_command_text)
    if kind is CommandKind.EXIT:
        return Reply(lines=())
    if kind is CommandKind.HELP:
        return render.help_text()
    if kind is CommandKind.FIRMWARE:
        return render.firmware(profile)
    view = state.view()
    if kind is CommandKind.NODE_LIST:
        return render.node_list(view, profile)
    if kind is CommandKind.NODE_MACADDR_ALL and faults.refuse_macaddr_all:
        return render.error(profile.invalid_node_text)
    if kind is CommandKind.NODE_INFO and command.node_spec == "all" and faults.refuse_info_all:
        return render.error(profile.invalid_node_text)
    assert command.node_spec is not None  # every remaining kind takes a node spec
    nodes = resolve_nodes(command.node_spec, view)
    if nodes is None:
        return render.error(profile.invalid_node_text)
    if kind in (CommandKind.NODE_MACADDR, CommandKind.NODE_MACADDR_ALL):
        return render.macaddr(view, nodes, profile)
    if kind is CommandKind.NODE_POWER:
        return render.power(view, nodes)
    if kind is CommandKind.NODE_INFO:
        return render.info(view, nodes)
    if kind is CommandKind.POWER_ON:
        state.request_power(nodes, on=True)
        return render.power_ack(nodes, "power on")
    if kind is CommandKind.POWER_OFF_FORCE:
        state.request_power(nodes, on=False)
        return render.power_ack(nodes, "power off (force)")
    if kind is CommandKind.POWER_OFF:
        state.request_power(nodes, on=False, graceful=True)
        return render.power_ack(nodes, "power off (graceful)")
    if kind is CommandKind.BOOTONCE_PXE:
        state.set_bootonce_pxe(nodes)
        return render.bootonce_ack(nodes)
    if kind is CommandKind.NODE_BOOT:
        assert command.device is not None  # parse sets it for this kind
        state.set_boot_device(nodes, command.device)
        return render.boot_ack(nodes, command.device)
    raise AssertionError(f"unhandled command kind {kind}")  # pragma: no cover
