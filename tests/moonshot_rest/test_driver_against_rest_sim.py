"""The moonshot-rest driver against the shipped REST simulator over HTTPS on loopback."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from chassisd_moonshot import MoonshotDriver
from chassisd_redfish import MoonshotRestDriver

from chassisd.driver import ChassisTarget, Credentials, Timeouts
from chassisd.errors import (
    AmbiguousOutcome,
    AuthError,
    CertificateError,
    DeviceError,
    ParseError,
    TransientError,
    UnsupportedError,
)
from chassisd.model import Health, Inventory, Outcome, PowerAction, PowerState
from chassisd.poller import poll_chassis
from chassisd.power import PowerService, PowerSettings
from chassisd.registry import Registry
from chassisd.sim.moonshot import MoonshotSimulator
from chassisd.sim.moonshot.model import ChassisSpec, Timing
from chassisd.sim.moonshot.rest import (
    READS,
    MoonshotRestSimulator,
    RequestKind,
    RestFaults,
    RestSimHandle,
)
from chassisd.sim.net.tls import generate_tls_material
from tests.moonshot_rest.moonshot_rest_helpers import target_for


def expected(spec: ChassisSpec) -> dict[str, tuple[str, ...]]:
    return {str(node_id): node.macs for node_id, node in spec.nodes()}


def test_inventory_matches_the_simulated_chassis(rest: RestSimHandle, spec: ChassisSpec) -> None:
    """Every node, with cartridge/node numbers, MACs, power and product, in one session."""
    rest.reset_stats()
    started = time.monotonic()
    with MoonshotRestDriver(target_for(rest)) as driver:
        inventory = driver.inventory()
    elapsed = time.monotonic() - started
    assert {n.id: tuple(str(m) for m in n.macs) for n in inventory.nodes} == expected(spec)
    assert len(inventory.nodes) > 30
    for record in inventory.nodes:
        node_id = f"c{record.cartridge}n{record.node}"
        assert record.id == node_id
        assert record.power is (PowerState.ON if rest.is_powered_on(node_id) else PowerState.OFF)
        assert record.health is Health.OK
        assert record.product == spec.cartridges[record.cartridge or 0].product_name
    assert [n.id for n in inventory.nodes] == [str(node_id) for node_id, _ in spec.nodes()]
    assert (inventory.model, inventory.firmware) == ("Moonshot 1500 Chassis", "1.30")
    assert inventory.warnings == ()
    stats = rest.stats
    assert (stats.logins, stats.logouts, stats.active_sessions) == (1, 1, 0)
    assert stats.basic_auth_requests == 0
    assert stats.count(RequestKind.CARTRIDGE) == len(spec.cartridges)
    assert stats.count(RequestKind.SYSTEM) == len(expected(spec))
    assert elapsed < 5  # ~80 requests on one keep-alive connection


def test_rest_and_ssh_drivers_agree_on_one_chassis(spec: ChassisSpec) -> None:
    """The same chassis served over SSH and REST gives the same nodes, MACs and power."""
    ssh_sim = MoonshotSimulator(spec, users={"admin": "password"})
    rest_sim = MoonshotRestSimulator(ssh_sim.state)  # one hardware state, two front ends
    with ssh_sim.running() as ssh, rest_sim.running() as rest:
        ssh_target = ChassisTarget(
            name="moonshot-r",
            address=f"{ssh.host}:{ssh.port}",
            credentials=Credentials("admin", "password"),
            known_hosts=ssh.known_hosts_line,
            timeouts=Timeouts(connect=5.0, command=5.0),
        )
        with MoonshotRestDriver(target_for(rest)) as driver:
            driver.set_power("c1n1", PowerAction.OFF)  # a change made over REST ...
            over_rest = driver.inventory()
        with MoonshotDriver(ssh_target) as driver:
            over_ssh = driver.inventory()  # ... is seen over SSH
    assert summary(over_rest) == summary(over_ssh)
    assert summary(over_ssh)["c1n1"][1] is PowerState.OFF


def summary(inventory: Inventory) -> dict[str, tuple[object, ...]]:
    return {n.id: (n.macs, n.power, n.cartridge, n.node) for n in inventory.nodes}


@pytest.mark.parametrize(
    ("action", "reset_type", "expected_state"),
    [
        (PowerAction.OFF, "ForceOff", PowerState.OFF),
        (PowerAction.ON, "On", PowerState.ON),
        (PowerAction.CYCLE, "ColdReset", PowerState.ON),
        (PowerAction.RESET, "ForceRestart", PowerState.ON),
    ],
)
def test_power_action_sends_its_reset_type_and_reads_back(
    rest: RestSimHandle, action: PowerAction, reset_type: str, expected_state: PowerState
) -> None:
    """Each native action POSTs Action=Reset with its ResetType once; the state is read back."""
    rest.set_node_power("c1n1", action is not PowerAction.ON)  # so that the action is sent
    rest.reset_stats()
    with MoonshotRestDriver(target_for(rest)) as driver:
        driver.set_power("c1n1", action)
        assert driver.power_state("c1n1") is expected_state
    assert rest.stats.resets == (("c1n1", reset_type),)


def test_on_and_off_are_idempotent(rest: RestSimHandle) -> None:
    """Asking for the state a node already has sends no Reset."""
    rest.set_node_power("c1n1", True)
    rest.reset_stats()
    with MoonshotRestDriver(target_for(rest)) as driver:
        driver.set_power("c1n1", PowerAction.ON)
    assert rest.stats.resets == ()


def test_shutdown_is_not_offered(rest: RestSimHandle) -> None:
    """No graceful shutdown is known for this API: it is refused before any request."""
    assert PowerAction.SHUTDOWN not in MoonshotRestDriver.power_actions
    with MoonshotRestDriver(target_for(rest)) as driver:
        rest.reset_stats()
        with pytest.raises(UnsupportedError, match="shutdown"):
            driver.set_power("c1n1", PowerAction.SHUTDOWN)
    assert rest.stats.requests == 1  # only the logout


def test_a_reset_type_the_node_does_not_list_is_unsupported(spec: ChassisSpec) -> None:
    """A node whose AvailableActions lack ColdReset cannot cycle natively: refused, not sent."""
    with MoonshotRestSimulator(spec, reset_types=("On", "ForceOff")).running() as rest:
        with (
            pytest.raises(UnsupportedError, match="ColdReset") as info,
            MoonshotRestDriver(target_for(rest)) as driver,
        ):
            driver.set_power("c1n1", PowerAction.CYCLE)
        assert "On, ForceOff" in str(info.value)
        assert rest.stats.count(RequestKind.RESET) == 0


def test_power_service_cycles_natively_with_cold_reset(rest: RestSimHandle) -> None:
    """Through PowerService, cycle is one ColdReset, then the node is confirmed on."""
    registry = Registry()
    registry.register(MoonshotRestDriver)
    service = PowerService(registry, PowerSettings(settle_timeout=5, settle_interval=0.05))
    rest.set_timing(Timing(power_delay=0.3))
    rest.reset_stats()
    result = service.run("moonshot-rest", target_for(rest), "c1n1", PowerAction.CYCLE)
    assert (result.outcome, result.state) == (Outcome.SUCCEEDED, PowerState.ON)
    assert rest.stats.resets == (("c1n1", "ColdReset"),)
    with pytest.raises(UnsupportedError, match="shutdown"):
        service.run("moonshot-rest", target_for(rest), "c1n1", PowerAction.SHUTDOWN)


def test_pxe_once_is_consumed_by_the_next_power_on(rest: RestSimHandle) -> None:
    """pxe-once PATCHes Boot (Once, PXE); the simulator boots from PXE at the next power-on."""
    rest.set_node_power("c1n1", False)
    rest.reset_stats()
    with MoonshotRestDriver(target_for(rest)) as driver:
        driver.pxe_once("c1n1")
        assert rest.bootonce_pending("c1n1")
        assert rest.is_powered_on("c1n1") is False  # pxe-once changes no power
        driver.set_power("c1n1", PowerAction.ON)
    assert rest.stats.boot_patches == 1 and rest.stats.pxe_boots == 1
    assert not rest.bootonce_pending("c1n1")


def test_basic_auth_when_the_chassis_has_no_session_login(spec: ChassisSpec) -> None:
    """A 404 to POST /rest/v1/Sessions makes the driver use HTTP Basic on every request."""
    faults = RestFaults(sessions_unsupported=True)
    with MoonshotRestSimulator(spec, faults=faults).running() as rest:
        with MoonshotRestDriver(target_for(rest)) as driver:
            assert driver.power_state("c1n1") is PowerState.ON
        stats = rest.stats
        assert (stats.logins, stats.logouts) == (0, 0)
        assert stats.basic_auth_requests == 1


def test_wrong_password_is_an_auth_error(rest: RestSimHandle) -> None:
    """A refused session login is AuthError at open, without the password in the message."""
    target = target_for(rest, credentials=Credentials("admin", "hunter2-wrong"))
    with pytest.raises(AuthError) as info, MoonshotRestDriver(target):
        pass
    assert "hunter2" not in str(info.value) and "NoValidSession" in str(info.value)
    assert rest.stats.failed_logins == 1 and rest.stats.active_sessions == 0


def test_the_session_is_logged_out_even_when_a_request_fails(rest: RestSimHandle) -> None:
    """A failing inventory still ends in a logout when the driver closes."""
    rest.set_faults(RestFaults(malformed_json=True, affects=frozenset({RequestKind.CARTRIDGE})))
    with pytest.raises(ParseError) as info, MoonshotRestDriver(target_for(rest)) as driver:
        driver.inventory()
    assert "/rest/v1/Chassis/1/Cartridges/C" in info.value.command
    assert (rest.stats.logins, rest.stats.logouts, rest.stats.active_sessions) == (1, 1, 0)


def test_a_500_on_reads_is_transient(rest: RestSimHandle) -> None:
    """A chassis manager answering 500 to GETs is a TransientError with its message id."""
    rest.set_faults(RestFaults(status=500, affects=READS))
    with (
        pytest.raises(TransientError, match="InternalError"),
        MoonshotRestDriver(target_for(rest)) as driver,
    ):
        driver.inventory()


def test_a_500_on_a_reset_is_a_device_error(rest: RestSimHandle) -> None:
    """A 500 to a Reset means the chassis answered: DeviceError, sent once."""
    rest.set_node_power("c1n1", False)
    rest.set_faults(RestFaults(status=500, affects=frozenset({RequestKind.RESET})))
    with (
        pytest.raises(DeviceError, match="HTTP 500"),
        MoonshotRestDriver(target_for(rest)) as driver,
    ):
        driver.set_power("c1n1", PowerAction.ON)
    assert rest.stats.count(RequestKind.RESET) == 1


def test_a_hanging_read_times_out_as_transient(rest: RestSimHandle) -> None:
    """A GET the chassis never answers ends at the read timeout as TransientError."""
    rest.set_faults(RestFaults(hang=True, affects=frozenset({RequestKind.SYSTEM})))
    target = target_for(rest, timeouts=Timeouts(connect=3.0, command=0.5))
    started = time.monotonic()
    with pytest.raises(TransientError), MoonshotRestDriver(target) as driver:
        driver.power_state("c1n1")
    assert time.monotonic() - started < 3


def test_a_hanging_reset_is_ambiguous_and_not_resent(rest: RestSimHandle) -> None:
    """A Reset with no answer is AmbiguousOutcome; the chassis received it exactly once."""
    rest.set_node_power("c1n1", False)
    rest.set_faults(RestFaults(hang=True, affects=frozenset({RequestKind.RESET})))
    target = target_for(rest, timeouts=Timeouts(connect=3.0, command=0.5))
    with pytest.raises(AmbiguousOutcome), MoonshotRestDriver(target) as driver:
        driver.set_power("c1n1", PowerAction.ON)
    assert rest.stats.count(RequestKind.RESET) == 1


def test_trust_by_pin_and_refusal_of_another_ca(rest: RestSimHandle) -> None:
    """The simulator's fingerprint alone is trusted; a CA that did not sign it is refused."""
    pinned = target_for(rest, ca_bundle="", certificate_fingerprint=rest.fingerprint)
    with MoonshotRestDriver(pinned) as driver:
        assert driver.power_state("c1n1") in (PowerState.ON, PowerState.OFF)
    other = target_for(rest, ca_bundle=generate_tls_material().ca_pem)
    with pytest.raises(CertificateError), MoonshotRestDriver(other):
        pass
    # The server learns of the refusal from the client's alert, on its own thread: wait briefly.
    deadline = time.monotonic() + 2
    while rest.stats.tls_failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rest.stats.tls_failures == 1


