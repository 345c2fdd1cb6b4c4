"""OpenSSH's own ``ssh`` client against the simulator: exec, interactive shell, host key, legacy.

Always runs: the OpenSSH client is installed wherever the tests run (``make deps-debian``).
Every call uses ``-F /dev/null`` and no agent, so the invoking user's SSH setup cannot leak in,
and public-key auth with a key made by ``ssh-keygen``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncssh
import pytest

from chassisd.sim.moonshot import SimHandle, known_hosts_line
from tests.sim.moonshot_sim_helpers import ClientKey, exec_once

SSH = "/usr/bin/ssh"

LEGACY_DH_WARNING = pytest.mark.filterwarnings(
    # The legacy-only simulator deliberately computes sha1 finite-field DH (old firmware, cli
    # §3.1) through `cryptography`, which deprecates it.
    "ignore:Diffie-Hellman over finite fields:cryptography.utils.CryptographyDeprecationWarning"
)


def ssh(
    handle: SimHandle,
    key: ClientKey,
    known_hosts: Path,
    *args: str,
    options: Sequence[str] = (),
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run OpenSSH's client with strict host-key checking against ``known_hosts`` only."""
    env = {name: value for name, value in os.environ.items() if name != "SSH_AUTH_SOCK"}
    command = [
        SSH,
        "-F",
        "/dev/null",
        "-p",
        str(handle.port),
        "-i",
        str(key.private_path),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        *options,
        f"admin@{handle.host}",
        *args,
    ]
    return subprocess.run(
        command, input=stdin, capture_output=True, timeout=20, env=env, check=False
    )


@pytest.fixture
def known_hosts(tmp_path: Path) -> Callable[[SimHandle], Path]:
    """Write a simulator's known_hosts line to a file, as the demo does."""

    def write(handle: SimHandle) -> Path:
        path = tmp_path / f"known_hosts-{handle.port}"
        path.write_text(handle.known_hosts_line + "\n")
        return path

    return write


def test_openssh_exec_show_node_list(
    sim: SimHandle, client_key: ClientKey, known_hosts: Callable[[SimHandle], Path]
) -> None:
    """`ssh host 'show node list'` returns the same bytes paramiko gets, exit status 0."""
    result = ssh(sim, client_key, known_hosts(sim), "show node list")
    assert result.returncode == 0, result.stderr
    assert result.stdout == exec_once(sim, "show node list").output
    assert result.stdout.startswith(b"show node list\r\r\nSlot ID    Proc Manufacturer")
    assert sim.stats.logins == 2


def test_openssh_interactive_shell(
    sim: SimHandle, client_key: ClientKey, known_hosts: Callable[[SimHandle], Path]
) -> None:
    """`ssh -tt` with typed-ahead `show node list` and `exit` sees banner, echo, table, prompt."""
    result = ssh(sim, client_key, known_hosts(sim), "-tt", stdin=b"show node list\rexit\r")
    assert result.returncode == 0, result.stderr
    table = exec_once(sim, "show node list").output.removeprefix(b"show node list\r\r\n")
    assert result.stdout == (
        b"Type 'HELP HELP' to display more detailed information about the help system.\r\n"
        b"\r\n"
        b"Visit http://www.hpe.com/info/moonshot/docs for current product documentation.\r\n"
        b"\r\n"
        b"hpiLO-> show node list\r\n"
        b"\r\n" + table + b"\r\n"
        b"hpiLO-> exit\r\n"
    )


def test_openssh_rejects_a_different_host_key(
    sim: SimHandle, client_key: ClientKey, tmp_path: Path
) -> None:
    """With another key in known_hosts, strict checking refuses: the line really pins the key."""
    other = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "known_hosts-wrong"
    path.write_text(known_hosts_line(sim.host, sim.port, other) + "\n")
    result = ssh(sim, client_key, path, "show node list")
    assert result.returncode == 255
    assert b"Host key verification failed" in result.stderr
    assert sim.stats.logins == 0


def test_openssh_with_rsa_host_key(
    running: Callable[..., SimHandle],
    client_key: ClientKey,
    known_hosts: Callable[[SimHandle], Path],
) -> None:
    """An RSA host key's known_hosts line satisfies OpenSSH's strict checking too."""
    handle = running(host_key_type="ssh-rsa")
    result = ssh(handle, client_key, known_hosts(handle), "show node power c1n1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(b"Power State: On\r\n")


@LEGACY_DH_WARNING
@pytest.mark.parametrize(
    "kex",
    [
        "diffie-hellman-group14-sha1",  # relops_infra_as_code minotaur (S12)
        "diffie-hellman-group1-sha1",  # relops-infra reimage*.exp (S11)
    ],
)
def test_openssh_legacy_options_reach_a_legacy_only_chassis(
    running: Callable[..., SimHandle],
    client_key: ClientKey,
    known_hosts: Callable[[SimHandle], Path],
    kex: str,
) -> None:
    """The production `-oKexAlgorithms=+... -oCiphers=+aes128-cbc` options negotiate them."""
    handle = running(legacy_algorithms_only=True)
    options = ["-v", "-o", f"KexAlgorithms=+{kex}", "-o", "Ciphers=+aes128-cbc"]
    result = ssh(handle, client_key, known_hosts(handle), "show node power c1n1", options=options)
    assert result.returncode == 0, result.stderr
    assert f"kex: algorithm: {kex}".encode() in result.stderr
    assert b"cipher: aes128-cbc MAC: hmac-sha1" in result.stderr
    assert result.stdout.endswith(b"Power State: On\r\n")


def test_openssh_defaults_cannot_reach_a_legacy_only_chassis(
    running: Callable[..., SimHandle],
    client_key: ClientKey,
    known_hosts: Callable[[SimHandle], Path],
) -> None:
    """Without the legacy options OpenSSH finds no common kex, as with old firmware."""
    handle = running(legacy_algorithms_only=True)
    result = ssh(handle, client_key, known_hosts(handle), "show node list")
    assert result.returncode == 255
    assert b"no matching key exchange method found" in result.stderr
