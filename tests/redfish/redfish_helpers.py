"""Helpers for the Redfish driver tests: targets, and a payload/fault server.

``PayloadServer`` serves fixed JSON documents (real iLO 5 payloads, or deliberately broken ones)
over HTTPS on loopback and records every request. It is a fault injector and a way to serve
captured payloads through the real driver - not a stand-in for a Redfish service: flows run
against sushy-emulator.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chassisd.driver import ChassisTarget, Credentials, Timeouts
from chassisd.sim.net.https import HttpsServer, Request, Response
from chassisd.sim.net.tls import TlsMaterial

USER, PASSWORD = "admin", "password"

Route = Response | Callable[[Request], Response]


def make_target(address: str, **changes: Any) -> ChassisTarget:
    """A target for ``address``; trust material and timeouts come from ``changes``."""
    values: dict[str, Any] = {
        "name": "bmc-t",
        "address": address,
        "credentials": Credentials(USER, PASSWORD),
        "timeouts": Timeouts(connect=3.0, command=3.0),
    }
    values.update(changes)
    return ChassisTarget(**values)


def redfish_error(status: int, message: str, message_id: str = "Base.1.4.GeneralError") -> Response:
    """A DMTF Redfish error body (``error.@Message.ExtendedInfo[].Message``)."""
    return Response.json(
        status,
        {
            "error": {
                "code": message_id,
                "message": "A general error has occurred. See ExtendedInfo for more information.",
                "@Message.ExtendedInfo": [{"MessageId": message_id, "Message": message}],
            }
        },
    )


@dataclass
class PayloadServer:
    """Routes ``(method, path)`` to fixed responses over HTTPS; everything else is 404."""

    tls: TlsMaterial
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: HttpsServer | None = None

    def add(self, method: str, path: str, route: Route) -> None:
        self.routes[(method, path.rstrip("/") or "/")] = route

    def add_json(self, path: str, payload: Mapping[str, Any] | list[Any]) -> None:
        self.add("GET", path, Response.json(200, payload))

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
        route = self.routes.get((request.method, request.path.rstrip("/") or "/"))
        if route is None:
            return redfish_error(
                404, f"no resource at {request.path}", "Base.1.4.ResourceMissingAtURI"
            )
        return route(request) if callable(route) else route

    def sent(self, method: str, path: str | None = None) -> list[Request]:
        """Requests received with ``method`` (and ``path``, trailing slash ignored)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == method and (path is None or r.path.rstrip("/") == path.rstrip("/"))
            ]

    def bodies(self, method: str, path: str) -> list[Any]:
        return [json.loads(r.body) for r in self.sent(method, path)]

    @property
    def address(self) -> str:
        assert self.server is not None
        return self.server.address

    @contextmanager
    def running(self) -> Iterator[PayloadServer]:
        server = HttpsServer(self.handle, self.tls.server_context(), name="redfish-payloads")
        self.server = server
        with server.running():
            yield self


# -- sushy-emulator --------------------------------------------------------------------------------

#: The fake systems sushy-emulator serves. Inventory tests read ``node-a``/``node-b`` only;
#: every test that changes power or boot settings has a system of its own.
FAKE_SYSTEMS: list[dict[str, Any]] = [
    {
        "uuid": "11111111-2222-3333-4444-000000000001",
        "name": "node-a",
        "power_state": "Off",
        "external_notifier": False,
        "nics": [
            {"mac": "00:11:22:33:44:01", "ip": "127.0.0.1"},
            {"mac": "00:11:22:33:44:02", "ip": "127.0.0.1"},
        ],
    },
    {
        "uuid": "11111111-2222-3333-4444-000000000002",
        "name": "node-b",
        "power_state": "On",
        "external_notifier": False,
        "nics": [{"mac": "00:11:22:33:44:11", "ip": "127.0.0.1"}],
    },
    *(
        {
            "uuid": f"11111111-2222-3333-4444-0000000000{index:02d}",
            "name": name,
            "power_state": "On",
            "external_notifier": False,
            "nics": [{"mac": f"00:11:22:33:44:{index:02x}", "ip": "127.0.0.1"}],
        }
        for index, name in ((0x21, "power-1"), (0x22, "pxe-1"), (0x23, "service-1"))
    ),
]
UUIDS = {system["name"]: system["uuid"] for system in FAKE_SYSTEMS}


@dataclass(frozen=True)
class Seen:
    """One request as sushy-emulator received it."""

    method: str
    path: str
    body: bytes


class Recorder:
    """WSGI middleware in front of the emulator that records every request it receives."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._seen: list[Seen] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        with self._lock:
            self._seen.append(Seen(environ["REQUEST_METHOD"], environ["PATH_INFO"], body))
        return self.app(environ, start_response)

    def mark(self) -> int:
        with self._lock:
            return len(self._seen)

    def since(self, mark: int, method: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen[mark:] if method is None or s.method == method]


@dataclass(frozen=True)
class SushyPeer:
    """A running sushy-emulator (fake driver) reachable over HTTPS."""

    address: str
    url: str
    tls: TlsMaterial
    recorder: Recorder


# -- proliantutils samples -------------------------------------------------------------------------


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass(frozen=True)
class ProliantSamples:
    """iLO payloads from proliantutils, committed as fixture files (sources in their README.md).

    ``tests/fixtures/ilo5/`` holds iLO 5 Redfish resources (``json_samples``),
    ``tests/fixtures/ilo4/`` iLO 4 RIS payloads (``ris_sample_outputs.py`` strings).
    """

    fixtures: Path = FIXTURES

    def json(self, name: str) -> Any:
        """An iLO 5 sample: ``json("system.json")``."""
        return json.loads((self.fixtures / "ilo5" / name).read_text())

    def ris(self, name: str) -> Any:
        """An iLO 4 RIS sample: ``ris("network_adapter.json")``."""
        return json.loads((self.fixtures / "ilo4" / name).read_text())
