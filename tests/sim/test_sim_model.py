"""The simulator's model, grammar and tables without SSH: validation, generator, parsing, layout."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from chassisd.sim.moonshot import cli_commands, render
from chassisd.sim.moonshot.model import (
    Cartridge,
    ChassisSpec,
    CliProfile,
    CommandKind,
    Faults,
    Layout,
    NodeId,
    SimNode,
    Timing,
)
from chassisd.sim.moonshot.state import ChassisState
from tests.sim.moonshot_sim_helpers import small_spec

NODE = SimNode(macs=("02:00:00:00:00:01",))


def view_of(spec: ChassisSpec) -> ChassisState:
    return ChassisState(spec, timing=Timing(), faults=Faults())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ChassisSpec("x", {46: Cartridge((NODE,))}), "slot 46"),
        (lambda: ChassisSpec("x", {0: Cartridge((NODE,))}), "slot 0"),
        (lambda: ChassisSpec("two words", {}), "non-empty word"),
        (lambda: SimNode(macs=()), "1-4 NICs"),
        (lambda: SimNode(macs=tuple(f"02:00:00:00:00:0{i}" for i in range(5))), "1-4 NICs"),
        (lambda: SimNode(macs=("02:00:00:00:00:zz",)), "not a MAC"),
        (lambda: SimNode(macs=("02:00:00:00:00:01",), proc_manufacturer="X" * 23), "wider"),
        (lambda: SimNode(macs=("02:00:00:00:00:01",), memory_gb=1024), "Memory"),
        (lambda: Cartridge(tuple([NODE] * 9)), "1-8 nodes"),
        (lambda: ChassisSpec("x", {1: Cartridge((NODE,)), 2: Cartridge((NODE,))}), "used by both"),
        (lambda: Timing(power_delay=-1), ">= 0"),
        (lambda: CliProfile(nic_fill="-"), "nic_fill"),
    ],
)
def test_invalid_configuration_is_refused(build: object, message: str) -> None:
    """Impossible hardware or settings raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_macs_are_normalised_to_lower_case() -> None:
    """MACs given in upper case or with dashes are stored lower-case and colon separated."""
    assert SimNode(macs=("A0-1D-48-B5-04-34",)).macs == ("a0:1d:48:b5:04:34",)


def test_generator_is_deterministic_and_realistic() -> None:
    """Same seed and index give the same chassis; the mix has empty slots and 4-node carts."""
    first = ChassisSpec.generate("m1", 5, chassis_index=3, multi_node=0.3)
    assert first == ChassisSpec.generate("m1", 5, chassis_index=3, multi_node=0.3)
    assert first != ChassisSpec.generate("m1", 5, chassis_index=4, multi_node=0.3)
    sizes = [len(cart.nodes) for cart in first.cartridges.values()]
    assert 0 < len(sizes) < 45
    assert set(sizes) == {1, 4}
    for _, node in first.nodes():
        assert node.macs[0].startswith("02:05:00:03:")
        assert int(node.macs[1][-2:], 16) == int(node.macs[0][-2:], 16) + 1


def test_spec_round_trips_through_plain_data() -> None:
    """`to_mapping` output is accepted by `from_mapping` and yields an equal spec."""
    spec = small_spec().with_cartridge(
        9, Cartridge((replace(NODE, asset_tag="rack7", no_asset_info=True),), serial_number="CN1")
    )
    assert ChassisSpec.from_mapping(spec.to_mapping()) == spec


def test_spec_from_mapping_errors_name_the_field_path() -> None:
    """A bad value deep in the YAML is reported with its path."""
    data = {
        "name": "m",
        "cartridges": {3: {"nodes": [{"macs": ["02:00:00:00:00:01"], "power": "maybe"}]}},
    }
    with pytest.raises(ValueError, match=r"^cartridges\[3\]\.nodes\[0\]\.power: must be on or off"):
        ChassisSpec.from_mapping(data)
    with pytest.raises(ValueError, match=r"^cartridges\[3\]\.nodes\[0\]: unknown fields \['ram'\]"):
        ChassisSpec.from_mapping(
            {"name": "m", "cartridges": {3: {"nodes": [{"macs": [], "ram": 1}]}}}
        )


