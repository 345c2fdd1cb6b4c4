"""A BMC for the tests: pyghmi's ``Bmc`` server with FRU 0, a LAN MAC, and injected faults.

Run as a subprocess, never in the test process (pyghmi's client and server share module-level
session state; ``test-peers.md`` B2)::

    python -m tests.ipmi.fakebmc --port 0 --events FILE [options]   # from the repository root

It binds 127.0.0.1 (pyghmi's default is every interface), prints its UDP port as the first line
on stdout, and serves until it is killed. Logins, logouts and every state-changing request are
appended to the events file, one line each, so that a test sees what the BMC saw.

Faults (``--fault``, repeatable):

- ``silent``: answers nothing at all (a BMC that is down, or drops every packet)
- ``mute-control``: carries out Chassis Control but never answers it (the answer is lost)
- ``drop-first-control``: drops the first Chassis Control request unexecuted (it is lost)
- ``refuse-control=0xD5``: answers Chassis Control with that completion code, doing nothing
- ``mute-status``: never answers Get Chassis Status (a BMC too slow for reads)

Patched here (the peer only, never chassisd): pyghmi 1.6.19's server accepts a client's SHA-256
proposal but answers with SHA-1, which breaks pyghmi's own client (``test-peers.md`` B2); it now
refuses anything but SHA-1 with RMCP+ status 0x11 and the client falls back.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyghmi.ipmi.bmc as pyghmi_bmc
import pyghmi.ipmi.private.serversession as serversession

from tests.ipmi.ipmi_fru_build import build_fru, mac_fields

FAULTS = ("silent", "mute-control", "drop-first-control", "refuse-control", "mute-status")
CONTROL_WORDS = {0: "off", 1: "on", 2: "cycle", 3: "reset", 4: "diag", 5: "shutdown"}
NOT_IN_PRESENT_STATE = 0xD5
NOT_PRESENT = 0xCB
LENGTH_LIMIT_EXCEEDED = 0xC8
PARAMETER_NOT_SUPPORTED = 0x80
INVALID_DATA = 0xCC


def _patch_open_session() -> None:
    original = serversession.ServerSession.create_open_session_response

    def create_open_session_response(self: Any, request: bytearray) -> bytearray:
        if request[12] != 1:  # proposed authentication algorithm is not RAKP-HMAC-SHA1
            self.clientsessionid = request[4:8]
            return bytearray([request[0], 0x11, 0, 0]) + request[4:8]
        response: bytearray = original(self, request)
        return response

    serversession.ServerSession.create_open_session_response = create_open_session_response


class Events:
    """The append-only events file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        with self.path.open("a") as file:
            file.write(line + "\n")


def _patch_session_events(events: Events) -> None:
    original = serversession.ServerSession.handle_client_request

    def handle_client_request(self: Any, request: dict[str, Any]) -> None:
        if request["netfn"] == 6 and request["command"] == 0x3B:  # Set Session Privilege Level
            events(f"login {self.username.decode()}")
        elif request["netfn"] == 6 and request["command"] == 0x3C:  # Close Session
            events("logout")
        original(self, request)

    serversession.ServerSession.handle_client_request = handle_client_request


