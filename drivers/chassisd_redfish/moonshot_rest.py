"""The ``moonshot-rest`` driver: the HPE Moonshot iLO Chassis Manager's ``/rest/v1`` API.

Owns: the inventory walk and power/PXE requests of moonshot-cli.md §7 ("HP RESTful API", the
RIS generation of iLO 4 - ``links``/``href``, not DMTF Redfish paths):

- Login: ``POST /rest/v1/Sessions`` ``{"UserName", "Password"}`` → ``X-Auth-Token``; deleted at
  ``Location`` on ``close``. A 404/405/501 there falls back to HTTP Basic, which the CM also
  accepts [§7].
- Inventory: ``GET /rest/v1/Chassis`` → ``links.Member[].href`` → chassis ``links.Cartridges``
  → ``links.Member[]`` → cartridge ``links.ComputerSystems[]`` → node: MACs from
  ``HostCorrelation.HostMACAddress[]``, power from ``Power`` (RIS) or ``PowerState``, health
  from ``Status.Health``. Node ids are the CLI's ``c<cartridge>n<node>``, taken from the node's
  ``Id``/``Name`` or its URL (``/rest/v1/Systems/c5n1`` [§7]), with ``cartridge``/``node`` set
  so node naming templates work as with the SSH ``moonshot`` driver.
- Power: ``POST /rest/v1/Systems/<cXnY>`` ``{"Action": "Reset", "ResetType": ...}`` with the
  first ResetType of ``MOONSHOT_RESET_TYPES`` that the node's ``AvailableActions`` allows (when
  it lists any). ``cycle`` is the chassis's ``ColdReset``; there is no graceful shutdown.
- One-time PXE: ``PATCH /rest/v1/Systems/<cXnY>`` ``{"Boot": {"BootSourceOverrideEnabled":
  "Once", "BootSourceOverrideTarget": "PXE"}}`` (``PXE`` spelt as Mozilla's scripts send it).

Must not: sleep, retry, log, or import the SSH ``moonshot`` driver (drivers are independent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Final

from chassisd.errors import DeviceError, UnsupportedError
from chassisd.model import (
    Feature,
    Inventory,
    NodeId,
    NodeRecord,
    PowerAction,
    PowerState,
)
from chassisd_redfish.base import HttpDriver
from chassisd_redfish.resources import (
    ALREADY_THERE,
    MOONSHOT_RESET_TYPES,
    Resource,
    health_of,
    host_macs,
    power_of,
    ris_allowable,
    unique,
)

PREFIX: Final = "/rest/v1"
SESSIONS: Final = f"{PREFIX}/Sessions"
CHASSIS: Final = f"{PREFIX}/Chassis"
PXE_ONCE_PATCH: Final = {
    "Boot": {"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": "PXE"}
}


class MoonshotRestDriver(HttpDriver):
    """HPE Moonshot 1500 chassis through its chassis manager's REST API."""

    name: ClassVar[str] = "moonshot-rest"
    features: ClassVar[frozenset[Feature]] = frozenset(
        {Feature.INVENTORY, Feature.POWER_STATE, Feature.POWER_SET, Feature.PXE_ONCE}
    )
    power_actions: ClassVar[frozenset[PowerAction]] = frozenset(MOONSHOT_RESET_TYPES)

    def _login(self) -> None:
        if not self._http.login(SESSIONS):
            self._http.use_basic()

    def inventory(self) -> Inventory:
        with self.located():
            nodes: dict[NodeId, NodeRecord] = {}
            warnings = list(self._http.warnings)
            model = firmware = ""
            for chassis_url in self._http.get(CHASSIS).members():
                chassis = self._http.get(chassis_url)
                model = model or chassis.text("Model")
                firmware = firmware or chassis.text("Firmware", "Current", "VersionString")
                cartridges = self._http.get(chassis.link("links", "Cartridges", required=True))
                for cartridge_url in cartridges.members():
                    cartridge = self._http.get(cartridge_url)
                    for system_url in cartridge.links("links", "ComputerSystems"):
                        system = self._http.get(system_url)
                        record = _record(system, cartridge)
                        key = NodeId(record.cartridge or 0, record.node or 0)
                        if key in nodes:
                            warnings.append(f"{record.id}: listed twice; the last listing is kept")
                        if not record.macs:
                            warnings.append(f"{record.id}: no MAC addresses reported")
                        nodes[key] = record
            return Inventory(
                chassis=self.target.name,
                driver=self.name,
                nodes=tuple(nodes[key] for key in sorted(nodes)),
                taken_at=datetime.now(UTC),
                model=model,
                firmware=firmware,
                warnings=tuple(warnings),
            )

    def power_state(self, node_id: str) -> PowerState:
        with self.located():
            return _power(self._system(node_id))

    def set_power(self, node_id: str, action: PowerAction) -> None:
        with self.located():
            self._preferences(MOONSHOT_RESET_TYPES, action)  # refuse other actions before any I/O
            system = self._system(node_id)
            if ALREADY_THERE.get(action) is _power(system):
                return  # on/off are idempotent
            allowed = ris_allowable(system, "Reset", "ResetType")
            reset_type = self._reset_type(MOONSHOT_RESET_TYPES, action, allowed, node_id)
            self._http.post_action(system.url, {"Action": "Reset", "ResetType": reset_type})

    def pxe_once(self, node_id: str) -> None:
        with self.located():
            system = self._system(node_id)
            supported = system.strings("Boot", "BootSourceOverrideSupported")
            if supported is not None and "pxe" not in (s.lower() for s in supported):
                raise UnsupportedError(
                    f"{node_id}: the node cannot boot from PXE (it allows {', '.join(supported)})"
                )
            self._http.patch(system.url, PXE_ONCE_PATCH)

    def _system(self, node_id: str) -> Resource:
        try:
            node = NodeId.parse(node_id)
        except ValueError as exc:
            raise DeviceError(
                f"{node_id!r} is not a Moonshot node id (c<cartridge>n<node>)"
            ) from exc
        return self._http.get(f"{PREFIX}/Systems/{node}")


def _power(system: Resource) -> PowerState:
    """RIS names the property ``Power``; a Redfish-style ``PowerState`` is accepted too."""
    return power_of(system, "Power" if system.get("Power") is not None else "PowerState")


def _record(system: Resource, cartridge: Resource) -> NodeRecord:
    node_id = _node_id(system)
    macs = host_macs(system)
    return NodeRecord(
        id=str(node_id),
        macs=unique(macs or ()),
        power=_power(system),
        health=health_of(system),
        product=(system.text("Model") or cartridge.text("Model")).strip(),
        serial=(system.text("SerialNumber") or cartridge.text("SerialNumber")).strip(),
        cartridge=node_id.cartridge,
        node=node_id.node,
    )


def _node_id(system: Resource) -> NodeId:
    """``c<cartridge>n<node>`` from ``Id``, ``Name`` or the last URL segment, first that fits."""
    candidates = (system.text("Id"), system.text("Name"), system.url.rstrip("/").rsplit("/")[-1])
    for candidate in candidates:
        try:
            return NodeId.parse(candidate)
        except ValueError:
            continue
    seen = ", ".join(map(repr, candidates))
    raise system.error(f"no c<cartridge>n<node> node id in Id, Name or URL (saw {seen})")
