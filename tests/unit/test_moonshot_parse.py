"""Moonshot CLI parsers against the real captures in shared/fixtures/moonshot and table variants."""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path

import pytest
from chassisd_moonshot import parse
from hypothesis import given, settings
from hypothesis import strategies as st

from chassisd.errors import DeviceError, ParseError
from chassisd.model import Health, MacAddress, NodeId, PowerState

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "moonshot"

NEW_HEADER = (
    "Slot ID    Proc Manufacturer      Architecture         Memory Power Status   Node Asset Tag\n"
    "---- ----- ---------------------- -------------------- ------ ----- -------- --------------\n"
)
OLD_HEADER = (
    "Slot ID    Proc Manufacturer      Architecture         Memory Power Health\n"
    "---- ----- ---------------------- -------------------- ------ ----- ------\n"
)
MAC_HEADER = (
    "Slot ID    NIC 1 (Switch A)  NIC 2 (Switch B)  NIC 3 (Switch A)  NIC 4 (Switch B)\n"
    "---- ----- ----------------- ----------------- ----------------- -----------------\n"
)


def escaped_fixture(name: str) -> str:
    """Decode an ``escaped`` fixture: a Python string literal wrapped by its source's author.

    Real line breaks in the file are the author's wrapping (SOURCES.md); where the wrap fell
    inside a table row the whitespace there is lost, so the joined text is re-spaced from the
    table geometry by the caller where needed.
    """
    text = (FIXTURES / name).read_text()
    joined = " ".join(line.strip() for line in text.splitlines())
    return str(ast.literal_eval(joined))


def test_real_capture_node_list_has_all_18_nodes() -> None:
    """The 2021 WEDOS capture parses to its 18 single-node cartridges with their power states."""
    rows = parse.parse_node_list(
        (FIXTURES / "show-node-list.single-node-carts.18-of-45.reconstructed.txt").read_text()
    )
    assert [str(r.node_id) for r in rows][:3] == ["c1n1", "c2n1", "c3n1"]
    lines = (FIXTURES / "show-node-list.single-node-carts.18-of-45.reconstructed.txt").read_text()
    assert len(rows) == len(lines.strip().splitlines()) - 2
    off = {str(r.node_id) for r in rows if r.power is PowerState.OFF}
    assert off == {"c11n1", "c45n1"}
    assert all(r.health is Health.OK for r in rows)
    assert rows[-1].node_id == NodeId(45, 1)


def test_session_capture_table_parses_after_the_prompt() -> None:
    """The interactive capture's table (after the banner and echoed command) parses fully."""
    text = (FIXTURES / "session.show-node-list.screen-capture.reconstructed.txt").read_text()
    table = text.split("hpiLO-> show node list\n", 1)[1].split("moonshot1->")[0]
    rows = parse.parse_node_list(table)
    assert str(rows[9].node_id) == "c10n1"
    assert {str(r.node_id) for r in rows} >= {"c29n1", "c43n1", "c45n1"}


def test_maas_2014_node_list_with_no_asset_information() -> None:
    """The 2014 layout (Health, ` 01` slots, trailing space) and a No Asset Information row."""
    raw = (
        "show node list\r\r\n"
        + OLD_HEADER.replace("\n", "\r\n")
        + " 01  c1n1  Intel Corporation      x86 Architecture     32 GB  On    OK \r\n"
        + " 02  c2n1  N/A                    No Asset Information \r\n\r\n"
    )
    # The fixture's words, in order, are exactly these (its whitespace was lost at wraps).
    fixture_words = escaped_fixture("show-node-list.maas-docstring.escaped.partial.txt").split()
    assert raw.split() == fixture_words
    rows = parse.parse_node_list(parse.clean_output(raw, "show node list"))
    assert rows[0].power is PowerState.ON and rows[0].has_asset_info
    assert rows[1].node_id == NodeId(2, 1)
    assert rows[1].power is PowerState.UNKNOWN and not rows[1].has_asset_info


