"""One SSH session to a chassis manager, running CLI commands on exec channels (paramiko).

Owns connecting, host-key verification against known-hosts text, algorithm choice,
authentication, timeouts, and mapping every network failure onto the project's error classes.
It knows nothing of Moonshot commands or their output, nor which chassis it talks to in its
errors: the driver's ``located`` block names that.

Error mapping, by how far the request got:

- before a command reached the device (connect, handshake, channel open) → ``TransientError``
- a *reading* command failed after it was sent → ``TransientError`` (nothing changed)
- a *state-changing* command failed after it was sent → ``AmbiguousOutcome`` (never re-sent)
- refused credentials → ``AuthError``; unknown or changed host key → ``HostKeyError``
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import socket
import time
from io import StringIO

import paramiko
from paramiko.hostkeys import HostKeyEntry

from chassisd.alarm import Alarm, cut
from chassisd.driver import ChassisTarget
from chassisd.errors import (
    AmbiguousOutcome,
    AuthError,
    HostKeyError,
    ParseError,
    PermanentError,
    TransientError,
)

DEFAULT_PORT = 22

#: Algorithms old Moonshot firmware needs (moonshot-cli.md §3.1: production OpenSSH clients had
#: to add ``diffie-hellman-group14-sha1``/``group1-sha1`` and ``aes128-cbc``). They are appended
#: *after* the modern ones, so they are negotiated only when the chassis offers nothing better.
LEGACY_KEX = ("diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1")
LEGACY_CIPHERS = ("aes128-cbc", "aes256-cbc", "3des-cbc")
LEGACY_MACS = ("hmac-sha1", "hmac-md5", "hmac-sha1-96", "hmac-md5-96")
_LEGACY = {"kex": LEGACY_KEX, "ciphers": LEGACY_CIPHERS, "macs": LEGACY_MACS}
#: Ciphers with their own integrity check, asked for first when the device offers them: with
#: them no separate MAC is computed, which paramiko compares byte by byte in Python on every
#: packet (a tenth of a steady poll's CPU, measured with ``python -m bench --profile-agent``).
AEAD_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")

_READ_CHUNK = 65536


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The host field OpenSSH writes for ``host:port`` (``[host]:port`` unless port 22)."""
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"


def known_host_keys(text: str, name: str) -> dict[str, paramiko.PKey]:
    """The keys OpenSSH known_hosts ``text`` lists for host field ``name``, by key type.

    Only the matching lines' keys are decoded, and the lines are found through an index of the
    text's plain host names built once per text (``_known_hosts_index``): a fleet-wide
    known_hosts of 1,000 chassis is read on every poll, and splitting it each time cost
    O(fleet) per poll. Hashed names (``|1|salt|hash`` as ``ssh-keygen -H`` writes them) can
    only be checked one by one.
    """
    plain, hashed = _known_hosts_index(text)
    found = {*plain.get(name, ()), *(entry for host, entry in hashed if _host_matches(host, name))}
    keys: dict[str, paramiko.PKey] = {}
    for _, line in sorted(found):  # file order: the first key of a type wins
        entry = HostKeyEntry.from_line(line)
        if entry is not None and entry.key is not None:
            keys.setdefault(entry.key.get_name(), entry.key)
    return keys


_Line = tuple[int, str]  # (line number, the line)


@functools.lru_cache(maxsize=8)  # the texts in use: usually one fleet-wide Secret
def _known_hosts_index(
    text: str,
) -> tuple[dict[str, tuple[_Line, ...]], tuple[tuple[str, _Line], ...]]:
    """Lines of known_hosts ``text`` by plain host name, and (hashed name, line) pairs."""
    plain: dict[str, list[_Line]] = {}
    hashed: list[tuple[str, _Line]] = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for host in line.split(None, 1)[0].split(","):
            if host.startswith("|1|"):
                hashed.append((host, (number, line)))
            else:
                plain.setdefault(host, []).append((number, line))
    return {host: tuple(lines) for host, lines in plain.items()}, tuple(hashed)


def _host_matches(field: str, name: str) -> bool:
    if field.startswith("|1|"):
        try:
            return hmac.compare_digest(paramiko.HostKeys.hash_host(name, field), field)
        except (ValueError, binascii.Error, AssertionError):
            return False  # a damaged hashed entry names no host
    return field == name


