"""The ``moonshot`` driver: inventory and power through the iLO Chassis Manager CLI.

Owns which commands are sent for which request and how their parsed output becomes model
values. One driver object is one SSH session (``open``/``close``); a poll sends
``show node list`` and ``show node macaddr all`` on it, falling back to one
``show node macaddr cXnY`` per node when ``all`` is refused. Product and serial take another
command (``show node info``), so the inventory leaves them ``Details.DEFERRED`` and ``describe``
reads them only for the nodes the poller asks about (new ones, a changed cartridge, a slow
cadence): a steady poll stays at two commands. The session and the parsers raise
plain errors; each public method names this chassis and driver in them (``located``). It never
sleeps or retries: a ``cycle`` is composed by the power service (off, confirmed, then on).
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections import OrderedDict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import ClassVar

from chassisd.driver import ChassisTarget, Driver
from chassisd.errors import DeviceError
from chassisd.model import (
    Details,
    Feature,
    Inventory,
    MacAddress,
    NodeDetails,
    NodeId,
    NodeRecord,
    PowerAction,
    PowerState,
)
from chassisd_moonshot import parse
from chassisd_moonshot.ssh import SshSession

#: Our actions → CLI verbs (moonshot-cli.md §4.5). ``off`` is the hard ``off force`` every
#: production client uses; plain ``off`` is the graceful request. There is no node reset.
POWER_COMMANDS = {
    PowerAction.ON: "set node power on {node}",
    PowerAction.OFF: "set node power off force {node}",
    PowerAction.SHUTDOWN: "set node power off {node}",
}


#: Said on every poll of a chassis whose host key is not checked, as the HTTPS drivers do.
INSECURE_WARNING = (
    "SSH host key verification is disabled for this chassis (insecureSkipVerify); anyone on "
    "the path can pose as it and read its credentials - set knownHosts or knownHostsSecretRef"
)

#: Nodes one Moonshot 1500 can hold at most: 45 cartridge slots, node ids up to n8 (MAAS
#: documents ``c1-45n1-8``; moonshot-cli.md, node numbering). It caps the per-node MAC queries
#: of one poll.
MAX_NODES = 45 * 8


MACADDR_ALL = "show node macaddr all"


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


_Parsed = tuple[bytes, tuple[NodeRecord, ...], tuple[str, ...]]


class ParsedAnswers:
    """What recent answers parsed into: a digest of a ``show node list`` text → the digest of
    the ``show node macaddr all`` text that came with it, the nodes and the warnings.

    A steady chassis sends the same two texts on every poll, and parsing them again was a
    fifth of a steady poll's CPU (``python -m bench --profile-agent``). Values are frozen, so
    a poll that hits shares them with the last one (and the agent's node memory holds the same
    objects: a hit costs no memory of its own, and what did not change is the same object).
    Bounded: the least recently used is dropped beyond ``size`` (two per chassis of a large
    fleet). Thread-safe.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._held: OrderedDict[bytes, _Parsed] = OrderedDict()

    def get(self, key: bytes) -> _Parsed | None:
        with self._lock:
            found = self._held.get(key)
            if found is not None:
                self._held.move_to_end(key)
            return found

    def put(self, key: bytes, value: _Parsed) -> None:
        with self._lock:
            self._held[key] = value
            self._held.move_to_end(key)
            while len(self._held) > self._size:
                self._held.popitem(last=False)


#: The answers of every chassis this process polls (a memo of pure parsing, like a cache of a
#: function: it never changes what a poll returns).
ANSWERS = ParsedAnswers()


