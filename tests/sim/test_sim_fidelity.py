"""The simulator reproduces the real captures in shared/fixtures/moonshot (see SOURCES.md there).

What is compared, per fixture format:

* ``*.reconstructed.txt`` (SVG screen capture): every character and column is exact, but the
  capture lost trailing spaces and line terminators, so lines are compared after ``rstrip``.
* ``*.escaped.*.txt`` (a Python string literal in MAAS's code): the quotes are stripped and
  ``\\r``/``\\n`` escapes decoded. The file's real line breaks are the docstring author's
  wrapping and the whitespace there was lost, so each wrap point becomes a regex gap: `` +``
  inside a device line (the author broke at a space), `` *`` after an escaped ``\\n`` (a device
  line may begin with indentation or not). Everything else must match character for character,
  including every ``\\r``. The number of spaces at the gaps is checked separately by column
  geometry against the dash line of the same table.
* ``show-node-power.c1n1.maas-test-string.escaped.txt`` has no wrapping: byte-for-byte equality.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import (
    Cartridge,
    ChassisSpec,
    CliProfile,
    Firmware,
    Layout,
    SimNode,
)
from tests.sim.moonshot_sim_helpers import FIXTURES, Shell, exec_once, paramiko_client, wedos_spec


def escaped_fixture_pattern(name: str) -> re.Pattern[str]:
    """Regex for an ``escaped`` fixture: literal text, with gaps only at the wrap points."""
    text = (FIXTURES / name).read_text().rstrip("\n")
    assert text[0] in "'\"", "escaped fixtures keep their quotes"
    assert text[-1] == text[0]
    segments = text[1:-1].split("\n")
    pattern = ""
    for index, segment in enumerate(segments):
        if index:
            pattern += " *" if segments[index - 1].endswith("\\n") else " +"
            segment = segment.lstrip(" ")  # the file's continuation indentation
        pattern += re.escape(segment.replace("\\r", "\r").replace("\\n", "\n"))
    return re.compile(pattern)


def dash_runs(text: str) -> list[int]:
    """Lengths of the dash groups in ``text`` (wrapping never split a group in the fixtures)."""
    return [len(run) for run in re.findall(r"-+", text)]


def assert_on_dash_grid(lines: list[str]) -> None:
    """Header and rows sit on the dash line's grid (cli §9.2): the column between two dash
    groups is blank in every line, and left-aligned columns start at their group's start."""
    groups = [(match.start(), match.end()) for match in re.finditer(r"-+", lines[1])]
    for line in [lines[0], *lines[2:]]:
        for start, end in groups:
            assert end >= len(line) or line[end] == " ", f"separator at {end} not blank: {line!r}"
            cell = line[start:end]
            if start > 0 and cell.strip():  # the Slot column (start 0) is right-aligned
                assert cell[0] != " ", f"field not at column {start}: {line!r}"


def maas_docstring_spec() -> ChassisSpec:
    """The 2014 docstring chassis: c1n1 with inventory, c2n1 without ("No Asset Information")."""
    return ChassisSpec(
        name="maas2014",
        cartridges={
            1: Cartridge((SimNode(macs=("a0:1d:48:b5:04:34", "a0:1d:48:b5:04:35")),)),
            2: Cartridge((SimNode(macs=("a0:1d:48:b5:05:34",), no_asset_info=True),)),
        },
    )


def test_node_list_matches_the_2021_capture(running: Callable[..., SimHandle]) -> None:
    """`show node list` on the S9 chassis equals the 18-of-45 capture, line by line (rstripped)."""
    handle = running(wedos_spec())
    result = exec_once(handle, "show node list")
    text = result.output.decode()
    assert text.startswith("show node list\r\r\n")
    assert text.endswith("\r\n\r\n")
    lines = text.removeprefix("show node list\r\r\n").split("\r\n")
    expected = (
        FIXTURES / "show-node-list.single-node-carts.18-of-45.reconstructed.txt"
    ).read_text()
    assert [line.rstrip() for line in lines[:21]] == expected.splitlines()
    assert lines[21:] == ["", ""]
    assert result.exit_status == 0


def test_interactive_session_matches_the_2021_capture(running: Callable[..., SimHandle]) -> None:
    """Banner, prompt, echoed `show node list`, table and blank lines equal the screen capture."""
    handle = running(wedos_spec())
    client = paramiko_client(handle)
    try:
        shell = Shell(client)
        banner = shell.read_until(b"hpiLO-> ")
        shell.send("show node list\r")
        transcript = banner + shell.read_until(b"hpiLO-> ")
        shell.send("exit\r")
        shell.read_to_eof()
    finally:
        client.close()
    screen = transcript.decode()
    lines = screen.split("\r\n")
    assert "\r" not in "".join(lines)  # every CR is part of a CRLF ...
    assert "\n" not in "".join(lines)  # ... and so is every LF
    capture = (FIXTURES / "session.show-node-list.screen-capture.reconstructed.txt").read_text()
    capture_lines = capture.splitlines()
    # The capture's last row `moonshot1->` is unexplained (cli §3.3); that is where the
    # simulator's next prompt goes.
    assert capture_lines[-1] == "moonshot1->"
    assert [line.rstrip() for line in lines[:-1]] == capture_lines[:-1]
    assert lines[-1] == "hpiLO-> "


