"""The ``redfish`` driver: DMTF Redfish BMCs and HPE iLO 4/5, over ``/redfish/v1``.

Owns: which resources are read for which request and how they become model values. One BMC
address can hold many systems (a blade enclosure, sushy-emulator): each ``ComputerSystem`` is a
node whose id is the system's ``Id`` (``cartridge``/``node`` stay ``None``).

- Login: the service root (no auth) names ``Links.Sessions``; a session is opened there and
  deleted on ``close``. A root without sessions (sushy-emulator has none), or a login answered
  404/405/501, falls back to HTTP Basic on every request.
- Inventory: ``Systems`` → each system (``Id``, ``Name``, ``Model``, ``SerialNumber``,
  ``Status.Health``, ``PowerState``) → ``EthernetInterfaces`` (``MACAddress``, else
  ``PermanentMACAddress``; the link may sit under ``Oem.Hpe.Links`` on iLO 5). When that yields
  nothing on an HPE system (iLO 4/5 without the Agentless Management Service report no host
  NICs there), the OEM network adapters are read: ``Oem.Hpe``/``Oem.Hp`` ``Links.NetworkAdapters``,
  else ``<system>/BaseNetworkAdapters``, each with ``PhysicalPorts[].MacAddress``.
- Power: ``Actions.#ComputerSystem.Reset`` at the ``target`` the system advertises, with the
  first ResetType of ``REDFISH_RESET_TYPES`` that the system's
  ``ResetType@Redfish.AllowableValues`` lists; ``on``/``off``/``shutdown`` are not sent when the
  system already is in that state.
- One-time PXE: ``PATCH`` the system ``{"Boot": {"BootSourceOverrideEnabled": "Once",
  "BootSourceOverrideTarget": "Pxe"}}``.

Must not: sleep, retry, log, or import another driver.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Final
from urllib.parse import quote

from chassisd.errors import UnsupportedError
from chassisd.model import Feature, Inventory, MacAddress, NodeRecord, PowerAction, PowerState
from chassisd_redfish.base import HttpDriver
from chassisd_redfish.resources import (
    ALREADY_THERE,
    REDFISH_RESET_TYPES,
    Resource,
    adapter_macs,
    health_of,
    hpe_oem_link,
    interface_mac,
    is_hpe,
    power_of,
    unique,
)

SERVICE_ROOT: Final = "/redfish/v1/"
RESET_ACTION: Final = "#ComputerSystem.Reset"
PXE_ONCE_PATCH: Final = {
    "Boot": {"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": "Pxe"}
}
MAX_PAGES: Final = 100
"""A paged collection longer than this is treated as a device bug, not followed forever."""


class RedfishDriver(HttpDriver):
    """Any Redfish service (sushy-emulator, OpenBMC, iLO 4/5, ...); one node per system."""

    name: ClassVar[str] = "redfish"
    features: ClassVar[frozenset[Feature]] = frozenset(
        {Feature.INVENTORY, Feature.POWER_STATE, Feature.POWER_SET, Feature.PXE_ONCE}
    )
    power_actions: ClassVar[frozenset[PowerAction]] = frozenset(REDFISH_RESET_TYPES)

    _root: Resource | None = None

    def _login(self) -> None:
        root = self._http.get(SERVICE_ROOT)
        self._root = root
        sessions = root.link("Links", "Sessions")
        if not sessions and root.get("SessionService") is not None:
            sessions = "/redfish/v1/SessionService/Sessions"  # the spec's fixed location
        if not (sessions and self._http.login(sessions)):
            self._http.use_basic()

    @property
    def _systems(self) -> str:
        if self._root is None:
            raise RuntimeError("the driver is not open: use it in a `with` block")
        return self._root.link("Systems", required=True)

    # -- inventory ------------------------------------------------------------------------------

    def inventory(self) -> Inventory:
        with self.located():
            nodes: list[NodeRecord] = []
            warnings = list(self._http.warnings)
            for url in self._members(self._systems) or ():
                system = self._http.get(url)
                macs, mac_warnings = self._macs(system)
                warnings.extend(mac_warnings)
                nodes.append(
                    NodeRecord(
                        id=system.text("Id", required=True),
                        macs=macs,
                        power=power_of(system, "PowerState"),
                        health=health_of(system),
                        product=system.text("Model").strip(),
                        serial=system.text("SerialNumber").strip(),  # iLO 5 pads it with spaces
                    )
                )
            model, firmware = self._manager()
            return Inventory(
                chassis=self.target.name,
                driver=self.name,
                nodes=tuple(nodes),
                taken_at=datetime.now(UTC),
                model=model,
                firmware=firmware,
                warnings=tuple(warnings),
            )

    def _members(self, collection_url: str, *, optional: bool = False) -> list[str] | None:
        """All member URLs of a collection, across ``Members@odata.nextLink`` pages.

        ``optional``: a collection the service links but answers 404 for is ``None``, not an
        error (sushy-emulator does that for several links it advertises, test-peers.md A1).
        """
        urls: list[str] = []
        first = (
            self._http.get_optional(collection_url) if optional else self._http.get(collection_url)
        )
        if first is None:
            return None
        page = first
        for _ in range(MAX_PAGES):
            urls.extend(page.members())
            next_url = page.next_page()
            if not next_url:
                return urls
            page = self._http.get(next_url)
        raise page.error(f"collection has more than {MAX_PAGES} pages")

    def _macs(self, system: Resource) -> tuple[tuple[MacAddress, ...], list[str]]:
        node = system.text("Id")
        macs: list[MacAddress] = []
        warnings: list[str] = []
        link = system.link("EthernetInterfaces") or hpe_oem_link(system, "EthernetInterfaces")
        if link:
            members = self._members(link, optional=True)
            if members is None:
                warnings.append(f"{node}: {link} is linked but not found")
            for url in members or ():
                found = interface_mac(self._http.get(url))
                if found is not None:
                    macs.append(found)
        if not macs and is_hpe(system):
            macs = self._hpe_adapter_macs(system)
        if not macs:
            return (), [*warnings, f"{node}: no MAC addresses reported"]
        return unique(macs), warnings

    def _hpe_adapter_macs(self, system: Resource) -> list[MacAddress]:
        link = hpe_oem_link(system, "NetworkAdapters")
        collection = (
            self._http.get(link)
            if link
            else self._http.get_optional(system.url.rstrip("/") + "/BaseNetworkAdapters")
        )
        if collection is None:
            return []
        macs: list[MacAddress] = []
        for url in collection.members():
            macs.extend(adapter_macs(self._http.get(url)))
        return macs

    def _manager(self) -> tuple[str, str]:
        """Manager type and firmware from the root's HPE OEM section (iLO), else empty."""
        root = self._root
        if root is None:
            return "", ""
        managers = root.get("Oem", "Hpe", "Manager") or root.get("Oem", "Hp", "Manager")
        if not isinstance(managers, list) or not managers or not isinstance(managers[0], dict):
            return "", ""
        first = root.child(managers[0])
        return first.text("ManagerType"), first.text("ManagerFirmwareVersion")

    # -- power ----------------------------------------------------------------------------------

    def _system(self, node_id: str) -> Resource:
        return self._http.get(f"{self._systems.rstrip('/')}/{quote(node_id, safe='')}")

    def power_state(self, node_id: str) -> PowerState:
        with self.located():
            return power_of(self._system(node_id), "PowerState")

    def set_power(self, node_id: str, action: PowerAction) -> None:
        with self.located():
            self._preferences(REDFISH_RESET_TYPES, action)  # refuse other actions before any I/O
            system = self._system(node_id)
            if ALREADY_THERE.get(action) is power_of(system, "PowerState"):
                return  # idempotent; iLO refuses a repeat (see ALREADY_THERE)
            if system.get("Actions", RESET_ACTION) is None:
                raise UnsupportedError(f"{node_id}: the system offers no {RESET_ACTION} action")
            target = system.text("Actions", RESET_ACTION, "target", required=True)
            allowed = system.strings("Actions", RESET_ACTION, "ResetType@Redfish.AllowableValues")
            reset_type = self._reset_type(REDFISH_RESET_TYPES, action, allowed, node_id)
            self._http.post_action(target, {"ResetType": reset_type})

    def pxe_once(self, node_id: str) -> None:
        with self.located():
            system = self._system(node_id)
            allowed = system.strings("Boot", "BootSourceOverrideTarget@Redfish.AllowableValues")
            if allowed is not None and "Pxe" not in allowed:
                raise UnsupportedError(
                    f"{node_id}: the system cannot boot from Pxe (it allows {', '.join(allowed)})"
                )
            self._http.patch(system.url, PXE_ONCE_PATCH)
