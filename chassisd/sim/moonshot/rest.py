"""Simulated HPE Moonshot Chassis Manager REST API (``/rest/v1``, "HP RESTful API"), over HTTPS.

Owns: ``MoonshotRestSimulator`` (the configuration of one chassis manager's REST API: users,
TLS material, accepted ResetTypes, faults, model and firmware strings, and what each ResetType
does to the shared chassis state), ``RestSimHandle`` (thread-safe control of a running one) and
``with MoonshotRestSimulator(spec).running() as handle``, which serves it on a background thread
with a generated certificate. The resources and routes themselves are in ``rest_api``, sessions,
faults and counters in ``rest_state``.

Must not: import anything from chassisd outside ``chassisd.sim`` (it is an independent peer of
the ``moonshot-rest`` driver), or listen anywhere but the address it is given (default
127.0.0.1, ephemeral port).

Hardware and power live in ``chassisd.sim.moonshot.state.ChassisState`` - the same object
the SSH simulator uses - so one chassis can be served over SSH and REST at once (pass the SSH
simulator's ``state``) and both views agree.

Quick start::

    spec = ChassisSpec.generate("moonshot1", seed=1)
    with MoonshotRestSimulator(spec, users={"admin": "password"}).running() as handle:
        handle.url, handle.ca_pem, handle.fingerprint   # reach and trust it
        handle.set_faults(RestFaults(status=500))        # flip faults between calls
        handle.stats.logins, handle.stats.logouts        # read counters

Facts and guesses, tagged with ``docs/moonshot-cli.md`` sections (``[cli §N]``):

* Paths: ``/rest/v1/Sessions`` (login), ``/rest/v1/Chassis`` → ``links.Member[].href`` →
  ``links.Cartridges.href`` → ``links.Member[]`` → cartridge ``links.ComputerSystems[]`` →
  node with ``HostCorrelation.HostMACAddress[]`` and ``Memory.TotalSystemMemoryGB`` [cli §7,
  S15]; node ``/rest/v1/Systems/c5n1``, cartridge ``/rest/v1/Chassis/1/Cartridges/C31`` [S11].
* Power: ``POST /rest/v1/Systems/<id>`` ``{"Action": "Reset", "ResetType": ...}``; the only
  ResetType a source shows is ``ColdReset`` [S11]. The advertised list (``AvailableActions``,
  the iLO 4 "RIS" shape of the same API generation) defaults to the iLO 4 RIS list from
  proliantutils' ``ris_sample_outputs.py`` plus ``ColdReset`` - an ASSUMPTION, configurable.
* PXE: ``PATCH`` ``{"Boot": {"BootSourceOverrideEnabled": "Once",
  "BootSourceOverrideTarget": "PXE"}}`` [S11]; the target is matched case-insensitively.
* ASSUMPTIONS (no public source): the power property is ``Power`` (RIS ``ComputerSystem``
  naming), the session ``Location`` is ``/rest/v1/Sessions/<id>`` and ``DELETE`` on it logs
  out, error bodies use the RIS ``Messages[].MessageID`` shape, paths are case-insensitive, and
  ``/rest/v1`` itself needs no login.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Final

from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, Faults, NodeId, Timing
from chassisd.sim.moonshot.rest_api import RestApi
from chassisd.sim.moonshot.rest_state import READS, RequestKind, RestFaults, RestState, RestStats
from chassisd.sim.moonshot.state import ChassisState
from chassisd.sim.net.https import HttpsServer
from chassisd.sim.net.tls import TlsMaterial, generate_tls_material

__all__ = [
    "DEFAULT_RESET_TYPES",
    "DEFAULT_USERS",
    "READS",
    "MoonshotRestSimulator",
    "RequestKind",
    "RestFaults",
    "RestSimHandle",
    "RestStats",
]

DEFAULT_USERS: Final[Mapping[str, str]] = {"admin": "password"}

DEFAULT_RESET_TYPES: Final = (
    "On",
    "ForceOff",
    "ForceRestart",
    "Nmi",
    "PushPowerButton",
    "ColdReset",
)
"""ResetType values a node advertises and accepts: the iLO 4 RIS list (proliantutils
``RESPONSE_BODY_FOR_REST_OP``) plus ``ColdReset`` [S11]. The real Moonshot list is UNKNOWN."""


class RestSimHandle:
    """Thread-safe control of one running REST chassis: address, trust, faults, counters."""

    def __init__(self, sim: MoonshotRestSimulator, server: HttpsServer) -> None:
        self._sim = sim
        self._server = server
        self.name = sim.name
        self.host = server.host
        self.port = server.port

    @property
    def address(self) -> str:
        """``host:port`` as a chassisd ``Chassis`` ``address`` takes it."""
        return self._server.address

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def ca_pem(self) -> str:
        """The CA certificate that signed the server certificate (a client's CA bundle)."""
        return self._sim.tls.ca_pem

    @property
    def cert_pem(self) -> str:
        return self._sim.tls.cert_pem

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the server certificate (``AA:BB:...``), for certificate pinning."""
        return self._sim.tls.fingerprint

    # counters
    @property
    def stats(self) -> RestStats:
        return self._sim.rest.stats(
            pxe_boots=self._sim.state.stats().pxe_boots, tls_failures=self._server.tls_failures
        )

    def reset_stats(self) -> None:
        self._sim.rest.reset_counters()

    @property
    def errors(self) -> list[BaseException]:
        """Simulator bugs (handler exceptions, each answered 500); tests assert it stays empty."""
        return list(self._server.errors)

    # faults and timing
    @property
    def faults(self) -> RestFaults:
        return self._sim.rest.faults

    def set_faults(self, faults: RestFaults) -> None:
        """Replace all faults at once (``RestFaults()`` clears them); releases hung requests."""
        self._sim.rest.set_faults(faults)
        self._server.release_hangs()

    def set_timing(self, timing: Timing) -> None:
        """Power delays (``Timing.power_delay``), shared with an SSH simulator of the same state."""
        self._sim.state.set_timing(timing)

    # hardware
    @property
    def spec(self) -> ChassisSpec:
        """Current hardware, each node's ``power_on`` at its settled state."""
        return self._sim.state.spec

    def is_powered_on(self, node: NodeId | str) -> bool:
        return self._sim.state.is_powered_on(_as_node_id(node))

    def set_node_power(self, node: NodeId | str, on: bool) -> None:
        """Out-of-band power change, effective at once."""
        self._sim.state.set_node_power(_as_node_id(node), on)

    def bootonce_pending(self, node: NodeId | str) -> bool:
        return self._sim.state.bootonce_pending(_as_node_id(node))

    def insert_cartridge(self, slot: int, cartridge: Cartridge) -> None:
        self._sim.state.insert_cartridge(slot, cartridge)

    def remove_cartridge(self, slot: int) -> Cartridge:
        return self._sim.state.remove_cartridge(slot)


def _as_node_id(node: NodeId | str) -> NodeId:
    return node if isinstance(node, NodeId) else NodeId.parse(node)


class MoonshotRestSimulator:
    """Configuration plus state of one simulated chassis manager's REST API."""

    def __init__(
        self,
        chassis: ChassisSpec | ChassisState,
        *,
        users: Mapping[str, str] = DEFAULT_USERS,
        tls: TlsMaterial | None = None,
        reset_types: Sequence[str] = DEFAULT_RESET_TYPES,
        faults: RestFaults | None = None,
        timing: Timing | None = None,
        chassis_model: str = "Moonshot 1500 Chassis",
        firmware_version: str = "1.30",
    ) -> None:
        """
        ``chassis`` is a spec (a fresh state is built) or an existing ``ChassisState`` - e.g.
        ``MoonshotSimulator(...).state`` - to serve the same chassis the SSH simulator serves.
        ``tls`` defaults to freshly generated material for the loopback addresses.
        ``timing`` applies only when a spec is given (a shared state keeps its own).
        """
        if isinstance(chassis, ChassisState):
            self.state = chassis
        else:
            self.state = ChassisState(
                chassis, timing=timing if timing is not None else Timing(), faults=Faults()
            )
        self.name = self.state.spec.name
        self.users: Mapping[str, str] = dict(users)
        self.tls = tls if tls is not None else generate_tls_material()
        self.reset_types = tuple(reset_types)
        self.chassis_model = chassis_model
        self.firmware_version = firmware_version
        self.rest = RestState(faults if faults is not None else RestFaults())

    def password_ok(self, user: str, password: str) -> bool:
        expected = self.users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def apply_reset(self, node_id: NodeId, reset_type: str) -> None:
        """Carry out an accepted ResetType on the shared chassis state.

        ``ColdReset``/``ForceRestart``: off at once, then on after ``Timing.power_delay`` (what
        a cold boot looks like; on an off node it powers on - the real behaviour is UNKNOWN).
        ``PushPowerButton``: toggles (graceful off when on). ``Nmi``: no power change.
        """
        state = self.state
        node = state.spec.node(node_id)
        if node is None or node.power_unavailable:
            return
        if reset_type in ("On", "ForceOn"):
            state.request_power([node_id], on=True)
        elif reset_type == "ForceOff":
            state.request_power([node_id], on=False)
        elif reset_type == "GracefulShutdown":
            state.request_power([node_id], on=False, graceful=True)
        elif reset_type == "PushPowerButton":
            on = state.is_powered_on(node_id)
            state.request_power([node_id], on=not on, graceful=on)
        elif reset_type in ("ColdReset", "ForceRestart", "PowerCycle"):
            state.set_node_power(node_id, False)
            state.request_power([node_id], on=True)

    @contextmanager
    def running(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[RestSimHandle]:
        """Serve HTTPS on ``host:port`` (port 0 = ephemeral) for the ``with`` block."""
        server = HttpsServer(
            RestApi(self).handle,
            self.tls.server_context(),
            host=host,
            port=port,
            name=f"moonshot-rest-sim-{self.name}",
        )
        with server.running():
            yield RestSimHandle(self, server)