def test_node_ids_are_checked_before_asking_the_chassis(rest: RestSimHandle) -> None:
    """A malformed id is a DeviceError with no request; an empty slot is the chassis's 404."""
    with MoonshotRestDriver(target_for(rest)) as driver:
        rest.reset_stats()
        with pytest.raises(DeviceError, match="not a Moonshot node id"):
            driver.power_state("node-1")
        assert rest.stats.requests == 0
        with pytest.raises(DeviceError, match=r"404.*ResourceMissingAtURI"):
            driver.power_state("c1n8")


def test_degraded_node_is_a_warning(spec: ChassisSpec) -> None:
    """A node whose health the chassis manager calls Degraded is a warning over REST too."""
    slot = min(spec.cartridges)
    cartridge = spec.cartridges[slot]
    sick = replace(cartridge, nodes=tuple(replace(n, health="Degraded") for n in cartridge.nodes))
    sim = MoonshotRestSimulator(spec.with_cartridge(slot, sick), users={"admin": "password"})
    with sim.running() as handle, MoonshotRestDriver(target_for(handle)) as driver:
        inventory = driver.inventory()
    assert {n.health for n in inventory.nodes if n.cartridge == slot} == {Health.WARNING}
    assert {n.health for n in inventory.nodes if n.cartridge != slot} == {Health.OK}


def test_a_refused_certificate_is_reported_as_certificate_rejected(rest: RestSimHandle) -> None:
    """A certificate that fails its pin is CertificateRejected, told apart from an SSH host key."""
    wrong = target_for(rest, ca_bundle="", certificate_fingerprint="00" * 32)
    result = poll_chassis(Registry(), "moonshot-rest", wrong)
    assert isinstance(result.error, CertificateError)
    assert result.reason == "CertificateRejected"
