"""Resource documents → typed settings: ``Chassis``, ``NodePool`` and ``v1/Secret``.

Owns parsing and validating the resource shapes chassisd uses (the same in a standalone YAML
file and, later, in the cluster) and resolving Secret references into ``ChassisTarget`` values.
Every validation error names the document and the field path. Reads files; talks to no device
and no cluster.

A standalone config file is a multi-document YAML stream::

    apiVersion: v1
    kind: Secret
    metadata: {name: moonshot-1-credentials}
    stringData: {username: admin, password: secret}          # or base64 ``data``
    ---
    apiVersion: chassisd.io/v1alpha1
    kind: Chassis
    metadata: {name: moonshot-1}
    spec:
      driver: moonshot
      address: 10.0.0.5                                      # host or host:port
      # Secret keys: username, password, ssh-privatekey
      credentialsSecretRef: {name: moonshot-1-credentials}
      knownHostsSecretRef: {name: chassis-host-keys, key: known_hosts}   # or inline ``knownHosts``
      pollInterval: 5m
      nodeNameTemplate: "m1c{cartridge}"                     # {chassis} {cartridge} {node} {id}
    ---
    apiVersion: chassisd.io/v1alpha1
    kind: NodePool
    metadata: {name: cluster-a}
    spec:
      members: [{chassis: moonshot-1, nodes: ["c1-20n1"]}]   # or nodes: [all]
      addressing: {range: {start: 10.28.36.10, end: 10.28.36.250}}
      hostnameTemplate: "{name}"
      dhcp: {namespace: kubefarm, controller: "", setTags: [], leaseTime: infinite}
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from chassisd.driver import ChassisTarget, Credentials, Timeouts
from chassisd.errors import ConfigError

API_VERSION = "chassisd.io/v1alpha1"
DEFAULT_NODE_NAME_TEMPLATE = "{chassis}-{id}"
DEFAULT_POLL_INTERVAL = 300.0  # seconds; chassis managers are slow, few-session devices
DEFAULT_GRACE_PERIOD = 24 * 3600.0  # seconds a vanished node keeps its reservation

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_TEMPLATE_FIELDS = frozenset({"chassis", "cartridge", "node", "id"})
_FINGERPRINT = re.compile(r"(?:sha256:|SHA256:)?(?:[0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}")
_MEMBER_RANGE = re.compile(r"[cC](\d+)(?:-(\d+))?[nN](\d+)(?:-(\d+))?")
_MEMBER_ENTRY = re.compile(r"all|[cC][0-9]+(-[0-9]+)?[nN][0-9]+(-[0-9]+)?|[A-Za-z0-9._:-]+")
_DRIVER = re.compile(r"[a-z0-9]([-a-z0-9_.]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ADDRESS = re.compile(r"\S+")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_LEASE_TIME = re.compile(r"infinite|[0-9]+[smhdw]?")
_TAG = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_.]*")
#: dnsmasq options dnsmasq-controller accepts as DnsmasqOptions keys (kubefarm extraOpts).
DNSMASQ_OPTION_KEYS = frozenset(
    [
        "dhcp-range",
        "dhcp-host",
        "dhcp-userclass",
        "dhcp-circuitid",
        "dhcp-remoteid",
        "dhcp-subscrid",
        "dhcp-ignore",
        "dhcp-broadcast",
        "mx-host",
        "dhcp-boot",
        "dhcp-option",
        "dhcp-option-force",
        "server",
        "rev-server",
        "local",
        "domain",
        "dhcp-vendorclass",
        "alias",
        "srv-host",
        "txt-record",
        "ptr-record",
        "bootp-dynamic",
        "dhcp-mac",
        "dhcp-ignore-names",
        "rebind-domain-ok",
        "dhcp-match",
        "dhcp-name-match",
        "tag-if",
        "naptr-record",
        "dhcp-generate-names",
        "cname",
        "pxe-service",
        "add-mac",
        "dhcp-duid",
        "host-record",
        "caa-record",
        "dns-rr",
        "auth-zone",
        "synth-domain",
    ]
)


@dataclass(frozen=True)
class SecretRef:
    """A reference to one Secret (and optionally one key in it)."""

    name: str
    key: str = ""


@dataclass(frozen=True)
class ChassisSpec:
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
    connect_timeout: float = Timeouts.connect
    command_timeout: float = Timeouts.command
    fallback: tuple[tuple[str, str], ...] = ()  # (driver, address) tried in order for power


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
        parts = text.split(".")
        if len(parts) != 4 or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
            return False
        value = 0
        for part in parts:
            octet = int(part)
            if octet > 255 or (len(part) > 1 and part[0] == "0"):
                return False  # as IPv4Address: no leading zeros
            value = value << 8 | octet
        return int(self.start) <= value <= int(self.end)

    def addresses(self) -> Iterable[ipaddress.IPv4Address]:
        """Every address in the range, in order."""
        for value in range(int(self.start), int(self.end) + 1):
            yield ipaddress.IPv4Address(value)


@dataclass(frozen=True)
class DhcpTarget:
    """Where and how a pool's reservations are written (dnsmasq-controller ``DhcpHosts``)."""

    namespace: str = "default"
    controller: str = ""  # dnsmasq-controller serves objects whose spec.controller equals its flag
    set_tags: tuple[str, ...] = ()
    lease_time: str = "infinite"


