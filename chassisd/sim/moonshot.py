"""SSH server of the simulated HPE Moonshot iLO Chassis Manager, and the handle tests use.

Owns: the asyncssh server (password and public-key login, host key, optional legacy-only
algorithms, session limit), the exec and interactive-shell sessions (echo, line discipline,
prompt), the transport-level faults (hang, disconnect mid-output) and latency, and the two ways
to run a chassis: ``await MoonshotSimulator.start()`` on your own loop, or ``with
MoonshotSimulator.running() as handle`` on a background thread.

Must not: parse or render CLI text itself (``cli_commands`` / ``render`` do), import anything
from chassisd outside ``chassisd.sim``, or listen anywhere but the address it is given
(default 127.0.0.1, ephemeral port).

Quick start::

    spec = ChassisSpec.generate("moonshot1", seed=1)
    sim = MoonshotSimulator(spec, users={"admin": "password"}, authorized_keys=[pubkey_line])
    with sim.running() as handle:
        handle.port, handle.known_hosts_line            # connect with any SSH client
        handle.set_faults(Faults(hang=True))             # flip faults between calls
        handle.stats.count(CommandKind.NODE_LIST)        # read counters

Transport decisions on UNKNOWNs [cli §3.1, §3.4]:

* Exit status is 0 for every command, errors included: nothing shows what the CM returns, so a
  client must read the text, not the status.
* ``max_sessions`` counts connections that reached authentication; the one over the limit is
  disconnected (SSH reason "too many connections") before it can log in.
* The SSH version string is asyncssh's own; the chassis's is UNKNOWN.
* Legacy-only mode offers exactly what old-firmware clients had to re-enable (kex
  ``diffie-hellman-group14-sha1``/``group1-sha1``, ``aes128-cbc``) plus ``hmac-sha1``; the
  host-key algorithm stays asyncssh's default for the key type (UNKNOWN on real hardware).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Final

import asyncssh

from chassisd.sim import cli_commands, render
from chassisd.sim.loopthread import LoopThread
from chassisd.sim.model import (
    Cartridge,
    ChassisSpec,
    CliProfile,
    CommandKind,
    Faults,
    Firmware,
    Layout,
    NodeId,
    SimNode,
    Timing,
)
from chassisd.sim.render import Reply
from chassisd.sim.state import ChassisState, PowerReport, Stats

# The server and handle, plus the model names re-exported so one import line is enough.
__all__ = [
    "DEFAULT_USERS",
    "Cartridge",
    "ChassisServer",
    "ChassisSpec",
    "CliProfile",
    "CommandKind",
    "Faults",
    "Firmware",
    "Layout",
    "MoonshotSimulator",
    "NodeId",
    "PowerReport",
    "SimHandle",
    "SimNode",
    "Stats",
    "Timing",
    "generate_host_key",
    "known_hosts_line",
    "public_key_line",
]

DEFAULT_USERS: Final[Mapping[str, str | None]] = {"admin": "password"}
HOST_KEY_TYPES: Final = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256")

# What production clients had to re-enable to reach old chassis firmware [cli §3.1]. asyncssh
# implements all three but leaves them out of its defaults, so they are listed explicitly.
LEGACY_KEX_ALGS: Final = ("diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1")
LEGACY_ENCRYPTION_ALGS: Final = ("aes128-cbc",)
LEGACY_MAC_ALGS: Final = ("hmac-sha1",)

_CLOSE_TIMEOUT = 10.0
"""Seconds the thread wrapper waits for start-up and shutdown before giving up."""


def generate_host_key(key_type: str = "ssh-ed25519") -> asyncssh.SSHKey:
    """A fresh host key (``ssh-ed25519`` takes ~1 ms; ``ssh-rsa`` 2048-bit ~50-200 ms)."""
    if key_type not in HOST_KEY_TYPES:
        raise ValueError(f"host key type must be one of {HOST_KEY_TYPES}, got {key_type!r}")
    if key_type == "ssh-rsa":
        return asyncssh.generate_private_key(key_type, key_size=2048)
    return asyncssh.generate_private_key(key_type)


def public_key_line(key: asyncssh.SSHKey) -> str:
    """``<algorithm> <base64>`` of a key's public half (no comment)."""
    return f"{key.get_algorithm()} {base64.b64encode(key.public_data).decode('ascii')}"


