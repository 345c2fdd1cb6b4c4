"""The moonshot driver against the shipped simulator over real SSH on loopback."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from chassisd_moonshot import MoonshotDriver

from chassisd.driver import ChassisTarget, Credentials, Timeouts
from chassisd.errors import (
    AmbiguousOutcome,
    AuthError,
    DeviceError,
    HostKeyError,
    ParseError,
    PermanentError,
    TransientError,
)
from chassisd.model import Health, Outcome, PowerAction, PowerState
from chassisd.poller import poll_chassis
from chassisd.power import PowerService, PowerSettings
from chassisd.registry import Registry
from chassisd.retry import Backoff
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import (
    ChassisSpec,
    CliProfile,
    CommandKind,
    Faults,
    Layout,
    Timing,
)


def target_for(handle: SimHandle, **changes: object) -> ChassisTarget:
    host, port = handle.address
    values: dict[str, object] = {
        "name": "moonshot-t",
        "address": f"{host}:{port}",
        "credentials": Credentials("admin", "password"),
        "known_hosts": handle.known_hosts_line,
        "timeouts": Timeouts(connect=5.0, command=5.0),
    }
    values.update(changes)
    return ChassisTarget(**values)  # type: ignore[arg-type]


SET_POWER = frozenset({CommandKind.POWER_ON, CommandKind.POWER_OFF, CommandKind.POWER_OFF_FORCE})


def set_power_count(handle: SimHandle) -> int:
    return sum(handle.stats.count(kind) for kind in SET_POWER)


def expected_nodes(spec: ChassisSpec) -> dict[str, tuple[str, ...]]:
    return {str(node_id): tuple(m.lower() for m in node.macs) for node_id, node in spec.nodes()}


def test_inventory_matches_the_simulated_chassis(chassis: SimHandle, spec: ChassisSpec) -> None:
    """Every node, its MACs and power come back in one login and two commands."""
    chassis.reset_stats()
    started = time.monotonic()
    with MoonshotDriver(target_for(chassis)) as driver:
        inventory = driver.inventory()
    elapsed = time.monotonic() - started
    got = {n.id: tuple(str(m) for m in n.macs) for n in inventory.nodes}
    assert got == expected_nodes(spec)
    assert len(got) > 30
    for record in inventory.nodes:
        assert record.power is (
            PowerState.ON if chassis.is_powered_on(record.id) else PowerState.OFF
        )
    assert chassis.stats.logins == 1
    assert chassis.stats.count(CommandKind.NODE_LIST) == 1
    assert chassis.stats.count(CommandKind.NODE_MACADDR_ALL) == 1
    assert chassis.stats.count(CommandKind.NODE_MACADDR) == 0
    assert not inventory.warnings
    assert elapsed < 5  # generous: the simulator has no latency configured


def test_unchanged_answers_are_not_parsed_again(chassis: SimHandle, spec: ChassisSpec) -> None:
    """A second poll of a chassis that answers the same text returns the very same node values
    (the parse is reused: a steady poll's CPU), still over one login and two commands; a
    changed answer is parsed afresh."""
    with MoonshotDriver(target_for(chassis)) as driver:
        first = driver.inventory()
    chassis.reset_stats()
    with MoonshotDriver(target_for(chassis)) as driver:
        second = driver.inventory()
    assert second.nodes is first.nodes
    assert chassis.stats.logins == 1 and chassis.stats.commands == 2
    node_id, _ = next(iter(spec.nodes()))
    chassis.set_node_power(node_id, not chassis.is_powered_on(node_id))
    with MoonshotDriver(target_for(chassis)) as driver:
        third = driver.inventory()
    assert third.nodes is not first.nodes
    changed = {n.id: n.power for n in third.nodes}
    before = {n.id: n.power for n in first.nodes}
    assert {i for i in changed if changed[i] != before[i]} == {str(node_id)}


def test_refused_macaddr_all_falls_back_to_per_node(chassis: SimHandle, spec: ChassisSpec) -> None:
    """When `show node macaddr all` is refused, MACs are read node by node, and it says so."""
    chassis.set_faults(Faults(refuse_macaddr_all=True))
    chassis.reset_stats()
    with MoonshotDriver(target_for(chassis)) as driver:
        inventory = driver.inventory()
    assert {n.id: tuple(str(m) for m in n.macs) for n in inventory.nodes} == expected_nodes(spec)
    assert chassis.stats.count(CommandKind.NODE_MACADDR_ALL) == 1
    assert chassis.stats.count(CommandKind.NODE_MACADDR) == len(expected_nodes(spec))
    assert any("refused" in w for w in inventory.warnings)


def test_garbage_line_is_a_parse_error_naming_command_and_line(chassis: SimHandle) -> None:
    """A garbage line in the node list raises ParseError with the chassis, command and line."""
    chassis.set_faults(
        Faults(garbage_line="@@## not a row ##@@", affects=frozenset({CommandKind.NODE_LIST}))
    )
    with pytest.raises(ParseError) as info, MoonshotDriver(target_for(chassis)) as driver:
        driver.inventory()
    assert info.value.command == "show node list"
    assert "@@## not a row ##@@" in info.value.line
    assert info.value.chassis == "moonshot-t" and info.value.driver == "moonshot"


def test_disconnect_mid_output_is_transient_for_reads(chassis: SimHandle) -> None:
    """A connection cut during a read is transient (nothing changed on the device)."""
    chassis.set_faults(Faults(disconnect_mid_output=True))
    with pytest.raises(TransientError), MoonshotDriver(target_for(chassis)) as driver:
        driver.inventory()


def test_hang_times_out(chassis: SimHandle) -> None:
    """A command that never answers ends at the command timeout as a transient error."""
    chassis.set_faults(Faults(hang=True))
    target = target_for(chassis, timeouts=Timeouts(connect=5.0, command=0.5))
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"within 0\.5 s"), MoonshotDriver(target) as driver:
        driver.inventory()
    assert time.monotonic() - started < 4


def test_hang_during_a_power_command_is_ambiguous(chassis: SimHandle) -> None:
    """A state-changing command with no answer is an ambiguous outcome, never a transient one."""
    chassis.set_faults(Faults(hang=True, affects=SET_POWER))
    target = target_for(chassis, timeouts=Timeouts(connect=5.0, command=0.5))
    with pytest.raises(AmbiguousOutcome), MoonshotDriver(target) as driver:
        driver.set_power("c1n1", PowerAction.ON)


def test_wrong_password_is_an_auth_error(chassis: SimHandle) -> None:
    """Refused credentials are AuthError, and the password is not in the message."""
    target = target_for(chassis, credentials=Credentials("admin", "hunter2-wrong"))
    with pytest.raises(AuthError) as info, MoonshotDriver(target):
        pass
    assert "hunter2" not in str(info.value)


def test_unknown_host_key_is_refused_with_fingerprint_and_fix(chassis: SimHandle) -> None:
    """Without a known-hosts entry the login is refused, showing the fingerprint and the fix."""
    with pytest.raises(HostKeyError) as info, MoonshotDriver(target_for(chassis, known_hosts="")):
        pass
    message = str(info.value)
    assert chassis.host_key_fingerprint in message
    assert chassis.known_hosts_line.split()[-1] in message


def test_changed_host_key_is_refused(chassis: SimHandle) -> None:
    """A different key for the same host:port is refused as CHANGED."""
    host, port = chassis.address
    with MoonshotSimulator(ChassisSpec.generate("x", seed=1)).running() as second:
        stale = second.known_hosts_line.replace(
            f"[{second.address[0]}]:{second.address[1]}", f"[{host}]:{port}"
        )
        with (
            pytest.raises(HostKeyError, match="CHANGED"),
            MoonshotDriver(target_for(chassis, known_hosts=stale)),
        ):
            pass


def test_insecure_skip_verify_is_an_explicit_opt_in(chassis: SimHandle) -> None:
    """Only insecureSkipVerify lets an unknown key through."""
    with MoonshotDriver(target_for(chassis, known_hosts="", insecure_skip_verify=True)) as driver:
        assert driver.inventory().nodes


def test_nothing_listening_is_transient() -> None:
    """A refused TCP connection is transient."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with MoonshotSimulator(ChassisSpec.generate("x", seed=1)).running() as handle:
        target = target_for(handle, address=f"127.0.0.1:{port}")
    with pytest.raises(TransientError, match="cannot connect"), MoonshotDriver(target):
        pass


def test_legacy_only_chassis_negotiates_legacy_algorithms(spec: ChassisSpec) -> None:
    """Against old firmware offering only SHA-1 key exchange and CBC, the driver still connects."""
    sim = MoonshotSimulator(spec, legacy_algorithms_only=True)
    with sim.running() as handle, MoonshotDriver(target_for(handle)) as driver:
        assert driver.inventory().nodes
        transport = driver._session._transport
        assert transport is not None
        # The simulator offers only SHA-1 DH key exchange, so connecting at all proves it was used.
        assert transport.remote_cipher == "aes128-cbc"
        assert transport.remote_mac == "hmac-sha1"


def test_modern_chassis_gets_modern_algorithms(chassis: SimHandle) -> None:
    """Legacy algorithms are offered last, so a modern chassis never gets them."""
    with MoonshotDriver(target_for(chassis)) as driver:
        transport = driver._session._transport
        assert transport is not None
        assert "cbc" not in transport.remote_cipher


def test_legacy_algorithms_can_be_refused(spec: ChassisSpec) -> None:
    """With legacy algorithms disallowed, an old-firmware chassis is a clear permanent error."""
    sim = MoonshotSimulator(spec, legacy_algorithms_only=True)
    with (
        sim.running() as handle,
        pytest.raises(PermanentError, match="no common SSH algorithms"),
        MoonshotDriver(target_for(handle, allow_legacy_algorithms=False)),
    ):
        pass


def test_unknown_node_id_is_a_device_error(chassis: SimHandle) -> None:
    """Asking for a node the chassis does not have is the device's error, shown as such."""
    with pytest.raises(DeviceError), MoonshotDriver(target_for(chassis)) as driver:
        driver.power_state("c44n9")


# --- power through the service, against the simulator --------------------------------------


def service() -> tuple[PowerService, list[float]]:
    sleeps: list[float] = []
    registry = Registry()
    registry.register(MoonshotDriver)
    settings = PowerSettings(
        settle_timeout=5.0, settle_interval=0.05, connect_backoff=Backoff(initial=0.01)
    )

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    return PowerService(registry, settings, sleep=sleep), sleeps


def first_node(spec: ChassisSpec) -> str:
    return str(next(iter(spec.nodes()))[0])


@pytest.mark.parametrize(
    ("action", "start_on", "end_on"),
    [
        (PowerAction.ON, False, True),
        (PowerAction.OFF, True, False),
        (PowerAction.SHUTDOWN, True, False),
        (PowerAction.ON, True, True),
        (PowerAction.OFF, False, False),
    ],
)
def test_power_actions(
    chassis: SimHandle, spec: ChassisSpec, action: PowerAction, start_on: bool, end_on: bool
) -> None:
    """on/off/shutdown reach the requested state (idempotently) and it is read back."""
    node = first_node(spec)
    chassis.set_node_power(node, start_on)
    power, _ = service()
    result = power.run("moonshot", target_for(chassis), node, action)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.state is (PowerState.ON if end_on else PowerState.OFF)
    assert chassis.is_powered_on(node) is end_on
    assert not chassis.bootonce_pending(node)  # on never implies a PXE boot


def test_cycle_waits_for_off_before_on(chassis: SimHandle, spec: ChassisSpec) -> None:
    """cycle: off is confirmed before on is sent, with the simulator's power delay."""
    node = first_node(spec)
    chassis.set_node_power(node, True)
    chassis.set_timing(Timing(power_delay=0.3))
    chassis.reset_stats()
    power, sleeps = service()
    result = power.run("moonshot", target_for(chassis), node, PowerAction.CYCLE)
    assert result.outcome is Outcome.SUCCEEDED and result.state is PowerState.ON
    assert set_power_count(chassis) == 2  # one off, one on: nothing sent twice
    assert sleeps  # it had to wait for the delayed off
    assert chassis.is_powered_on(node)


def test_cycle_with_a_hung_off_is_not_resent(chassis: SimHandle, spec: ChassisSpec) -> None:
    """An off with no answer is never re-sent; cycle reports the outcome as unknown."""
    node = first_node(spec)
    chassis.set_node_power(node, True)
    chassis.set_faults(Faults(hang=True, affects=SET_POWER))
    chassis.reset_stats()
    power, _ = service()
    target = target_for(chassis, timeouts=Timeouts(connect=5.0, command=0.5))
    result = power.run("moonshot", target, node, PowerAction.CYCLE)
    assert result.outcome is Outcome.UNKNOWN
    assert "not re-sent" in result.message
    assert set_power_count(chassis) == 1


def test_pxe_once(chassis: SimHandle, spec: ChassisSpec) -> None:
    """pxe-once sets the one-time boot device and changes no power."""
    node = first_node(spec)
    before = chassis.is_powered_on(node)
    power, _ = service()
    result = power.run("moonshot", target_for(chassis), node, PowerAction.PXE_ONCE)
    assert result.outcome is Outcome.SUCCEEDED
    assert chassis.bootonce_pending(node)
    assert chassis.is_powered_on(node) is before


def test_reset_is_unsupported_on_moonshot(chassis: SimHandle, spec: ChassisSpec) -> None:
    """The Moonshot CLI has no node reset: refused clearly, nothing sent."""
    from chassisd.errors import UnsupportedError

    chassis.reset_stats()
    power, _ = service()
    with pytest.raises(UnsupportedError, match="use cycle"):
        power.run("moonshot", target_for(chassis), first_node(spec), PowerAction.RESET)
    assert set_power_count(chassis) == 0


def test_session_limit_refusal_is_transient(spec: ChassisSpec) -> None:
    """A chassis manager out of SSH sessions refuses the login: transient, retry later."""
    sim = MoonshotSimulator(spec, max_sessions=1)
    with sim.running() as handle, MoonshotDriver(target_for(handle)) as first:
        assert first.inventory().nodes
        with pytest.raises(TransientError), MoonshotDriver(target_for(handle)):
            pass
        assert first.inventory().nodes  # the first session is unaffected


@pytest.mark.parametrize("layout", [Layout.STATUS, Layout.HEALTH])
@pytest.mark.parametrize(
    ("word", "health"),
    [
        ("OK", Health.OK),
        ("Degraded", Health.WARNING),
        ("Warning", Health.WARNING),
        ("Critical", Health.CRITICAL),
        ("Absent", Health.UNKNOWN),
    ],
)
def test_health_words_map_to_levels(
    spec: ChassisSpec, layout: Layout, word: str, health: Health
) -> None:
    """A cartridge the chassis calls Degraded is a warning, not unknown (issue 15), in the
    Status (2021) and Health (2014) tables alike; a word nobody documents stays unknown."""
    slot = min(spec.cartridges)
    cartridge = spec.cartridges[slot]
    sick = replace(cartridge, nodes=tuple(replace(n, health=word) for n in cartridge.nodes))
    sim = MoonshotSimulator(
        spec.with_cartridge(slot, sick),
        users={"admin": "password"},
        profile=CliProfile(layout=layout),
    )
    with sim.running() as handle, MoonshotDriver(target_for(handle)) as driver:
        inventory = driver.inventory()
    by_cartridge = {n.id: n.health for n in inventory.nodes if n.cartridge == slot}
    assert by_cartridge and set(by_cartridge.values()) == {health}
    assert {n.health for n in inventory.nodes if n.cartridge != slot} == {Health.OK}


def test_a_refused_host_key_is_reported_as_host_key_rejected(chassis: SimHandle) -> None:
    """The poll of a chassis whose host key is not in its known hosts fails with the reason
    HostKeyRejected (the Chassis condition and Event reason), not a generic trust word."""
    result = poll_chassis(Registry(), "moonshot", target_for(chassis, known_hosts=""))
    assert isinstance(result.error, HostKeyError)
    assert result.reason == "HostKeyRejected"
