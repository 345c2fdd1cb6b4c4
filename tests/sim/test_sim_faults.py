"""Faults, latency, power transitions and runtime changes, switched while the chassis runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import paramiko
import pytest

from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import Cartridge, CommandKind, Faults, NodeId, SimNode, Timing
from chassisd.sim.moonshot.state import ChassisState, PowerReport
from tests.sim.moonshot_sim_helpers import Shell, exec_once, paramiko_client, run_exec, small_spec


def power_word(handle: SimHandle, node: str) -> str:
    return exec_once(handle, f"show node power {node}").output.decode().split()[-1]


def test_hang_echoes_then_never_answers(sim: SimHandle) -> None:
    """With `hang`, the command is echoed and then nothing comes; a client timeout ends it."""
    sim.set_faults(Faults(hang=True))
    client = paramiko_client(sim)
    try:
        transport = client.get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=2)
        channel.settimeout(0.5)
        channel.exec_command("show node list")
        assert channel.recv(1000) == b"show node list\r\r\n"
        with pytest.raises(TimeoutError):
            channel.recv(1000)
        assert not channel.exit_status_ready()
        channel.close()
    finally:
        client.close()
    sim.set_faults(Faults())
    assert exec_once(sim, "show node list").exit_status == 0


def test_hang_can_be_limited_to_some_commands(sim: SimHandle) -> None:
    """`affects` confines the hang to the listed kinds; other commands answer normally."""
    sim.set_faults(Faults(hang=True, affects=frozenset({CommandKind.POWER_ON})))
    assert exec_once(sim, "show node power c1n1").exit_status == 0
    client = paramiko_client(sim)
    try:
        with pytest.raises(TimeoutError):
            run_exec(client, "set node power on c5n1", timeout=0.5)
    finally:
        client.close()


def test_hang_in_the_shell(sim: SimHandle) -> None:
    """In the shell a hung command never brings the prompt back."""
    sim.set_faults(Faults(hang=True))
    client = paramiko_client(sim)
    try:
        shell = Shell(client)
        shell.read_until(b"hpiLO-> ")
        shell.send("show node list\r")
        with pytest.raises(TimeoutError):
            shell.read_until(b"hpiLO-> ", timeout=0.5)
        assert shell.received == b"show node list\r\n"
    finally:
        client.close()


def test_disconnect_mid_output_closes_the_exec_channel(sim: SimHandle) -> None:
    """Half the output arrives, then the channel closes without an exit status."""
    full = exec_once(sim, "show node list").output
    sim.set_faults(Faults(disconnect_mid_output=True))
    cut = exec_once(sim, "show node list")
    assert cut.exit_status == -1
    assert 0 < len(cut.output) < len(full)
    assert full.startswith(cut.output)
    assert len(cut.output) >= len("show node list\r\r\n") + (len(full) - 17) // 2


def test_disconnect_mid_output_in_the_shell(sim: SimHandle) -> None:
    """In the shell the session ends halfway through the table."""
    sim.set_faults(Faults(disconnect_mid_output=True))
    client = paramiko_client(sim)
    try:
        shell = Shell(client)
        shell.read_until(b"hpiLO-> ")
        shell.send("show node list\r")
        rest = shell.read_to_eof()
    finally:
        client.close()
    assert rest.startswith(b"show node list\r\n\r\nSlot ID")
    assert b"c5n1" not in rest
    assert b"hpiLO->" not in rest


def test_garbage_line_lands_inside_the_table(sim: SimHandle) -> None:
    """The garbage line appears between table rows of the affected command only."""
    garbage = "#### 0xDEADBEEF ####"
    sim.set_faults(Faults(garbage_line=garbage, affects=frozenset({CommandKind.NODE_LIST})))
    lines = exec_once(sim, "show node list").output.decode().split("\r\n")
    assert garbage in lines
    index = lines.index(garbage)
    assert lines[index - 1].startswith("  ")
    assert lines[index + 1].startswith("  ")
    assert garbage not in exec_once(sim, "show node macaddr all").output.decode()
    sim.set_faults(Faults(garbage_line=garbage))
    assert garbage in exec_once(sim, "show node macaddr all").output.decode().split("\r\n")


def test_refuse_macaddr_all(sim: SimHandle) -> None:
    """`show node macaddr all` answers the error line; single nodes still work."""
    sim.set_faults(Faults(refuse_macaddr_all=True))
    result = exec_once(sim, "show node macaddr all")
    assert result.output == b"show node macaddr all\r\r\nError: Invalid node specification.\r\n"
    assert b"a0:1d:48:b5:04:34" in exec_once(sim, "show node macaddr c1n1").output
    assert sim.stats.count(CommandKind.NODE_MACADDR_ALL) == 1


def test_latency_delays_only_the_configured_kind(running: Callable[..., SimHandle]) -> None:
    """A 0.3 s node-list latency slows `show node list`, not `show node power`."""
    handle = running(timing=Timing(latency={CommandKind.NODE_LIST: 0.3}))
    client = paramiko_client(handle)
    try:
        started = time.monotonic()
        run_exec(client, "show node list")
        slow = time.monotonic() - started
        started = time.monotonic()
        run_exec(client, "show node power c1n1")
        fast = time.monotonic() - started
    finally:
        client.close()
    assert slow >= 0.3
    assert fast < 0.3


def test_power_change_lands_after_the_delay(running: Callable[..., SimHandle]) -> None:
    """With a 0.3 s power delay the old state is reported until the delay has passed."""
    handle = running(timing=Timing(power_delay=0.3))
    client = paramiko_client(handle)
    try:
        started = time.monotonic()
        run_exec(client, "set node power off force c1n1")
        still_on = run_exec(client, "show node power c1n1").output
        if time.monotonic() - started < 0.3:  # only meaningful if we were quick enough
            assert still_on.endswith(b"Power State: On\r\n")
        time.sleep(max(0.0, 0.35 - (time.monotonic() - started)))
        assert run_exec(client, "show node power c1n1").output.endswith(b"Power State: Off\r\n")
    finally:
        client.close()


def test_graceful_off_takes_longer_than_force() -> None:
    """`set node power off` waits 3 x power_delay by default, `off force` 1 x (fake clock)."""
    now = [100.0]
    state = ChassisState(
        small_spec(), timing=Timing(power_delay=10), faults=Faults(), clock=lambda: now[0]
    )
    force, graceful = NodeId(1, 1), NodeId(3, 1)
    state.request_power([force], on=False)
    state.request_power([graceful], on=False, graceful=True)
    now[0] += 10
    assert not state.is_powered_on(force)
    assert state.is_powered_on(graceful)
    now[0] += 20
    assert not state.is_powered_on(graceful)


def test_powering_on_is_reported_only_when_configured() -> None:
    """While a power-on is pending, `PoweringOn` replaces `Off` only with report_powering_on."""
    now = [0.0]
    node = NodeId(5, 1)
    for flag, expected in ((False, PowerReport.OFF), (True, PowerReport.POWERING_ON)):
        timing = Timing(power_delay=5, report_powering_on=flag)
        state = ChassisState(small_spec(), timing=timing, faults=Faults(), clock=lambda: now[0])
        state.request_power([node], on=True)
        assert state.view().power[node] is expected
        now[0] += 5
        assert state.view().power[node] is PowerReport.ON


def test_a_new_request_replaces_a_pending_one() -> None:
    """Off then on again before the off lands leaves the node on, with nothing pending."""
    now = [0.0]
    state = ChassisState(
        small_spec(), timing=Timing(power_delay=5), faults=Faults(), clock=lambda: now[0]
    )
    node = NodeId(1, 1)
    state.request_power([node], on=False)
    state.request_power([node], on=True)
    now[0] += 10
    assert state.is_powered_on(node)


def test_unavailable_node_reports_unavailable_and_ignores_power(
    running: Callable[..., SimHandle],
) -> None:
    """A node marked power_unavailable answers `Unavailable` and does not change."""
    spec = small_spec().with_cartridge(
        7,
        Cartridge((SimNode(macs=("02:00:00:00:07:00",), power_on=False, power_unavailable=True),)),
    )
    handle = running(spec)
    exec_once(handle, "set node power on c7n1")
    assert power_word(handle, "c7n1") == "Unavailable"
    assert not handle.is_powered_on("c7n1")


def test_new_cartridge_appears_and_disappears(sim: SimHandle) -> None:
    """Inserting a cartridge adds its rows between calls; removing it drops them."""
    assert b"c2n1" not in exec_once(sim, "show node list").output
    cart = Cartridge((SimNode(macs=("02:00:00:00:02:00", "02:00:00:00:02:01"), power_on=False),))
    sim.insert_cartridge(2, cart)
    lines = exec_once(sim, "show node list").output.decode().split("\r\n")
    assert [line.split()[1] for line in lines[3:-2]] == [
        "c1n1",
        "c2n1",
        "c3n1",
        "c3n2",
        "c3n3",
        "c3n4",
        "c5n1",
    ]
    assert power_word(sim, "c2n1") == "Off"
    with pytest.raises(ValueError, match="occupied"):
        sim.insert_cartridge(2, cart)
    with pytest.raises(ValueError, match="MAC"):
        sim.insert_cartridge(9, cart)
    assert sim.remove_cartridge(2) == cart
    assert exec_once(sim, "show node power c2n1").output.endswith(
        b"Invalid node specification.\r\n"
    )


def test_out_of_band_power_change_is_visible(sim: SimHandle) -> None:
    """`set_node_power` (someone pressed the button) shows up in the next answer."""
    sim.set_node_power("c1n1", False)
    assert power_word(sim, "c1n1") == "Off"
    assert " Off " in exec_once(sim, "show node list").output.decode().split("\r\n")[3]


def test_faults_can_be_flipped_between_calls_on_one_connection(sim: SimHandle) -> None:
    """Faults are read per command, so a live connection sees each change."""
    client = paramiko_client(sim)
    try:
        assert run_exec(client, "show node macaddr all").exit_status == 0
        sim.set_faults(Faults(refuse_macaddr_all=True))
        assert run_exec(client, "show node macaddr all").output.endswith(b"specification.\r\n")
        sim.set_faults(Faults())
        assert b"c5n1" in run_exec(client, "show node macaddr all").output
    finally:
        client.close()


def test_reject_all_logins_keeps_existing_sessions(sim: SimHandle) -> None:
    """Turning on reject_all_logins affects new logins only."""
    client = paramiko_client(sim)
    try:
        sim.set_faults(Faults(reject_all_logins=True))
        with pytest.raises(paramiko.AuthenticationException):
            paramiko_client(sim)
        assert run_exec(client, "show node power c1n1").exit_status == 0
    finally:
        client.close()


def test_a_repeated_power_on_keeps_the_pending_due_time() -> None:
    """A second `set node power on` while the first is pending (MAAS's power driver re-sends
    it when its query still reads Off) does not restart the transition."""
    now = [0.0]
    state = ChassisState(
        small_spec(), timing=Timing(power_delay=5), faults=Faults(), clock=lambda: now[0]
    )
    node = NodeId(5, 1)
    state.set_node_power(node, False)
    state.request_power([node], on=True)
    now[0] += 4
    state.request_power([node], on=True)
    now[0] += 1
    assert state.is_powered_on(node)


def test_force_off_delay_applies_to_the_hard_off_alone() -> None:
    """`force_off_delay` times `off force`; power-on keeps `power_delay`."""
    now = [0.0]
    timing = Timing(power_delay=5, force_off_delay=0.5)
    state = ChassisState(small_spec(), timing=timing, faults=Faults(), clock=lambda: now[0])
    node = NodeId(1, 1)
    state.request_power([node], on=False)
    now[0] += 0.5
    assert not state.is_powered_on(node)
    state.request_power([node], on=True)
    now[0] += 4.9
    assert not state.is_powered_on(node)
    now[0] += 0.1
    assert state.is_powered_on(node)