@pytest.mark.parametrize(
    ("line", "kind", "spec"),
    [
        ("show node list", CommandKind.NODE_LIST, None),
        ("  SHOW   Node  LIST ", CommandKind.NODE_LIST, None),
        ("show node macaddr all", CommandKind.NODE_MACADDR_ALL, "all"),
        ("show node macaddr C1N1", CommandKind.NODE_MACADDR, "c1n1"),
        ("set node power off force c16,17,18n1", CommandKind.POWER_OFF_FORCE, "c16,17,18n1"),
        ("set node power off C1,5,7N1", CommandKind.POWER_OFF, "c1,5,7n1"),
        ("set node power on all", CommandKind.POWER_ON, "all"),
        ("set node bootonce pxe c3n2", CommandKind.BOOTONCE_PXE, "c3n2"),
        ("show firmware", CommandKind.FIRMWARE, None),
        ("HELP HELP", CommandKind.HELP, None),
        ("exit", CommandKind.EXIT, None),
        ("show node power", CommandKind.INVALID, None),
        ("set node power reset c1n1", CommandKind.INVALID, None),
        ("", CommandKind.INVALID, None),
    ],
)
def test_command_grammar(line: str, kind: CommandKind, spec: str | None) -> None:
    """Keywords are case-insensitive; the node spec is the last word."""
    command = cli_commands.parse(line)
    assert (command.kind, command.node_spec, command.text) == (kind, spec, line)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("c1n1", ["c1n1"]),
        ("c3n4", ["c3n4"]),
        ("c5,1,3n1", ["c1n1", "c3n1", "c5n1"]),
        ("c1,1n1", ["c1n1"]),
        ("all", ["c1n1", "c3n1", "c3n2", "c3n3", "c3n4", "c5n1"]),
        ("c2n1", None),
        ("c1,2n1", None),
        ("c1n2", None),
        ("c46n1", None),
        ("c1-3n1", None),
        ("1,3", None),
        ("c1n1,c3n1", None),
    ],
)
def test_node_spec_resolution(spec: str, expected: list[str] | None) -> None:
    """Specs resolve to present nodes; anything naming an empty or absent node is refused whole."""
    nodes = cli_commands.resolve_nodes(spec, view_of(small_spec()).view())
    assert (None if nodes is None else [str(node) for node in nodes]) == expected


@pytest.mark.parametrize("layout", list(Layout))
def test_node_list_rows_follow_the_dash_geometry(layout: Layout) -> None:
    """In both layouts every column starts where its dash group starts; slots 1-45 fit."""
    spec = ChassisSpec.generate("geo", 9, fill=1.0, multi_node=0.2)
    spec = spec.with_cartridge(
        45, Cartridge((SimNode(macs=("02:aa:00:00:00:01",), asset_tag="TAG-45", memory_gb=256),))
    )
    reply = render.node_list(view_of(spec).view(), CliProfile(layout=layout))
    header, dashes, *rows = reply.lines
    starts = [match.start() for match in re.finditer(r"-+", dashes)]
    assert [
        header.index(title) for title in ("ID", "Proc", "Architecture", "Memory", "Power")
    ] == starts[1:6]
    for row in rows:
        assert row.endswith(" ") and not row.endswith("  ")
        assert row[starts[1] : starts[1] + 1] == "c"
        assert row[starts[2] - 1] == " " and row[starts[3] - 1] == " "
        slot = row[:3]
        assert slot == (f" {int(slot):02d}" if layout is Layout.HEALTH else f"{int(slot):3d}")
    assert rows[-1].rstrip().endswith("TAG-45") == (layout is Layout.STATUS)
    assert "256 GB" in rows[-1]


def test_macaddr_options_upper_case_and_blank_fill() -> None:
    """`mac_upper` and `nic_fill=''` change the MAC table as configured."""
    view = view_of(small_spec()).view()
    profile = CliProfile(mac_upper=True, nic_fill="")
    row = render.macaddr(view, [NodeId(1, 1)], profile).lines[2]
    assert row == "  1  c1n1  A0:1D:48:B5:04:34 A0:1D:48:B5:04:35"


def test_faults_scope() -> None:
    """`affects` limits per-command faults to the listed kinds."""
    assert Faults(hang=True).applies_to(CommandKind.NODE_LIST)
    scoped = Faults(hang=True, affects=frozenset({CommandKind.POWER_ON}))
    assert scoped.applies_to(CommandKind.POWER_ON)
    assert not scoped.applies_to(CommandKind.NODE_LIST)


def test_node_id_parse() -> None:
    """Handle-API node ids accept either case and reject anything else."""
    assert NodeId.parse("C12N3") == NodeId(12, 3)
    assert str(NodeId(12, 3)) == "c12n3"
    with pytest.raises(ValueError, match="not a node id"):
        NodeId.parse("c1")
