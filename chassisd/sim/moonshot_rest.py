"""Simulated HPE Moonshot Chassis Manager REST API (``/rest/v1``, "HP RESTful API"), over HTTPS.

Owns: the resources of ``moonshot-cli.md`` §7 rendered from a ``ChassisSpec`` (chassis →
cartridges → computer systems with ``HostCorrelation.HostMACAddress``), session login and logout
(``POST /rest/v1/Sessions`` → ``X-Auth-Token``), HTTP Basic, power (``POST`` ``Reset``), one-time
PXE (``PATCH`` ``Boot``), REST-level faults (status codes, hangs, malformed JSON, refused logins)
and counters; plus ``with MoonshotRestSimulator(spec).running() as handle`` to run it on a
background thread with a generated certificate.

Must not: import anything from chassisd outside ``chassisd.sim`` (it is an independent peer of
the ``moonshot-rest`` driver), or listen anywhere but the address it is given (default
127.0.0.1, ephemeral port).

Hardware and power live in ``chassisd.sim.state.ChassisState`` - the same object the SSH
simulator uses - so one chassis can be served over SSH and REST at once (pass the SSH
simulator's ``state``) and both views agree.

Quick start::

    spec = ChassisSpec.generate("moonshot1", seed=1)
    with MoonshotRestSimulator(spec, users={"admin": "password"}).running() as handle:
        handle.url, handle.ca_pem, handle.fingerprint   # reach and trust it
        handle.set_faults(RestFaults(status=500))        # flip faults between calls
        handle.stats.logins, handle.stats.logouts        # read counters

Facts and guesses, tagged with ``moonshot-cli.md`` sections (``[cli §N]``):

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

import base64
import binascii
import enum
import hmac
import re
import secrets
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from chassisd.sim.model import Cartridge, ChassisSpec, Faults, NodeId, Timing
from chassisd.sim.moonshot_rest_http import HttpsServer, Request, Response
from chassisd.sim.moonshot_rest_tls import TlsMaterial, generate_tls_material
from chassisd.sim.state import ChassisState, ChassisView, PowerReport

__all__ = [
    "DEFAULT_RESET_TYPES",
    "DEFAULT_USERS",
    "MoonshotRestSimulator",
    "RequestKind",
    "RestFaults",
    "RestSimHandle",
    "RestStats",
    "TlsMaterial",
    "generate_tls_material",
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

BOOT_TARGETS: Final = ("None", "PXE", "Hdd")
"""``Boot.BootSourceOverrideSupported``; ``PXE`` is spelt as Mozilla's scripts send it [S11]."""

PREFIX: Final = "/rest/v1"
_SYSTEM_RE = re.compile(r"^[cC](\d+)[nN](\d+)$")
_CARTRIDGE_RE = re.compile(r"^[cC](\d+)$")


class RequestKind(enum.StrEnum):
    """Every request the simulator tells apart; keys faults and counters."""

    ROOT = "root"
    SESSION_LOGIN = "session_login"
    SESSION_LOGOUT = "session_logout"
    CHASSIS_COLLECTION = "chassis_collection"
    CHASSIS = "chassis"
    CARTRIDGE_COLLECTION = "cartridge_collection"
    CARTRIDGE = "cartridge"
    SYSTEM_COLLECTION = "system_collection"
    SYSTEM = "system"
    RESET = "reset"
    BOOT = "boot"
    OTHER = "other"


READS: Final = frozenset(
    {
        RequestKind.ROOT,
        RequestKind.CHASSIS_COLLECTION,
        RequestKind.CHASSIS,
        RequestKind.CARTRIDGE_COLLECTION,
        RequestKind.CARTRIDGE,
        RequestKind.SYSTEM_COLLECTION,
        RequestKind.SYSTEM,
    }
)
"""The GET kinds: handy as ``RestFaults(affects=READS)``."""


@dataclass(frozen=True)
class RestFaults:
    """Faults the REST simulator injects; swap the whole object with ``handle.set_faults``."""

    status: int | None = None
    """Answer affected requests with this HTTP status and an error body (e.g. 500)."""
    hang: bool = False
    """Read affected requests, then never answer (until the faults change or the server stops)."""
    malformed_json: bool = False
    """Cut affected JSON answers in half (status 200, not parseable)."""
    reject_all_logins: bool = False
    """Every session login and every Basic-authenticated request gets 401."""
    sessions_unsupported: bool = False
    """``POST /rest/v1/Sessions`` answers 404, so only HTTP Basic works."""
    affects: frozenset[RequestKind] | None = None
    """Limit ``status``, ``hang`` and ``malformed_json`` to these kinds (None: all)."""

    def applies_to(self, kind: RequestKind) -> bool:
        return self.affects is None or kind in self.affects


