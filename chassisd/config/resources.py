"""The validated resources as frozen values: ``Chassis``, ``NodePool``, and a whole ``Config``.

Owns the shapes every other module reads (the reconcile step, the farm, the agent, the CLI):
``ChassisResource`` (one chassis manager or BMC to poll), ``NodePoolSpec`` and its parts
(``MemberSelector``, ``IpRange``, ``DhcpTarget``, ``KubefarmOutput``), ``SecretRef``, and
``Config``, every resource of one source. Builds nothing from documents (``documents`` and
``specs`` do) and checks nothing across resources (``references`` does); ``Config`` leaves
resolving Secrets to ``driver_targets``.

``ChassisResource`` is not the simulator's ``chassisd.sim.moonshot.model.ChassisSpec`` (a
simulated chassis's cartridges); the two shared a name until this module's type was renamed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chassisd.config import driver_targets
from chassisd.config.defaults import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_GRACE_PERIOD,
    DEFAULT_HOSTNAME_TEMPLATE,
    DEFAULT_LEASE_TIME,
    DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_NAMESPACE,
    DEFAULT_NODE_NAME_TEMPLATE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_POLL_TIMEOUT,
)
from chassisd.config.driver_targets import PowerRoute
from chassisd.driver import ChassisTarget
from chassisd.errors import ConfigError

#: A dotted quad as ``IPv4Address`` reads one: four ASCII decimal octets, no leading zeros (the
#: range 0-255 is checked after).
_DOTTED_QUAD = re.compile(
    r"(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})", re.ASCII
)


@dataclass(frozen=True)
class SecretRef:
    """A reference to one Secret (and optionally one key in it)."""

    name: str
    key: str = ""


@dataclass(frozen=True)
class ChassisResource:
    """One ``Chassis`` resource: a chassis manager or BMC to poll."""

    name: str
    driver: str
    address: str
    credentials_ref: SecretRef
    known_hosts: str = ""
    known_hosts_ref: SecretRef | None = None
    ca_bundle_ref: SecretRef | None = None
    certificate_fingerprint: str = ""
    insecure_skip_verify: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL
    node_name_template: str = DEFAULT_NODE_NAME_TEMPLATE
    paused: bool = False
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT
    poll_timeout: float = DEFAULT_POLL_TIMEOUT
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    fallback: tuple[tuple[str, str], ...] = ()  # (driver, address) tried in order for power
    labels: tuple[tuple[str, str], ...] = ()  # metadata.labels, sorted (``chassisctl -l``)


@dataclass(frozen=True)
class MemberSelector:
    """Which nodes of one chassis a pool claims: ``all``, exact ids, or cartridge/node ranges."""

    chassis: str
    all: bool = False
    ids: frozenset[str] = frozenset()
    ranges: tuple[tuple[int, int, int, int], ...] = ()  # (cart_lo, cart_hi, node_lo, node_hi)

    def matches(self, chassis: str, node_id: str, cartridge: int | None, node: int | None) -> bool:
        """True if this selector claims that node."""
        if chassis != self.chassis:
            return False
        if self.all or node_id.lower() in self.ids:
            return True
        if cartridge is None or node is None:
            return False
        return any(c0 <= cartridge <= c1 and n0 <= node <= n1 for c0, c1, n0, n1 in self.ranges)


@dataclass(frozen=True)
class IpRange:
    """An inclusive IPv4 range that a pool allocates fixed addresses from."""

    start: ipaddress.IPv4Address
    end: ipaddress.IPv4Address

    def __contains__(self, address: object) -> bool:
        return isinstance(address, ipaddress.IPv4Address) and self.start <= address <= self.end

    def holds(self, text: str) -> bool:
        """Whether dotted-quad ``text`` is an address in the range (False if it is not one).
        Reconcile asks this for every remembered allocation of a farm, so it skips building
        ``IPv4Address`` objects."""
        match = _DOTTED_QUAD.fullmatch(text)
        if match is None:
            return False
        value = 0
        for part in match.groups():
            octet = int(part)
            if octet > 255:
                return False
            value = value << 8 | octet
        return int(self.start) <= value <= int(self.end)

    def addresses(self) -> Iterable[ipaddress.IPv4Address]:
        """Every address in the range, in order."""
        for value in range(int(self.start), int(self.end) + 1):
            yield ipaddress.IPv4Address(value)


@dataclass(frozen=True)
class DhcpTarget:
    """Where and how a pool's reservations are written (dnsmasq-controller ``DhcpHosts``).

    "Target" here is the DHCP server a pool feeds, never a driver's ``ChassisTarget``.
    """

    namespace: str = DEFAULT_NAMESPACE
    controller: str = ""  # dnsmasq-controller serves objects whose spec.controller equals its flag
    set_tags: tuple[str, ...] = ()
    lease_time: str = DEFAULT_LEASE_TIME

    @property
    def key(self) -> tuple[str, str]:
        """The one dnsmasq this feeds (namespace, controller): names and MACs are unique there."""
        return self.namespace, self.controller


@dataclass(frozen=True)
class KubefarmOutput:
    """A pool also written as a kubefarm release's ``nodePools`` values, in a ConfigMap.

    ``range``, ``tags`` and ``extra_opts`` are passed through because Helm replaces lists
    (it does not merge them): the values file must carry the whole pool entry.
    """

    config_map: str
    namespace: str = ""  # default: the pool's DHCP namespace
    range: str = ""
    tags: tuple[str, ...] = ()
    extra_opts: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class NodePoolSpec:
    """One ``NodePool`` resource: which nodes boot into which cluster, and how."""

    name: str
    members: tuple[MemberSelector, ...] = ()
    catch_all: bool = False
    ip_range: IpRange | None = None
    static_ips: Mapping[str, ipaddress.IPv4Address] = field(default_factory=dict)
    hostname_template: str = DEFAULT_HOSTNAME_TEMPLATE
    dhcp: DhcpTarget = DhcpTarget()
    grace_period: float = DEFAULT_GRACE_PERIOD
    kubefarm: KubefarmOutput | None = None


@dataclass(frozen=True)
class Config:
    """Every resource of one config source, validated."""

    chassis: tuple[ChassisResource, ...]
    pools: tuple[NodePoolSpec, ...]
    secrets: Mapping[str, Mapping[str, str]]

    def chassis_named(self, name: str) -> ChassisResource:
        """Return the chassis called ``name`` or raise ``ConfigError`` listing the names."""
        for spec in self.chassis:
            if spec.name == name:
                return spec
        known = ", ".join(c.name for c in self.chassis) or "none"
        raise ConfigError(f"no chassis named {name!r} (known: {known})")

    def driver_target(self, spec: ChassisResource) -> ChassisTarget:
        """What a driver needs to reach ``spec``: its Secret references resolved."""
        return driver_targets.driver_target(spec, self.secrets)

    def power_routes(self, spec: ChassisResource) -> list[PowerRoute]:
        """The ways to reach a chassis for power, in order: its driver, then ``fallback``."""
        return driver_targets.power_routes(spec, self.secrets)
