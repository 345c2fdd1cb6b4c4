"""DHCP end to end with real peers: a simulated Moonshot → chassisd (standalone sync) → the
real dnsmasq (2.90, Debian ``dnsmasq-base``) in a network namespace → busybox ``udhcpc`` in
another, for each way dnsmasq gets chassisd's reservations: the hostsfile, the hostsdir, and
DhcpHosts objects rendered into ``dhcp-host`` files as dnsmasq-controller renders them.

Each case: a pool member's first MAC gets its reserved IP, host name, tag (the domain option
dnsmasq sends only to hosts tagged ``cluster-a``) and infinite lease; its second MAC gets the
same reservation; a catch-all node gets an address from the dynamic range with its host name
and no tag; an unreserved MAC gets a dynamic address and nothing else. dnsmasq's log shows no
line rejected. Needs root (network namespaces); ``make test`` runs it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from chassisd.config import parse_documents
from chassisd.farm import Farm
from chassisd.poller import RetryPolicy
from chassisd.reconcile import Host, desired_objects, dhcphosts_name
from chassisd.registry import Registry
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, SimNode
from chassisd.standalone import OutputOptions, SyncReport, sync
from tests.dhcp.dnsmasq_controller import write_conf_dir
from tests.dhcp.lab import DYNAMIC, Lab, dhcp_lab

pytestmark = [pytest.mark.netns, pytest.mark.slow]

INFINITE = str(0xFFFFFFFF)  # what dnsmasq sends for an "infinite" lease
UNRESERVED = "02:00:00:ab:cd:ef"
NEWCOMER = ("02:00:00:05:00:01", "02:00:00:05:00:02")  # cartridge 5, inserted later
#: What dnsmasq logs when it refuses or drops something it read.
REJECTED = re.compile(r"(?i)bad |error|denied|duplicate|ignor|fail|cannot|warning|illegal")


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    """One chassis, four single-node cartridges with two MACs each."""
    spec = ChassisSpec.generate("m1", seed=5, chassis_index=1, slots=4, fill=1.0, multi_node=0.0)
    with MoonshotSimulator(spec).running() as handle:
        yield handle


@pytest.fixture
def lab() -> Iterator[Lab]:
    with dhcp_lab() as made:
        yield made


def farm(handle: SimHandle) -> Farm:
    """Pool cluster-a (cartridges 1-2 and 5, fixed IPs, tag cluster-a, infinite lease) and a
    catch-all (host names only, 1h) over the simulated chassis."""
    documents = f"""
apiVersion: v1
kind: Secret
metadata: {{name: creds}}
stringData: {{username: admin, password: password, known_hosts: "{handle.known_hosts_line}"}}
---
apiVersion: chassisd.io/v1alpha1
kind: Chassis
metadata: {{name: m1}}
spec:
  driver: moonshot
  address: 127.0.0.1:{handle.port}
  credentialsSecretRef: {{name: creds}}
  knownHostsSecretRef: {{name: creds}}
  nodeNameTemplate: "m1c{{cartridge}}n{{node}}"
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {{name: cluster-a}}
spec:
  members: [{{chassis: m1, nodes: ["c1-2n1", "c5n1"]}}]
  addressing: {{range: {{start: 10.213.7.10, end: 10.213.7.20}}}}
  dhcp: {{namespace: farm, setTags: [cluster-a], leaseTime: infinite}}
