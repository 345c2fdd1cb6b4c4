"""A fleet of simulated Moonshot chassis in one process and one event loop.

Owns: building N chassis (``MoonshotFleet.generate``: deterministic specs, MACs unique across
the fleet, one shared host key to save start-up time), starting them concurrently, each on its
own ephemeral port, and handing back the same ``SimHandle`` per chassis as a single simulator.

Must not: add behaviour of its own to a chassis (everything per chassis is ``MoonshotSimulator``),
or bind anything but the given host (default 127.0.0.1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import asyncssh

from chassisd.sim.moonshot.handle import SimHandle
from chassisd.sim.moonshot.model import ChassisSpec, CliProfile, Faults, Timing
from chassisd.sim.moonshot.simulator import DEFAULT_USERS, MoonshotSimulator
from chassisd.sim.moonshot.ssh_keys import generate_host_key
from chassisd.sim.moonshot.ssh_server import ChassisServer
from chassisd.sim.moonshot.state import Stats
from chassisd.sim.net.loop import LoopThread

_START_TIMEOUT = 60.0
"""Seconds to wait for the whole fleet to listen (200 chassis take well under a second)."""


@dataclass(frozen=True)
class FleetHandle:
    """The running fleet: one ``SimHandle`` per chassis, in fleet order."""

    handles: tuple[SimHandle, ...]

    def __len__(self) -> int:
        return len(self.handles)

    def __iter__(self) -> Iterator[SimHandle]:
        return iter(self.handles)

    def __getitem__(self, index: int) -> SimHandle:
        return self.handles[index]

    def by_name(self, name: str) -> SimHandle:
        for handle in self.handles:
            if handle.name == name:
                return handle
        raise KeyError(name)

    def known_hosts_text(self) -> str:
        """Every chassis's known_hosts line, newline terminated (one file for the whole fleet)."""
        return "".join(handle.known_hosts_line + "\n" for handle in self.handles)

    def set_faults(self, faults: Faults) -> None:
        """Set the same faults on every chassis."""
        for handle in self.handles:
            handle.set_faults(faults)

    def stats(self) -> list[Stats]:
        return [handle.stats for handle in self.handles]


class MoonshotFleet:
    """Many ``MoonshotSimulator`` instances served from one background event loop."""

    def __init__(self, simulators: Sequence[MoonshotSimulator]) -> None:
        names = [sim.name for sim in simulators]
        if len(set(names)) != len(names):
            raise ValueError("chassis names in a fleet must be unique")
        self.simulators = tuple(simulators)

    @classmethod
    def generate(
        cls,
        count: int,
        *,
        seed: int = 0,
        name_prefix: str = "moonshot",
        slots: int = 45,
        fill: float = 0.8,
        nics: int = 2,
        multi_node: float = 0.1,
        users: Mapping[str, str | None] = DEFAULT_USERS,
        authorized_keys: Sequence[str | asyncssh.SSHKey] = (),
        host_key: asyncssh.SSHKey | None = None,
        legacy_algorithms_only: bool = False,
        max_sessions: int | None = None,
        profile: CliProfile | None = None,
        timing: Timing | None = None,
    ) -> MoonshotFleet:
        """``count`` chassis named ``<prefix>1..N``; chassis i uses ``chassis_index=i`` so MACs
        are unique across the fleet (see ``ChassisSpec.generate``). One host key is shared."""
        if not 1 <= count <= 0x10000:
            raise ValueError(f"count must be 1-65536, got {count}")
        shared_key = host_key if host_key is not None else generate_host_key()
        simulators = [
            MoonshotSimulator(
                ChassisSpec.generate(
                    f"{name_prefix}{index + 1}",
                    seed,
                    chassis_index=index,
                    slots=slots,
                    fill=fill,
                    nics=nics,
                    multi_node=multi_node,
                ),
                users=users,
                authorized_keys=authorized_keys,
                host_key=shared_key,
                legacy_algorithms_only=legacy_algorithms_only,
                max_sessions=max_sessions,
                profile=profile,
                timing=timing,
            )
            for index in range(count)
        ]
        return cls(simulators)

    async def start(self, host: str = "127.0.0.1") -> list[ChassisServer]:
        """Start every chassis concurrently on the running loop (ephemeral ports)."""
        results = await asyncio.gather(
            *(sim.start(host, 0) for sim in self.simulators), return_exceptions=True
        )
        servers = [result for result in results if isinstance(result, ChassisServer)]
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            await asyncio.gather(*(server.close() for server in servers))
            raise failures[0]
        return servers

    @contextmanager
    def running(self, host: str = "127.0.0.1") -> Iterator[FleetHandle]:
        """Serve the whole fleet from one background thread for the ``with`` block."""
        loop = LoopThread("moonshot-sim-fleet")
        loop.start()
        try:
            servers = loop.run(self.start(host), timeout=_START_TIMEOUT)
            try:
                yield FleetHandle(tuple(server.handle for server in servers))
            finally:
                loop.run(_close_all(servers), timeout=_START_TIMEOUT)
        finally:
            loop.stop()


async def _close_all(servers: Sequence[ChassisServer]) -> None:
    await asyncio.gather(*(server.close() for server in servers))