@dataclass(frozen=True)
class RestStats:
    """A snapshot of the REST counters (since start or the last ``reset_stats``)."""

    logins: int
    """Sessions created."""
    failed_logins: int
    """Refused session logins and refused Basic credentials."""
    logouts: int
    """Sessions deleted by their client."""
    active_sessions: int
    """Sessions currently open (live state, not reset by ``reset_stats``)."""
    basic_auth_requests: int
    """Requests authenticated with HTTP Basic."""
    unauthorized: int
    """Requests answered 401."""
    requests: int
    requests_by_kind: Mapping[RequestKind, int]
    resets: tuple[tuple[str, str], ...]
    """Accepted power requests in order: (node id, ResetType)."""
    boot_patches: int
    """Accepted one-time PXE requests."""
    pxe_boots: int
    """Power-ons that consumed a pending one-time PXE (shared with the SSH simulator)."""
    tls_failures: int
    """Connections whose TLS handshake failed."""

    def count(self, kind: RequestKind) -> int:
        return self.requests_by_kind.get(kind, 0)


class _RestState:
    """Thread-safe REST-side state: sessions, faults, counters. Hardware is in ChassisState."""

    def __init__(self, faults: RestFaults) -> None:
        self._lock = threading.Lock()
        self._faults = faults
        self._sessions: dict[str, str] = {}  # token -> session id
        self._serial = 0
        self.reset_counters()

    def reset_counters(self) -> None:
        with self._lock:
            self._logins = 0
            self._failed = 0
            self._logouts = 0
            self._basic = 0
            self._unauthorized = 0
            self._requests: Counter[RequestKind] = Counter()
            self._resets: list[tuple[str, str]] = []
            self._boot_patches = 0

    @property
    def faults(self) -> RestFaults:
        with self._lock:
            return self._faults

    def set_faults(self, faults: RestFaults) -> None:
        with self._lock:
            self._faults = faults

    def count_request(self, kind: RequestKind) -> None:
        with self._lock:
            self._requests[kind] += 1

    def new_session(self) -> tuple[str, str]:
        with self._lock:
            self._serial += 1
            token = secrets.token_hex(16)
            session_id = f"session{self._serial}"
            self._sessions[token] = session_id
            self._logins += 1
            return token, session_id

    def session_for(self, token: str) -> str | None:
        with self._lock:
            for known, session_id in self._sessions.items():
                if hmac.compare_digest(known, token):
                    return session_id
            return None

    def end_session(self, session_id: str) -> bool:
        with self._lock:
            for token, known in list(self._sessions.items()):
                if known.lower() == session_id.lower():
                    del self._sessions[token]
                    self._logouts += 1
                    return True
            return False

    def count_failed_login(self) -> None:
        with self._lock:
            self._failed += 1

    def count_basic(self) -> None:
        with self._lock:
            self._basic += 1

    def count_unauthorized(self) -> None:
        with self._lock:
            self._unauthorized += 1

    def record_reset(self, node: str, reset_type: str) -> None:
        with self._lock:
            self._resets.append((node, reset_type))

    def count_boot_patch(self) -> None:
        with self._lock:
            self._boot_patches += 1

    def stats(self, *, pxe_boots: int, tls_failures: int) -> RestStats:
        with self._lock:
            return RestStats(
                logins=self._logins,
                failed_logins=self._failed,
                logouts=self._logouts,
                active_sessions=len(self._sessions),
                basic_auth_requests=self._basic,
                unauthorized=self._unauthorized,
                requests=sum(self._requests.values()),
                requests_by_kind=MappingProxyType(dict(self._requests)),
                resets=tuple(self._resets),
                boot_patches=self._boot_patches,
                pxe_boots=pxe_boots,
                tls_failures=tls_failures,
            )


# -- error bodies (RIS "ExtendedError" shape; the Moonshot wording is an ASSUMPTION) -------------


