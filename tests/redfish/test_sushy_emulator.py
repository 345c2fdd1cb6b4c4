"""The redfish driver against sushy-emulator (fake driver, in-process) over HTTPS on loopback."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest
from chassisd_redfish import RedfishDriver
from chassisd_redfish.tls import INSECURE_WARNING

from chassisd.driver import ChassisTarget, Credentials
from chassisd.errors import AuthError, DeviceError, TrustError, UnsupportedError
from chassisd.model import Health, MacAddress, Outcome, PowerAction, PowerState
from chassisd.power import PowerService, PowerSettings
from chassisd.registry import Registry
from chassisd.sim.net.tls import generate_tls_material
from tests.redfish.redfish_helpers import PASSWORD, USER, UUIDS, SushyPeer, make_target


def trusted(peer: SushyPeer, **changes: object) -> ChassisTarget:
    """A target that trusts the emulator through its CA bundle."""
    values: dict[str, object] = {"ca_bundle": peer.tls.ca_pem}
    values.update(changes)
    return make_target(peer.address, **values)


def emulator_state(peer: SushyPeer, name: str) -> dict[str, object]:
    """The system as an independent client (httpx, Basic auth) reads it from the emulator."""
    context = ssl.create_default_context(cadata=peer.tls.ca_pem)
    with httpx.Client(verify=context, auth=(USER, PASSWORD), follow_redirects=True) as client:
        response = client.get(f"{peer.url}/redfish/v1/Systems/{UUIDS[name]}")
        response.raise_for_status()
        data: dict[str, object] = response.json()
        return data


def reset_types_sent(peer: SushyPeer, mark: int) -> list[str]:
    return [
        json.loads(seen.body)["ResetType"]
        for seen in peer.recorder.since(mark, "POST")
        if seen.path.endswith("/Actions/ComputerSystem.Reset")
    ]


def test_inventory_lists_every_system_with_macs_power_and_health(sushy: SushyPeer) -> None:
    """Each system is one node (id = system Id) with its NIC MACs, power and health."""
    with RedfishDriver(trusted(sushy)) as driver:
        inventory = driver.inventory()
    by_id = {node.id: node for node in inventory.nodes}
    assert set(by_id) == set(UUIDS.values())
    node_a, node_b = by_id[UUIDS["node-a"]], by_id[UUIDS["node-b"]]
    assert node_a.macs == (MacAddress("00:11:22:33:44:01"), MacAddress("00:11:22:33:44:02"))
    assert node_b.macs == (MacAddress("00:11:22:33:44:11"),)
    assert node_a.power is PowerState.OFF and node_b.power is PowerState.ON
    assert all(node.health is Health.OK for node in inventory.nodes)
    assert all(node.cartridge is None and node.node is None for node in inventory.nodes)
    assert inventory.driver == "redfish" and inventory.chassis == "bmc-t"
    assert inventory.warnings == ()


def test_basic_auth_is_used_when_there_is_no_session_service(sushy: SushyPeer) -> None:
    """sushy has no SessionService, so the driver sends HTTP Basic and never tries to log in."""
    mark = sushy.recorder.mark()
    with RedfishDriver(trusted(sushy)) as driver:
        assert driver.power_state(UUIDS["node-b"]) is PowerState.ON
    seen = sushy.recorder.since(mark)
    assert [s.method for s in seen] == ["GET", "GET"]
    assert not any("Sessions" in s.path for s in seen)


@pytest.mark.parametrize(
    ("action", "reset_type", "expected"),
    [
        (PowerAction.OFF, "ForceOff", PowerState.OFF),
        (PowerAction.ON, "On", PowerState.ON),
        (PowerAction.SHUTDOWN, "GracefulShutdown", PowerState.OFF),
        (PowerAction.RESET, "ForceRestart", PowerState.ON),
        # sushy does not list PowerCycle, so cycle falls back to ForceRestart.
        (PowerAction.CYCLE, "ForceRestart", PowerState.ON),
    ],
)
def test_power_action_sends_the_allowed_reset_type_and_reads_back(
    sushy: SushyPeer, action: PowerAction, reset_type: str, expected: PowerState
) -> None:
    """Every power action sends its ResetType once, and the new state is read back."""
    node = UUIDS["power-1"]
    with RedfishDriver(trusted(sushy)) as driver:
        # Start from the opposite state so that every action is really sent.
        start = PowerAction.ON if expected is PowerState.OFF else PowerAction.OFF
        driver.set_power(node, start)
        mark = sushy.recorder.mark()
        driver.set_power(node, action)
        assert reset_types_sent(sushy, mark) == [reset_type]
        assert driver.power_state(node) is expected
    assert emulator_state(sushy, "power-1")["PowerState"] == expected.value.capitalize()


def test_on_and_off_are_idempotent(sushy: SushyPeer) -> None:
    """Asking for the state a system already has sends nothing."""
    node = UUIDS["power-1"]
    with RedfishDriver(trusted(sushy)) as driver:
        driver.set_power(node, PowerAction.ON)
        mark = sushy.recorder.mark()
        driver.set_power(node, PowerAction.ON)
        driver.set_power(node, PowerAction.OFF)
        driver.set_power(node, PowerAction.OFF)
        driver.set_power(node, PowerAction.SHUTDOWN)
    assert reset_types_sent(sushy, mark) == ["ForceOff"]


def test_power_service_runs_actions_through_the_driver(sushy: SushyPeer) -> None:
    """PowerService opens the registered driver, sends off then cycle, and confirms each state."""
    registry = Registry()
    registry.register(RedfishDriver)
    service = PowerService(registry, PowerSettings(settle_timeout=5, settle_interval=0.05))
    node, target = UUIDS["service-1"], trusted(sushy)
    off = service.run("redfish", target, node, PowerAction.OFF)
    assert (off.outcome, off.state) == (Outcome.SUCCEEDED, PowerState.OFF)
    mark = sushy.recorder.mark()
    cycle = service.run("redfish", target, node, PowerAction.CYCLE)
    assert (cycle.outcome, cycle.state) == (Outcome.SUCCEEDED, PowerState.ON)
    assert reset_types_sent(sushy, mark) == ["ForceRestart"]  # native, not composed
    assert service.status("redfish", target, node) is PowerState.ON


def test_pxe_once_sets_the_boot_override(sushy: SushyPeer) -> None:
    """pxe-once PATCHes Boot (Once, Pxe) and the emulator then reports Pxe as the boot target."""
    mark = sushy.recorder.mark()
    with RedfishDriver(trusted(sushy)) as driver:
        driver.pxe_once(UUIDS["pxe-1"])
    patches = sushy.recorder.since(mark, "PATCH")
    assert [json.loads(p.body) for p in patches] == [
        {"Boot": {"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": "Pxe"}}
    ]
    boot = emulator_state(sushy, "pxe-1")["Boot"]
    assert isinstance(boot, dict) and boot["BootSourceOverrideTarget"] == "Pxe"
    # Quirk: sushy ignores BootSourceOverrideEnabled and always reports "Continuous".
    assert boot["BootSourceOverrideEnabled"] == "Continuous"


def test_a_system_name_is_followed_through_the_307_redirect(sushy: SushyPeer) -> None:
    """GET /Systems/<name> answers 307 to the UUID URL; reads follow it."""
    mark = sushy.recorder.mark()
    with RedfishDriver(trusted(sushy)) as driver:
        assert driver.power_state("node-b") is PowerState.ON
    paths = [s.path for s in sushy.recorder.since(mark, "GET")]
    assert paths[-2:] == ["/redfish/v1/Systems/node-b", f"/redfish/v1/Systems/{UUIDS['node-b']}"]


def test_set_power_refuses_an_action_that_is_not_a_power_action(sushy: SushyPeer) -> None:
    """pxe-once is not a ResetType: set_power refuses it before sending anything."""
    with RedfishDriver(trusted(sushy)) as driver:
        mark = sushy.recorder.mark()
        with pytest.raises(UnsupportedError, match="pxe-once"):
            driver.set_power(UUIDS["power-1"], PowerAction.PXE_ONCE)
    assert sushy.recorder.since(mark) == []


def test_an_unknown_system_is_a_device_error(sushy: SushyPeer) -> None:
    """A node id the BMC does not have is a DeviceError carrying the emulator's message."""
    with RedfishDriver(trusted(sushy)) as driver, pytest.raises(DeviceError, match="404"):
        driver.power_state("no-such-system")


