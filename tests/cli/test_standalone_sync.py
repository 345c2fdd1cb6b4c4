"""Standalone sync (`chassisd run --once`): its outputs, and nothing lost on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from chassisd.config import load_config
from chassisd.farm import Farm
from chassisd.poller import RetryPolicy
from chassisd.reconcile import dhcphosts_name
from chassisd.registry import Registry
from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import Cartridge, CommandKind, SimNode
from chassisd.standalone import sync

BIN = Path(sys.executable).parent

POOL_A_M1 = f"farm-{dhcphosts_name('pool-a', 'm1')}.yaml"
REST_M2 = f"farm-{dhcphosts_name('rest', 'm2')}.yaml"


def reservations(out: Path) -> dict[str, list[dict[str, object]]]:
    return {
        p.name: yaml.safe_load(p.read_text())["spec"]["hosts"]
        for p in sorted((out / "dhcphosts").glob("*.yaml"))
    }


def test_chassisd_run_once_writes_dhcphosts_and_hostsfile(
    tmp_path: Path, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """One sync writes one DhcpHosts per pool and a hostsfile with a line per reserved node."""
    out = tmp_path / "out"
    result = subprocess.run(
        [str(BIN / "chassisd"), "run", "--config", str(config_file),
         "--output-dir", str(out), "--once"],
        text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    hosts = reservations(out)
    assert set(hosts) == {POOL_A_M1, REST_M2}
    m1 = sum(1 for _ in farm[0].spec.nodes())
    m2 = sum(1 for _ in farm[1].spec.nodes())
    assert len(hosts[POOL_A_M1]) == m1
    assert all("ip" in h for h in hosts[POOL_A_M1])
    assert len(hosts[REST_M2]) == m2
    assert all("ip" not in h for h in hosts[REST_M2])  # catch-all: dynamic range
    lines = (out / "dhcp-hostsfile").read_text().splitlines()
    assert len(lines) == m1 + m2
    assert "chassis=m1 driver=moonshot nodes=" in result.stderr
    # dnsmasq reads the hostsfile after dropping root: it must be readable by others.
    assert (out / "dhcp-hostsfile").stat().st_mode & 0o777 == 0o644
    assert (out / "dhcphosts" / POOL_A_M1).stat().st_mode & 0o777 == 0o644


def test_failed_poll_and_vanished_node_lose_nothing(
    tmp_path: Path, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """A chassis that cannot be read keeps its reservations; a vanished node keeps its reservation
    and IP until the grace period has passed, then it is removed."""
    one, two = farm
    out = tmp_path / "out"
    farm_obj = Farm(load_config(config_file), Registry(), retry=RetryPolicy(attempts=1))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    sync(farm_obj, out, now=t0)
    before = reservations(out)
    hostsfile = (out / "dhcp-hostsfile").read_text()

    # chassis m2 goes away: nothing it had is removed
    from chassisd.sim.moonshot.model import Faults

    two.set_faults(Faults(reject_all_logins=True))
    report = sync(farm_obj, out, now=t0 + timedelta(minutes=5))
    assert [r.chassis for r in report.view.failures] == ["m2"]
    assert reservations(out) == before
    assert (out / "dhcp-hostsfile").read_text() == hostsfile
    two.set_faults(Faults())

    # a cartridge of m1 disappears from a successful poll: kept within the grace period (1h)
    node_id, _ = next(iter(one.spec.nodes()))
    one.remove_cartridge(node_id.cartridge)
    sync(farm_obj, out, now=t0 + timedelta(minutes=30))
    sync(farm_obj, out, now=t0 + timedelta(minutes=50))
    assert reservations(out) == before
    state = json.loads((out / "state.json").read_text())
    assert state["nodes"][f"m1/{node_id}"]["absentSince"]

    # ... and removed once the grace period has passed; the others keep their addresses
    sync(farm_obj, out, now=t0 + timedelta(hours=2))
    after = reservations(out)[POOL_A_M1]
    kept = [h for h in before[POOL_A_M1] if h["hostname"] != f"c1n{node_id.cartridge}"]
    assert after == kept


def test_second_sync_writes_nothing_when_nothing_changed(tmp_path: Path, config_file: Path) -> None:
    """A steady farm causes no file writes."""
    farm_obj = Farm(load_config(config_file), Registry())
    out = tmp_path / "out"
    first = sync(farm_obj, out)
    assert first.written
    assert sync(farm_obj, out).written == ()  # not even state.json: nothing changed


def test_chassisd_run_keeps_polling_on_its_interval(
    tmp_path: Path, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """Without --once, chassisd polls again every pollInterval until it is stopped."""
    import time

    docs = list(yaml.safe_load_all(config_file.read_text()))
    for doc in docs:
        if doc["kind"] == "Chassis":
            doc["spec"]["pollInterval"] = "1s"
    config_file.write_text(yaml.safe_dump_all(docs))
    farm[0].reset_stats()
    with subprocess.Popen(
        [str(BIN / "chassisd"), "run", "--config", str(config_file), "--output-dir", str(tmp_path)],
        stderr=subprocess.DEVNULL,
    ) as process:
        try:
            deadline = time.monotonic() + 20
            while farm[0].stats.logins < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0  # SIGTERM is a clean stop
    assert farm[0].stats.logins >= 3, "expected a poll about every second"


def test_chassisd_run_standalone_serves_health_and_metrics(
    tmp_path: Path, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """`chassisd run --config` serves /healthz, /readyz (ready after the first sync) and
    /metrics on --health-address, like the cluster agent."""
    import queue
    import re
    import threading
    import time
    import urllib.request

    with subprocess.Popen(
        [str(BIN / "chassisd"), "run", "--config", str(config_file), "--output-dir",
         str(tmp_path / "out"), "--health-address", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            lines: queue.Queue[str] = queue.Queue()
            stream = process.stderr
            assert stream is not None
            threading.Thread(
                target=lambda: [lines.put(line) for line in stream], daemon=True
            ).start()
            port = 0
            deadline = time.monotonic() + 30
            while not port and time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=0.5)
                except queue.Empty:
                    continue
                found = re.search(r"/metrics on 127\.0\.0\.1:(\d+)", line)
                port = int(found.group(1)) if found else 0
            assert port, "no health line in the log"
            base = f"http://127.0.0.1:{port}"

            def get(path: str) -> tuple[int, str]:
                try:
                    with urllib.request.urlopen(base + path, timeout=5) as response:  # noqa: S310 - loopback
                        return response.status, response.read().decode()
                except urllib.error.HTTPError as error:
                    return error.code, ""

            assert get("/healthz")[0] == 200
            while get("/readyz")[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert get("/readyz")[0] == 200
            metrics = get("/metrics")[1]
            assert 'chassisd_chassis_reachable{chassis="m1",namespace=""} 1.0' in metrics
            nodes = sum(1 for _ in farm[0].spec.nodes())
            assert f'chassisd_nodes{{chassis="m1",namespace=""}} {float(nodes)}' in metrics
            assert 'chassisd_pool_free_addresses{namespace="",pool="pool-a"}' in metrics
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0


def test_left_out_nodes_and_unmatched_members_exit_6(
    tmp_path: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """A member id matching no node of a polled chassis, and nodes left out by a name
    collision, are reported on stderr and the sync exits 6 (the rest is still written)."""
    from tests.cli.conftest import farm_documents

    docs = farm_documents(*farm)
    pool = next(d for d in docs if d["metadata"] == {"name": "pool-a"})
    first, _ = next(iter(farm[0].spec.nodes()))
    members = [str(first), "c45n8"]  # m1's cartridges are single-node: no c45n8
    pool["spec"]["members"] = [{"chassis": "m1", "nodes": members}]  # type: ignore[index]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump_all(docs))
    out = tmp_path / "out"
    result = subprocess.run(
        [str(BIN / "chassisctl"), "--config", str(config), "sync", "--output-dir", str(out)],
        text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 6, result.stderr
    assert "pool pool-a: member m1/c45n8 matches no node" in result.stderr
    assert f"m1/{first}" not in result.stderr
    assert (out / "dhcp-hostsfile").read_text()
    # m2's names collide when every node is named after its cartridge only
    chassis = next(d for d in docs if d["metadata"] == {"name": "m2"})
    chassis["spec"]["nodeNameTemplate"] = "m2c{cartridge}"  # type: ignore[index]
    pool["spec"]["members"] = [{"chassis": "m1", "nodes": ["all"]}]  # type: ignore[index]
    config.write_text(yaml.safe_dump_all(docs))
    again = subprocess.run(
        [str(BIN / "chassisd"), "run", "--config", str(config), "--output-dir", str(out),
         "--once"],
        text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert again.returncode == 6, again.stderr
    assert "already reserved for m2/" in again.stderr


def test_file_mode_and_hostsdir_output(
    tmp_path: Path, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """``--file-mode 0640`` applies to every file written; ``--dhcp-hostsdir`` gets one file
    per pool and chassis (named as its DhcpHosts object) holding exactly the hostsfile's lines;
    files there that are not chassisd's are left alone, a stale chassisd file goes; a mode that
    is executable or unreadable by the owner is a usage error."""
    out, hostsdir = tmp_path / "out", tmp_path / "hosts.d"
    hostsdir.mkdir()
    (hostsdir / "static-hosts").write_text("02:00:00:00:99:99,10.0.0.250,printer\n")
    (hostsdir / "chassisd-gone-m9-0123456789").write_text("02:00:00:00:99:98,old\n")
    result = subprocess.run(
        [str(BIN / "chassisd"), "run", "--config", str(config_file), "--output-dir", str(out),
         "--once", "--file-mode", "0640", "--dhcp-hostsdir", str(hostsdir)],
        text=True, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in hostsdir.iterdir())
    assert files == sorted(
        ["static-hosts", dhcphosts_name("pool-a", "m1"), dhcphosts_name("rest", "m2")]
    )
    lines = sorted(
        line for name in files if name != "static-hosts"
        for line in (hostsdir / name).read_text().splitlines()
    )  # fmt: skip
    assert lines == sorted((out / "dhcp-hostsfile").read_text().splitlines())
    assert (hostsdir / "static-hosts").read_text() == "02:00:00:00:99:99,10.0.0.250,printer\n"
    written = [out / "dhcp-hostsfile", out / "state.json", out / "dhcphosts" / POOL_A_M1]
    written += [hostsdir / n for n in files if n != "static-hosts"]
    assert {p.stat().st_mode & 0o777 for p in written} == {0o640}
    assert not [p for p in hostsdir.iterdir() if p.name.startswith(".")]  # no temp file left
    for bad in ("0755", "0444", "rw"):
        refused = subprocess.run(
            [str(BIN / "chassisctl"), "--config", str(config_file), "sync", "--output-dir",
             str(out), "--file-mode", bad],
            text=True, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert refused.returncode == 2 and "--file-mode" in refused.stderr, refused.stderr


def test_product_and_serial_are_read_for_new_nodes_and_daily_not_every_poll(
    tmp_path: Path, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """Moonshot product and serial (``show node info``) are read at the first sync, kept in the
    state file through syncs that do not read them (a steady sync sends no such command), read
    for a cartridge that appears (that node only), and again once a day."""
    one, _two = farm
    farm_obj = Farm(load_config(config_file), Registry(), retry=RetryPolicy(attempts=1))
    out = tmp_path / "out"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def state_nodes() -> dict[str, dict[str, object]]:
        nodes = json.loads((out / "state.json").read_text())["nodes"]
        return {ref: entry for ref, entry in nodes.items() if ref.startswith("m1/")}

    def expected() -> dict[str, tuple[str, str]]:
        return {
            f"m1/{node_id}": (
                one.spec.cartridges[node_id.cartridge].product_name,
                one.spec.cartridges[node_id.cartridge].serial_number,
            )
            for node_id, _ in one.spec.nodes()
        }

    one.reset_stats()
    sync(farm_obj, out, now=t0)
    assert one.stats.count(CommandKind.NODE_INFO) == 1  # `show node info all`
    got = {ref: (e["product"], e["serial"]) for ref, e in state_nodes().items()}
    assert got == expected() and all(serial for _, serial in got.values())
    assert {e["detailsRead"] for e in state_nodes().values()} == {"2026-01-01T00:00:00Z"}

    one.reset_stats()
    sync(farm_obj, out, now=t0 + timedelta(minutes=5))
    assert one.stats.count(CommandKind.NODE_INFO) == 0
    assert one.stats.commands == 2  # show node list, show node macaddr all
    assert {ref: (e["product"], e["serial"]) for ref, e in state_nodes().items()} == expected()

    slot = next(s for s in range(1, 46) if s not in one.spec.cartridges)
    one.insert_cartridge(slot, Cartridge((SimNode(macs=("02:aa:00:00:00:01",)),),
                                         product_name="ProLiant m700 Server Cartridge",
                                         serial_number="CNNEW00001"))  # fmt: skip
    one.reset_stats()
    sync(farm_obj, out, now=t0 + timedelta(minutes=10))
    assert one.stats.count(CommandKind.NODE_INFO) == 1  # `show node info c<slot>n1` only
    assert (state_nodes()[f"m1/c{slot}n1"]["product"], state_nodes()[f"m1/c{slot}n1"]["serial"]
            ) == ("ProLiant m700 Server Cartridge", "CNNEW00001")  # fmt: skip
    assert {e["detailsRead"] for r, e in state_nodes().items() if r != f"m1/c{slot}n1"} == {
        "2026-01-01T00:00:00Z"
    }

    one.reset_stats()
    sync(farm_obj, out, now=t0 + timedelta(hours=24, minutes=1))
    assert one.stats.count(CommandKind.NODE_INFO) == 1  # the daily read, one command
