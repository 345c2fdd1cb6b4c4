"""The redfish driver on real HPE iLO payloads from proliantutils 2.16.3.

The payloads are committed under ``tests/fixtures/`` (their README.md names each source):
``ilo5/*.json`` are single iLO 5 (ProLiant DL180 Gen10) resources from its ``json_samples``, and
``ilo4/network_adapter.json`` is ``ris_sample_outputs.RESP_NETWORK_ADAPTER``, an iLO 4 OEM
network adapter. They are served
as a browsable tree by the payload server; the collections that link them are the only
documents written here, and each says so.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from chassisd_redfish import RedfishDriver
from chassisd_redfish.resources import Resource, adapter_macs, interface_mac

from chassisd.errors import UnsupportedError
from chassisd.model import Health, MacAddress, PowerAction, PowerState
from chassisd.sim.net.https import Response
from tests.redfish.redfish_helpers import PayloadServer, ProliantSamples, make_target

SYSTEM = "/redfish/v1/Systems/1/"
RESET = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset/"
SESSIONS = "/redfish/v1/SessionService/Sessions/"
IFACES = "/redfish/v1/Systems/1/EthernetInterfaces/"
ADAPTERS = "/redfish/v1/Systems/1/NetworkAdapters/"
ADAPTER_MAC = MacAddress("9c:b6:54:79:78:70")  # RESP_NETWORK_ADAPTER PhysicalPorts[0]
ILO5_NIC_MAC = MacAddress("98:f2:b3:2a:0e:3d")  # ethernet_interface.json "latest"


def collection(*members: str) -> dict[str, Any]:
    """A collection document (written here: the samples hold members, not their collections)."""
    return {"Members": [{"@odata.id": m} for m in members], "Members@odata.count": len(members)}


def serve_ilo(
    server: PayloadServer,
    samples: ProliantSamples,
    *,
    system: dict[str, Any] | None = None,
    interfaces: tuple[str, ...] = (),
) -> None:
    """root.json, sessions, system.json, EthernetInterfaces and the OEM network adapters."""
    server.add_json("/redfish/v1/", samples.json("root.json"))
    token = (("X-Auth-Token", "ilo-token"), ("Location", f"{SESSIONS}admin1/"))
    server.add("POST", SESSIONS, Response.json(201, {}, token))
    server.add("DELETE", f"{SESSIONS}admin1/", Response.json(200, {}))
    server.add_json("/redfish/v1/Systems/", collection(SYSTEM))
    server.add_json(SYSTEM, system or samples.json("system.json")["default"])
    server.add_json(IFACES, collection(*interfaces))
    server.add_json(f"{IFACES}6/", samples.json("ethernet_interface.json")["latest"])
    server.add_json(ADAPTERS, collection(f"{ADAPTERS}1/"))
    server.add_json(f"{ADAPTERS}1/", samples.ris("network_adapter.json"))
    server.add("POST", RESET, Response(200))
    server.add("PATCH", SYSTEM, Response(200))


def ilo_target(server: PayloadServer) -> Any:
    return make_target(server.address, ca_bundle=server.tls.ca_pem)


def test_empty_ethernet_interfaces_fall_back_to_hpe_network_adapters(
    payloads: PayloadServer, proliant_samples: ProliantSamples
) -> None:
    """iLO 5 with no host NICs listed: MACs come from Oem.Hpe NetworkAdapters PhysicalPorts."""
    serve_ilo(payloads, proliant_samples)
    with RedfishDriver(ilo_target(payloads)) as driver:
        inventory = driver.inventory()
    [node] = inventory.nodes
    assert node.id == "1"
    assert node.macs == (ADAPTER_MAC,)
    assert (node.power, node.health) == (PowerState.ON, Health.OK)
    assert node.product == "ProLiant DL180 Gen10"
    assert node.serial == ""  # iLO 5 pads an unset serial with spaces
    assert (inventory.model, inventory.firmware) == ("iLO 5", "1.10")
    assert inventory.warnings == ()


def test_listed_ethernet_interfaces_win(
    payloads: PayloadServer, proliant_samples: ProliantSamples
) -> None:
    """When EthernetInterfaces lists NICs (iLO 5: MACAddress only), the OEM data is not read."""
    serve_ilo(payloads, proliant_samples, interfaces=(f"{IFACES}6/",))
    with RedfishDriver(ilo_target(payloads)) as driver:
        [node] = driver.inventory().nodes
    assert node.macs == (ILO5_NIC_MAC,)
    assert payloads.sent("GET", ADAPTERS) == []


def test_ethernet_interfaces_linked_only_under_oem_hpe(
    payloads: PayloadServer, proliant_samples: ProliantSamples
) -> None:
    """The 'System_for_oem_ethernet_interfaces' variant links its NICs from Oem.Hpe.Links."""
    system = proliant_samples.json("system.json")["System_for_oem_ethernet_interfaces"]
    assert "EthernetInterfaces" not in system  # the shape this test is about
    serve_ilo(payloads, proliant_samples, system=system, interfaces=(f"{IFACES}6/",))
    with RedfishDriver(ilo_target(payloads)) as driver:
        [node] = driver.inventory().nodes
    assert node.macs == (ILO5_NIC_MAC,)
    assert node.power is PowerState.UNKNOWN  # that variant carries no PowerState


def test_without_an_adapters_link_base_network_adapters_is_tried(
    payloads: PayloadServer, proliant_samples: ProliantSamples
) -> None:
    """An HPE system with no NetworkAdapters link is asked for <system>/BaseNetworkAdapters."""
    system = copy.deepcopy(proliant_samples.json("system.json")["default"])
    del system["Oem"]["Hpe"]["Links"]["NetworkAdapters"]
    serve_ilo(payloads, proliant_samples, system=system)
    base = "/redfish/v1/Systems/1/BaseNetworkAdapters"
    payloads.add_json(base, collection(f"{ADAPTERS}1/"))
    with RedfishDriver(ilo_target(payloads)) as driver:
        [node] = driver.inventory().nodes
    assert node.macs == (ADAPTER_MAC,)
    assert len(payloads.sent("GET", base)) == 1


def test_no_mac_source_at_all_is_a_warning_not_an_error(
    payloads: PayloadServer, proliant_samples: ProliantSamples
) -> None:
    """If BaseNetworkAdapters is 404 too, the node is listed without MACs and a warning."""
    system = copy.deepcopy(proliant_samples.json("system.json")["default"])
    del system["Oem"]["Hpe"]["Links"]["NetworkAdapters"]
    serve_ilo(payloads, proliant_samples, system=system)
    with RedfishDriver(ilo_target(payloads)) as driver:
        inventory = driver.inventory()
    assert inventory.nodes[0].macs == ()
    assert inventory.warnings == ("1: no MAC addresses reported",)


def test_session_login_and_logout_on_the_ilo_root(
    payloads: PayloadServer, proliant_samples: ProliantSamples
) -> None:
    """iLO's root names Links.Sessions: one login, the token on every request, one logout."""
    serve_ilo(payloads, proliant_samples)
    with RedfishDriver(ilo_target(payloads)) as driver:
        driver.inventory()
    assert payloads.bodies("POST", SESSIONS) == [{"UserName": "admin", "Password": "password"}]
    reads = [r for r in payloads.sent("GET") if r.path != "/redfish/v1/"]
    assert reads and all(r.header("X-Auth-Token") == "ilo-token" for r in reads)
    assert [r.path for r in payloads.sent("DELETE")] == [f"{SESSIONS}admin1/"]


