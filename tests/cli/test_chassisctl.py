"""``chassisctl`` end to end: the installed console script against simulated chassis."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import CommandKind

BIN = Path(sys.executable).parent
Run = Callable[..., subprocess.CompletedProcess[str]]


def test_nodes_json_lists_every_node(
    chassisctl: Run, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """-o json is a kubectl List: one item per node with name, chassis, id, macs, power, and
    the pool, IP and hostname of its reservation."""
    result = chassisctl("--config", str(config_file), "nodes", "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["apiVersion"], document["kind"]) == ("v1", "List")
    nodes = document["items"]
    expected = {("m1", str(i)) for i, _ in farm[0].spec.nodes()} | {
        ("m2", str(i)) for i, _ in farm[1].spec.nodes()
    }
    assert {(n["chassis"], n["id"]) for n in nodes} == expected
    first = next(n for n in nodes if n["chassis"] == "m1")
    assert set(first) >= {"name", "chassis", "id", "macs", "power"}
    assert first["name"] == f"c1n{first['cartridge']}"
    assert all(len(n["macs"]) == 2 for n in nodes)
    assert first["pool"] == "pool-a" and first["ip"].startswith("10.0.0.")
    assert {n["pool"] for n in nodes if n["chassis"] == "m2"} == {"rest"}


def test_nodes_table_wide_and_yaml(chassisctl: Run, config_file: Path) -> None:
    """The table has a header and a row per node; yaml parses to the same list as json."""
    table = chassisctl("--config", str(config_file), "nodes")
    assert table.stdout.splitlines()[0].split() == [
        "NAME", "CHASSIS", "ID", "MACS", "POWER", "HEALTH", "POOL", "IP",
    ]  # fmt: skip
    wide = chassisctl("--config", str(config_file), "nodes", "-o", "wide")
    assert wide.stdout.splitlines()[0].split()[-3:] == ["HOSTNAME", "PRODUCT", "SERIAL"]
    as_yaml = yaml.safe_load(chassisctl("--config", str(config_file), "nodes", "-o", "yaml").stdout)
    as_json = json.loads(chassisctl("--config", str(config_file), "nodes", "-o", "json").stdout)
    assert as_yaml == as_json
    assert len(table.stdout.splitlines()) == len(as_json["items"]) + 1


def test_nodes_wide_shows_moonshot_product_and_serial(
    chassisctl: Run, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """-o wide shows each Moonshot node's product and serial (``show node info``, one command
    per chassis); the plain table does not ask for them."""
    one, _two = farm
    one.reset_stats()
    chassisctl("--config", str(config_file), "nodes", "--chassis", "m1")
    assert one.stats.count(CommandKind.NODE_INFO) == 0
    wide = chassisctl("--config", str(config_file), "nodes", "-o", "wide", "--chassis", "m1")
    assert wide.returncode == 0, wide.stderr
    assert one.stats.count(CommandKind.NODE_INFO) == 1
    rows = {line.split()[0]: line for line in wide.stdout.splitlines()[1:]}
    assert len(rows) == sum(1 for _ in one.spec.nodes())
    for node_id, _ in one.spec.nodes():
        cartridge = one.spec.cartridges[node_id.cartridge]
        row = rows[f"c1n{node_id.cartridge}"]
        assert row.endswith(f"{cartridge.product_name}  {cartridge.serial_number}"), row


def test_power_by_name_and_by_chassis_id(
    chassisctl: Run, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """power off by template name, on by CHASSIS/ID, status, and pxe, all change the simulator."""
    one = farm[0]
    node_id, _ = next(iter(one.spec.nodes()))
    name = f"c1n{node_id.cartridge}"
    off = chassisctl("--config", str(config_file), "power", "off", name)
    assert off.returncode == 0, off.stderr
    assert "off succeeded, power off" in off.stdout
    assert not one.is_powered_on(node_id)
    on = chassisctl("--config", str(config_file), "power", "on", f"m1/{node_id}")
    assert on.returncode == 0 and one.is_powered_on(node_id)
    status = chassisctl("--config", str(config_file), "power", "status", name)
    assert status.stdout.strip() == f"{name} (m1/{node_id}): on"
    pxe = chassisctl("--config", str(config_file), "pxe", name)
    assert pxe.returncode == 0 and one.bootonce_pending(node_id)


def test_unknown_node_exits_3_with_suggestions(chassisctl: Run, config_file: Path) -> None:
    """A reference matching nothing exits 3 and suggests close names."""
    result = chassisctl("--config", str(config_file), "power", "on", "m2-c99n1")
    assert result.returncode == 3
    assert "no node matches 'm2-c99n1'" in result.stderr


def test_ambiguous_native_id_exits_3_listing_candidates(
    chassisctl: Run, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """A native id present on both chassis exits 3 and lists both."""
    ids_one = {str(i) for i, _ in farm[0].spec.nodes()}
    ids_two = {str(i) for i, _ in farm[1].spec.nodes()}
    names_one = {f"c1n{i.cartridge}" for i, _ in farm[0].spec.nodes()}
    shared = sorted((ids_one & ids_two) - names_one)
    assert shared, "the generated farm must share a native id"
    result = chassisctl("--config", str(config_file), "power", "status", shared[0])
    assert result.returncode == 3
    assert f"m1/{shared[0]}" in result.stderr and f"m2/{shared[0]}" in result.stderr


def test_config_mistake_exits_2_naming_document_and_field(
    chassisctl: Run, config_file: Path
) -> None:
    """A bad field exits 2; the message names the document and the field path."""
    docs = list(yaml.safe_load_all(config_file.read_text()))
    docs[2]["spec"]["address"] = 22
    config_file.write_text(yaml.safe_dump_all(docs))
    result = chassisctl("--config", str(config_file), "nodes")
    assert result.returncode == 2
    assert "Chassis/m1" in result.stderr and "spec.address" in result.stderr


def test_no_config_and_no_cluster_is_a_usage_error(chassisctl: Run, tmp_path: Path) -> None:
    """Without --config and without a usable kubeconfig, chassisctl says what to give, exit 2."""
    result = chassisctl("--kubeconfig", str(tmp_path / "absent"), "nodes")
    assert result.returncode == 2 and "--config" in result.stderr


def test_unreachable_chassis_exits_4_and_still_lists_the_others(
    chassisctl: Run, config_file: Path
) -> None:
    """With one chassis down, nodes lists the other and exits 4 naming the failed chassis."""
    docs = list(yaml.safe_load_all(config_file.read_text()))
    docs[3]["spec"]["address"] = "127.0.0.1:1"
    config_file.write_text(yaml.safe_dump_all(docs))
    result = chassisctl("--config", str(config_file), "nodes", "-o", "json")
    assert result.returncode == 4
    assert "chassisctl: chassis m2: Unreachable: " in result.stderr
    assert {n["chassis"] for n in json.loads(result.stdout)["items"]} == {"m1"}


def test_sim_command_prints_one_ready_line_and_stops_on_sigint(tmp_path: Path) -> None:
    """`chassisctl sim moonshot` prints a ready line, serves, and exits 0 on SIGINT."""
    known = tmp_path / "kh"
    with subprocess.Popen(
        [str(BIN / "chassisctl"), "sim", "moonshot", "--listen", "127.0.0.1:0", "--name", "demo",
         "--known-hosts-out", str(known)],
        stdout=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("moonshot simulator demo listening on 127.0.0.1:")
            port = int(line.split("127.0.0.1:")[1].split()[0])
            assert known.read_text().startswith(f"[127.0.0.1]:{port} ")
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0


def test_one_bad_reference_and_nothing_is_done_whatever_the_order(
    chassisctl: Run, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """Every reference is resolved before anything is sent: `power off GOOD BAD` and
    `power off BAD GOOD` both exit 3 and leave the good node on."""
    one = farm[0]
    node_id, _ = next(iter(one.spec.nodes()))
    good = f"c1n{node_id.cartridge}"
    for order in ((good, "c1n99"), ("c1n99", good)):
        result = chassisctl("--config", str(config_file), "power", "off", *order)
        assert result.returncode == 3, result.stderr
        assert "c1n99" in result.stderr
        assert one.is_powered_on(node_id), f"{order}: {good} was powered off"
    assert one.stats.commands_by_kind.get("power_off", 0) == 0