def test_maas_macaddr_sample() -> None:
    """The only real MAC table: four NICs, lower case, in NIC order."""
    raw = (
        "show node macaddr c1n1\r\r\n"
        + MAC_HEADER.replace("\n", "\r\n")
        + "  1  c1n1  a0:1d:48:b5:04:34 a0:1d:48:b5:04:35 a0:1d:48:b5:04:36 a0:1d:48:b5:04:37"
        + "\r\n\r\n\r\n"
    )
    assert (
        raw.split()
        == escaped_fixture("show-node-macaddr.c1n1.maas-docstring.escaped.partial.txt").split()
    )
    macs = parse.parse_macaddr(parse.clean_output(raw, "show node macaddr c1n1"), command="x")
    assert [str(m) for m in macs[NodeId(1, 1)]] == [
        "a0:1d:48:b5:04:34",
        "a0:1d:48:b5:04:35",
        "a0:1d:48:b5:04:36",
        "a0:1d:48:b5:04:37",
    ]


@pytest.mark.parametrize(
    "name",
    [
        "show-node-power.c1n1.maas-test-string.escaped.txt",
        "show-node-power.c1n1.maas-docstring.escaped.partial.txt",
    ],
)
def test_power_fixtures(name: str) -> None:
    """Both MAAS power samples read as c1n1 on."""
    raw = escaped_fixture(name)
    states = parse.parse_power(parse.clean_output(raw, "show node power c1n1"), command="x")
    assert states == {NodeId(1, 1): PowerState.ON}


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("On", PowerState.ON),
        ("PoweringOn", PowerState.ON),
        ("Off", PowerState.OFF),
        ("Unavailable", PowerState.OFF),
        ("Rebooting", PowerState.UNKNOWN),
    ],
)
def test_power_words(word: str, state: PowerState) -> None:
    """Power words map through the explicit table; unknown words become UNKNOWN, not a guess."""
    text = f"\nCartridge #7\n  Node #2\n        Power State: {word}\n"
    assert parse.parse_power(text, command="show node power c7n2") == {NodeId(7, 2): state}


def test_multi_node_power_blocks() -> None:
    """Several nodes answer as repeated Cartridge/Node blocks."""
    text = "Cartridge #3\n  Node #1\n   Power State: On\n  Node #2\n   Power State: Off\n"
    assert parse.parse_power(text, command="x") == {
        NodeId(3, 1): PowerState.ON,
        NodeId(3, 2): PowerState.OFF,
    }


def test_multi_digit_node_ids_and_asset_tag() -> None:
    """c12n10 keeps both digits (MAAS's c\\d+n\\d would truncate it) and a wider ID column
    is read from the dash line, not assumed; asset tags are kept."""
    header = (
        "Slot ID     Proc Manufacturer      Architecture         Memory Power Status   "
        "Node Asset Tag\n"
        "---- ------ ---------------------- -------------------- ------ ----- -------- "
        "--------------\n"
    )
    row = " 12  c12n10 Intel Corporation      x86 Architecture     64 GB  On    OK       rack-7/u3"
    rows = parse.parse_node_list(header + f"{row}\n")
    assert rows[0].node_id == NodeId(12, 10)
    assert rows[0].asset_tag == "rack-7/u3"


def test_upper_case_macs_and_na_nics() -> None:
    """Upper-case MACs are normalised; N/A and blank NIC cells mean no NIC."""
    text = MAC_HEADER + "  5  c5n1  94:57:A5:D3:EC:F2 94-57-a5-d3-ec-f3 N/A\n"
    macs = parse.parse_macaddr(text, command="show node macaddr all")
    assert macs[NodeId(5, 1)] == (MacAddress("94:57:a5:d3:ec:f2"), MacAddress("94:57:a5:d3:ec:f3"))