---
apiVersion: chassisd.io/v1alpha1
kind: NodePool
metadata: {{name: unknown}}
spec: {{catchAll: true, dhcp: {{namespace: farm, leaseTime: 1h}}}}
"""
    config = parse_documents(list(yaml.safe_load_all(documents)), source="e2e")
    return Farm(config, Registry(), retry=RetryPolicy(attempts=1))


def reservations(report: SyncReport) -> dict[str, tuple[str, Host]]:
    """Node key → its host (pool, hostname, MACs, IP) as chassisd planned it."""
    return {h.key: (p.pool.name, h) for p in report.plans for h in p.hosts}


def assert_served(lab: Lab, report: SyncReport) -> None:
    """The four cases, against what ``report`` reserved."""
    planned = reservations(report)
    pool, member = planned["m1/c1n1"]
    assert pool == "cluster-a" and member.ip is not None and len(member.macs) == 2
    first = lab.ask(member.macs[0])
    assert first == {"ip": member.ip, "hostname": member.hostname, "domain": "cluster-a.test",
                     "lease": INFINITE}, lab.log_text()  # fmt: skip
    second = lab.ask(member.macs[1])
    assert second == first, lab.log_text()
    pool, stray = planned["m1/c3n1"]
    assert pool == "unknown" and stray.ip is None
    caught = lab.ask(stray.macs[0])
    assert dynamic(caught["ip"]), caught
    assert caught["hostname"] == stray.hostname and caught["lease"] == "3600", caught
    assert caught["domain"] == "", caught  # not tagged cluster-a
    stranger = lab.ask(UNRESERVED)
    assert dynamic(stranger["ip"]), stranger
    assert stranger["hostname"] == "" and stranger["domain"] == "", stranger


def dynamic(ip: str) -> bool:
    low, high = (ipaddress.IPv4Address(a) for a in DYNAMIC)
    return low <= ipaddress.IPv4Address(ip) <= high


def assert_clean_log(lab: Lab) -> None:
    log = lab.log_text()
    assert "read " in log
    assert not [line for line in log.splitlines() if REJECTED.search(line)], log


def add_newcomer(sim: SimHandle) -> None:
    sim.insert_cartridge(5, Cartridge((SimNode(macs=NEWCOMER),)))


def test_hostsfile_served_by_dnsmasq_and_reread_on_sighup(sim: SimHandle, lab: Lab) -> None:
    """The standalone hostsfile: every case is served; a node added later is not served until
    dnsmasq reads the file again (it does not watch a --dhcp-hostsfile), here by a restart."""
    out = lab.workdir / "out"
    report = sync(farm(sim), out)
    assert not any(report.conflicts.values()), report.conflicts
    assert [p.unmatched for p in report.plans] == [("m1/c5n1",), ()]  # inserted below
    lab.start_dnsmasq(f"--dhcp-hostsfile={out / 'dhcp-hostsfile'}")
    assert_served(lab, report)
    add_newcomer(sim)
    again = sync(farm(sim), out)
    newcomer = reservations(again)["m1/c5n1"][1]
    assert newcomer.ip is not None and out / "dhcp-hostsfile" in again.written
    before = lab.ask(NEWCOMER[0])
    assert dynamic(before["ip"]) and before["domain"] == "", before  # not yet re-read
    lab.restart_dnsmasq()  # not SIGHUP: see the next test
    after = lab.ask(NEWCOMER[0])
    assert after["ip"] == newcomer.ip and after["hostname"] == newcomer.hostname, after
    assert after["domain"] == "cluster-a.test", after
    assert_clean_log(lab)


def test_hostsdir_served_by_dnsmasq_and_read_without_a_signal(sim: SimHandle, lab: Lab) -> None:
    """The standalone hostsdir: every case is served; a node added later is served without
    a signal (dnsmasq watches the directory), and dnsmasq never reads a temporary file. What
    dnsmasq 2.90 does with the changed file: it reads it whole again and adds what it lacks;
    the lines it already has are logged "duplicate dhcp-host IP address" and skipped (their
    first records stay), so those are the only complaints, and only for lines already loaded."""
    out, hostsdir = lab.workdir / "out", lab.workdir / "hosts.d"
    options = OutputOptions(hostsdir=hostsdir)
    hostsdir.mkdir(mode=0o755)
    lab.start_dnsmasq(f"--dhcp-hostsdir={hostsdir}")
    report = sync(farm(sim), out, options=options)
    assert sorted(p.name for p in hostsdir.iterdir()) == sorted(
        dhcphosts_name(pool, "m1") for pool in ("cluster-a", "unknown")
    )
    wait_for_read(lab, hostsdir / dhcphosts_name("unknown", "m1"))
    assert_served(lab, report)
    assert_clean_log(lab)
    add_newcomer(sim)
    mark = len(lab.log_text())
    again = sync(farm(sim), out, options=options)
    newcomer = reservations(again)["m1/c5n1"][1]
    changed = hostsdir / dhcphosts_name("cluster-a", "m1")
    wait_for_read(lab, changed, after=mark)
    served = lab.ask(NEWCOMER[0])
    assert served["ip"] == newcomer.ip and served["domain"] == "cluster-a.test", served
    log = lab.log_text()
    assert f"{hostsdir}/." not in log  # never a half-written dot-file
    complaints = [line for line in log[mark:].splitlines() if REJECTED.search(line)]
    loaded = [str(h.ip) for pool, h in reservations(report).values() if pool == "cluster-a"]
    assert sorted(complaints) == sorted(
        f"dnsmasq[{lab.dnsmasq.pid if lab.dnsmasq else 0}]: duplicate dhcp-host IP address "
        f"{ip} at line {line} of {changed}"
        for line, ip in enumerate(sorted(loaded), start=1)
    ), log[mark:]
    assert first_ok(lab, reservations(report)["m1/c1n1"][1])  # the first records still serve


def first_ok(lab: Lab, member: Host) -> bool:
    """Whether ``member``'s first MAC still gets its reservation."""
    got = lab.ask(member.macs[0])
    return got.get("ip") == member.ip and got.get("hostname") == member.hostname