@dataclass(frozen=True)
class KubefarmOutput:
    """A pool also written as a kubefarm release's ``nodePools`` values, in a ConfigMap.

    ``range``, ``tags`` and ``extra_opts`` are passed through because Helm replaces lists:
    the values file must carry the whole pool entry (kubefarm.md §4.8).
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
    hostname_template: str = "{name}"
    dhcp: DhcpTarget = DhcpTarget()
    grace_period: float = DEFAULT_GRACE_PERIOD
    kubefarm: KubefarmOutput | None = None


@dataclass(frozen=True)
class Config:
    """Every resource of one config source, validated."""

    chassis: tuple[ChassisSpec, ...]
    pools: tuple[NodePoolSpec, ...]
    secrets: Mapping[str, Mapping[str, str]]

    def chassis_named(self, name: str) -> ChassisSpec:
        """Return the chassis called ``name`` or raise ``ConfigError`` listing the names."""
        for spec in self.chassis:
            if spec.name == name:
                return spec
        known = ", ".join(c.name for c in self.chassis) or "none"
        raise ConfigError(f"no chassis named {name!r} (known: {known})")

    def target(self, spec: ChassisSpec) -> ChassisTarget:
        """Resolve a chassis's Secret references into a ``ChassisTarget``."""
        where = f"Chassis/{spec.name}"
        creds = self._secret(spec.credentials_ref, where, "spec.credentialsSecretRef")
        if "username" not in creds:
            raise ConfigError(
                f"Secret {spec.credentials_ref.name!r} has no key 'username'",
                document=where,
                path="spec.credentialsSecretRef",
            )
        known_hosts = spec.known_hosts
        if spec.known_hosts_ref is not None:
            data = self._secret(spec.known_hosts_ref, where, "spec.knownHostsSecretRef")
            key = spec.known_hosts_ref.key or "known_hosts"
            if key not in data:
                raise ConfigError(
                    f"Secret {spec.known_hosts_ref.name!r} has no key {key!r}",
                    document=where,
                    path="spec.knownHostsSecretRef.key",
                )
            known_hosts = known_hosts + "\n" + data[key] if known_hosts else data[key]
        ca_bundle = ""
        if spec.ca_bundle_ref is not None:
            data = self._secret(spec.ca_bundle_ref, where, "spec.caBundleSecretRef")
            key = spec.ca_bundle_ref.key or "ca.crt"
            if key not in data:
                raise ConfigError(
                    f"Secret {spec.ca_bundle_ref.name!r} has no key {key!r}",
                    document=where,
                    path="spec.caBundleSecretRef.key",
                )
            ca_bundle = data[key]
        return ChassisTarget(
            name=spec.name,
            address=spec.address,
            credentials=Credentials(
                username=creds["username"],
                password=creds.get("password", ""),
                private_key=creds.get("ssh-privatekey", ""),
            ),
            known_hosts=known_hosts,
            ca_bundle=ca_bundle,
            certificate_fingerprint=spec.certificate_fingerprint,
            insecure_skip_verify=spec.insecure_skip_verify,
            timeouts=Timeouts(connect=spec.connect_timeout, command=spec.command_timeout),
        )

    def power_routes(self, spec: ChassisSpec) -> list[tuple[str, ChassisTarget]]:
        """The ways to reach a chassis for power, in order: its driver, then ``fallback``
        (same credentials and trust, another driver and address)."""
        target = self.target(spec)
        routes = [(spec.driver, target)]
        routes += [(driver, replace(target, address=addr)) for driver, addr in spec.fallback]
        return routes

    def _secret(self, ref: SecretRef, where: str, path: str) -> Mapping[str, str]:
        if ref.name not in self.secrets:
            raise ConfigError(f"Secret {ref.name!r} not found", document=where, path=path)
        return self.secrets[ref.name]


