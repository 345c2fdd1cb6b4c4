"""The ipmi driver against ipmi_sim (OpenIPMI's BMC simulator, C) over RMCP+ on loopback.

Power and the boot device are observed through the files of ipmi_sim's chassis-control hook,
and cross-checked with ipmitool, a client independent of pyghmi.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from chassisd_ipmi import NODE_ID, IpmiDriver
from pyghmi.ipmi.private import session as pyghmi_session

from chassisd.driver import Credentials, Timeouts
from chassisd.errors import AuthError, DeviceError, TransientError
from chassisd.model import Outcome, PowerAction, PowerState
from chassisd.power import PowerService, PowerSettings
from chassisd.registry import Registry
from chassisd.testing import wait_until
from tests.ipmi.ipmi_fru_build import build_fru, mac_fields
from tests.ipmi.ipmi_peers import BMC_MAC, HOST_MACS, SERIAL, IpmiSim


def power_service() -> PowerService:
    registry = Registry()
    registry.register(IpmiDriver)
    return PowerService(registry, PowerSettings(settle_timeout=10, settle_interval=0.2))


def ipmitool_power(sim: IpmiSim) -> str:
    """``on`` or ``off`` as ipmitool reads it."""
    return sim.ipmitool("chassis", "power", "status").strip().rsplit(" ", 1)[-1]


def test_inventory_reads_power_fru_and_host_macs(sim: IpmiSim) -> None:
    """One node "bmc" with the FRU's MACs, serial and product, ipmi_sim's power and firmware."""
    sim.power = "1"
    with IpmiDriver(sim.target()) as driver:
        inventory = driver.inventory()
    (node,) = inventory.nodes
    assert node.id == NODE_ID and node.cartridge is None and node.node is None
    assert [str(mac) for mac in node.macs] == list(HOST_MACS)
    assert node.macs_known
    assert (node.serial, node.product) == (SERIAL, "Test Server 1U")
    assert node.power is PowerState.ON
    assert ipmitool_power(sim) == "on"
    assert inventory.firmware == "9.08"  # mc_add ... 9 8 in sim.emu
    assert inventory.model == "Chassisd Test Test Server 1U"
    assert inventory.warnings == ()
    fru_text = sim.ipmitool("fru", "print", "0")  # the independent client reads the same FRU
    assert all(f"MAC{i}:{mac}" in fru_text for i, mac in enumerate(HOST_MACS, 1))


def test_bmc_without_fru_has_unknown_macs_not_its_own(start_sim: Callable[..., IpmiSim]) -> None:
    """No FRU: MACs unknown with a warning; the BMC's own MAC is named but never a host MAC."""
    sim = start_sim(fru=None)
    with IpmiDriver(sim.target()) as driver:
        inventory = driver.inventory()
    (node,), warnings = inventory.nodes, inventory.warnings
    assert node.macs == () and not node.macs_known
    assert f"MAC Address             : {BMC_MAC}" in sim.ipmitool("lan", "print", "1")
    assert any("no FRU 0" in w for w in warnings)
    assert f"{NODE_ID}: host MACs unknown (FRU 0 not read); the BMC's own MAC {BMC_MAC}" in (
        " ".join(warnings)
    )


@pytest.mark.parametrize(
    ("action", "before", "after", "hook_calls"),
    [
        (PowerAction.ON, "0", PowerState.ON, ["set power 1"]),
        (PowerAction.OFF, "1", PowerState.OFF, ["set power 0"]),
        (PowerAction.SHUTDOWN, "1", PowerState.OFF, ["set shutdown 1"]),
        (PowerAction.CYCLE, "1", PowerState.ON, ["set power 0", "set power 1"]),
        (PowerAction.RESET, "1", PowerState.ON, ["set reset 1"]),
    ],
)
def test_power_action_through_the_power_service(
    sim: IpmiSim,
    action: PowerAction,
    before: str,
    after: PowerState,
    hook_calls: list[str],
) -> None:
    """Each native action reaches ipmi_sim's hook exactly once and the state read back is right."""
    sim.power = before
    result = power_service().run("ipmi", sim.target(), NODE_ID, action)
    assert (result.outcome, result.state) == (Outcome.SUCCEEDED, after), result.message
    # ipmi_sim runs a cycle's "power on" 1 s after its "power off"; wait for the hook to finish.
    assert wait_until(lambda: [c for c in sim.calls() if c.startswith("set ")] == hook_calls, 5)
    assert ipmitool_power(sim) == after.value
    assert sim.resets() == (1 if action is PowerAction.RESET else 0)