def known_hosts_line(host: str, port: int, key: asyncssh.SSHKey) -> str:
    """An OpenSSH known_hosts line; non-22 ports use the ``[host]:port`` form."""
    pattern = host if port == 22 else f"[{host}]:{port}"
    return f"{pattern} {public_key_line(key)}"


def _parse_public_key(key: str | asyncssh.SSHKey) -> asyncssh.SSHKey:
    return asyncssh.import_public_key(key) if isinstance(key, str) else key


class SimHandle:
    """Thread-safe control of one running simulated chassis (same API for single and fleet)."""

    def __init__(
        self, state: ChassisState, *, name: str, host: str, port: int, host_key: asyncssh.SSHKey
    ) -> None:
        self._state = state
        self.name = name
        self.host = host
        self.port = port
        self.host_key: asyncssh.SSHKey = host_key.convert_to_public()
        """The host key's public half, as an asyncssh key object."""

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA...`` (algorithm and base64, no host pattern)."""
        return public_key_line(self.host_key)

    @property
    def known_hosts_line(self) -> str:
        """``[127.0.0.1]:PORT ssh-ed25519 AAAA...`` for a ``UserKnownHostsFile``."""
        return known_hosts_line(self.host, self.port, self.host_key)

    @property
    def host_key_fingerprint(self) -> str:
        """``SHA256:...`` as OpenSSH prints it."""
        return self.host_key.get_fingerprint("sha256")

    # counters
    @property
    def stats(self) -> Stats:
        return self._state.stats()

    def reset_stats(self) -> None:
        self._state.reset_stats()

    # faults and timing, switchable while running
    @property
    def faults(self) -> Faults:
        return self._state.faults

    def set_faults(self, faults: Faults) -> None:
        """Replace all faults at once (``Faults()`` clears them)."""
        self._state.set_faults(faults)

    @property
    def timing(self) -> Timing:
        return self._state.timing

    def set_timing(self, timing: Timing) -> None:
        self._state.set_timing(timing)

    # hardware
    @property
    def spec(self) -> ChassisSpec:
        """Current hardware, with every node's ``power_on`` at its current (settled) state."""
        return self._state.spec

    def replace_spec(self, spec: ChassisSpec) -> None:
        self._state.replace_spec(spec)

    def insert_cartridge(self, slot: int, cartridge: Cartridge) -> None:
        """A new cartridge appears in an empty slot."""
        self._state.insert_cartridge(slot, cartridge)

    def remove_cartridge(self, slot: int) -> Cartridge:
        return self._state.remove_cartridge(slot)

    def is_powered_on(self, node: NodeId | str) -> bool:
        return self._state.is_powered_on(_node_id(node))

    def set_node_power(self, node: NodeId | str, on: bool) -> None:
        """Out-of-band power change, effective at once."""
        self._state.set_node_power(_node_id(node), on)

    def bootonce_pending(self, node: NodeId | str) -> bool:
        return self._state.bootonce_pending(_node_id(node))


def _node_id(node: NodeId | str) -> NodeId:
    return node if isinstance(node, NodeId) else NodeId.parse(node)


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
        self.authorized_keys = tuple(_parse_public_key(key) for key in authorized_keys)
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