@pytest.mark.parametrize(
    ("text", "bad_line"),
    [
        (
            NEW_HEADER + "  1  c1n1  Intel Corporation      x86 Architecture     32 GB  On    OK\n"
            "%%% garbage from the device %%%\n",
            "%%% garbage from the device %%%",
        ),
        (
            NEW_HEADER + "  2  c1n1  Intel Corporation      x86 Architecture     32 GB  On    OK\n",
            "  2  c1n1",
        ),
        (
            NEW_HEADER
            + "  1  c1n1  Intel Corporation Extended x86 Architecture   32 GB  On    OK\n",
            "Intel Corporation Extended",
        ),
    ],
)
def test_bad_node_list_lines_raise_parse_error_naming_the_line(text: str, bad_line: str) -> None:
    """A line the parser does not understand is a ParseError with the command and the line."""
    with pytest.raises(ParseError) as info:
        parse.parse_node_list(text)
    assert info.value.command == "show node list"
    assert bad_line in info.value.line
    assert "show node list" in str(info.value)


def test_bad_mac_is_a_parse_error() -> None:
    """A NIC cell that is not a MAC is reported, not skipped."""
    with pytest.raises(ParseError, match="not a MAC"):
        parse.parse_macaddr(
            MAC_HEADER + "  1  c1n1  zz:1d:48:b5:04:34\n", command="show node macaddr all"
        )


def test_error_answer_is_a_device_error() -> None:
    """An error line instead of a table is the device's answer, reported as such."""
    with pytest.raises(DeviceError, match="Invalid command"):
        parse.parse_node_list("Error: Invalid command.\n")


def test_set_reply_checks() -> None:
    """bootonce replies must confirm PXE; error words in any set reply are device errors."""
    parse.check_set_reply(
        "c1n1: bootonce: PXE\n", command="set node bootonce pxe c1n1", expect="bootonce: PXE"
    )
    with pytest.raises(DeviceError):
        parse.check_set_reply("\n", command="set node bootonce pxe c1n1", expect="bootonce: PXE")
    with pytest.raises(DeviceError):
        parse.check_set_reply(
            "Error: node c99n1 is not present\n", command="set node power on c99n1"
        )


# --- property tests: render → parse round trip, and arbitrary text never crashes -------------

_macs = st.lists(
    st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b)),
    min_size=0,
    max_size=4,
    unique=True,
)
_nodes = st.dictionaries(
    st.tuples(st.integers(1, 45), st.integers(1, 8)),
    st.tuples(st.sampled_from(["On", "Off"]), _macs, st.booleans()),
    min_size=0,
    max_size=30,
)


def _render_list(nodes: dict[tuple[int, int], tuple[str, list[str], bool]], old: bool) -> str:
    """Render a node list by the documented column geometry (independent of the parser)."""
    out = [OLD_HEADER if old else NEW_HEADER]
    for (c, n), (power, _macs, upper) in sorted(nodes.items()):
        slot = f" {c:02d} " if old else f"{c:>3} "
        node_id = f"c{c}n{n}"
        node_id = node_id.upper() if upper else node_id
        out.append(
            f"{slot} {node_id:<5} {'Intel Corporation':<22} {'x86 Architecture':<20} "
            f"{'32 GB':<6} {power:<5} {'OK':<6}" + ("" if old else "   ") + "\n"
        )
    return "".join(out)