def test_on_when_on_is_harmless(sim: IpmiSim) -> None:
    """``on`` is idempotent: asking a powered node to power on leaves it on."""
    sim.power = "1"
    result = power_service().run("ipmi", sim.target(), NODE_ID, PowerAction.ON)
    assert (result.outcome, result.state) == (Outcome.SUCCEEDED, PowerState.ON)
    assert sim.power == "1"


def test_pxe_once_sets_the_boot_device_and_changes_no_power(sim: IpmiSim) -> None:
    """pxe-once reaches the hook as ``set boot pxe``; no power request is sent."""
    sim.power = "1"
    result = power_service().run("ipmi", sim.target(), NODE_ID, PowerAction.PXE_ONCE)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.state is PowerState.ON
    assert "set boot pxe" in sim.calls()
    assert not [c for c in sim.calls() if c.startswith("set power")]


def test_status_matches_ipmitool(sim: IpmiSim) -> None:
    """The power service's status read agrees with ipmitool in both states."""
    service = power_service()
    for value, state in (("0", PowerState.OFF), ("1", PowerState.ON)):
        sim.power = value
        assert service.status("ipmi", sim.target(), "BMC") is state
        assert ipmitool_power(sim) == state.value


def test_wrong_password_is_an_auth_error(sim: IpmiSim) -> None:
    """A wrong password is refused at login (RAKP 2), quickly, as AuthError."""
    started = time.monotonic()
    target = sim.target(credentials=Credentials("admin", "wrong"))
    with pytest.raises(AuthError, match=r"login to 127\.0\.0\.1:\d+/udp as 'admin' refused"):
        power_service().run("ipmi", target, NODE_ID, PowerAction.ON)
    assert time.monotonic() - started < 3
    assert sim.power == "0"


def test_unknown_user_is_an_auth_error(sim: IpmiSim) -> None:
    """ipmi_sim refuses an unknown user name in RAKP 2 ("Unauthorized name")."""
    with (
        pytest.raises(AuthError, match="Unauthorized name"),
        IpmiDriver(sim.target(credentials=Credentials("nobody", "password"))),
    ):
        pass


def test_unknown_node_id_is_a_device_error(sim: IpmiSim) -> None:
    """An IPMI chassis has one node; any other id is refused before anything is sent."""
    with IpmiDriver(sim.target()) as driver, pytest.raises(DeviceError, match="one node, 'bmc'"):
        driver.set_power("c1n1", PowerAction.ON)
    assert not [c for c in sim.calls() if c.startswith("set ")]


def test_nothing_listening_is_transient_within_the_timeout(sim: IpmiSim) -> None:
    """A stopped BMC (no UDP listener) fails the login as TransientError after the timeout."""
    sim.process.terminate()
    sim.process.wait(5)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"no answer from 127\.0\.0\.1:\d+/udp within 1 s"):
        IpmiDriver(sim.target(timeouts=Timeouts(connect=1.0, command=1.0))).open()
    assert time.monotonic() - started < 2


def test_concurrent_polls_of_several_bmcs(start_sim: Callable[..., IpmiSim]) -> None:
    """Drivers in parallel threads share pyghmi's one event loop and socket, and all succeed."""
    sims = [
        start_sim(
            fru=build_fru(serial=f"SN-{i}", product_extra=mac_fields([f"00:11:22:33:44:0{i}"]))
        )
        for i in range(3)
    ]
    failures: list[str] = []

    def poll(index: int) -> None:
        for _ in range(5):
            try:
                with IpmiDriver(sims[index].target(name=f"ipmi-{index}")) as driver:
                    (node,) = driver.inventory().nodes
                if (node.serial, [str(m) for m in node.macs]) != (
                    f"SN-{index}",
                    [f"00:11:22:33:44:0{index}"],
                ):
                    failures.append(f"{index}: {node}")
            except Exception as exc:  # noqa: BLE001 - collected and asserted on below
                failures.append(f"{index}: {exc!r}")

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(len(sims))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(pyghmi_session.iosockets) == 1
    ports = {sim.port for sim in sims}  # every login was dropped from pyghmi's cache at logout
    assert [key for key in pyghmi_session.Session.initting_sessions if key[3] in ports] == []