class ChassisServer:
    """One listening SSH server for a ``MoonshotSimulator``; tracks its connections and tasks."""

    def __init__(self, sim: MoonshotSimulator) -> None:
        self.sim = sim
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handle: SimHandle | None = None
        self._authorized = {key.public_data for key in sim.authorized_keys}

    @property
    def handle(self) -> SimHandle:
        assert self._handle is not None, "listen() first"
        return self._handle

    async def listen(self, host: str, port: int) -> None:
        sim = self.sim
        algorithms: dict[str, Sequence[str]] = {}
        if sim.legacy_algorithms_only:
            algorithms = {
                "kex_algs": LEGACY_KEX_ALGS,
                "encryption_algs": LEGACY_ENCRYPTION_ALGS,
                "mac_algs": LEGACY_MAC_ALGS,
            }
        self._acceptor = await asyncssh.create_server(
            lambda: _Connection(self),
            host,
            port,
            server_host_keys=[sim.host_key],
            process_factory=self._run_session,
            # Our own line discipline (see _Shell) gives byte-exact control of echo and CRLF;
            # asyncssh's line editor would rewrite output line endings on a pty.
            line_editor=False,
            encoding="utf-8",
            # Never read the ~/.ssh/config of whoever runs the tests.
            config=None,
            **algorithms,
        )
        bound_port = self._acceptor.get_port()
        self._handle = SimHandle(
            sim.state, name=sim.name, host=host, port=bound_port, host_key=sim.host_key
        )

    async def close(self) -> None:
        """Stop listening, drop every client connection, and end session tasks."""
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
        connections = list(self._connections)
        for conn in connections:
            conn.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(
            *(conn.wait_closed() for conn in connections), *tasks, return_exceptions=True
        )

    # -- authentication and session limit (called by _Connection) -------------------------------

    def password_ok(self, username: str, password: str) -> bool:
        expected = self.sim.users.get(username)
        ok = (
            not self.sim.state.faults.reject_all_logins
            and expected is not None
            and hmac.compare_digest(expected.encode(), password.encode())
        )
        if not ok:
            self.sim.state.record_login(ok=False)
        return ok

    def public_key_ok(self, username: str, key: asyncssh.SSHKey) -> bool:
        ok = (
            not self.sim.state.faults.reject_all_logins
            and username in self.sim.users
            and key.public_data in self._authorized
        )
        if not ok:
            self.sim.state.record_login(ok=False)
        return ok

    # -- sessions -------------------------------------------------------------------------------

    async def _run_session(self, process: asyncssh.SSHServerProcess[str]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.sim.state.record_session()
        try:
            if process.command is None:
                await _Shell(self.sim, process).run()
            else:
                await _run_exec(self.sim, process, process.command)
        except (BrokenPipeError, ConnectionError, asyncssh.Error):
            pass  # the client went away mid-command; nothing to answer to
        finally:
            self._tasks.discard(task)


class _Connection(asyncssh.SSHServer):
    """asyncssh callbacks for one client connection."""

    def __init__(self, server: ChassisServer) -> None:
        self._server = server
        self._conn: asyncssh.SSHServerConnection | None = None
        self._holds_slot = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._server._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._server._connections.discard(self._conn)
        if self._holds_slot:
            self._holds_slot = False
            self._server.sim.state.release_connection_slot()

    def begin_auth(self, username: str) -> bool:
        state = self._server.sim.state
        if not self._holds_slot:
            if not state.acquire_connection_slot(self._server.sim.max_sessions):
                assert self._conn is not None
                self._conn.disconnect(
                    asyncssh.DISC_TOO_MANY_CONNECTIONS, "Too many sessions (simulator limit)"
                )
                return True
            self._holds_slot = True
        return True  # authentication is always required

    def auth_completed(self) -> None:
        self._server.sim.state.record_login(ok=True)

    def password_auth_supported(self) -> bool:
        return any(password is not None for password in self._server.sim.users.values())

    def validate_password(self, username: str, password: str) -> bool:
        return self._server.password_ok(username, password)

    def public_key_auth_supported(self) -> bool:
        return bool(self._server.sim.authorized_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._server.public_key_ok(username, key)


# -- command execution shared by exec and shell ----------------------------------------------


async def _stall(
    sim: MoonshotSimulator,
    process: asyncssh.SSHServerProcess[str],
    kind: CommandKind,
    faults: Faults,
) -> bool:
    """Apply the hang fault (returns True once the client gave up) or the command's latency."""
    await process.stdout.drain()
    if faults.hang and faults.applies_to(kind):
        await process.channel.wait_closed()
        return True
    latency = sim.state.timing.latency_for(kind)
    if latency > 0:
        await asyncio.sleep(latency)
    return False


def _reply(sim: MoonshotSimulator, command: cli_commands.Command, faults: Faults) -> Reply:
    reply = cli_commands.execute(command, sim.state, sim.profile, faults)
    if faults.garbage_line is not None and faults.applies_to(command.kind):
        reply = reply.with_line_inserted(faults.garbage_line)
    return reply


async def _send(
    process: asyncssh.SSHServerProcess[str], text: str, kind: CommandKind, faults: Faults
) -> bool:
    """Write ``text``; with the disconnect fault write half and close the channel (-> False)."""
    if faults.disconnect_mid_output and faults.applies_to(kind):
        process.stdout.write(text[: len(text) // 2])
        await process.stdout.drain()
        process.channel.close()  # no exit status, no EOF: as if the CM dropped the session
        return False
    process.stdout.write(text)
    await process.stdout.drain()
    return True


async def _run_exec(
    sim: MoonshotSimulator, process: asyncssh.SSHServerProcess[str], line: str
) -> None:
    """One exec request: echo, (latency), output, exit status 0, channel closes [cli §3.2]."""
    command = cli_commands.parse(line)
    sim.state.record_command(command.kind)
    faults = sim.state.faults
    process.stdout.write(render.exec_echo(line, sim.profile))
    if await _stall(sim, process, command.kind, faults):
        return
    reply = _reply(sim, command, faults)
    if await _send(process, render.exec_rest(reply), command.kind, faults):
        process.exit(0)


class _Shell:
    """Interactive session: banner, prompt, echo of typed characters, one command per line.

    Line discipline: printable characters are echoed; Enter is CR, LF or CRLF (clients use all
    three [cli §3.2]) and echoes CRLF; Backspace/DEL erase (``\\b \\b``); Ctrl-C drops the line;
    Ctrl-D on an empty line or ``exit`` ends the session with status 0; escape sequences (arrow
    keys) are swallowed. None of this beyond echo + CRLF is documented for the real CLI.
    """

    def __init__(self, sim: MoonshotSimulator, process: asyncssh.SSHServerProcess[str]) -> None:
        self._sim = sim
        self._process = process
        self._line: list[str] = []
        self._after_cr = False
        self._in_escape = False

    async def run(self) -> None:
        out = self._process.stdout
        out.write(render.banner(self._sim.profile))
        while True:
            try:
                data = await self._process.stdin.read(4096)
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            if not data:  # client sent EOF
                self._process.exit(0)
                return
            for char in data:
                if not await self._feed(char):
                    return

    async def _feed(self, char: str) -> bool:
        """Handle one typed character; False once the session is over."""
        out = self._process.stdout
        after_cr, self._after_cr = self._after_cr, char == "\r"
        if self._in_escape:
            # ESC [ ... final byte (a letter or ~) ends a CSI sequence; ESC x ends a short one.
            self._in_escape = not (char.isalpha() or char == "~")
            return True
        if char == "\n" and after_cr:
            return True  # the LF of a CRLF
        if char in "\r\n":
            out.write("\r\n")
            text = "".join(self._line)
            self._line.clear()
            if not text.strip():
                out.write(self._sim.profile.prompt)
                return True
            return await self._command(text)
        if char in "\x7f\b":
            if self._line:
                self._line.pop()
                out.write("\b \b")
        elif char == "\x03":
            self._line.clear()
            out.write("^C\r\n" + self._sim.profile.prompt)
        elif char == "\x04" and not self._line:
            self._process.exit(0)
            return False
        elif char == "\x1b":
            self._in_escape = True
        elif char.isprintable():
            self._line.append(char)
            out.write(char)
        return True

    async def _command(self, line: str) -> bool:
        sim = self._sim
        command = cli_commands.parse(line)
        sim.state.record_command(command.kind)
        if command.kind is CommandKind.EXIT:
            self._process.exit(0)
            return False
        faults = sim.state.faults
        if await _stall(sim, self._process, command.kind, faults):
            return False
        reply = _reply(sim, command, faults)
        return await _send(
            self._process, render.shell_rest(reply, sim.profile), command.kind, faults
        )
