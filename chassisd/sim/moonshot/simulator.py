"""One simulated HPE Moonshot iLO Chassis Manager over SSH, and the two ways to run it.

Owns: ``MoonshotSimulator``, the configuration of one chassis (users and keys, host key,
algorithms, session limit, CLI profile, timing, faults) with its runtime state, and running it:
``await MoonshotSimulator.start()`` on your own loop, or ``with MoonshotSimulator.running() as
handle`` on a background thread.

Must not: accept connections or run commands itself (``ssh_server`` and ``ssh_session`` do),
import anything from chassisd outside ``chassisd.sim``, or listen anywhere but the address it is
given (default 127.0.0.1, ephemeral port).

Quick start::

    spec = ChassisSpec.generate("moonshot1", seed=1)
    sim = MoonshotSimulator(spec, users={"admin": "password"}, authorized_keys=[pubkey_line])
    with sim.running() as handle:
        handle.port, handle.known_hosts_line            # connect with any SSH client
        handle.set_faults(Faults(hang=True))             # flip faults between calls
        handle.stats.count(CommandKind.NODE_LIST)        # read counters
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Final

import asyncssh

from chassisd.sim.moonshot.handle import SimHandle
from chassisd.sim.moonshot.model import ChassisSpec, CliProfile, Faults, Timing
from chassisd.sim.moonshot.ssh_keys import generate_host_key, parse_public_key
from chassisd.sim.moonshot.ssh_server import ChassisServer
from chassisd.sim.moonshot.state import ChassisState
from chassisd.sim.net.loop import LoopThread

DEFAULT_USERS: Final[Mapping[str, str | None]] = {"admin": "password"}

_CLOSE_TIMEOUT = 10.0
"""Seconds the thread wrapper waits for start-up and shutdown before giving up."""


class MoonshotSimulator:
    """Configuration plus state of one simulated chassis; start it with ``start``/``running``."""

    def __init__(
        self,
        spec: ChassisSpec,
        *,
        users: Mapping[str, str | None] = DEFAULT_USERS,
        authorized_keys: Sequence[str | asyncssh.SSHKey] = (),
        host_key: asyncssh.SSHKey | None = None,
        host_key_type: str = "ssh-ed25519",
        legacy_algorithms_only: bool = False,
        max_sessions: int | None = None,
        profile: CliProfile | None = None,
        timing: Timing | None = None,
        faults: Faults | None = None,
    ) -> None:
        """
        ``users`` maps user name to password; ``None`` makes an account key-only.
        ``authorized_keys`` (OpenSSH public-key lines or key objects) log in as any user in
        ``users``. ``host_key`` is shared when given (fleets do), else generated as
        ``host_key_type``. ``max_sessions`` limits concurrent logged-in connections (None: no
        limit; the real limit is UNKNOWN [cli §3.4]).
        """
        if max_sessions is not None and max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1 or None, got {max_sessions}")
        self.initial_spec = spec
        """The hardware as built; the live (mutated) hardware is ``handle.spec``."""
        self.users: Mapping[str, str | None] = dict(users)
        self.authorized_keys = tuple(parse_public_key(key) for key in authorized_keys)
        self.host_key = host_key if host_key is not None else generate_host_key(host_key_type)
        self.legacy_algorithms_only = legacy_algorithms_only
        self.max_sessions = max_sessions
        self.profile = profile if profile is not None else CliProfile()
        self.state = ChassisState(
            spec,
            timing=timing if timing is not None else Timing(),
            faults=faults if faults is not None else Faults(),
        )

    @property
    def name(self) -> str:
        return self.initial_spec.name

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> ChassisServer:
        """Listen on ``host:port`` (port 0 = ephemeral) on the running loop."""
        server = ChassisServer(self)
        await server.listen(host, port)
        return server

    @asynccontextmanager
    async def serving(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[SimHandle]:
        """``async with sim.serving() as handle:`` - the async-native form of ``running``."""
        server = await self.start(host, port)
        try:
            yield server.handle
        finally:
            await server.close()

    @contextmanager
    def running(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[SimHandle]:
        """Run the chassis on a background thread's event loop for the ``with`` block."""
        loop = LoopThread(f"moonshot-sim-{self.name}")
        loop.start()
        try:
            server = loop.run(self.start(host, port), timeout=_CLOSE_TIMEOUT)
            try:
                yield server.handle
            finally:
                loop.run(server.close(), timeout=_CLOSE_TIMEOUT)
        finally:
            loop.stop()
