"""The resources and routes of the simulated Moonshot Chassis Manager REST API (``/rest/v1``).

Owns: ``RestApi.handle``, which turns one HTTP request into a response: telling requests apart
(``RequestKind``), applying REST-level faults, authentication (session token or HTTP Basic),
session login and logout, the chassis → cartridge → computer-system resources rendered from the
shared ``ChassisState``, power (``POST`` ``Reset``) and one-time PXE (``PATCH`` ``Boot``), and
the RIS-shaped error bodies.

Must not: listen or speak TLS (``chassisd.sim.net.https`` does), or keep state of its own
(sessions, faults and counters are in ``RestState``, hardware in ``ChassisState``).

See ``rest`` for the facts and assumptions behind paths and payloads.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Final

from chassisd.sim.moonshot.model import NodeId
from chassisd.sim.moonshot.rest_state import RequestKind, RestFaults
from chassisd.sim.moonshot.state import ChassisView, PowerReport
from chassisd.sim.net.https import Request, Response

if TYPE_CHECKING:
    from chassisd.sim.moonshot.rest import MoonshotRestSimulator

BOOT_TARGETS: Final = ("None", "PXE", "Hdd")
"""``Boot.BootSourceOverrideSupported``; ``PXE`` is spelt as Mozilla's scripts send it [S11]."""

PREFIX: Final = "/rest/v1"
_SYSTEM_RE = re.compile(r"^[cC](\d+)[nN](\d+)$")
_CARTRIDGE_RE = re.compile(r"^[cC](\d+)$")


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


_JUNK_PIECE = b"x" * 65535 + b"\n"


def _junk(total: int, endless: bool) -> Iterator[bytes]:
    """Junk in 64 KiB pieces: ``total`` bytes, or without end."""
    left = total
    while endless or left > 0:
        piece = _JUNK_PIECE if endless or left >= len(_JUNK_PIECE) else _JUNK_PIECE[:left]
        left -= len(piece)
        yield piece


def _drip(body: bytes, interval: float) -> Iterator[bytes]:
    """``body`` one byte at a time, ``interval`` seconds apart."""
    for i in range(len(body)):
        yield body[i : i + 1]
        time.sleep(interval)


class RestApi:
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
        if faults.applies_to(kind) and (faults.flood_bytes or faults.endless):
            response = replace(response, stream=partial(_junk, faults.flood_bytes, faults.endless))
        if faults.applies_to(kind) and faults.drip_interval > 0:
            response = replace(
                response, body=b"", stream=partial(_drip, response.body, faults.drip_interval)
            )
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
