"""Client helpers and specs for the Moonshot simulator tests (imported by the test modules).

The clients here are independent SSH implementations (paramiko here, OpenSSH's ``ssh`` in
test_sim_openssh.py): the simulator is asyncssh, so agreeing with them is real evidence.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, SimNode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "moonshot"
"""The capture fixtures, vendored from shared/fixtures/moonshot (moonshot-cli.md cites them)."""

TIMEOUT = 5.0
"""Seconds any single client operation may take before the test fails."""

PASSWORD = "password"


@dataclass(frozen=True)
class ClientKey:
    """An OpenSSH-generated ed25519 client key pair on disk."""

    private_path: Path
    public_line: str

    def paramiko_key(self) -> paramiko.PKey:
        return paramiko.Ed25519Key.from_private_key_file(str(self.private_path))


def make_client_key(directory: Path) -> ClientKey:
    """A client key made by ``ssh-keygen``, as an operator would."""
    path = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sim-test", "-f", str(path)],
        check=True,
        timeout=TIMEOUT,
    )
    return ClientKey(path, path.with_suffix(".pub").read_text().strip())


def wedos_spec() -> ChassisSpec:
    """The chassis of the 2021 S9 capture: 18 single-node Intel carts, c11n1 and c45n1 off."""
    slots = [*range(1, 13), 29, 31, 35, 37, 41, 43, 45]
    return ChassisSpec(
        name="moonshot1",
        cartridges={
            slot: Cartridge(
                (
                    SimNode(
                        macs=(f"94:57:a5:d3:{slot:02x}:f2", f"94:57:a5:d3:{slot:02x}:f3"),
                        power_on=slot not in (11, 45),
                    ),
                )
            )
            for slot in slots
        },
    )


def small_spec() -> ChassisSpec:
    """Three slots: a 1-node cart (c1n1), a 4-node cart (c3n1-4), a 2-NIC cart (c5n1, off)."""
    return ChassisSpec(
        name="small",
        cartridges={
            1: Cartridge((SimNode(macs=("a0:1d:48:b5:04:34", "a0:1d:48:b5:04:35")),)),
            3: Cartridge(
                tuple(
                    SimNode(macs=(f"02:00:00:00:03:{n * 4:02x}", f"02:00:00:00:03:{n * 4 + 1:02x}"))
                    for n in range(4)
                ),
                product_name="ProLiant m350 Server Cartridge",
            ),
            5: Cartridge(
                (SimNode(macs=("02:00:00:00:05:00", "02:00:00:00:05:01"), power_on=False),)
            ),
        },
    )


def paramiko_client(
    handle: SimHandle,
    *,
    username: str = "admin",
    password: str | None = PASSWORD,
    pkey: paramiko.PKey | None = None,
    **connect_options: object,
) -> paramiko.SSHClient:
    """A paramiko client that trusts only the simulator's known_hosts line."""
    client = paramiko.SSHClient()
    entry = paramiko.hostkeys.HostKeyEntry.from_line(handle.known_hosts_line)
    assert entry is not None
    for hostname in entry.hostnames:
        client.get_host_keys().add(hostname, entry.key.get_name(), entry.key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            handle.host,
            handle.port,
            username=username,
            password=password if pkey is None else None,
            pkey=pkey,
            look_for_keys=False,
            allow_agent=False,
            timeout=TIMEOUT,
            banner_timeout=TIMEOUT,
            auth_timeout=TIMEOUT,
            **connect_options,  # type: ignore[arg-type]
        )
    except BaseException:
        client.close()
        raise
    return client


@dataclass(frozen=True)
class ExecResult:
    output: bytes
    exit_status: int
    """-1 when the channel closed without an exit status."""


def run_exec(client: paramiko.SSHClient, command: str, timeout: float = TIMEOUT) -> ExecResult:
    """One exec request on an open connection; read to EOF, return output and exit status."""
    transport = client.get_transport()
    assert transport is not None
    channel = transport.open_session(timeout=timeout)
    try:
        channel.settimeout(timeout)
        channel.exec_command(command)
        chunks = []
        while chunk := channel.recv(65536):
            chunks.append(chunk)
        assert channel.status_event.wait(timeout), "no exit status and no channel close"
        return ExecResult(b"".join(chunks), channel.exit_status)
    finally:
        channel.close()


def exec_once(handle: SimHandle, command: str, timeout: float = TIMEOUT) -> ExecResult:
    """Connect with the password, run one command, disconnect (what MAAS does per command)."""
    client = paramiko_client(handle)
    try:
        return run_exec(client, command, timeout)
    finally:
        client.close()


class Shell:
    """An interactive paramiko shell (with a pty, like ``invoke_shell``) on a simulator."""

    def __init__(self, client: paramiko.SSHClient, timeout: float = TIMEOUT) -> None:
        self.channel = client.invoke_shell(width=120, height=40)
        self.channel.settimeout(timeout)
        self.received = b""

    def read_until(self, marker: bytes, timeout: float = TIMEOUT) -> bytes:
        """Read until ``marker`` appears after what was already consumed; return that text."""
        deadline = time.monotonic() + timeout
        while marker not in self.received:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{marker!r} not seen; got {self.received!r}")
            self.channel.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.channel.recv(65536)
            except TimeoutError as exc:
                raise TimeoutError(f"{marker!r} not seen; got {self.received!r}") from exc
            if not chunk:
                raise EOFError(f"channel closed before {marker!r}; got {self.received!r}")
            self.received += chunk
        head, _, rest = self.received.partition(marker)
        self.received = rest
        return head + marker

    def send(self, text: str) -> None:
        self.channel.sendall(text.encode())

    def read_to_eof(self, timeout: float = TIMEOUT) -> bytes:
        """Everything not yet consumed, up to the server closing the channel."""
        self.channel.settimeout(timeout)
        chunks = [self.received]
        while chunk := self.channel.recv(65536):
            chunks.append(chunk)
        self.received = b""
        return b"".join(chunks)