def test_node_list_matches_the_2014_maas_docstring(running: Callable[..., SimHandle]) -> None:
    """Health layout: ` 01` slots, `OK ` row ends, the No Asset Information row, exec framing."""
    handle = running(maas_docstring_spec(), profile=CliProfile(layout=Layout.HEALTH))
    text = exec_once(handle, "show node list").output.decode()
    assert escaped_fixture_pattern("show-node-list.maas-docstring.escaped.partial.txt").fullmatch(
        text
    ), text
    lines = text.split("\r\n")[1:-2]
    raw_fixture = (FIXTURES / "show-node-list.maas-docstring.escaped.partial.txt").read_text()
    assert dash_runs(lines[1]) == dash_runs(raw_fixture) == [4, 5, 22, 20, 6, 5, 6]
    assert_on_dash_grid(lines)
    assert lines[3].index("No Asset Information") == 34  # the Architecture column


def test_macaddr_matches_the_maas_docstring(running: Callable[..., SimHandle]) -> None:
    """`show node macaddr c1n1` of a 4-NIC node equals the docstring, trailing blank lines too."""
    macs = ("a0:1d:48:b5:04:34", "a0:1d:48:b5:04:35", "a0:1d:48:b5:04:36", "a0:1d:48:b5:04:37")
    handle = running(ChassisSpec("m500", {1: Cartridge((SimNode(macs=macs),))}))
    text = exec_once(handle, "show node macaddr c1n1").output.decode()
    pattern = escaped_fixture_pattern("show-node-macaddr.c1n1.maas-docstring.escaped.partial.txt")
    assert pattern.fullmatch(text), text
    lines = text.split("\r\n")[1:4]
    raw_fixture = (
        FIXTURES / "show-node-macaddr.c1n1.maas-docstring.escaped.partial.txt"
    ).read_text()
    assert dash_runs(lines[1]) == dash_runs(raw_fixture) == [4, 5, 17, 17, 17, 17]
    assert_on_dash_grid(lines)


def test_power_matches_the_maas_test_string_byte_for_byte(sim: SimHandle) -> None:
    """`show node power c1n1` over exec is exactly MAAS's test string."""
    raw = (FIXTURES / "show-node-power.c1n1.maas-test-string.escaped.txt").read_text().strip()
    expected = raw[1:-1].replace("\\r", "\r").replace("\\n", "\n").encode()
    assert (
        expected
        == b"show node power c1n1\r\r\n\r\nCartridge #1\r\n  Node #1\r\n        Power State: On\r\n"
    )
    assert exec_once(sim, "show node power c1n1").output == expected


def test_power_matches_the_maas_docstring(sim: SimHandle) -> None:
    """The wrapped docstring form of the same power output matches too."""
    pattern = escaped_fixture_pattern("show-node-power.c1n1.maas-docstring.escaped.partial.txt")
    assert pattern.fullmatch(exec_once(sim, "show node power c1n1").output.decode())


def test_node_info_matches_the_maas_docstring(running: Callable[..., SimHandle]) -> None:
    """`show node info c1n1` of an m500 equals the docstring (which stops after Product Name)."""
    cart = Cartridge((SimNode(macs=("a0:1d:48:b5:04:34",)),), "ProLiant m500 Server Cartridge")
    handle = running(ChassisSpec("m500", {1: cart}))
    text = exec_once(handle, "show node info c1n1").output.decode()
    pattern = escaped_fixture_pattern("show-node-info.c1n1.maas-docstring.escaped.partial.txt")
    assert pattern.fullmatch(text), text
    assert "\r\n  Manufacturer: HP\r\n" in text  # the indentation lost at the wrap point


def test_cm2_firmware_matches_the_maas_comment(running: Callable[..., SimHandle]) -> None:
    """CM 2.0 `show firmware` (lone-CR echo as in the comment) starts with the partial sample."""
    profile = CliProfile(firmware=Firmware.CM2, echo_terminator="\r")
    handle = running(profile=profile)
    text = exec_once(handle, "show firmware").output.decode()
    pattern = escaped_fixture_pattern("show-firmware.cm2.maas-comment.escaped.partial.txt")
    assert pattern.match(text), text
    assert "\r\n                HPE Moonshot Chassis Manager 2.0: 2.0-b176\r\n" in text


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (CliProfile(), "show firmware\r\r\nInvalid command\r\n"),
        (CliProfile(invalid_command_text="Error: Invalid command."), None),
    ],
)
def test_cm1_firmware_is_an_invalid_command(
    running: Callable[..., SimHandle], profile: CliProfile, expected: str | None
) -> None:
    """CM 1.x has no `show firmware`; the reply is the configurable invalid-command text."""
    handle = running(profile=profile)
    text = exec_once(handle, "show firmware").output.decode()
    assert text == (expected or f"show firmware\r\r\n{profile.invalid_command_text}\r\n")
    assert "Chassis Manager 2.0" not in text