def _render_macs(nodes: dict[tuple[int, int], tuple[str, list[str], bool]], upper: bool) -> str:
    out = [MAC_HEADER]
    for (c, n), (_power, macs, _u) in sorted(nodes.items()):
        cells = [(m.upper() if upper else m) for m in macs] + ["N/A"] * (4 - len(macs))
        out.append(f"{c:>3}  {f'c{c}n{n}':<5} " + " ".join(f"{x:<17}" for x in cells) + "\n")
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(nodes=_nodes, old=st.booleans(), upper=st.booleans())
def test_round_trip(
    nodes: dict[tuple[int, int], tuple[str, list[str], bool]], old: bool, upper: bool
) -> None:
    """Rendered-then-parsed inventories come back the same, in both layouts and any MAC case."""
    rows = parse.parse_node_list(_render_list(nodes, old))
    assert {(r.node_id.cartridge, r.node_id.node): r.power.value for r in rows} == {
        k: v[0].lower() for k, v in nodes.items()
    }
    macs = parse.parse_macaddr(_render_macs(nodes, upper), command="show node macaddr all")
    assert {(k.cartridge, k.node): [str(m) for m in v] for k, v in macs.items()} == {
        k: v[1] for k, v in nodes.items()
    }


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=400), header=st.booleans())
def test_arbitrary_text_raises_only_parse_or_device_errors(text: str, header: bool) -> None:
    """Whatever a device sends, the parsers return or raise ParseError/DeviceError, nothing else."""
    for candidate in (text, NEW_HEADER + text, MAC_HEADER + text) if header else (text,):
        for fn in (
            lambda t: parse.parse_node_list(t),
            lambda t: parse.parse_macaddr(t, command="show node macaddr all"),
            lambda t: parse.parse_power(t, command="show node power all"),
        ):
            with contextlib.suppress(ParseError, DeviceError):
                fn(candidate)


def test_node_info_capture_gives_the_product() -> None:
    """The MAAS docstring's ``show node info c1n1`` (it stops after Product Name) names the
    cartridge's product; no serial line, no serial."""
    raw = escaped_fixture("show-node-info.c1n1.maas-docstring.escaped.partial.txt")
    info = parse.parse_node_info(parse.clean_output(raw, "show node info c1n1"), command="c")
    assert info == {1: parse.CartridgeInfo("ProLiant m500 Server Cartridge", "")}


INFO_ALL = (
    "\nCartridge #1 \n  Type: Compute\n  Manufacturer: HP\n"
    "  Product Name: ProLiant m710x Server Cartridge\n  Serial Number: CN11111AAA\n"
    "\nCartridge #3 \n  Type: Compute\n  Product Name: ProLiant m350 Server Cartridge\n"
    "  Node #1\n    Serial Number: CN-NODE-ONE\n"
)


def test_node_info_all_reads_every_cartridge_block() -> None:
    """One block per cartridge; indented lines of other shapes belong to the block; the first
    serial of a block counts."""
    assert parse.parse_node_info(INFO_ALL, command="show node info all") == {
        1: parse.CartridgeInfo("ProLiant m710x Server Cartridge", "CN11111AAA"),
        3: parse.CartridgeInfo("ProLiant m350 Server Cartridge", "CN-NODE-ONE"),
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Product Name: X\n", "expected 'Cartridge #N'"),
        ("Cartridge #1\n  Product Name: X\nstray text\n", "expected 'Cartridge #N'"),
        ("Cartridge #1\nCartridge #1\n", "repeated"),
        ("Cartridge #46\n", "out of range"),
        ("Cartridge #1\n  Product Name: \x1b[2Jgone\n", "printable"),
        ("Cartridge #1\n  Serial Number: " + "9" * 65 + "\n", "at most 64"),
        ("\n\n", "no 'Cartridge #N'"),
    ],
)
def test_node_info_that_is_not_understood_is_a_parse_error(text: str, problem: str) -> None:
    """Text outside a block, a repeated or impossible slot, a control character or an
    overlong value: a ParseError naming the command (and the line)."""
    with pytest.raises(ParseError, match=problem) as info:
        parse.parse_node_info(text, command="show node info all")
    assert info.value.command == "show node info all"


def test_node_info_refused_is_a_device_error() -> None:
    """An error word instead of a block is the device refusing the command."""
    with pytest.raises(DeviceError, match="Invalid node"):
        parse.parse_node_info("Error: Invalid node specification.\n", command="show node info all")
