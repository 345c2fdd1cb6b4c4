"""The handle a test or script holds on one running simulated chassis (SSH).

Owns: ``SimHandle``, thread-safe control of a running chassis: its address and host key in the
forms SSH clients take, counters, faults and timing switchable while it runs, and hardware
changes (cartridges in and out, out-of-band power). The same handle serves a single simulator
and each chassis of a fleet.

Must not: talk to the network or the event loop; every call goes to ``ChassisState``, which is
safe to use from any thread.
"""

from __future__ import annotations

import asyncssh

from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, Faults, NodeId, Timing
from chassisd.sim.moonshot.ssh_keys import known_hosts_line, public_key_line
from chassisd.sim.moonshot.state import ChassisState, Stats


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

    def boot_device(self, node: NodeId | str) -> str | None:
        """The persistent boot device set by ``set node boot``, or ``None`` if never set."""
        return self._state.boot_device(_node_id(node))


def _node_id(node: NodeId | str) -> NodeId:
    return node if isinstance(node, NodeId) else NodeId.parse(node)