def test_dhcphosts_rendered_as_dnsmasq_controller_does(sim: SimHandle, lab: Lab) -> None:
    """The DhcpHosts objects the cluster agent writes (built by the same function, for pool
    namespace ``farm``), rendered into ``<conf-dir>/dhcp-hosts/<namespace>-<name>`` files the
    way dnsmasq-controller does and handed to dnsmasq as it does (--dhcp-hostsfile=<dir>)."""
    report = sync(farm(sim), lab.workdir / "out")
    objects = [i.obj for _pool, items, _ in desired_objects(report.plans, pool_namespace="farm")
               for i in items if i.key[0] == "DhcpHosts"]  # fmt: skip
    assert len(objects) == 2
    hosts_dir = write_conf_dir(lab.workdir / "conf", objects)
    lab.start_dnsmasq(f"--dhcp-hostsfile={hosts_dir}")
    for obj in objects:
        assert f"read {hosts_dir}/farm-{obj['metadata']['name']}" in lab.log_text()
    assert_served(lab, report)
    assert_clean_log(lab)


def wait_for_read(lab: Lab, path: Path, *, after: int = 0) -> None:
    """Until dnsmasq logs that it read ``path`` (after log offset ``after``)."""
    deadline = time.monotonic() + 10
    while f"read {path}" not in lab.log_text()[after:]:
        assert time.monotonic() < deadline, lab.log_text()
        time.sleep(0.05)


def test_dnsmasq_2_90_dies_on_sighup_holding_a_lease_of_a_tagged_host(
    sim: SimHandle, lab: Lab
) -> None:
    """What docs/dnsmasq.md warns about, kept as a canary: dnsmasq 2.90 (Debian 2.90-4~deb12u2)
    re-reading its hosts on SIGHUP while it holds a lease given through a ``dhcp-host`` line
    with ``set:<tag>`` crashes (SIGSEGV or SIGABRT; seen with a hostsfile and a hostsdir alike;
    a line without ``set:`` survives). If this fails, the dnsmasq in use survives SIGHUP and
    the warning can name the versions affected."""
    out = lab.workdir / "out"
    report = sync(farm(sim), out)
    lab.start_dnsmasq(f"--dhcp-hostsfile={out / 'dhcp-hostsfile'}")
    member = reservations(report)["m1/c1n1"][1]
    assert lab.ask(member.macs[0])["domain"] == "cluster-a.test"
    assert lab.dnsmasq is not None
    os.kill(lab.dnsmasq.pid, signal.SIGHUP)
    assert lab.dnsmasq.wait(timeout=10) in (-signal.SIGSEGV, -signal.SIGABRT)