def parse_duration(text: object, *, document: str, path: str) -> float:
    """Parse ``90s``, ``5m``, ``24h``, ``1h30m`` into seconds (the CRDs' duration pattern)."""
    if isinstance(text, str) and len(text) <= 32:
        match = _DURATION.fullmatch(text)
        if match and any(match.groups()):
            hours, minutes, seconds = (int(g or 0) for g in match.groups())
            total = hours * 3600 + minutes * 60 + seconds
            if total > 0:
                return float(total)
    raise ConfigError(
        f"not a duration: {text!r} (use e.g. 30s, 5m, 24h)", document=document, path=path
    )


def check_template(template: str, allowed: frozenset[str], *, document: str, path: str) -> str:
    """Check that ``template`` is non-empty text with only ``{field}`` names from ``allowed``."""
    names = "|".join(sorted(allowed))
    if not re.fullmatch(rf"([^{{}}]|\{{({names})\}})+", template):
        raise ConfigError(
            "must be text with fields among "
            + ", ".join("{" + a + "}" for a in sorted(allowed))
            + (
                f"; unknown field {{{bad[0]}}}"
                if (bad := [n for n in re.findall(r"{([^{}]*)}", template) if n not in allowed])
                else " (braces must be balanced; the template must not be empty)"
            ),
            document=document,
            path=path,
        )
    return template


