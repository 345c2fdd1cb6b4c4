"""The ``fake`` driver and its in-memory farm: values, scripted faults, the command log.

The farm is the peer here; these tests check that the driver classifies each scripted fault as
a real driver would, that the farm logs exactly the commands that reached it, and that the
power service, run through the registry, never re-sends an ambiguous command.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from chassisd_fake import FakeDriver

from chassisd.config import parse_documents
from chassisd.errors import AmbiguousOutcome, AuthError, DeviceError, ParseError, TransientError
from chassisd.model import MacAddress, Outcome, PowerAction, PowerState
from chassisd.power import PowerService, PowerSettings
from chassisd.registry import Registry
from chassisd.retry import Backoff
from chassisd.testing import fake_farm
from chassisd.testing.fake_farm import Farm, Fault, Operation, SentCommand

CHASSIS = "chassis-1"
_names = itertools.count(1)


@pytest.fixture
def farm() -> Iterator[Farm]:
    """Two chassis of four single-node cartridges, powered on, registered for the test."""
    built = fake_farm.build(f"test-fake-{next(_names)}", chassis=2, cartridges=4)
    with fake_farm.registered(built):
        yield built


def driver_for(farm: Farm, chassis: str = CHASSIS) -> FakeDriver:
    driver = Registry().create("fake", fake_farm.target(farm, chassis))
    assert isinstance(driver, FakeDriver)
    return driver


def power_service() -> PowerService:
    """Settles at once and never really sleeps: the farm changes power immediately."""
    settings = PowerSettings(
        settle_timeout=1.0, settle_interval=0.0, connect_backoff=Backoff(initial=0.001)
    )
    return PowerService(Registry(), settings, sleep=lambda _: None)


def test_registry_loads_the_fake_driver_from_its_entry_point() -> None:
    """``fake`` is an installed driver like the real ones."""
    assert "fake" in Registry().names()
    assert Registry().get("fake") is FakeDriver


def test_inventory_reports_the_farms_nodes(farm: Farm) -> None:
    """Every node with its MACs, power and Moonshot-style cartridge/node numbers."""
    farm.set_node_power(CHASSIS, "c3n1", on=False)
    with driver_for(farm) as driver:
        inventory = driver.inventory()
    assert (inventory.chassis, inventory.driver) == (CHASSIS, "fake")
    assert [record.id for record in inventory.nodes] == ["c1n1", "c2n1", "c3n1", "c4n1"]
    third = inventory.node("c3n1")
    assert third is not None
    assert third.power is PowerState.OFF and (third.cartridge, third.node) == (3, 1)
    assert third.macs == (MacAddress("02:fa:01:03:01:00"), MacAddress("02:fa:01:03:01:01"))
    other = driver_for(farm, "chassis-2")
    with other:
        assert other.inventory().nodes[0].macs[0] == MacAddress("02:fa:02:01:01:00")


def test_an_unregistered_farm_does_not_answer() -> None:
    """Outside its ``registered`` block a farm is unreachable: a TransientError, chained."""
    farm = fake_farm.build("test-fake-unregistered")
    driver = FakeDriver(fake_farm.target(farm, CHASSIS))
    with pytest.raises(TransientError, match="no fake farm") as caught:
        driver.open()
    assert isinstance(caught.value.__cause__, ConnectionError)


def test_wrong_credentials_and_a_scripted_auth_fault_are_auth_errors(farm: Farm) -> None:
    """Refused at login, whether the password is wrong or the chassis is scripted to refuse."""
    wrong = fake_farm.target(farm, CHASSIS, password="not-it")
    with pytest.raises(AuthError):
        FakeDriver(wrong).open()
    farm.inject(CHASSIS, Operation.LOGIN, Fault.auth())
    with pytest.raises(AuthError):
        driver_for(farm).open()
    with driver_for(farm) as driver:  # the fault was for one login only
        assert driver.power_state("c1n1") is PowerState.ON


def test_a_transient_fault_sends_nothing(farm: Farm) -> None:
    """A transient set_power raises TransientError; the node keeps its power, nothing is logged."""
    farm.inject(CHASSIS, Operation.SET_POWER, Fault.transient())
    with driver_for(farm) as driver:
        with pytest.raises(TransientError):
            driver.set_power("c1n1", PowerAction.OFF)
        assert farm.is_powered_on(CHASSIS, "c1n1")
        assert farm.commands == ()
        driver.set_power("c1n1", PowerAction.OFF)
    assert farm.commands == (SentCommand(CHASSIS, "c1n1", PowerAction.OFF),)
    assert farm.calls(CHASSIS, Operation.SET_POWER) == 2


def test_a_parse_fault_garbles_reads_and_replies(farm: Farm) -> None:
    """A garbled read is a ParseError naming its command; a garbled set reply still acted."""
    farm.inject(CHASSIS, Operation.INVENTORY, Fault.parse())
    farm.inject(CHASSIS, Operation.SET_POWER, Fault.parse())
    with driver_for(farm) as driver:
        with pytest.raises(ParseError) as read_error:
            driver.inventory()
        assert read_error.value.command == "list nodes"
        assert (read_error.value.chassis, read_error.value.driver) == (CHASSIS, "fake")
        with pytest.raises(ParseError):
            driver.set_power("c2n1", PowerAction.OFF)
    assert not farm.is_powered_on(CHASSIS, "c2n1")
    assert farm.count(node="c2n1", action=PowerAction.OFF) == 1


def test_an_ambiguous_outcome_acts_and_loses_the_reply(farm: Farm) -> None:
    """The command takes effect and is logged as ambiguous; the driver raises AmbiguousOutcome."""
    farm.inject(CHASSIS, Operation.PXE_ONCE, Fault.ambiguous())
    with driver_for(farm) as driver, pytest.raises(AmbiguousOutcome):
        driver.pxe_once("c1n1")
    assert farm.pxe_pending(CHASSIS, "c1n1")
    assert farm.commands == (SentCommand(CHASSIS, "c1n1", PowerAction.PXE_ONCE, ambiguous=True),)


def test_ambiguous_faults_are_refused_on_reads(farm: Farm) -> None:
    """A lost read is a transient fault; the farm says so rather than inventing a meaning."""
    with pytest.raises(ValueError, match="state-changing"):
        farm.inject(CHASSIS, Operation.INVENTORY, Fault.ambiguous())


def test_power_service_never_resends_an_ambiguous_off(farm: Farm) -> None:
    """Through the registry and the power service: outcome unknown, power went out exactly once."""
    farm.inject(CHASSIS, Operation.SET_POWER, Fault.ambiguous())
    result = power_service().run("fake", fake_farm.target(farm, CHASSIS), "c1n1", PowerAction.OFF)
    assert result.outcome is Outcome.UNKNOWN, result
    assert result.state is PowerState.OFF  # read back: the off did happen
    assert farm.count(node="c1n1", action=PowerAction.OFF) == 1
    assert farm.commands[0].ambiguous


def test_power_service_retries_a_login_that_reached_nothing(farm: Farm) -> None:
    """Two transient logins, then one: the off is sent once, after the third login."""
    farm.inject(CHASSIS, Operation.LOGIN, Fault.transient(), times=2)
    result = power_service().run("fake", fake_farm.target(farm, CHASSIS), "c4n1", PowerAction.OFF)
    assert result.outcome is Outcome.SUCCEEDED, result
    assert farm.calls(CHASSIS, Operation.LOGIN) == 3
    assert farm.count(action=PowerAction.OFF) == 1


def test_cycle_is_composed_as_one_off_then_one_on(farm: Farm) -> None:
    """The fake has no native cycle: the power service sends off, confirms it, then on."""
    result = power_service().run("fake", fake_farm.target(farm, CHASSIS), "c2n1", PowerAction.CYCLE)
    assert result.outcome is Outcome.SUCCEEDED, result
    assert [sent.action for sent in farm.commands] == [PowerAction.OFF, PowerAction.ON]


def test_a_persistent_fault_lasts_until_cleared(farm: Farm) -> None:
    """``times=None`` fails every call until ``clear_faults``; other chassis are unaffected."""
    farm.inject(CHASSIS, Operation.POWER_STATE, Fault.transient(), times=None)
    with driver_for(farm) as driver:
        for _ in range(3):
            with pytest.raises(TransientError):
                driver.power_state("c1n1")
        with driver_for(farm, "chassis-2") as other:
            assert other.power_state("c1n1") is PowerState.ON
        farm.clear_faults(CHASSIS)
        assert driver.power_state("c1n1") is PowerState.ON


def test_a_slow_chassis_answers_late(farm: Farm) -> None:
    """A slow fault delays the answer by its seconds and then answers normally."""
    farm.inject(CHASSIS, Operation.INVENTORY, Fault.slow(0.3))
    with driver_for(farm) as driver:
        started = time.monotonic()
        inventory = driver.inventory()
        elapsed = time.monotonic() - started
    assert elapsed >= 0.3
    assert len(inventory.nodes) == 4


def test_unknown_nodes_are_device_errors_and_send_nothing(farm: Farm) -> None:
    """The chassis answers "no such node": DeviceError, nothing logged."""
    with driver_for(farm) as driver:
        with pytest.raises(DeviceError, match="c9n1"):
            driver.set_power("c9n1", PowerAction.ON)
        with pytest.raises(DeviceError):
            driver.power_state("c9n1")
    assert farm.commands == ()


def test_power_on_uses_a_pending_one_time_pxe(farm: Farm) -> None:
    """pxe_once marks the next boot; the power-on that boots clears it."""
    farm.set_node_power(CHASSIS, "c1n1", on=False)
    with driver_for(farm) as driver:
        driver.pxe_once("c1n1")
        assert farm.pxe_pending(CHASSIS, "c1n1")
        driver.set_power("c1n1", PowerAction.ON)
    assert not farm.pxe_pending(CHASSIS, "c1n1")
    assert [sent.action for sent in farm.commands] == [PowerAction.PXE_ONCE, PowerAction.ON]


def test_config_documents_reach_the_farm(farm: Farm) -> None:
    """``chassis_document`` and ``secret_document`` pass config validation and reach the farm."""
    config = parse_documents(
        [fake_farm.secret_document(), fake_farm.chassis_document(farm, CHASSIS, name="rack-1")]
    )
    spec = config.chassis_named("rack-1")
    with Registry().create(spec.driver, config.driver_target(spec)) as driver:
        assert len(driver.inventory().nodes) == 4