@pytest.mark.parametrize(
    ("action", "reset_type"),
    [
        (PowerAction.OFF, "ForceOff"),
        (PowerAction.RESET, "ForceRestart"),
        (PowerAction.CYCLE, "ForceRestart"),  # iLO 5 does not list PowerCycle
    ],
)
def test_power_uses_the_reset_types_ilo5_allows(
    payloads: PayloadServer,
    proliant_samples: ProliantSamples,
    action: PowerAction,
    reset_type: str,
) -> None:
    """Power actions go to the advertised target with a ResetType from the system's list."""
    serve_ilo(payloads, proliant_samples)
    with RedfishDriver(ilo_target(payloads)) as driver:
        driver.set_power("1", action)
    assert payloads.bodies("POST", RESET) == [{"ResetType": reset_type}]


def test_shutdown_is_unsupported_on_this_ilo5(
    payloads: PayloadServer, proliant_samples: ProliantSamples
) -> None:
    """This iLO 5 lists no GracefulShutdown (only PushPowerButton, which toggles): refused."""
    serve_ilo(payloads, proliant_samples)
    with (
        pytest.raises(UnsupportedError, match="GracefulShutdown") as info,
        RedfishDriver(ilo_target(payloads)) as driver,
    ):
        driver.set_power("1", PowerAction.SHUTDOWN)
    assert "PushPowerButton" in str(info.value)
    assert payloads.sent("POST", RESET) == []


def test_on_is_not_sent_to_a_running_ilo5(
    payloads: PayloadServer, proliant_samples: ProliantSamples
) -> None:
    """The sample system is On: ``on`` sends nothing (iLO would answer a repeated On with 400)."""
    serve_ilo(payloads, proliant_samples)
    with RedfishDriver(ilo_target(payloads)) as driver:
        driver.set_power("1", PowerAction.ON)
    assert payloads.sent("POST", RESET) == []


def test_pxe_once_patches_the_ilo5_system(
    payloads: PayloadServer, proliant_samples: ProliantSamples
) -> None:
    """pxe-once PATCHes Boot on the system URL (Pxe is in iLO 5's allowed targets)."""
    serve_ilo(payloads, proliant_samples)
    with RedfishDriver(ilo_target(payloads)) as driver:
        driver.pxe_once("1")
    assert payloads.bodies("PATCH", SYSTEM) == [
        {"Boot": {"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": "Pxe"}}
    ]


def test_interface_mac_prefers_macaddress_then_permanent(proliant_samples: ProliantSamples) -> None:
    """The parser reads MACAddress, and PermanentMACAddress when MACAddress is absent."""
    sample = proliant_samples.json("ethernet_interface.json")["default"]
    assert interface_mac(Resource("u", sample)) == MacAddress("12:44:6a:3b:04:11")
    permanent_only = {k: v for k, v in sample.items() if k != "MACAddress"}
    assert interface_mac(Resource("u", permanent_only)) == MacAddress("12:44:6a:3b:04:11")
    assert interface_mac(Resource("u", {"Id": "1"})) is None


def test_adapter_macs_reads_every_physical_port(proliant_samples: ProliantSamples) -> None:
    """The OEM adapter parser returns each PhysicalPorts[].MacAddress, normalised."""
    adapter = proliant_samples.ris("network_adapter.json")
    assert adapter_macs(Resource("u", adapter)) == [ADAPTER_MAC]
    second = copy.deepcopy(adapter)
    second["PhysicalPorts"].append({"MacAddress": "9C-B6-54-79-78-71"})
    assert adapter_macs(Resource("u", second)) == [ADAPTER_MAC, MacAddress("9c:b6:54:79:78:71")]
