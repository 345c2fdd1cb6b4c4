"""A ``Chassis`` or ``NodePool`` spec mapping → its frozen resource value, or a field-path error.

Owns the rules for each field of the two kinds (what the CRDs in ``crds/`` also state, checked
equal by the CRD tests): names, addresses, Secret references, trust material, durations,
templates, member selectors and ranges, addressing, DHCP settings and kubefarm output. Sees one
resource at a time: whether a pool's chassis exist, or two pools are catch-alls, is for
``references``; which kind a document is, for ``documents``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from chassisd.config.defaults import (
    DEFAULT_CA_BUNDLE_KEY,
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_GRACE_PERIOD,
    DEFAULT_HOSTNAME_TEMPLATE,
    DEFAULT_KNOWN_HOSTS_KEY,
    DEFAULT_LEASE_TIME,
    DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_NAMESPACE,
    DEFAULT_NODE_NAME_TEMPLATE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_POLL_TIMEOUT,
)
from chassisd.config.dnsmasq import DNSMASQ_OPTION_KEYS
from chassisd.config.fields import DNS_LABEL, DNS_SUBDOMAIN, Fields, check_template
from chassisd.config.resources import (
    ChassisResource,
    DhcpTarget,
    IpRange,
    KubefarmOutput,
    MemberSelector,
    NodePoolSpec,
    SecretRef,
)
from chassisd.errors import ConfigError

#: The fields a node name or hostname template may use (a hostname template also ``{name}``).
TEMPLATE_FIELDS = frozenset({"chassis", "cartridge", "node", "id"})
_FINGERPRINT = re.compile(r"(?:sha256:|SHA256:)?(?:[0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}")
_MEMBER_RANGE = re.compile(r"[cC](\d+)(?:-(\d+))?[nN](\d+)(?:-(\d+))?")
#: What starts like a cartridge/node range (``c1-30…``, ``c1n…``) must be one: ``c1-30m1`` is a
#: typo, not a native id, and taking it as one would move the pool's nodes to the catch-all.
_RANGE_LIKE = re.compile(r"[cC][0-9]+(-|[nN])")  # the CRD's pattern says it without lookahead
_MEMBER_ENTRY = re.compile(r"all|[cC][0-9]+(-[0-9]+)?[nN][0-9]+(-[0-9]+)?|[A-Za-z0-9._:-]+")
_DRIVER = re.compile(r"[a-z0-9]([-a-z0-9_.]*[a-z0-9])?")
_ADDRESS = re.compile(r"\S+")
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_HOST = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_IPV6 = r"[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[-A-Za-z0-9_.]+)?"
#: ``host``, ``host:port``, ``[IPv6]:port`` or a bare IPv6 address; port 1-65535, digits only
#: (``10.0.0.5:https`` is a typo the drivers cannot use). The CRD's CEL rules say the same.
HOST_PORT = rf"(?:{_HOST}|\[{_IPV6}\])(?::{_PORT})?|{_IPV6}"
#: The address syntax of each built-in driver; another driver's address is only non-blank
#: (``fake://farm/chassis``, a third-party driver's own form). The HTTPS drivers also take an
#: ``https://`` prefix and a trailing slash; never ``http://``.
ADDRESS_SYNTAX: dict[str, tuple[re.Pattern[str], str]] = {
    "moonshot": (re.compile(HOST_PORT), "host, host:port or [IPv6]:port"),
    "ipmi": (re.compile(HOST_PORT), "host, host:port or [IPv6]:port"),
    "redfish": (
        re.compile(rf"(?i:https://)?(?:{HOST_PORT})/?"),
        "host, host:port, [IPv6]:port or https://host[:port]",
    ),
    "moonshot-rest": (
        re.compile(rf"(?i:https://)?(?:{HOST_PORT})/?"),
        "host, host:port, [IPv6]:port or https://host[:port]",
    ),
}
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_LEASE_TIME = re.compile(r"infinite|[0-9]+[smhdw]?")
_TAG = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_.]*")


def chassis_spec(name: str, spec: Fields) -> ChassisResource:
    """Validate the ``spec`` of the Chassis called ``name``."""
    template = spec.text("nodeNameTemplate", DEFAULT_NODE_NAME_TEMPLATE)
    known_hosts_ref = None
    if "knownHostsSecretRef" in spec.raw:
        known_hosts_ref = _secret_ref(spec, "knownHostsSecretRef", DEFAULT_KNOWN_HOSTS_KEY)
    ca_bundle_ref = None
    if "caBundleSecretRef" in spec.raw:
        ca_bundle_ref = _secret_ref(spec, "caBundleSecretRef", DEFAULT_CA_BUNDLE_KEY)
    fingerprint = spec.text("certificateFingerprint", "")
    if fingerprint and not _FINGERPRINT.fullmatch(fingerprint):
        raise ConfigError(
            "must be a SHA-256 fingerprint: 64 hex digits, optionally colon-separated",
            document=spec.document,
            path="spec.certificateFingerprint",
        )
    credentials_ref = _secret_ref(spec, "credentialsSecretRef")
    driver = spec.matching("driver", _DRIVER, "a driver name", None, 63)
    address = spec.text("address")
    if not address.strip():
        raise ConfigError("must not be empty", document=spec.document, path="spec.address")
    check_address(driver, address, document=spec.document, path="spec.address")
    return ChassisResource(
        name=name,
        driver=driver,
        address=address,
        credentials_ref=credentials_ref,
        known_hosts=spec.text("knownHosts", ""),
        known_hosts_ref=known_hosts_ref,
        ca_bundle_ref=ca_bundle_ref,
        certificate_fingerprint=fingerprint,
        insecure_skip_verify=spec.flag("insecureSkipVerify", False),
        poll_interval=spec.duration("pollInterval", DEFAULT_POLL_INTERVAL),
        node_name_template=check_template(
            template, TEMPLATE_FIELDS, document=spec.document, path="spec.nodeNameTemplate"
        ),
        paused=spec.flag("paused", False),
        connect_timeout=spec.duration("connectTimeout", DEFAULT_CONNECT_TIMEOUT),
        command_timeout=spec.duration("commandTimeout", DEFAULT_COMMAND_TIMEOUT),
        poll_timeout=spec.duration("pollTimeout", DEFAULT_POLL_TIMEOUT),
        max_output_bytes=spec.size("maxOutputSize", DEFAULT_MAX_OUTPUT_BYTES),
        fallback=tuple(_fallback(item) for item in spec.items("fallback", required=False)),
    )


def _fallback(item: Fields) -> tuple[str, str]:
    driver = item.matching("driver", _DRIVER, "a driver name", None, 63)
    address = item.matching("address", _ADDRESS, "a host or host:port", None, 253)
    check_address(driver, address, document=item.document, path=item.at("address"))
    return driver, address


def check_address(driver: str, address: str, *, document: str, path: str) -> None:
    """``ConfigError`` naming ``path`` when ``address`` is not what ``driver`` can use."""
    syntax = ADDRESS_SYNTAX.get(driver)
    if syntax is not None and not syntax[0].fullmatch(address):
        raise ConfigError(
            f"{address!r} is not a {driver} address ({syntax[1]}; port 1-65535)",
            document=document,
            path=path,
        )


def pool_spec(
    name: str, spec: Fields, *, default_namespace: str = DEFAULT_NAMESPACE
) -> NodePoolSpec:
    """Validate the ``spec`` of the NodePool called ``name`` (its DHCP namespace defaults to
    ``default_namespace``, the pool's own)."""
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
    dhcp = spec.mapping("dhcp") if "dhcp" in spec.raw else Fields({}, spec.document, "spec.dhcp")
    return NodePoolSpec(
        name=name,
        members=members,
        catch_all=catch_all,
        ip_range=ip_range,
        static_ips=static_ips,
        hostname_template=check_template(
            spec.text("hostnameTemplate", DEFAULT_HOSTNAME_TEMPLATE),
            TEMPLATE_FIELDS | {"name"},
            document=spec.document,
            path="spec.hostnameTemplate",
        ),
        dhcp=DhcpTarget(
            namespace=dhcp.matching("namespace", DNS_LABEL, "a DNS label", default_namespace, 63),
            controller=dhcp.text("controller", ""),
            set_tags=tuple(_tags(dhcp, "setTags")),
            lease_time=dhcp.matching(
                "leaseTime",
                _LEASE_TIME,
                "infinite or a number with s/m/h/d/w",
                DEFAULT_LEASE_TIME,
                32,
            ),
        ),
        grace_period=spec.duration("gracePeriod", DEFAULT_GRACE_PERIOD),
        kubefarm=_kubefarm(spec.mapping("kubefarm")) if "kubefarm" in spec.raw else None,
    )


def _kubefarm(spec: Fields) -> KubefarmOutput:
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
        config_map=spec.matching("configMapName", DNS_SUBDOMAIN, "a DNS subdomain", None, 253),
        namespace=spec.matching("namespace", DNS_LABEL, "a DNS label", "", 63),
        range=dhcp_range,
        tags=tuple(_tags(spec, "tags")),
        extra_opts=tuple(extra),
    )


def _tags(fields: Fields, key: str) -> list[str]:
    tags = fields.texts(key)
    for i, tag in enumerate(tags):
        if not _TAG.fullmatch(tag) or len(tag) > 63:
            raise ConfigError(
                f"{tag!r} is not a dnsmasq tag (letters, digits, '_', '-', '.')",
                document=fields.document,
                path=fields.at(f"{key}[{i}]"),
            )
    return tags


def _secret_ref(fields: Fields, key: str, default_key: str = "") -> SecretRef:
    ref = fields.mapping(key)
    name = ref.matching("name", DNS_SUBDOMAIN, "a DNS subdomain", None, 253)
    secret_key = (
        ref.matching("key", _SECRET_KEY, "a Secret key", default_key, 253) if default_key else ""
    )
    return SecretRef(name, secret_key)


def _member(item: Fields) -> MemberSelector:
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
        if match is None and _RANGE_LIKE.match(entry):
            raise ConfigError(
                f"{entry!r} looks like a range but is not one (c<cartridges>n<nodes>, e.g. "
                "c1-30n1 or c5n1-4)",
                document=item.document,
                path=item.at(f"nodes[{i}]"),
            )
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