def _messages(status: int, message_id: str, *args: str) -> Response:
    body: dict[str, object] = {
        "Type": "ExtendedError.1.0.0",
        "Name": "Extended Error Information",
        "Messages": [{"MessageID": message_id, "MessageArgs": list(args)}],
    }
    return Response.json(status, body)


def _success(status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = {
        "Type": "ExtendedError.1.0.0",
        "Name": "Extended Error Information",
        "Messages": [{"MessageID": "Base.0.10.Success"}],
    }
    return Response.json(status, body, headers)


def _not_found(path: str) -> Response:
    return _messages(404, "Base.0.10.ResourceMissingAtURI", path)


def _link(href: str) -> dict[str, str]:
    return {"href": href}


def _collection(path: str, name: str, member_type: str, hrefs: Sequence[str]) -> Response:
    return Response.json(
        200,
        {
            "Type": "Collection.0.9.5",
            "Name": name,
            "MemberType": member_type,
            "Total": len(hrefs),
            "links": {"self": _link(path), "Member": [_link(href) for href in hrefs]},
        },
    )


_POWER_WORDS: Final[Mapping[PowerReport, str]] = {
    PowerReport.ON: "On",
    PowerReport.OFF: "Off",
    PowerReport.POWERING_ON: "PoweringOn",
    PowerReport.UNAVAILABLE: "Unknown",
}
"""``Power`` values: RIS ``ComputerSystem`` has On/Off/Unknown/Reset; ``PoweringOn`` appears
only when ``Timing.report_powering_on`` is set (a CM 2.0 CLI word [cli §4.3])."""


class _Api:
    """Routes one request to the resource it names; the server calls ``handle`` per request."""

    def __init__(self, sim: MoonshotRestSimulator) -> None:
        self._sim = sim

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        sim = self._sim
        segments = [s for s in request.path.split("/") if s]
        kind = self._kind(request.method, segments)
        sim.rest.count_request(kind)
        faults = sim.rest.faults
        if faults.applies_to(kind):
            if faults.hang:
                return Response.never()
            if faults.status is not None:
                return _messages(faults.status, "Base.0.10.InternalError", "simulated fault")
        response = self._route(request, kind, segments, faults)
        if faults.malformed_json and faults.applies_to(kind) and response.body:
            response = Response(response.status, response.body[: len(response.body) // 2])
        return response

    @staticmethod
    def _kind(method: str, segments: list[str]) -> RequestKind:
        lower = [s.lower() for s in segments]
        if lower[:2] != ["rest", "v1"]:
            return RequestKind.OTHER
        rest = lower[2:]
        if not rest:
            return RequestKind.ROOT
        if rest == ["sessions"]:
            return RequestKind.SESSION_LOGIN
        if rest[0] == "sessions" and len(rest) == 2:
            return RequestKind.SESSION_LOGOUT
        if rest == ["chassis"]:
            return RequestKind.CHASSIS_COLLECTION
        if rest == ["chassis", "1"]:
            return RequestKind.CHASSIS
        if rest == ["chassis", "1", "cartridges"]:
            return RequestKind.CARTRIDGE_COLLECTION
        if rest[:3] == ["chassis", "1", "cartridges"] and len(rest) == 4:
            return RequestKind.CARTRIDGE
        if rest == ["systems"]:
            return RequestKind.SYSTEM_COLLECTION
        if rest[0] == "systems" and len(rest) == 2:
            return {"POST": RequestKind.RESET, "PATCH": RequestKind.BOOT}.get(
                method, RequestKind.SYSTEM
            )
        return RequestKind.OTHER

    def _route(
        self, request: Request, kind: RequestKind, segments: list[str], faults: RestFaults
    ) -> Response:
        if kind is RequestKind.ROOT:
            return self._only(request, "GET") or self._root()
        if kind is RequestKind.SESSION_LOGIN:
            return self._only(request, "POST") or self._login(request, faults)
        user = self._authenticate(request, faults)
        if user is None:
            self._sim.rest.count_unauthorized()
            return _messages(401, "Base.0.10.NoValidSession")
        view = self._sim.state.view()
        if kind is RequestKind.SESSION_LOGOUT:
            return self._only(request, "DELETE") or self._logout(segments[-1], request.path)
        if kind is RequestKind.CHASSIS_COLLECTION:
            return self._only(request, "GET") or _collection(
                request.path, "Chassis", "Chassis.0", [f"{PREFIX}/Chassis/1"]
            )
        if kind is RequestKind.CHASSIS:
            return self._only(request, "GET") or self._chassis(view)
        if kind is RequestKind.CARTRIDGE_COLLECTION:
            hrefs = [f"{PREFIX}/Chassis/1/Cartridges/C{slot}" for slot in view.spec.cartridges]
            return self._only(request, "GET") or _collection(
                request.path, "Cartridges", "HpMoonshotCartridge.0", hrefs
            )
        if kind is RequestKind.CARTRIDGE:
            return self._only(request, "GET") or self._cartridge(view, segments[-1], request.path)
        if kind is RequestKind.SYSTEM_COLLECTION:
            hrefs = [f"{PREFIX}/Systems/{node_id}" for node_id, _ in view.spec.nodes()]
            return self._only(request, "GET") or _collection(
                request.path, "Computer Systems", "ComputerSystem.0", hrefs
            )
        if kind in (RequestKind.SYSTEM, RequestKind.RESET, RequestKind.BOOT):
            node_id = _node_id(segments[-1])
            if node_id is None or view.spec.node(node_id) is None:
                return _not_found(request.path)
            if kind is RequestKind.RESET:
                return self._reset(node_id, request)
            if kind is RequestKind.BOOT:
                return self._boot(node_id, request)
            return self._only(request, "GET") or self._system(view, node_id)
        return _not_found(request.path)

    @staticmethod
    def _only(request: Request, method: str) -> Response | None:
        if request.method == method:
            return None
        return _messages(405, "Base.0.10.MethodNotAllowed", request.method)

    # -- authentication ------------------------------------------------------------------------

    def _authenticate(self, request: Request, faults: RestFaults) -> str | None:
        rest = self._sim.rest
        token = request.header("X-Auth-Token")
        if token:
            return rest.session_for(token)
        scheme, _, encoded = request.header("Authorization").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if faults.reject_all_logins or not self._sim.password_ok(user, password):
            rest.count_failed_login()
            return None
        rest.count_basic()
        return user

    def _login(self, request: Request, faults: RestFaults) -> Response:
        rest = self._sim.rest
        if faults.sessions_unsupported:
            return _not_found(request.path)
        try:
            body = request.json()
            user, password = body["UserName"], body["Password"]
        except (ValueError, KeyError, TypeError):
            return _messages(400, "Base.0.10.MalformedJSON")
        if (
            faults.reject_all_logins
            or not isinstance(user, str)
            or not isinstance(password, str)
            or not self._sim.password_ok(user, password)
        ):
            rest.count_failed_login()
            rest.count_unauthorized()
            return _messages(401, "Base.0.10.NoValidSession")
        token, session_id = rest.new_session()
        location = f"{PREFIX}/Sessions/{session_id}"
        return _success(201, (("X-Auth-Token", token), ("Location", location)))

    def _logout(self, session_id: str, path: str) -> Response:
        if not self._sim.rest.end_session(session_id):
            return _not_found(path)
        return _success()

    # -- resources -----------------------------------------------------------------------------

    def _root(self) -> Response:
        return Response.json(
            200,
            {
                "Type": "ServiceRoot.0.9.5",
                "Name": "HP RESTful Root Service",
                "links": {
                    "self": _link(PREFIX),
                    "Chassis": _link(f"{PREFIX}/Chassis"),
                    "Systems": _link(f"{PREFIX}/Systems"),
                    "Sessions": _link(f"{PREFIX}/Sessions"),
                },
            },
        )

    def _chassis(self, view: ChassisView) -> Response:
        return Response.json(
            200,
            {
                "Type": "Chassis.0.9.5",
                "Id": "1",
                "Name": view.spec.name,
                "ChassisType": "Enclosure",
                "Manufacturer": "HP",
                "Model": self._sim.chassis_model,
                "Firmware": {"Current": {"VersionString": self._sim.firmware_version}},
                "Status": {"State": "Enabled", "Health": "OK"},
                "links": {
                    "self": _link(f"{PREFIX}/Chassis/1"),
                    "Cartridges": _link(f"{PREFIX}/Chassis/1/Cartridges"),
                },
            },
        )

    def _cartridge(self, view: ChassisView, name: str, path: str) -> Response:
        match = _CARTRIDGE_RE.match(name)
        cartridge = view.spec.cartridges.get(int(match.group(1))) if match else None
        if match is None or cartridge is None:
            return _not_found(path)
        slot = int(match.group(1))
        systems = [
            _link(f"{PREFIX}/Systems/{NodeId(slot, index)}")
            for index in range(1, len(cartridge.nodes) + 1)
        ]
        health = "OK" if all(n.health == "OK" for n in cartridge.nodes) else "Warning"
        return Response.json(
            200,
            {
                "Type": "HpMoonshotCartridge.0.9.5",
                "Id": f"C{slot}",
                "Name": f"Cartridge {slot}",
                "Model": cartridge.product_name,
                "SerialNumber": cartridge.serial_number,
                "Status": {"State": "Enabled", "Health": health},
                "links": {
                    "self": _link(f"{PREFIX}/Chassis/1/Cartridges/C{slot}"),
                    "ComputerSystems": systems,
                },
            },
        )

    def _system(self, view: ChassisView, node_id: NodeId) -> Response:
        node = view.spec.node(node_id)
        cartridge = view.spec.cartridges[node_id.cartridge]
        assert node is not None
        pxe = self._sim.state.bootonce_pending(node_id)
        path = f"{PREFIX}/Systems/{node_id}"
        return Response.json(
            200,
            {
                "Type": "ComputerSystem.0.9.7",
                "Id": str(node_id),
                "Name": str(node_id),
                "Manufacturer": "HP",
                "Model": cartridge.product_name,
                "SerialNumber": cartridge.serial_number,
                "Power": _POWER_WORDS[view.power[node_id]],
                "Status": {"State": "Enabled", "Health": node.health},
                "Memory": {"TotalSystemMemoryGB": node.memory_gb},
                "Processors": {"Count": 1, "ProcessorFamily": node.architecture},
                "HostCorrelation": {"HostMACAddress": list(node.macs), "HostName": ""},
                "Boot": {
                    "BootSourceOverrideEnabled": "Once" if pxe else "Disabled",
                    "BootSourceOverrideTarget": "PXE" if pxe else "None",
                    "BootSourceOverrideSupported": list(BOOT_TARGETS),
                },
                "AvailableActions": [
                    {
                        "Action": "Reset",
                        "Capabilities": [
                            {
                                "PropertyName": "ResetType",
                                "AllowableValues": list(self._sim.reset_types),
                            }
                        ],
                    }
                ],
                "links": {"self": _link(path), "Chassis": [_link(f"{PREFIX}/Chassis/1")]},
            },
        )

    def _reset(self, node_id: NodeId, request: Request) -> Response:
        try:
            body = request.json()
            action, reset_type = body["Action"], body["ResetType"]
        except (ValueError, KeyError, TypeError):
            return _messages(400, "Base.0.10.MalformedJSON")
        if action != "Reset":
            return _messages(400, "Base.0.10.ActionNotSupported", str(action))
        if reset_type not in self._sim.reset_types:
            return _messages(
                400, "Base.0.10.ActionParameterValueNotInList", str(reset_type), "ResetType"
            )
        self._sim.apply_reset(node_id, reset_type)
        self._sim.rest.record_reset(str(node_id), reset_type)
        return _success()

    def _boot(self, node_id: NodeId, request: Request) -> Response:
        try:
            boot = request.json()["Boot"]
            enabled, target = boot["BootSourceOverrideEnabled"], boot["BootSourceOverrideTarget"]
        except (ValueError, KeyError, TypeError):
            return _messages(400, "Base.0.10.MalformedJSON")
        if enabled != "Once" or not isinstance(target, str) or target.lower() != "pxe":
            return _messages(400, "Base.0.10.PropertyValueNotInList", f"{enabled}/{target}")
        self._sim.state.set_bootonce_pxe([node_id])
        self._sim.rest.count_boot_patch()
        return _success()


def _node_id(text: str) -> NodeId | None:
    match = _SYSTEM_RE.match(text)
    return NodeId(int(match.group(1)), int(match.group(2))) if match else None


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
        self.rest = _RestState(faults if faults is not None else RestFaults())

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
            _Api(self).handle,
            self.tls.server_context(),
            host=host,
            port=port,
            name=f"moonshot-rest-sim-{self.name}",
        )
        with server.running():
            yield RestSimHandle(self, server)


if __name__ == "__main__":  # python -m chassisd.sim.moonshot_rest --help
    from chassisd.sim.moonshot_rest_cmdline import main

    raise SystemExit(main())
