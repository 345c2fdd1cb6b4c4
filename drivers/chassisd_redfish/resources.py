"""JSON resources of Redfish and the HP RESTful API (RIS), and how they become model values.

Owns: ``Resource`` (one fetched JSON document with typed, path-based accessors that raise
``ParseError`` naming the URL and the property), the explicit state maps, the action →
``ResetType`` preference tables and the rule that picks one from what a system allows, and the
pure functions that read MACs, power and health out of payloads. Redfish (``@odata.id`` links,
``Members``) and RIS (``href`` links, ``links.Member``) shapes are both understood, because iLO 4
and the Moonshot Chassis Manager speak RIS, and iLO 4/5 put NIC data under ``Oem.Hp``/``Oem.Hpe``.

Must not: do I/O, log, or know about sessions or TLS. Everything here is tested by feeding real
payloads (sushy-emulator, iLO 5 samples from the proliantutils wheel, the REST simulator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from chassisd.errors import ParseError
from chassisd.model import Health, MacAddress, PowerAction, PowerState

#: Device power words → our states (compared case-insensitively). Redfish ``PowerState`` and RIS
#: ``Power`` share the words. Transitional states count as their destination, as the moonshot
#: driver does for ``PoweringOn``; anything else (``Paused``, RIS ``Unknown``/``Reset``) is
#: UNKNOWN.
POWER_STATE_MAP: Final[Mapping[str, PowerState]] = {
    "on": PowerState.ON,
    "off": PowerState.OFF,
    "poweringon": PowerState.ON,
    "poweringoff": PowerState.OFF,
}

#: ``Status.Health`` → our levels. Redfish and RIS document the same three words; the Moonshot
#: chassis manager's node health also says ``Degraded`` (needs attention, still runs: a
#: warning), as its CLI does (``chassisd_moonshot.parse.HEALTH_STATES``).
HEALTH_MAP: Final[Mapping[str, Health]] = {
    "ok": Health.OK,
    "warning": Health.WARNING,
    "degraded": Health.WARNING,
    "critical": Health.CRITICAL,
}

#: Redfish ``ComputerSystem.Reset``: our action → ResetTypes in order of preference. The first
#: one the system lists in ``ResetType@Redfish.AllowableValues`` is sent. ``shutdown`` has no
#: fallback on purpose: iLO's ``PushPowerButton`` toggles, so on an off node it would power on.
REDFISH_RESET_TYPES: Final[Mapping[PowerAction, tuple[str, ...]]] = {
    PowerAction.ON: ("On", "ForceOn"),
    PowerAction.OFF: ("ForceOff",),
    PowerAction.SHUTDOWN: ("GracefulShutdown",),
    PowerAction.CYCLE: ("PowerCycle", "ForceRestart"),
    PowerAction.RESET: ("ForceRestart",),
}

#: Moonshot Chassis Manager ``/rest/v1`` ``Reset``: ``ColdReset`` is the one value a source shows
#: (moonshot-cli.md §7, Mozilla's reboot script) and is a cold boot, i.e. a power cycle; ``On``,
#: ``ForceOff`` and ``ForceRestart`` are the RIS words of the same API generation (iLO 4, in
#: proliantutils' ris_sample_outputs) - an inference, checked against ``AvailableActions`` when
#: the node lists them. No graceful shutdown is known for this API, so none is offered.
MOONSHOT_RESET_TYPES: Final[Mapping[PowerAction, tuple[str, ...]]] = {
    PowerAction.ON: ("On",),
    PowerAction.OFF: ("ForceOff",),
    PowerAction.CYCLE: ("ColdReset",),
    PowerAction.RESET: ("ForceRestart",),
}

#: States that make ``on``/``off``/``shutdown`` a no-op: they are idempotent, and iLO refuses a
#: request for the state a server already has with ``InvalidOperationForSystemState`` (so
#: proliantutils checks first: ``redfish/redfish.py`` ``_retry_until_powered_on``).
ALREADY_THERE: Final[Mapping[PowerAction, PowerState]] = {
    PowerAction.ON: PowerState.ON,
    PowerAction.OFF: PowerState.OFF,
    PowerAction.SHUTDOWN: PowerState.OFF,
}

_MISSING: Final = object()


class Resource:
    """One JSON object fetched from ``url``, read by property paths (``"Status", "Health"``)."""

    def __init__(self, url: str, data: Mapping[str, Any]) -> None:
        self.url = url
        self.data = data

    def error(self, problem: str) -> ParseError:
        """A ``ParseError`` naming this resource's URL."""
        return ParseError(problem, command=self.url)

    def child(self, data: Mapping[str, Any]) -> Resource:
        """Another document in the same context (an embedded object, e.g. a collection item)."""
        return Resource(self.url, data)

    def get(self, *path: str) -> Any:
        """The value at ``path``, or ``None`` when any step is missing or not an object."""
        value: Any = self.data
        for key in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key, _MISSING)
            if value is _MISSING:
                return None
        return value

    def text(self, *path: str, required: bool = False) -> str:
        """A string property (``""`` when absent or null, unless ``required``)."""
        value = self.get(*path)
        if value is None:
            if required:
                raise self.error(f"missing required property {_dotted(path)}")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.error(f"property {_dotted(path)} is not a string: {value!r}")
        return str(value)

    def strings(self, *path: str) -> list[str] | None:
        """A list of strings, or ``None`` when absent (absent and empty differ for allow-lists)."""
        value = self.get(*path)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f"property {_dotted(path)} is not a list of strings: {value!r}")
        return list(value)

    def link(self, *path: str, required: bool = False) -> str:
        """The URL of the link object at ``path``: ``{"@odata.id": u}`` or RIS ``{"href": u}``."""
        value = self.get(*path)
        if value is None:
            if required:
                raise self.error(f"missing required link {_dotted(path)}")
            return ""
        url = _link_url(value)
        if url is None:
            raise self.error(f"property {_dotted(path)} is not a link: {value!r}")
        return url

    def links(self, *path: str) -> list[str]:
        """URLs of a list of link objects at ``path`` (``[]`` when absent)."""
        value = self.get(*path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(f"property {_dotted(path)} is not a list of links: {value!r}")
        urls = [_link_url(item) for item in value]
        if any(url is None for url in urls):
            raise self.error(f"property {_dotted(path)} holds something that is not a link")
        return [url for url in urls if url is not None]

    def members(self) -> list[str]:
        """Member URLs of a collection: Redfish ``Members`` or RIS ``links.Member``."""
        if self.get("Members") is not None:
            return self.links("Members")
        if self.get("links", "Member") is not None:
            return self.links("links", "Member")
        raise self.error("not a collection: no Members (Redfish) or links.Member (RIS)")

    def next_page(self) -> str:
        """``Members@odata.nextLink`` of a paged Redfish collection (``""`` on the last page)."""
        return self.text("Members@odata.nextLink")


def _dotted(path: Sequence[str]) -> str:
    return ".".join(path)


def _link_url(value: Any) -> str | None:
    if isinstance(value, Mapping):
        url = value.get("@odata.id", value.get("href"))
        return url if isinstance(url, str) and url else None
    return None


# -- values --------------------------------------------------------------------------------------


def power_of(resource: Resource, *path: str) -> PowerState:
    """Power at ``path`` through ``POWER_STATE_MAP``; absent or unknown words are UNKNOWN."""
    word = resource.text(*path)
    return POWER_STATE_MAP.get(word.strip().lower(), PowerState.UNKNOWN)


def health_of(resource: Resource) -> Health:
    """``Status.Health`` through ``HEALTH_MAP`` (null, as iLO 5 NICs report it, is UNKNOWN)."""
    return HEALTH_MAP.get(resource.text("Status", "Health").strip().lower(), Health.UNKNOWN)


def mac(resource: Resource, value: str, where: str) -> MacAddress:
    """A MAC from a payload, or a ``ParseError`` naming the property."""
    try:
        return MacAddress(value)
    except ValueError as exc:
        raise resource.error(f"{where} is not a MAC address: {value!r}") from exc


def interface_mac(interface: Resource) -> MacAddress | None:
    """An ``EthernetInterface``'s MAC: ``MACAddress``, else ``PermanentMACAddress``.

    iLO 5 lists interfaces with only ``MACAddress`` (proliantutils ethernet_interface.json
    ``latest``); sushy-emulator sets both. ``None`` when neither is set.
    """
    for prop in ("MACAddress", "PermanentMACAddress"):
        value = interface.text(prop).strip()
        if value:
            return mac(interface, value, prop)
    return None


def adapter_macs(adapter: Resource) -> list[MacAddress]:
    """MACs of an HPE OEM network adapter: ``PhysicalPorts[].MacAddress``.

    Shape from a real iLO 4 ``BaseNetworkAdapter`` (proliantutils ris_sample_outputs
    ``RESP_NETWORK_ADAPTER``); iLO 5's ``HpeBaseNetworkAdapter`` keeps the same port list.
    """
    ports = adapter.get("PhysicalPorts")
    if ports is None:
        return []
    if not isinstance(ports, list):
        raise adapter.error(f"PhysicalPorts is not a list: {ports!r}")
    macs = []
    for index, port in enumerate(ports):
        if not isinstance(port, Mapping):
            raise adapter.error(f"PhysicalPorts[{index}] is not an object")
        value = adapter.child(port).text("MacAddress").strip()
        if value:
            macs.append(mac(adapter, value, f"PhysicalPorts[{index}].MacAddress"))
    return macs


def host_macs(system: Resource) -> list[MacAddress] | None:
    """Moonshot ``HostCorrelation.HostMACAddress[]`` (``None`` when the node lists none)."""
    values = system.strings("HostCorrelation", "HostMACAddress")
    if values is None:
        return None
    return [
        mac(system, value, f"HostCorrelation.HostMACAddress[{index}]")
        for index, value in enumerate(values)
        if value.strip()
    ]


def hpe_oem_link(system: Resource, name: str) -> str:
    """A link in the HPE OEM section: ``Oem.Hpe`` (iLO 5) or ``Oem.Hp`` (iLO 4), either case."""
    for vendor in ("Hpe", "Hp"):
        for links in ("Links", "links"):
            url = system.link("Oem", vendor, links, name)
            if url:
                return url
    return ""


def is_hpe(resource: Resource) -> bool:
    """Whether the payload carries HPE's OEM section (iLO 4 ``Hp`` or iLO 5 ``Hpe``)."""
    return resource.get("Oem", "Hpe") is not None or resource.get("Oem", "Hp") is not None


def ris_allowable(system: Resource, action: str, prop: str) -> list[str] | None:
    """RIS ``AvailableActions[Action].Capabilities[PropertyName].AllowableValues``, if listed."""
    actions = system.get("AvailableActions")
    if actions is None:
        return None
    if not isinstance(actions, list):
        raise system.error(f"AvailableActions is not a list: {actions!r}")
    for entry in actions:
        if not isinstance(entry, Mapping) or entry.get("Action") != action:
            continue
        for capability in entry.get("Capabilities") or []:
            if isinstance(capability, Mapping) and capability.get("PropertyName") == prop:
                return system.child(capability).strings("AllowableValues")
    return None


def pick_reset_type(preferences: Sequence[str], allowed: Sequence[str] | None) -> str | None:
    """The first preferred ResetType the system allows; with no allow-list, the first preferred.

    A system that lists nothing is taken to accept the standard values (as sushy and Ironic do);
    one that lists values is taken at its word.
    """
    if allowed is None:
        return preferences[0] if preferences else None
    for reset_type in preferences:
        if reset_type in allowed:
            return reset_type
    return None


def unique(macs: Sequence[MacAddress]) -> tuple[MacAddress, ...]:
    """MACs in first-seen order without repeats."""
    return tuple(dict.fromkeys(macs))
