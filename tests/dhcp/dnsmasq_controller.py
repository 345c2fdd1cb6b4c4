"""dnsmasq-controller's rendering of ``DhcpHosts`` objects into dnsmasq files, for the DHCP end
to end test (test support, not product code).

What dnsmasq-controller (github.com/aenix-io/dnsmasq-controller at commit 0009e6f, the last
change to its CRDs; ``controllers/dhcphosts_controller.go`` and ``pkg/util``) does with each
``DhcpHosts`` object it serves: it writes the file ``<conf-dir>/dhcp-hosts/<namespace>-<name>``
with one ``dhcp-host`` line per entry of ``spec.hosts``, the parts joined with ``,`` in this
order, empty parts left out, nothing quoted or escaped::

    [macs...][,id:<clientID>][,set:<setTags>...][,tag:<tags>...][,<ip>][,<hostname>][,<leaseTime>][,ignore]

and starts dnsmasq with ``--dhcp-hostsfile=<conf-dir>/dhcp-hosts`` (a directory, every file
of which dnsmasq reads). kubefarm's generic example renders, by the same rule,
``94:57:a5:d3:ee:5a,94:57:a5:d3:ee:5b,set:debug,set:foo,10.28.36.178,m1c43,infinite``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def dhcp_host_line(host: dict[str, Any]) -> str:
    """One ``spec.hosts`` entry as dnsmasq-controller writes it."""
    parts: list[str] = list(host.get("macs") or [])
    if host.get("clientID"):
        parts.append(f"id:{host['clientID']}")
    parts += [f"set:{tag}" for tag in host.get("setTags") or []]
    parts += [f"tag:{tag}" for tag in host.get("tags") or []]
    for key in ("ip", "hostname", "leaseTime"):
        if host.get(key):
            parts.append(str(host[key]))
    if host.get("ignore"):
        parts.append("ignore")
    return ",".join(parts)


def write_conf_dir(conf_dir: Path, objects: list[dict[str, Any]]) -> Path:
    """Write ``objects`` (DhcpHosts) as dnsmasq-controller would; return the directory dnsmasq
    gets as ``--dhcp-hostsfile``."""
    hosts_dir = conf_dir / "dhcp-hosts"
    hosts_dir.mkdir(parents=True, exist_ok=True)
    hosts_dir.chmod(0o755)
    for obj in objects:
        meta = obj["metadata"]
        path = hosts_dir / f"{meta['namespace']}-{meta['name']}"
        lines = [dhcp_host_line(host) for host in obj["spec"]["hosts"]]
        path.write_text("".join(f"{line}\n" for line in lines))
        path.chmod(0o644)
    return hosts_dir