def test_wrong_password_is_an_auth_error_without_the_password(sushy: SushyPeer) -> None:
    """A refused password is AuthError naming the user, never the password."""
    target = trusted(sushy, credentials=Credentials(USER, "hunter2-wrong"))
    with pytest.raises(AuthError) as info, RedfishDriver(target) as driver:
        driver.inventory()
    assert "401" in str(info.value) and repr(USER) in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_certificate_from_another_ca_is_refused(sushy: SushyPeer) -> None:
    """With a CA bundle that did not sign the BMC's certificate, nothing is sent: TrustError."""
    other_ca = generate_tls_material().ca_pem
    with (
        pytest.raises(TrustError, match="not trusted"),
        RedfishDriver(trusted(sushy, ca_bundle=other_ca)),
    ):
        pass


def test_without_trust_material_the_system_store_refuses_a_private_ca(sushy: SushyPeer) -> None:
    """No CA bundle and no pin means the system trust store, which does not know the BMC's CA."""
    with (
        pytest.raises(TrustError, match="system trust store"),
        RedfishDriver(make_target(sushy.address)),
    ):
        pass


def test_a_pinned_fingerprint_is_accepted_without_a_ca(sushy: SushyPeer) -> None:
    """The SHA-256 of the BMC's certificate alone is enough to trust it."""
    fingerprint = sushy.tls.fingerprint
    for pin in (fingerprint, fingerprint.replace(":", "").lower(), f"sha256:{fingerprint}"):
        with RedfishDriver(make_target(sushy.address, certificate_fingerprint=pin)) as driver:
            assert driver.power_state(UUIDS["node-b"]) is PowerState.ON