class FakeBmc(pyghmi_bmc.Bmc):  # type: ignore[misc]  # pyghmi is untyped
    """One server's BMC: power, boot flags, FRU 0, LAN MAC; faults from the command line."""

    def __init__(
        self,
        *,
        users: dict[str, str],
        port: int,
        events: Events,
        faults: dict[str, int],
        fru: bytes | None,
        fru_max_read: int,
        fru_word_access: bool,
        bmc_mac: str,
        powered: bool,
    ) -> None:
        super().__init__(users, port=port, address="127.0.0.1", bmcuuid=uuid.UUID(int=0x20))
        # Sessions are keyed by the socket's real port, not the requested 0 (test-peers.md B2).
        self.port = self.serversocket.getsockname()[1]
        self.events = events
        self.faults = faults
        self.fru = fru
        self.fru_max_read = fru_max_read
        self.fru_word_access = fru_word_access
        self.bmc_mac = bytes.fromhex(bmc_mac.replace(":", ""))
        self.powered = powered
        self.controls = 0

    # --- sessions ---------------------------------------------------------------------------

    def sessionless_data(self, data: bytes, sockaddr: Any) -> None:
        if "silent" in self.faults:
            return
        super().sessionless_data(data, sockaddr)

    # --- power ------------------------------------------------------------------------------

    def get_power_state(self) -> str:
        return "on" if self.powered else "off"

    def get_chassis_status(self, session: Any) -> None:
        if "mute-status" in self.faults:
            return
        super().get_chassis_status(session)

    def control_chassis(self, request: dict[str, Any], session: Any) -> None:
        code = request["data"][0]
        word = CONTROL_WORDS.get(code, f"{code:#04x}")
        self.controls += 1
        if "drop-first-control" in self.faults and self.controls == 1:
            self.events(f"control {word} dropped")
            return
        if "refuse-control" in self.faults:
            self.events(f"control {word} refused")
            session.send_ipmi_response(code=self.faults["refuse-control"])
            return
        rc = self._execute(word)
        self.events(f"control {word} executed rc={rc:#04x}")
        if "mute-control" in self.faults:
            return
        session.send_ipmi_response(code=rc)

    def _execute(self, word: str) -> int:
        if word in ("cycle", "reset") and not self.powered:
            return NOT_IN_PRESENT_STATE  # IPMI 2.0 §28.3 recommends D5h for cycle while off
        if word in ("on", "off", "shutdown"):
            self.powered = word == "on"
            self.events(f"power {self.get_power_state()}")
        elif word not in ("cycle", "reset"):
            return INVALID_DATA
        return 0

    # --- boot options -----------------------------------------------------------------------

    def set_system_boot_options(self, request: dict[str, Any], session: Any) -> None:
        data = bytes(request["data"])
        self.events(f"boot-option {data[0]} {data[1:].hex()}")
        session.send_ipmi_response()

    # --- FRU, channel, LAN ------------------------------------------------------------------

    def handle_raw_request(self, request: dict[str, Any], session: Any) -> None:
        handler = {
            (0x0A, 0x10): self._fru_area_info,  # Get FRU Inventory Area Info
            (0x0A, 0x11): self._read_fru,  # Read FRU Data
            (0x06, 0x42): self._channel_info,  # Get Channel Info
            (0x0C, 0x02): self._lan_config,  # Get LAN Configuration Parameters
        }.get((request["netfn"], request["command"]))
        if handler is None:
            super().handle_raw_request(request, session)
        else:
            handler(bytes(request["data"]), session)

    def _fru_area_info(self, data: bytes, session: Any) -> None:
        if self.fru is None or data[:1] != b"\x00":
            session.send_ipmi_response(code=NOT_PRESENT)
            return
        size = len(self.fru)
        session.send_ipmi_response(data=[size & 0xFF, size >> 8, int(self.fru_word_access)])

    def _read_fru(self, data: bytes, session: Any) -> None:
        if self.fru is None or data[:1] != b"\x00":
            session.send_ipmi_response(code=NOT_PRESENT)
            return
        offset, count = data[1] | data[2] << 8, data[3]
        if count > self.fru_max_read:
            session.send_ipmi_response(code=LENGTH_LIMIT_EXCEEDED)
            return
        chunk = self.fru[offset : offset + count]
        session.send_ipmi_response(data=[len(chunk), *chunk])

    def _channel_info(self, data: bytes, session: Any) -> None:
        if data[:1] not in (b"\x0e", b"\x01"):
            session.send_ipmi_response(code=INVALID_DATA)
            return
        # channel 1, 802.3 LAN, IPMB-1.0 protocol, multi-session, IANA 7154 (as ipmi_sim says)
        session.send_ipmi_response(data=[1, 0x04, 0x01, 0x81, 0xF2, 0x1B, 0x00, 0, 0])

    def _lan_config(self, data: bytes, session: Any) -> None:
        if data[1:2] != b"\x05":
            session.send_ipmi_response(code=PARAMETER_NOT_SUPPORTED)
            return
        session.send_ipmi_response(data=[0x11, *self.bmc_mac])


def _faults(values: Sequence[str]) -> dict[str, int]:
    faults: dict[str, int] = {}
    for value in values:
        name, _, code = value.partition("=")
        if name not in FAULTS:
            raise SystemExit(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        faults[name] = int(code, 0) if code else 0
    return faults


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pyghmi-based BMC for the chassisd tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="password")
    parser.add_argument("--power", choices=("on", "off"), default="off")
    parser.add_argument("--bmc-mac", default="02:00:00:00:00:20")
    parser.add_argument("--serial", default="SN-FAKE-1")
    parser.add_argument("--mac", action="append", default=[], help="host MAC (product extra)")
    parser.add_argument("--product-extra", action="append", default=[], help="raw extra field")
    parser.add_argument("--board-extra", action="append", default=[], help="raw extra field")
    parser.add_argument("--no-fru", action="store_true")
    parser.add_argument("--fru-file", type=Path, help="serve these bytes as FRU 0")
    parser.add_argument("--fru-max-read", type=int, default=34, help="as ipmi_sim: 34 bytes")
    parser.add_argument("--fru-word-access", action="store_true", help="claim word access")
    parser.add_argument("--fault", action="append", default=[])
    args = parser.parse_args(argv)

    fru: bytes | None = None
    if args.fru_file is not None:
        fru = args.fru_file.read_bytes()
    elif not args.no_fru:
        fru = build_fru(
            serial=args.serial,
            product_extra=[*mac_fields(args.mac), *args.product_extra],
            board_extra=args.board_extra,
        )
    events = Events(args.events)
    _patch_open_session()
    _patch_session_events(events)
    bmc = FakeBmc(
        users={args.user: args.password},
        port=args.port,
        events=events,
        faults=_faults(args.fault),
        fru=fru,
        fru_max_read=args.fru_max_read,
        fru_word_access=args.fru_word_access,
        bmc_mac=args.bmc_mac,
        powered=args.power == "on",
    )
    print(bmc.port, flush=True)
    bmc.listen()
    return 0


if __name__ == "__main__":
    sys.exit(main())
