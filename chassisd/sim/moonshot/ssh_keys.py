"""SSH host keys of the simulated chassis and the OpenSSH text forms clients need.

Owns: generating a host key of a supported type, and a key's ``<algorithm> <base64>`` and
``known_hosts`` lines (what tests and the demo hand to an SSH client).

Must not: know anything about the chassis, the CLI or a running server.
"""

from __future__ import annotations

import base64
from typing import Final

import asyncssh

HOST_KEY_TYPES: Final = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256")


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


def parse_public_key(key: str | asyncssh.SSHKey) -> asyncssh.SSHKey:
    """An OpenSSH public-key line as a key object (key objects pass through)."""
    return asyncssh.import_public_key(key) if isinstance(key, str) else key