class SshSession:
    """An authenticated SSH connection that runs one command per exec channel."""

    def __init__(self, target: ChassisTarget) -> None:
        self._target = target
        self._transport: paramiko.Transport | None = None
        self._sock: socket.socket | None = None
        self._poll_alarm: Alarm | None = None

    def connect(self) -> None:
        """Open the TCP connection, negotiate, check the host key, log in.

        Arms the conversation's total deadline (``timeouts.poll``): when it passes, the socket
        is shut down, whatever paramiko is waiting for, and every later command fails at once.
        """
        host, port = self._target.host_port(DEFAULT_PORT)
        timeout = self._target.timeouts.connect
        self._poll_alarm = Alarm(self._target.timeouts.poll, self._cut)
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise TransientError(f"cannot connect to {host}:{port}: {exc}") from exc
        self._sock = sock
        # The handshake and login have their own paramiko timeouts, each per step and per
        # read; this bounds them together (a banner sent one byte a second trips none).
        with Alarm(timeout * 2, self._cut) as login_alarm:
            try:
                self._start(transport=paramiko.Transport(sock), host=host, port=port)
            except TransientError as exc:
                if self._poll_expired() or login_alarm.fired:
                    raise TransientError(
                        f"no SSH login to {host}:{port} within {self._expired_limit(timeout * 2)}"
                    ) from exc
                raise

    def _start(self, *, transport: paramiko.Transport, host: str, port: int) -> None:
        timeout = self._target.timeouts.connect
        self._transport = transport
        transport.banner_timeout = timeout
        transport.auth_timeout = timeout
        transport.handshake_timeout = timeout
        self._choose_algorithms(transport)
        try:
            transport.start_client(timeout=timeout)
        except paramiko.SSHException as exc:
            self.close()
            if "incompatible" in str(exc).lower():
                raise PermanentError(f"no common SSH algorithms with {host}:{port}: {exc}") from exc
            raise TransientError(f"SSH handshake with {host}:{port} failed: {exc}") from exc
        except (OSError, EOFError) as exc:
            self.close()
            raise TransientError(f"SSH handshake with {host}:{port} failed: {exc!r}") from exc
        self._check_host_key(transport, host, port)
        self._authenticate(transport)

    def _choose_algorithms(self, transport: paramiko.Transport) -> None:
        options = transport.get_security_options()
        options.ciphers = tuple(c for c in AEAD_CIPHERS if c in options.ciphers) + tuple(
            c for c in options.ciphers if c not in AEAD_CIPHERS
        )
        modern_kex = tuple(k for k in options.kex if k not in LEGACY_KEX)
        if self._target.allow_legacy_algorithms:
            options.kex = modern_kex + LEGACY_KEX
            options.ciphers = tuple(options.ciphers) + tuple(
                c for c in LEGACY_CIPHERS if c not in options.ciphers
            )
            options.digests = tuple(options.digests) + tuple(
                m for m in LEGACY_MACS if m not in options.digests
            )
        else:
            options.kex = modern_kex
            options.ciphers = tuple(c for c in options.ciphers if c not in LEGACY_CIPHERS)
            options.digests = tuple(m for m in options.digests if m not in LEGACY_MACS)

    def _check_host_key(self, transport: paramiko.Transport, host: str, port: int) -> None:
        try:
            key = transport.get_remote_server_key()
        except paramiko.SSHException as exc:
            # ``start_client`` returns quietly when its own timeout passes first (a port that
            # accepts TCP and sends no banner, or one slowly): no key was exchanged.
            self.close()
            raise TransientError(
                f"no SSH handshake with {host}:{port} within "
                f"{self._target.timeouts.connect:g} s (connectTimeout)"
            ) from exc
        if self._target.insecure_skip_verify:
            return
        name = known_hosts_name(host, port)
        known = known_host_keys(self._target.known_hosts, name)
        if key.get_name() in known:
            if known[key.get_name()] == key:
                return
            self.close()
            raise HostKeyError(
                f"host key of {name} CHANGED: expected {fingerprint(known[key.get_name()])}, "
                f"got {key.get_name()} {fingerprint(key)}; if the chassis manager was replaced, "
                "update its known-hosts entry",
            )
        self.close()
        raise HostKeyError(
            f"unknown host key for {name}: {key.get_name()} {fingerprint(key)}. "
            f"After checking the fingerprint on the chassis, trust it by adding this line to the "
            f"Chassis known hosts (spec.knownHosts or the knownHostsSecretRef Secret): "
            f"{name} {key.get_name()} {key.get_base64()}",
        )

    def _authenticate(self, transport: paramiko.Transport) -> None:
        creds = self._target.credentials
        try:
            if creds.private_key:
                transport.auth_publickey(creds.username, _load_private_key(creds.private_key))
            else:
                transport.auth_password(creds.username, creds.password)
        except paramiko.AuthenticationException as exc:
            # A chassis manager out of sessions drops the connection during login; paramiko
            # reports that as an authentication failure, but no password was judged.
            dropped = not transport.is_active()
            self.close()
            if dropped:
                raise TransientError(
                    "connection closed during login (session limit reached?)"
                ) from exc
            raise AuthError(f"login as {creds.username!r} refused") from exc
        except paramiko.SSHException as exc:
            self.close()
            raise TransientError(f"login failed: {exc}") from exc
        except (OSError, EOFError) as exc:
            self.close()
            raise TransientError(f"connection lost during login: {exc!r}") from exc
        if not transport.is_authenticated():
            self.close()
            raise AuthError(f"login as {creds.username!r} refused")

    def run(self, command: str, *, changes_state: bool = False) -> str:
        """Run one command on a new exec channel and return its whole output as text."""
        transport = self._transport
        if self._poll_expired():
            raise TransientError(
                f"not sent {command!r}: the poll deadline of {self._target.timeouts.poll:g} s "
                "passed (spec.pollTimeout)"
            )
        if transport is None or not transport.is_active():
            raise TransientError(f"not connected (running {command!r})")
        timeout = self._target.timeouts.command
        try:
            channel = transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransientError(f"cannot open a channel for {command!r}: {exc}") from exc
        failure = AmbiguousOutcome if changes_state else TransientError
        deadline = time.monotonic() + timeout
        limit = self._target.limits.output_bytes
        chunks: list[bytes] = []
        received = 0
        # paramiko waits for the exec request's reply without any timeout; the alarm bounds
        # that too (it ends the session: a device that ignores a request is not reused).
        alarm = Alarm(timeout, self._cut)
        try:
            channel.exec_command(command)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError()
                channel.settimeout(remaining)
                data = channel.recv(min(_READ_CHUNK, limit + 1 - received))
                if not data:
                    break
                received += len(data)
                if received > limit:
                    # Checked per chunk, so at most the limit (plus one chunk) is ever held;
                    # the channel is closed below, which tells the device to stop.
                    raise ParseError(
                        f"output exceeds the limit of {limit} bytes (spec.maxOutputSize)",
                        command=command,
                    )
                chunks.append(data)
        except TimeoutError as exc:
            raise failure(f"no complete answer to {command!r} within {timeout:g} s") from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if alarm.fired or self._poll_expired():
                raise failure(
                    f"no complete answer to {command!r} within {self._expired_limit(timeout)}"
                ) from exc
            raise failure(f"connection lost during {command!r}: {exc!r}") from exc
        finally:
            alarm.cancel()
            # Closing sends a message: on a connection the alarm has just cut that fails too
            # (EOFError), and must not replace the error being raised.
            with contextlib.suppress(paramiko.SSHException, OSError, EOFError):
                channel.close()
        # A channel that closes without an exit status was cut off, not finished (paramiko
        # reports that as -1). Whether the chassis manager sends one is UNKNOWN; every SSH server
        # we know does for exec, and the simulator does.
        if not channel.exit_status_ready() or channel.exit_status == -1:
            if alarm.fired or self._poll_expired():
                raise failure(
                    f"no complete answer to {command!r} within {self._expired_limit(timeout)}"
                )
            raise failure(f"connection lost during {command!r}")
        return b"".join(chunks).decode("utf-8", errors="replace")

    def _cut(self) -> None:
        """The alarms' action: end the connection under paramiko's feet (from a timer thread)."""
        cut(self._sock)

    def _poll_expired(self) -> bool:
        return self._poll_alarm is not None and self._poll_alarm.fired

    def _expired_limit(self, step: float) -> str:
        """Which deadline passed, for a message: the poll's or the step's own."""
        if self._poll_expired():
            return f"the poll deadline of {self._target.timeouts.poll:g} s (spec.pollTimeout)"
        return f"{step:g} s"

    def close(self) -> None:
        """Disconnect; never raises. The socket is closed here too: paramiko's ``close`` does
        nothing once its transport thread has ended (the chassis hung up first), which would
        leave the connection open until garbage collection."""
        if self._poll_alarm is not None:
            self._poll_alarm.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _load_private_key(text: str) -> paramiko.PKey:
    errors: list[str] = []
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(StringIO(text))
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(f"{key_class.__name__}: {exc}")
    raise AuthError(
        "the SSH private key in the credentials Secret cannot be read: " + "; ".join(errors)
    )
