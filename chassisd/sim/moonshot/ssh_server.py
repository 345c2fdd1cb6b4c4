"""The SSH server of the simulated HPE Moonshot iLO Chassis Manager.

Owns: the asyncssh server (password and public-key login, host key, optional legacy-only
algorithms, session limit), tracking its connections and session tasks, and closing them all.

Must not: run commands or print CLI text (``ssh_session`` does), or listen anywhere but the
address it is given.

Transport decisions on UNKNOWNs [cli §3.1, §3.4]:

* ``max_sessions`` counts connections that reached authentication; the one over the limit is
  disconnected (SSH reason "too many connections") before it can log in.
* The SSH version string is asyncssh's own; the chassis's is UNKNOWN.
* Legacy-only mode offers exactly what old-firmware clients had to re-enable (kex
  ``diffie-hellman-group14-sha1``/``group1-sha1``, ``aes128-cbc``) plus ``hmac-sha1``; the
  host-key algorithm stays asyncssh's default for the key type (UNKNOWN on real hardware).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import asyncssh

from chassisd.sim.moonshot.handle import SimHandle
from chassisd.sim.moonshot.ssh_session import Shell, run_exec

if TYPE_CHECKING:
    from chassisd.sim.moonshot.simulator import MoonshotSimulator

# What production clients had to re-enable to reach old chassis firmware [cli §3.1]. asyncssh
# implements all three but leaves them out of its defaults, so they are listed explicitly.
LEGACY_KEX_ALGS: Final = ("diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1")
LEGACY_ENCRYPTION_ALGS: Final = ("aes128-cbc",)
LEGACY_MAC_ALGS: Final = ("hmac-sha1",)


class ChassisServer:
    """One listening SSH server for a ``MoonshotSimulator``; tracks its connections and tasks."""

    def __init__(self, sim: MoonshotSimulator) -> None:
        self.sim = sim
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._login_of: dict[object, int] = {}  # login number, per connection
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
            # Our own line discipline (ssh_session.Shell) gives byte-exact control of echo and
            # CRLF; asyncssh's line editor would rewrite output line endings on a pty.
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
            login = self._login_of.get(process.channel.get_connection(), 0)
            if process.command is None:
                await Shell(self.sim, process, login).run()
            else:
                await run_exec(self.sim, process, process.command, login)
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
            self._server._login_of.pop(self._conn, None)
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
        login = self._server.sim.state.record_login(ok=True)
        if self._conn is not None:
            self._server._login_of[self._conn] = login

    def password_auth_supported(self) -> bool:
        return any(password is not None for password in self._server.sim.users.values())

    def validate_password(self, username: str, password: str) -> bool:
        return self._server.password_ok(username, password)

    def public_key_auth_supported(self) -> bool:
        return bool(self._server.sim.authorized_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._server.public_key_ok(username, key)