def load_config(path: Path) -> Config:
    """Read and validate a standalone config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", document=str(path)) from exc
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", document=str(path)) from exc
    return parse_documents(documents, source=path.name)


def parse_documents(documents: list[Any], *, source: str = "config") -> Config:
    """Validate resource documents (already loaded from YAML) into a ``Config``."""
    chassis: list[ChassisSpec] = []
    pools: list[NodePoolSpec] = []
    secrets: dict[str, dict[str, str]] = {}
    for index, doc in enumerate(documents, start=1):
        parsed = parse_object(doc, label=f"{source}#{index}", secrets_allowed=True)
        if isinstance(parsed, ChassisSpec):
            chassis.append(parsed)
        elif isinstance(parsed, NodePoolSpec):
            pools.append(parsed)
        else:
            secrets[parsed[0]] = parsed[1]
    _check_unique([c.name for c in chassis], "Chassis", source)
    _check_unique([p.name for p in pools], "NodePool", source)
    known = {c.name for c in chassis}
    for pool in pools:
        for i, member in enumerate(pool.members):
            if member.chassis not in known:
                raise ConfigError(
                    f"no Chassis named {member.chassis!r}",
                    document=f"{source} NodePool/{pool.name}",
                    path=f"spec.members[{i}].chassis",
                )
    if sum(p.catch_all for p in pools) > 1:
        raise ConfigError("more than one NodePool has catchAll: true", document=source)
    return Config(chassis=tuple(chassis), pools=tuple(pools), secrets=secrets)


def parse_object(
    doc: object, *, label: str, secrets_allowed: bool = False
) -> ChassisSpec | NodePoolSpec | tuple[str, dict[str, str]]:
    """Validate one resource: a Chassis, a NodePool or (if allowed) a Secret (name, data).

    Checks that need other resources (a pool's chassis exist, one catch-all) are not made here.
    """
    fields = _Fields(doc, label, "")
    api_version, kind = fields.text("apiVersion"), fields.text("kind")
    metadata = fields.mapping("metadata")
    name = metadata.text("name")
    if not _NAME.fullmatch(name) or len(name) > 63:
        raise ConfigError(
            "must be a DNS label (lower-case letters, digits, '-'; at most 63)",
            document=label,
            path="metadata.name",
        )
    label = f"{label} {kind}/{name}"
    if (api_version, kind) == ("v1", "Secret") and secrets_allowed:
        return name, _secret_data(_Fields(doc, label, ""))
    if (api_version, kind) == (API_VERSION, "Chassis"):
        spec = _Fields(doc, label, "").mapping("spec")
        chassis = _chassis(name, spec)
        spec.reject_unknown()
        return chassis
    if (api_version, kind) == (API_VERSION, "NodePool"):
        spec = _Fields(doc, label, "").mapping("spec")
        namespace = metadata.text("namespace", "default")
        pool = _pool(name, spec, default_namespace=namespace)
        spec.reject_unknown()
        return pool
    raise ConfigError(
        f"unsupported kind {api_version}/{kind}; expected v1/Secret, "
        f"{API_VERSION}/Chassis or {API_VERSION}/NodePool",
        document=label,
        path="kind",
    )


def _check_unique(names: list[str], kind: str, source: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"two {kind} documents are named {name!r}", document=source)
        seen.add(name)


def _secret_data(doc: _Fields) -> dict[str, str]:
    data: dict[str, str] = {}
    if "data" in doc.raw:
        for key, value in doc.mapping("data").raw.items():
            try:
                data[str(key)] = base64.b64decode(str(value), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ConfigError(
                    "not base64-encoded UTF-8 text", document=doc.document, path=f"data.{key}"
                ) from exc
    if "stringData" in doc.raw:
        string_data = doc.mapping("stringData")
        for key in string_data.raw:
            data[str(key)] = string_data.text(str(key))
    return data


def _chassis(name: str, spec: _Fields) -> ChassisSpec:
    template = spec.text("nodeNameTemplate", DEFAULT_NODE_NAME_TEMPLATE)
    known_hosts_ref = None
    if "knownHostsSecretRef" in spec.raw:
        known_hosts_ref = _secret_ref(spec, "knownHostsSecretRef", "known_hosts")
    ca_bundle_ref = None
    if "caBundleSecretRef" in spec.raw:
        ca_bundle_ref = _secret_ref(spec, "caBundleSecretRef", "ca.crt")
    fingerprint = spec.text("certificateFingerprint", "")
    if fingerprint and not _FINGERPRINT.fullmatch(fingerprint):
        raise ConfigError(
            "must be a SHA-256 fingerprint: 64 hex digits, optionally colon-separated",
            document=spec.document,
            path="spec.certificateFingerprint",
        )
    credentials_ref = _secret_ref(spec, "credentialsSecretRef")
    address = spec.text("address")
    if not address.strip():
        raise ConfigError("must not be empty", document=spec.document, path="spec.address")
    return ChassisSpec(
        name=name,
        driver=spec.matching("driver", _DRIVER, "a driver name", None, 63),
        address=address,
        credentials_ref=credentials_ref,
        known_hosts=spec.text("knownHosts", ""),
        known_hosts_ref=known_hosts_ref,
        ca_bundle_ref=ca_bundle_ref,
        certificate_fingerprint=fingerprint,
        insecure_skip_verify=spec.flag("insecureSkipVerify", False),
        poll_interval=spec.duration("pollInterval", DEFAULT_POLL_INTERVAL),
        node_name_template=check_template(
            template, _TEMPLATE_FIELDS, document=spec.document, path="spec.nodeNameTemplate"
        ),
        paused=spec.flag("paused", False),
        connect_timeout=spec.duration("connectTimeout", Timeouts.connect),
        command_timeout=spec.duration("commandTimeout", Timeouts.command),
        fallback=tuple(
            (
                item.matching("driver", _DRIVER, "a driver name", None, 63),
                item.matching("address", _ADDRESS, "a host or host:port", None, 253),
            )
            for item in spec.items("fallback", required=False)
        ),
    )


def _pool(name: str, spec: _Fields, *, default_namespace: str = "default") -> NodePoolSpec:
    catch_all = spec.flag("catchAll", False)
    members = tuple(
        _member(item) for item in spec.items("members", required=not catch_all, default=[])
    )
    if not catch_all and not members:
        raise ConfigError(
            "must list at least one member (or set catchAll: true)",
            document=spec.document,
            path="spec.members",
        )
    if catch_all and members:
        raise ConfigError(
            "a catch-all pool takes every unclaimed node; it cannot also list members",
            document=spec.document,
            path="spec.members",
        )
    ip_range = None
    static_ips: dict[str, ipaddress.IPv4Address] = {}
    if "addressing" in spec.raw:
        addressing = spec.mapping("addressing")
        if catch_all:
            raise ConfigError(
                "a catch-all pool gets addresses from the catch-all cluster's dynamic range",
                document=spec.document,
                path="spec.addressing",
            )
        if "range" in addressing.raw:
            rng = addressing.mapping("range")
            start, end = rng.ipv4("start"), rng.ipv4("end")
            if end < start:
                raise ConfigError("end is before start", document=spec.document, path=rng.at("end"))
            ip_range = IpRange(start, end)
        if "nodes" in addressing.raw:
            nodes = addressing.mapping("nodes")
            static_ips = {str(key): nodes.ipv4(str(key)) for key in nodes.raw}
    dhcp = spec.mapping("dhcp") if "dhcp" in spec.raw else _Fields({}, spec.document, "spec.dhcp")
    return NodePoolSpec(
        name=name,
        members=members,
        catch_all=catch_all,
        ip_range=ip_range,
        static_ips=static_ips,
        hostname_template=check_template(
            spec.text("hostnameTemplate", "{name}"),
            _TEMPLATE_FIELDS | {"name"},
            document=spec.document,
            path="spec.hostnameTemplate",
        ),
        dhcp=DhcpTarget(
            namespace=dhcp.matching("namespace", _NAME, "a DNS label", default_namespace, 63),
            controller=dhcp.text("controller", ""),
            set_tags=tuple(_tags(dhcp, "setTags")),
            lease_time=dhcp.matching(
                "leaseTime", _LEASE_TIME, "infinite or a number with s/m/h/d/w", "infinite", 32
            ),
        ),
        grace_period=spec.duration("gracePeriod", DEFAULT_GRACE_PERIOD),
        kubefarm=_kubefarm(spec.mapping("kubefarm")) if "kubefarm" in spec.raw else None,
    )


def _kubefarm(spec: _Fields) -> KubefarmOutput:
    extra: list[Mapping[str, str]] = []
    for item in spec.items("extraOpts", required=False):
        if len(item.raw) != 1:
            raise ConfigError(
                "each extraOpts item is a one-key map {dnsmasq option: value}",
                document=item.document,
                path=item.path,
            )
        key = str(next(iter(item.raw)))
        if key not in DNSMASQ_OPTION_KEYS:
            raise ConfigError(
                f"{key!r} is not a dnsmasq-controller DnsmasqOptions key",
                document=item.document,
                path=item.path,
            )
        extra.append({key: item.text(key)})
    dhcp_range = spec.text("range", "")
    if any(part.startswith("set:") for part in dhcp_range.split(",")):
        raise ConfigError(
            "kubefarm adds set:<release>-ltsp itself; remove the set: item",
            document=spec.document,
            path=spec.at("range"),
        )
    return KubefarmOutput(
        config_map=spec.matching("configMapName", _SUBDOMAIN, "a DNS subdomain", None, 253),
        namespace=spec.matching("namespace", _NAME, "a DNS label", "", 63),
        range=dhcp_range,
        tags=tuple(_tags(spec, "tags")),
        extra_opts=tuple(extra),
    )


def _tags(fields: _Fields, key: str) -> list[str]:
    tags = fields.texts(key)
    for i, tag in enumerate(tags):
        if not _TAG.fullmatch(tag) or len(tag) > 63:
            raise ConfigError(
                f"{tag!r} is not a dnsmasq tag (letters, digits, '_', '-', '.')",
                document=fields.document,
                path=fields.at(f"{key}[{i}]"),
            )
    return tags


def _secret_ref(fields: _Fields, key: str, default_key: str = "") -> SecretRef:
    ref = fields.mapping(key)
    name = ref.matching("name", _SUBDOMAIN, "a DNS subdomain", None, 253)
    secret_key = (
        ref.matching("key", _SECRET_KEY, "a Secret key", default_key, 253) if default_key else ""
    )
    return SecretRef(name, secret_key)


def _member(item: _Fields) -> MemberSelector:
    chassis = item.text("chassis")
    nodes = item.texts("nodes") if "nodes" in item.raw else ["all"]
    if not nodes:
        raise ConfigError(
            "must list node ids or ranges, or [all]", document=item.document, path=item.at("nodes")
        )
    ids: set[str] = set()
    ranges: list[tuple[int, int, int, int]] = []
    for i, entry in enumerate(nodes):
        if not _MEMBER_ENTRY.fullmatch(entry):
            raise ConfigError(
                f"{entry!r} is not all, a node id or a range like c1-10n1",
                document=item.document,
                path=item.at(f"nodes[{i}]"),
            )
        if entry == "all":
            return MemberSelector(chassis=chassis, all=True)
        match = _MEMBER_RANGE.fullmatch(entry)
        if match:
            c0, c1, n0, n1 = match.groups()
            lo_c, hi_c = int(c0), int(c1 or c0)
            lo_n, hi_n = int(n0), int(n1 or n0)
            if hi_c < lo_c or hi_n < lo_n:
                raise ConfigError(
                    f"empty range {entry!r}", document=item.document, path=item.at(f"nodes[{i}]")
                )
            ranges.append((lo_c, hi_c, lo_n, hi_n))
        else:
            ids.add(entry.lower())
    return MemberSelector(chassis=chassis, ids=frozenset(ids), ranges=tuple(ranges))


class _Fields:
    """A mapping being validated, which knows its document and path for error messages."""

    def __init__(self, raw: object, document: str, path: str) -> None:
        if not isinstance(raw, dict):
            raise ConfigError(
                f"must be a mapping, got {type(raw).__name__}",
                document=document,
                path=path or "(document)",
            )
        self.raw: dict[str, Any] = raw
        self.document = document
        self.path = path
        self._read: set[str] = set()
        self._children: list[_Fields] = []

    def reject_unknown(self) -> None:
        """Raise for any field nobody read (a typo must not silently keep a default)."""
        for key in self.raw:
            if key not in self._read:
                raise ConfigError("unknown field", document=self.document, path=self.at(str(key)))
        for child in self._children:
            child.reject_unknown()

    def _child(self, raw: object, path: str) -> _Fields:
        child = _Fields(raw, self.document, path)
        self._children.append(child)
        return child

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: object, expected: str) -> object:
        self._read.add(key)
        if key not in self.raw or self.raw[key] is None:
            if default is _REQUIRED:
                raise ConfigError(
                    f"missing ({expected})", document=self.document, path=self.at(key)
                )
            return default
        return self.raw[key]

    def text(self, key: str, default: object = None) -> str:
        value = self._get(key, _REQUIRED if default is None else default, "string")
        if not isinstance(value, str):
            raise ConfigError(
                f"must be a string, got {value!r}", document=self.document, path=self.at(key)
            )
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default, "boolean")
        if not isinstance(value, bool):
            raise ConfigError(
                f"must be true or false, got {value!r}", document=self.document, path=self.at(key)
            )
        return value

    def duration(self, key: str, default: float) -> float:
        value = self._get(key, default, "duration")
        if value is default:
            return default
        return parse_duration(value, document=self.document, path=self.at(key))

    def mapping(self, key: str) -> _Fields:
        return self._child(self._get(key, _REQUIRED, "mapping"), self.at(key))

    def items(
        self, key: str, *, required: bool = True, default: list[Any] | None = None
    ) -> list[_Fields]:
        value = self._get(key, _REQUIRED if required else (default or []), "list")
        if not isinstance(value, list):
            raise ConfigError("must be a list", document=self.document, path=self.at(key))
        return [self._child(v, self.at(f"{key}[{i}]")) for i, v in enumerate(value)]

    def texts(self, key: str) -> list[str]:
        value = self._get(key, [], "list of strings")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                "must be a list of strings", document=self.document, path=self.at(key)
            )
        return list(value)

    def matching(
        self, key: str, pattern: re.Pattern[str], what: str, default: str | None, max_len: int
    ) -> str:
        """A string field that must match ``pattern`` (required when ``default`` is None)."""
        value = self.text(key, default)
        if value == default and default is not None:
            return value
        if len(value) > max_len or not pattern.fullmatch(value):
            raise ConfigError(f"{value!r} is not {what}", document=self.document, path=self.at(key))
        return value

    def ipv4(self, key: str) -> ipaddress.IPv4Address:
        value = self.text(key)
        try:
            return ipaddress.IPv4Address(value)
        except ValueError as exc:
            raise ConfigError(
                f"not an IPv4 address: {value!r}", document=self.document, path=self.at(key)
            ) from exc


_REQUIRED = object()
