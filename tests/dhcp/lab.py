"""A DHCP lab of two network namespaces joined by a veth pair: dnsmasq serves in one, busybox
``udhcpc`` asks in the other (test support for the DHCP end to end test).

Owns creating and deleting the namespaces (``ip netns``; unique names per lab; deleting a
namespace deletes its end of the veth pair), running dnsmasq in the server namespace (stopped
by its PID; its log kept) and one ``udhcpc`` exchange at a time with a given MAC, whose script
records what the server handed out (address, host name, domain, lease). Addresses are
10.213.7.0/24, inside the lab's namespaces only. Needs root, ``ip`` (iproute2), ``dnsmasq``
(Debian ``dnsmasq-base``) and ``busybox``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

SERVER_IP = "10.213.7.1"
DYNAMIC = ("10.213.7.100", "10.213.7.150")
#: udhcpc's script: configure the address on ``bound`` (so ``-R`` can release it) and record
#: what the server sent; ``$mask`` is the prefix length.
SCRIPT = """#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface" ;;
  bound|renew)
    ip addr add "$ip/$mask" dev "$interface"
    { echo "ip=$ip"; echo "hostname=$hostname"; echo "domain=$domain"; echo "lease=$lease"; } \\
      > "{out}"
    ;;
esac
exit 0
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Lab:
    """The namespaces, their veth ends and a world-readable working directory."""

    server_ns: str
    client_ns: str
    server_if: str
    client_if: str
    workdir: Path
    dnsmasq: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    _log_file: BinaryIO | None = None
    _source: tuple[str, ...] = ()

    def start_dnsmasq(self, *source: str) -> None:
        """dnsmasq on the server end: a dynamic range (tag ``catchall``), domain
        ``cluster-a.test`` for hosts tagged ``cluster-a``, reservations from ``source``
        (``--dhcp-hostsfile=…`` or ``--dhcp-hostsdir=…``). It drops root to ``nobody``, as
        deployed, so it reads the reservations as an unprivileged user."""
        self._source = source
        log = self.workdir / f"dnsmasq-{len(self.logs)}.log"
        self.logs.append(log)
        self._log_file = log.open("wb")
        self.dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", self.server_ns, "dnsmasq", "--keep-in-foreground",
             "--conf-file=/dev/null", "--port=0", "--no-hosts", "--no-resolv", "--no-ping",
             f"--interface={self.server_if}", "--bind-interfaces", "--log-dhcp",
             "--log-facility=-", f"--pid-file={self.workdir / 'dnsmasq.pid'}",
             f"--dhcp-leasefile={self.workdir / 'leases'}",
             f"--dhcp-range=set:catchall,{DYNAMIC[0]},{DYNAMIC[1]},255.255.255.0,1h",
             "--dhcp-option=tag:cluster-a,option:domain-name,cluster-a.test", *source],
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while "DHCP, IP range" not in log.read_text():
            assert self.dnsmasq.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

    def restart_dnsmasq(self) -> None:
        """Stop dnsmasq and start it again with the same arguments (the lease file is kept)."""
        assert self.dnsmasq is not None
        args = list(self._source)
        self.stop_dnsmasq()
        self.start_dnsmasq(*args)

    def log_text(self) -> str:
        """Everything every dnsmasq of this lab logged, in order."""
        return "".join(path.read_text() for path in self.logs)

    def stop_dnsmasq(self) -> None:
        """SIGTERM to dnsmasq's PID, and wait for it."""
        if self.dnsmasq is not None:
            if self.dnsmasq.poll() is None:
                os.kill(self.dnsmasq.pid, signal.SIGTERM)
            self.dnsmasq.wait(timeout=10)
        self.dnsmasq = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def ask(self, mac: str) -> dict[str, str]:
        """One DHCP exchange from the client end with ``mac`` (lease released afterwards):
        what the server handed out, or {} if nothing came."""
        out = self.workdir / "udhcpc.env"
        out.unlink(missing_ok=True)
        script = self.workdir / "udhcpc.sh"
        script.write_text(SCRIPT.replace("{out}", str(out)))
        script.chmod(0o755)
        ns = ["ip", "-n", self.client_ns]
        subprocess.run([*ns, "addr", "flush", "dev", self.client_if], check=True, timeout=10)
        subprocess.run([*ns, "link", "set", self.client_if, "down"], check=True, timeout=10)
        subprocess.run([*ns, "link", "set", self.client_if, "address", mac], check=True,
                       timeout=10)  # fmt: skip
        subprocess.run([*ns, "link", "set", self.client_if, "up"], check=True, timeout=10)
        subprocess.run(
            ["ip", "netns", "exec", self.client_ns, "busybox", "udhcpc", "-f", "-q", "-n", "-R",
             "-i", self.client_if, "-t", "5", "-T", "1", "-s", str(script),
             "-O", "hostname", "-O", "domain"],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        if not out.exists():
            return {}
        return dict(line.split("=", 1) for line in out.read_text().splitlines())


@contextmanager
def dhcp_lab() -> Iterator[Lab]:
    """Two fresh namespaces joined by a veth pair, deleted afterwards with dnsmasq stopped."""
    for tool in ("ip", "dnsmasq", "busybox"):
        assert shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists(), f"{tool} is missing"
    tag = uuid.uuid4().hex[:6]
    server_ns, client_ns = f"chassisd-dhcp-s-{tag}", f"chassisd-dhcp-c-{tag}"
    server_if, client_if = f"chds{tag}", f"chdc{tag}"  # interface names: at most 15 bytes
    workdir = Path(tempfile.mkdtemp(prefix="chassisd-dhcp-"))
    workdir.chmod(0o755)  # dnsmasq runs as nobody and must reach the files under it
    lab = Lab(server_ns, client_ns, server_if, client_if, workdir)
    _ip("netns", "add", server_ns)
    try:
        _ip("netns", "add", client_ns)
        try:
            _ip("-n", server_ns, "link", "add", server_if, "type", "veth", "peer", "name",
                client_if, "netns", client_ns)  # fmt: skip
            _ip("-n", server_ns, "addr", "add", f"{SERVER_IP}/24", "dev", server_if)
            for ns, ifname in ((server_ns, server_if), (client_ns, client_if)):
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", ifname, "up")
            yield lab
        finally:
            lab.stop_dnsmasq()
            _ip("netns", "del", client_ns)
    finally:
        _ip("netns", "del", server_ns)
        shutil.rmtree(workdir, ignore_errors=True)
