"""The ``ipmi`` driver: one BMC is one node, read and powered with standard IPMI over LAN.

Owns which IPMI requests are sent for which chassisd request, the explicit state and action
maps, and how answers become model values. The session, its timeouts and the error classes of a
missing answer are ``session.py``'s; FRU decoding and the MAC rules are ``fru.py``'s. It never
sleeps, retries or logs: the power service waits for a state and reads it back.

Node id: always ``bmc`` (``NODE_ID``), "the one system behind this BMC". It is the same on every
IPMI chassis, so it never changes when a BMC is re-addressed or its NIC replaced; a node is
named by the chassis name (``ipmi-7/bmc``) or by the naming template. ``cartridge`` and
``node`` are None.

Inventory, in one session: Get Device ID (BMC firmware), Get Chassis Status (power), FRU 0 (product,
serial, asset tag, host MACs from custom fields; read 32 bytes at a time, fewer if the BMC asks),
and Get Channel Info + Get LAN Configuration Parameters #5 (the BMC's own MAC, used only to keep it
out of the host MACs). A BMC that exposes no host MACs gives ``macs=()``, ``macs_known=False`` and
a warning: the BMC's MAC is never reported as a host MAC.

Power: Chassis Control with the codes in ``ACTION_MAP``. On and off are idempotent, so pyghmi may
retransmit them on packet loss; cycle, reset and soft-off are sent exactly once (a lost answer
gives ``AmbiguousOutcome``, never a second request). PXE once: Set System Boot Options, boot
flags "PXE, next boot only" (BIOS boot type, as pyghmi's ``set_bootdev`` sends by default).

Only standard raw requests are sent, never pyghmi's high-level helpers: their OEM set-up
(``oem_init``) can open HTTPS connections to the BMC (the Lenovo handler does) outside our
timeouts and trust settings; ``set_power`` has no power cycle; ``get_inventory()`` fails on a
BMC that caps FRU reads (ipmi_sim at 34 bytes, ``test-peers.md`` B1 quirk 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from chassisd.driver import ChassisTarget, Driver
from chassisd.errors import DeviceError, ParseError, UnsupportedError
from chassisd.model import (
    Feature,
    Inventory,
    MacAddress,
    NodeRecord,
    PowerAction,
    PowerState,
)
from chassisd_ipmi import fru
from chassisd_ipmi.session import Delivery, IpmiSession, Reply

NODE_ID = "bmc"


@dataclass(frozen=True)
class Request:
    """One IPMI request type: network function, command, and its name in the specification."""

    netfn: int
    command: int
    name: str


GET_DEVICE_ID = Request(0x06, 0x01, "Get Device ID")
GET_CHANNEL_INFO = Request(0x06, 0x42, "Get Channel Info")
GET_CHASSIS_STATUS = Request(0x00, 0x01, "Get Chassis Status")
CHASSIS_CONTROL = Request(0x00, 0x02, "Chassis Control")
SET_BOOT_OPTIONS = Request(0x00, 0x08, "Set System Boot Options")
GET_FRU_AREA_INFO = Request(0x0A, 0x10, "Get FRU Inventory Area Info")
READ_FRU_DATA = Request(0x0A, 0x11, "Read FRU Data")
GET_LAN_CONFIG = Request(0x0C, 0x02, "Get LAN Configuration Parameters")

#: Get Chassis Status, byte 1 bit 0 ("power is on") → our state.
POWER_STATE_MAP: dict[int, PowerState] = {0: PowerState.OFF, 1: PowerState.ON}

#: Our actions → Chassis Control codes (IPMI 2.0 §28.3). ``SHUTDOWN`` is the ACPI soft-off.
ACTION_MAP: dict[PowerAction, int] = {
    PowerAction.OFF: 0x00,
    PowerAction.ON: 0x01,
    PowerAction.CYCLE: 0x02,
    PowerAction.RESET: 0x03,
    PowerAction.SHUTDOWN: 0x05,
}

#: Actions that do no harm when a retransmitted request is executed twice.
REPEATABLE_ACTIONS = frozenset({PowerAction.ON, PowerAction.OFF})

#: Set System Boot Options parameter 3 ("boot flag valid bit clearing"): 0x08 keeps the flags
#: past the 60-second automatic clearing, as pyghmi's and ipmitool's bootdev commands do.
KEEP_BOOT_FLAGS = bytes([0x03, 0x08])
#: Parameter 5 (boot flags): valid, this boot only (bit 6 clear), device 0001b = PXE.
PXE_NEXT_BOOT = bytes([0x05, 0x80, 0x04, 0x00, 0x00, 0x00])

LOCAL_CHANNEL = 0x0E  # "the channel this request came in on"
LAN_MAC_PARAMETER = 5
LAN_MEDIA = frozenset({0x04, 0x06})  # 802.3 LAN, other LAN (Get Channel Info medium type)

FRU_DEVICE = 0
FRU_CHUNK = 32  # bytes per Read FRU Data, as ipmitool reads; ipmi_sim refuses more than 34
FRU_MIN_CHUNK = 8
#: Completion codes a BMC gives for a FRU read larger than it can answer: ask for less.
FRU_TOO_LARGE = frozenset({0xC8, 0xC9, 0xCA})


class IpmiDriver(Driver):
    """A server's BMC over IPMI 2.0 LAN (RMCP+), through pyghmi."""

    name: ClassVar[str] = "ipmi"
    features: ClassVar[frozenset[Feature]] = frozenset(
        {Feature.INVENTORY, Feature.POWER_STATE, Feature.POWER_SET, Feature.PXE_ONCE}
    )
    power_actions: ClassVar[frozenset[PowerAction]] = frozenset(ACTION_MAP)

    def __init__(self, target: ChassisTarget) -> None:
        super().__init__(target)
        self._session = IpmiSession(target)

    def open(self) -> None:
        with self.located():
            self._session.login()

    def close(self) -> None:
        self._session.logout()

    def _send(
        self,
        request: Request,
        data: bytes = b"",
        *,
        what: str = "",
        delivery: Delivery = Delivery.READ,
    ) -> Reply:
        return self._session.request(
            request.netfn,
            request.command,
            data,
            what=what or request.name,
            delivery=delivery,
        )

    def _checked(
        self,
        request: Request,
        data: bytes = b"",
        *,
        what: str = "",
        delivery: Delivery = Delivery.READ,
    ) -> Reply:
        what = what or request.name
        return self._session.check(self._send(request, data, what=what, delivery=delivery), what)

    def inventory(self) -> Inventory:
        with self.located():
            warnings: list[str] = []
            firmware = self._firmware(warnings)
            power = self._power()
            info, fru_warnings = self._read_fru()
            warnings.extend(fru_warnings)
            macs: tuple[MacAddress, ...] = ()
            if info is not None:
                macs, mac_warnings = fru.host_macs(info)
                warnings.extend(mac_warnings)
            bmc_mac = self._bmc_mac()
            if bmc_mac is not None and bmc_mac in macs:
                macs = tuple(mac for mac in macs if mac != bmc_mac)
                warnings.append(f"FRU 0 lists the BMC's own MAC {bmc_mac}; not used as a host MAC")
            elif bmc_mac is None and macs:
                warnings.append("the BMC's own MAC is unreadable; FRU MACs not checked against it")
            if not macs:
                reason = (
                    "no host MAC in FRU 0's custom fields" if info is not None else "FRU 0 not read"
                )
                bmc = f"; the BMC's own MAC {bmc_mac} is not one" if bmc_mac is not None else ""
                warnings.append(f"{NODE_ID}: host MACs unknown ({reason}){bmc}")
            product = (info.product or info.board_product) if info is not None else ""
            node = NodeRecord(
                id=NODE_ID,
                macs=macs,
                power=power,
                product=product,
                serial=(info.serial or info.board_serial) if info is not None else "",
                asset_tag=info.asset_tag if info is not None else "",
                macs_known=bool(macs),
            )
            manufacturer = (info.manufacturer or info.board_manufacturer) if info else ""
            return Inventory(
                chassis=self.target.name,
                driver=self.name,
                nodes=(node,),
                taken_at=datetime.now(UTC),
                model=" ".join(part for part in (manufacturer, product) if part),
                firmware=firmware,
                warnings=tuple(warnings),
            )

    def power_state(self, node_id: str) -> PowerState:
        with self.located():
            self._check_node(node_id)
            return self._power()

    def set_power(self, node_id: str, action: PowerAction) -> None:
        with self.located():
            self._check_node(node_id)
            code = ACTION_MAP.get(action)
            if code is None:
                raise UnsupportedError(f"{action.value} is not a chassis power action")
            delivery = Delivery.REPEATABLE if action in REPEATABLE_ACTIONS else Delivery.ONCE
            self._checked(
                CHASSIS_CONTROL,
                bytes([code]),
                what=f"{CHASSIS_CONTROL.name} ({action.value})",
                delivery=delivery,
            )

    def pxe_once(self, node_id: str) -> None:
        with self.located():
            self._check_node(node_id)
            self._checked(
                SET_BOOT_OPTIONS,
                KEEP_BOOT_FLAGS,
                what=f"{SET_BOOT_OPTIONS.name} (valid bit clearing)",
                delivery=Delivery.REPEATABLE,
            )
            self._checked(
                SET_BOOT_OPTIONS,
                PXE_NEXT_BOOT,
                what=f"{SET_BOOT_OPTIONS.name} (boot flags: PXE, next boot only)",
                delivery=Delivery.REPEATABLE,
            )

    def _check_node(self, node_id: str) -> None:
        if node_id.strip().lower() != NODE_ID:
            raise DeviceError(
                f"{node_id!r} is not a node of this BMC; an IPMI chassis has one node, {NODE_ID!r}"
            )

    def _power(self) -> PowerState:
        reply = self._checked(GET_CHASSIS_STATUS)
        if not reply.data:
            raise ParseError("empty answer", command=GET_CHASSIS_STATUS.name)
        return POWER_STATE_MAP.get(reply.data[0] & 0x01, PowerState.UNKNOWN)

    def _firmware(self, warnings: list[str]) -> str:
        reply = self._send(GET_DEVICE_ID)
        if reply.code or len(reply.data) < 4:
            warnings.append(f"{GET_DEVICE_ID.name} failed: {_describe(reply)}")
            return ""
        # Byte 3: major revision (bits 6:0); byte 4: minor revision, two BCD digits.
        return f"{reply.data[2] & 0x7F}.{reply.data[3]:02x}"

    def _read_fru(self) -> tuple[fru.FruInfo | None, list[str]]:
        area = self._send(GET_FRU_AREA_INFO, bytes([FRU_DEVICE]))
        if area.code or len(area.data) < 3:
            return None, [f"no FRU 0 ({GET_FRU_AREA_INFO.name}: {_describe(area)})"]
        size = int.from_bytes(area.data[0:2], "little")
        if area.data[2] & 0x01:
            return None, ["FRU 0 is accessed by words, which chassisd does not read"]
        data = bytearray()
        chunk = FRU_CHUNK
        while len(data) < (needed := fru.bytes_needed(bytes(data), size)):
            offset = len(data)
            count = min(chunk, needed - offset)
            request = bytes([FRU_DEVICE, offset & 0xFF, offset >> 8, count])
            reply = self._send(READ_FRU_DATA, request, what=f"{READ_FRU_DATA.name} at {offset}")
            if reply.code in FRU_TOO_LARGE and chunk > FRU_MIN_CHUNK:
                chunk //= 2  # the BMC caps the read size (ipmi_sim: 34 bytes)
                continue
            if reply.code or len(reply.data) < 2 or reply.data[0] == 0:
                return None, [f"FRU 0 unreadable at byte {offset}: {_describe(reply)}"]
            data += reply.data[1 : 1 + reply.data[0]]
        try:
            return fru.parse_fru(bytes(data)), []
        except ParseError as exc:
            return None, [f"FRU 0 not used: {exc}"]

    def _bmc_mac(self) -> MacAddress | None:
        channel = self._send(GET_CHANNEL_INFO, bytes([LOCAL_CHANNEL]))
        if channel.code or len(channel.data) < 2 or channel.data[1] & 0x7F not in LAN_MEDIA:
            return None
        request = bytes([channel.data[0] & 0x0F, LAN_MAC_PARAMETER, 0, 0])
        reply = self._send(GET_LAN_CONFIG, request, what=f"{GET_LAN_CONFIG.name} (MAC)")
        if reply.code or len(reply.data) < 7:
            return None
        try:
            return MacAddress(reply.data[1:7].hex(":"))
        except ValueError:
            return None


def _describe(reply: Reply) -> str:
    if reply.code:
        return f"completion code {reply.code:#04x}" + (
            f" ({reply.message})" if reply.message else ""
        )
    return f"short answer ({len(reply.data)} bytes)"
