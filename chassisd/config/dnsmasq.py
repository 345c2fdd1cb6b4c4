"""The dnsmasq options dnsmasq-controller accepts, for validating a pool's kubefarm ``extraOpts``.

Owns the list only (dnsmasq-controller's ``DnsmasqOptions`` keys, which kubefarm passes through
as a pool's ``extraOpts``); the parser in ``specs`` rejects any other key with the field path.
Imports nothing.
"""

from __future__ import annotations

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