def test_a_wrong_fingerprint_is_refused_and_names_the_real_one(sushy: SushyPeer) -> None:
    """A pin that does not match is TrustError showing the certificate's actual fingerprint."""
    wrong = generate_tls_material().fingerprint
    with (
        pytest.raises(TrustError) as info,
        RedfishDriver(make_target(sushy.address, certificate_fingerprint=wrong)),
    ):
        pass
    assert sushy.tls.fingerprint in str(info.value) and wrong in str(info.value)


def test_insecure_skip_verify_works_and_warns(sushy: SushyPeer) -> None:
    """insecureSkipVerify reaches the BMC and says so in the inventory warnings."""
    with RedfishDriver(make_target(sushy.address, insecure_skip_verify=True)) as driver:
        inventory = driver.inventory()
    assert len(inventory.nodes) == len(UUIDS)
    assert inventory.warnings == (INSECURE_WARNING,)


def test_every_redfish_class_keeps_the_driver_contract() -> None:
    """Both classes register (declared features == implemented) under their entry-point names."""
    from chassisd_redfish import MoonshotRestDriver

    registry = Registry()
    registry.register(RedfishDriver)
    registry.register(MoonshotRestDriver)
    assert registry.get("redfish") is RedfishDriver
    assert registry.get("moonshot-rest") is MoonshotRestDriver
    assert RedfishDriver.power_actions == frozenset(
        {
            PowerAction.ON,
            PowerAction.OFF,
            PowerAction.SHUTDOWN,
            PowerAction.CYCLE,
            PowerAction.RESET,
        }
    )