class MoonshotDriver(Driver):
    """HPE Moonshot 1500 chassis through its chassis manager's SSH CLI."""

    name: ClassVar[str] = "moonshot"
    features: ClassVar[frozenset[Feature]] = frozenset(
        {Feature.INVENTORY, Feature.POWER_STATE, Feature.POWER_SET, Feature.PXE_ONCE}
    )
    power_actions: ClassVar[frozenset[PowerAction]] = frozenset(POWER_COMMANDS)

    def __init__(self, target: ChassisTarget) -> None:
        super().__init__(target)
        self._session = SshSession(target)

    def open(self) -> None:
        with self.located():
            self._session.connect()

    def close(self) -> None:
        self._session.close()

    def _read(self, command: str) -> str:
        return parse.clean_output(self._session.run(command), command)

    def inventory(self) -> Inventory:
        with self.located():
            listing = self._read("show node list")
            listing_digest = _digest(listing)
            known = ANSWERS.get(listing_digest)
            # Parsed now only when new: the same text parsed before, so it parses again.
            rows = parse.parse_node_list(listing) if known is None else None
            macs_text = self._read(MACADDR_ALL)
            macs_digest = _digest(macs_text)
            if known is not None and known[0] == macs_digest:
                nodes, warnings = known[1], list(known[2])
            else:
                if rows is None:
                    rows = parse.parse_node_list(listing)
                nodes, warnings, asked = self._nodes(rows, macs_text)
                if not asked:  # the answer depends on these two texts alone
                    ANSWERS.put(listing_digest, (macs_digest, nodes, tuple(warnings)))
        if self.target.insecure_skip_verify:
            warnings.append(INSECURE_WARNING)
        return Inventory(
            chassis=self.target.name,
            driver=self.name,
            nodes=nodes,
            taken_at=datetime.now(UTC),
            warnings=tuple(warnings),
        )

    def _nodes(
        self, rows: list[parse.NodeListRow], macs_text: str
    ) -> tuple[tuple[NodeRecord, ...], list[str], bool]:
        """The nodes of a listing with their MACs, the warnings, and whether nodes had to be
        asked one by one."""
        macs, warnings, asked = self._macs([row.node_id for row in rows], macs_text)
        nodes = tuple(
            NodeRecord(
                # Interned: every chassis has the same few hundred ids (c1n1 … c45n8).
                id=sys.intern(str(row.node_id)),
                macs=macs.get(row.node_id, ()),
                power=row.power,
                health=row.health,
                cartridge=row.node_id.cartridge,
                node=row.node_id.node,
                asset_tag=row.asset_tag,
                # No row in any MAC answer is not "no MACs": the node keeps its last known ones.
                macs_known=row.node_id in macs,
                details=Details.DEFERRED,
            )
            for row in rows
        )
        unknown = [str(row.node_id) for row in rows if row.node_id not in macs]
        if unknown:
            warnings.append(
                f"no MAC answer lists {len(unknown)} node(s), kept with their last known MACs: "
                + _some(unknown)
            )
        return nodes, warnings, asked

    def _macs(
        self, node_ids: list[NodeId], text: str
    ) -> tuple[dict[NodeId, tuple[MacAddress, ...]], list[str], bool]:
        """MACs by node from ``show node macaddr all`` (``text``), then one query per node it
        left out; and whether any was asked.

        A table cut short at a line boundary parses as a complete one; a node the listing
        reports and ``all`` does not is asked again in this session (``show node macaddr cXnY``)
        rather than believed to have no MACs. Some firmware refuses ``all`` (its output is
        UNKNOWN, moonshot-cli.md §4.2): then every node is asked.
        """
        command = MACADDR_ALL
        listed = set(node_ids)
        warnings: list[str] = []
        result: dict[NodeId, tuple[MacAddress, ...]] = {}
        if parse.find_table(text) is not None:
            macs = parse.parse_macaddr(text, command=command)
            extra = sorted(str(n) for n in macs if n not in listed)
            if extra:
                warnings.append(f"{command!r} lists nodes missing from the node list: "
                                + _some(extra))  # fmt: skip
            result = {n: m for n, m in macs.items() if n in listed}
            missing = [n for n in node_ids if n not in result]
            if missing:
                warnings.append(
                    f"{command!r} left out {len(missing)} listed node(s); asked node by node"
                )
        else:
            missing = list(node_ids)
            warnings.append(f"{command!r} refused; read MACs node by node")
        # At most one query per node a chassis can hold: a listing of a million nodes must not
        # become a million commands (the poll deadline bounds their time, this their number).
        if len(missing) > MAX_NODES:
            raise DeviceError(
                f"'show node list' lists {len(missing)} nodes without MACs, more than the "
                f"{MAX_NODES} a Moonshot 1500 holds; not asking each for its MACs"
            )
        for node_id in missing:
            per_node = f"show node macaddr {node_id}"
            answer = parse.parse_macaddr(self._read(per_node), command=per_node)
            if node_id in answer:
                result[node_id] = answer[node_id]
        return result, warnings, bool(missing)

    def describe(self, node_ids: Collection[str]) -> dict[str, NodeDetails]:
        """Product and serial by ``show node info``, which answers per cartridge: one node
        is asked by its id; several by ``all`` (one command), and the cartridges that answer
        leaves out (or all of them, when ``all`` is refused) one node each. A node whose
        cartridge no answer describes is left out."""
        with self.located():
            wanted = [self._node_id(node_id) for node_id in node_ids]
            # A chassis has 45 slots: at most that many queries, whatever the caller asks.
            slots = sorted({node.cartridge for node in wanted if 1 <= node.cartridge <= 45})
            info: dict[int, parse.CartridgeInfo] = {}
            if len(slots) > 1:
                command = "show node info all"
                try:
                    info = parse.parse_node_info(self._read(command), command=command)
                except DeviceError:
                    info = {}  # refused: asked cartridge by cartridge below
            for slot in slots:
                if slot in info:
                    continue
                one = next(node for node in wanted if node.cartridge == slot)
                command = f"show node info {one}"
                answer = parse.parse_node_info(self._read(command), command=command)
                if slot in answer:
                    info[slot] = answer[slot]
        return {
            str(node): NodeDetails(info[node.cartridge].product, info[node.cartridge].serial)
            for node in wanted
            if node.cartridge in info
        }

    def power_state(self, node_id: str) -> PowerState:
        with self.located():
            node = self._node_id(node_id)
            command = f"show node power {node}"
            states = parse.parse_power(self._read(command), command=command)
            if node not in states:
                raise DeviceError(f"{command!r} did not report {node}")
            return states[node]

    def set_power(self, node_id: str, action: PowerAction) -> None:
        if action not in POWER_COMMANDS:
            self._unsupported(Feature.POWER_SET)
        with self.located():
            command = POWER_COMMANDS[action].format(node=self._node_id(node_id))
            parse.check_set_reply(self._read_changing(command), command=command)

    def pxe_once(self, node_id: str) -> None:
        with self.located():
            command = f"set node bootonce pxe {self._node_id(node_id)}"
            parse.check_set_reply(
                self._read_changing(command), command=command, expect="bootonce: PXE"
            )

    def _node_id(self, text: str) -> NodeId:
        try:
            return NodeId.parse(text)
        except ValueError as exc:
            raise DeviceError(f"{text!r} is not a Moonshot node id (c<cartridge>n<node>)") from exc

    def _read_changing(self, command: str) -> str:
        return parse.clean_output(self._session.run(command, changes_state=True), command)


def _some(ids: list[str], shown: int = 10) -> str:
    """Up to ``shown`` ids for a message, and how many more there are."""
    more = len(ids) - shown
    return ", ".join(ids[:shown]) + (f" and {more} more" if more > 0 else "")
