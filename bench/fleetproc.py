"""The simulated fleet in its own process, driven over a pipe.

Owns one child process serving every chassis from one event loop (``MoonshotFleet``), and the
small request protocol the runner uses: counters of every chassis, inserting and removing a
cartridge, switching a node's power out of band, resetting counters. The fleet has a process of
its own so that its CPU is not the agent's or the runner's (and can be reported apart), and so
that the runner's threads never hold up the simulator's event loop.

Must not: change what a simulated chassis does (everything per chassis is ``chassisd.sim``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from chassisd.sim.moonshot.fleet import MoonshotFleet
from chassisd.sim.moonshot.model import Cartridge, CommandKind, NodeId, SimNode, Timing
from chassisd.sim.moonshot.state import Stats

_READY_TIMEOUT = 300.0  # seconds: 1,000 chassis build and listen in a few seconds
_STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class FleetSpec:
    """What to simulate (picklable: it crosses into the child process)."""

    chassis: int
    slots: int
    fill: float
    multi_node: float
    seed: int
    latency_node_list: float
    latency_macaddr_all: float
    latency_macaddr_node: float
    power_delay: float
    force_off_delay: float = 0.0


@dataclass(frozen=True)
class ChassisInfo:
    """One chassis as built: name, SSH port, nodes (id → MACs) and empty slots."""

    name: str
    port: int
    nodes: tuple[tuple[str, tuple[str, ...]], ...]
    empty_slots: tuple[int, ...]


@dataclass(frozen=True)
class FleetInfo:
    """The running fleet."""

    host: str
    known_hosts: str  # one line per chassis, one shared host key
    chassis: tuple[ChassisInfo, ...]

    @property
    def node_count(self) -> int:
        return sum(len(c.nodes) for c in self.chassis)

    @property
    def mac_count(self) -> int:
        return sum(len(macs) for c in self.chassis for _, macs in c.nodes)


@dataclass(frozen=True)
class Counters:
    """One chassis's counters (since start or the last reset)."""

    logins: int
    failed_logins: int
    commands: int
    node_list: int
    macaddr_all: int
    macaddr_node: int
    active: int  # connections open right now
    pxe_boots: int  # power-ons that consumed a pending ``set node bootonce pxe``
    by_kind: dict[str, int]  # commands per ``CommandKind`` value (kinds never sent are absent)


class FleetProcess:
    """The child process and the client side of its pipe (thread-safe)."""

    def __init__(self, spec: FleetSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, spec), name="bench-fleet", daemon=True
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        self._info: FleetInfo | None = None

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def wait_ready(self) -> FleetInfo:
        """Block until every chassis listens; return what was built."""
        if self._info is None:
            if not self._conn.poll(_READY_TIMEOUT):
                raise RuntimeError("the simulated fleet did not start in time")
            self._info = self._reply(self._conn.recv())
        return self._info

    def _call(self, *request: Any) -> Any:
        with self._lock:
            self._conn.send(request)
            return self._reply(self._conn.recv())

    @staticmethod
    def _reply(message: tuple[str, Any]) -> Any:
        status, value = message
        if status != "ok":
            raise RuntimeError(f"simulated fleet: {value}")
        return value

    def counters(self) -> list[Counters]:
        """Every chassis's counters, in fleet order."""
        return [Counters(*row) for row in self._call("counters")]

    def reset_counters(self) -> None:
        self._call("reset")

    def insert_cartridge(self, index: int, slot: int, macs: tuple[str, ...]) -> None:
        """A one-node cartridge with ``macs`` appears in ``slot`` of chassis ``index``."""
        self._call("insert", index, slot, macs)

    def remove_cartridge(self, index: int, slot: int) -> None:
        self._call("remove", index, slot)

    def set_power(self, index: int, node: str, on: bool) -> None:
        """Switch a node on or off at once, out of band."""
        self._call("set_power", index, node, on)

    def is_powered_on(self, index: int, node: str) -> bool:
        return bool(self._call("is_on", index, node))

    def stop(self) -> None:
        """Stop the fleet and reap the process (idempotent)."""
        if self._process.is_alive():
            with contextlib.suppress(EOFError, OSError, RuntimeError):
                self._call("stop")  # the child may already be gone
            self._process.join(_STOP_TIMEOUT)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._conn.close()
        self._process.close()


def _serve(conn: Connection, spec: FleetSpec) -> None:
    """Child process: build and run the fleet, answer requests until ``stop``."""
    latency = {
        CommandKind.NODE_LIST: spec.latency_node_list,
        CommandKind.NODE_MACADDR_ALL: spec.latency_macaddr_all,
        CommandKind.NODE_MACADDR: spec.latency_macaddr_node,
    }
    fleet = MoonshotFleet.generate(
        spec.chassis,
        seed=spec.seed,
        slots=spec.slots,
        fill=spec.fill,
        nics=2,
        multi_node=spec.multi_node,
        timing=Timing(
            latency=latency, power_delay=spec.power_delay, force_off_delay=spec.force_off_delay
        ),
    )
    with fleet.running() as handles:
        chassis = []
        for handle in handles:
            built = handle.spec
            chassis.append(
                ChassisInfo(
                    name=handle.name,
                    port=handle.port,
                    nodes=tuple((str(node_id), node.macs) for node_id, node in built.nodes()),
                    empty_slots=tuple(
                        s for s in range(1, spec.slots + 1) if s not in built.cartridges
                    ),
                )
            )
        conn.send(("ok", FleetInfo("127.0.0.1", handles.known_hosts_text(), tuple(chassis))))
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return  # the runner went away
            op, args = request[0], request[1:]
            try:
                if op == "stop":
                    conn.send(("ok", None))
                    return
                if op == "counters":
                    value: Any = [_counters(h.stats) for h in handles]
                elif op == "reset":
                    for handle in handles:
                        handle.reset_stats()
                    value = None
                elif op == "insert":
                    index, slot, macs = args
                    handles[index].insert_cartridge(slot, Cartridge((SimNode(macs=macs),)))
                    value = None
                elif op == "remove":
                    handles[args[0]].remove_cartridge(args[1])
                    value = None
                elif op == "set_power":
                    handles[args[0]].set_node_power(NodeId.parse(args[1]), args[2])
                    value = None
                elif op == "is_on":
                    value = handles[args[0]].is_powered_on(args[1])
                else:
                    raise ValueError(f"unknown request {op!r}")
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the runner
                conn.send(("error", f"{exc!r}\n{traceback.format_exc()}"))
                continue
            conn.send(("ok", value))


def _counters(stats: Stats) -> tuple[int | dict[str, int], ...]:
    return (
        stats.logins,
        stats.failed_logins,
        stats.commands,
        stats.count(CommandKind.NODE_LIST),
        stats.count(CommandKind.NODE_MACADDR_ALL),
        stats.count(CommandKind.NODE_MACADDR),
        stats.active_connections,
        stats.pxe_boots,
        {kind.value: n for kind, n in stats.commands_by_kind.items() if n},
    )
