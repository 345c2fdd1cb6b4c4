"""Faults sushy-emulator cannot produce, injected by a local HTTPS payload server.

Each test serves a small Redfish tree, breaks one thing, and checks that the driver raises the
right error class with a message naming what went wrong.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from chassisd_redfish import RedfishDriver

from chassisd.driver import ChassisTarget, Timeouts
from chassisd.errors import (
    AmbiguousOutcome,
    AuthError,
    DeviceError,
    ParseError,
    TransientError,
    TrustError,
)
from chassisd.model import PowerAction, PowerState
from chassisd.poller import poll_chassis
from chassisd.registry import Registry
from chassisd.sim.net.https import Response
from chassisd.sim.net.tls import TlsMaterial, generate_tls_material
from tests.redfish.redfish_helpers import PayloadServer, make_target, redfish_error

SYSTEMS = "/redfish/v1/Systems"
SYSTEM = "/redfish/v1/Systems/n1"
RESET = "/redfish/v1/Systems/n1/Actions/ComputerSystem.Reset"


def system_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "@odata.id": SYSTEM,
        "Id": "n1",
        "Name": "n1",
        "PowerState": "On",
        "Status": {"Health": "OK"},
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": RESET,
                "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart"],
            }
        },
    }
    payload.update(changes)
    return payload


def serve_tree(server: PayloadServer, **system_changes: Any) -> None:
    """Root (no sessions), a one-member Systems collection and system ``n1`` without NICs."""
    server.add_json("/redfish/v1", {"@odata.id": "/redfish/v1/", "Systems": {"@odata.id": SYSTEMS}})
    server.add_json(SYSTEMS, {"Members": [{"@odata.id": SYSTEM}]})
    server.add_json(SYSTEM, system_payload(**system_changes))
    server.add("POST", RESET, Response(204))


def target(server: PayloadServer, **changes: Any) -> ChassisTarget:
    values: dict[str, Any] = {"ca_bundle": server.tls.ca_pem}
    values.update(changes)
    return make_target(server.address, **values)


@pytest.fixture
def tree(payloads: PayloadServer) -> PayloadServer:
    """The payload server with the small tree in place."""
    serve_tree(payloads)
    return payloads


def test_the_small_tree_works(tree: PayloadServer) -> None:
    """Baseline: the unbroken tree gives one node, and a node without NICs is a warning."""
    with RedfishDriver(target(tree)) as driver:
        inventory = driver.inventory()
    assert [(n.id, n.power) for n in inventory.nodes] == [("n1", PowerState.ON)]
    assert inventory.warnings == ("n1: no MAC addresses reported",)


def test_a_linked_nic_collection_that_is_missing_is_a_warning(tree: PayloadServer) -> None:
    """A 404 for a linked EthernetInterfaces collection loses only the MACs, with a warning."""
    tree.add_json(SYSTEM, system_payload(EthernetInterfaces={"@odata.id": f"{SYSTEM}/Nics"}))
    with RedfishDriver(target(tree)) as driver:
        inventory = driver.inventory()
    assert inventory.nodes[0].macs == ()
    assert inventory.warnings == (
        f"n1: {SYSTEM}/Nics is linked but not found",
        "n1: no MAC addresses reported",
    )


def test_malformed_json_is_a_parse_error_naming_the_url(tree: PayloadServer) -> None:
    """A truncated JSON document raises ParseError with the URL as its command."""
    tree.add("GET", SYSTEMS, Response(200, b'{"Members": [{"@odata.id": "/redf'))
    with pytest.raises(ParseError, match="not JSON") as info, RedfishDriver(target(tree)) as driver:
        driver.inventory()
    assert info.value.command == f"https://{tree.address}{SYSTEMS}"
    assert info.value.chassis == "bmc-t" and info.value.driver == "redfish"


def test_a_json_array_is_not_a_resource(tree: PayloadServer) -> None:
    """Valid JSON that is not an object is a ParseError too."""
    tree.add("GET", SYSTEM, Response.json(200, ["n1"]))
    with (
        pytest.raises(ParseError, match="expected a JSON object, got list"),
        RedfishDriver(target(tree)) as driver,
    ):
        driver.power_state("n1")


def test_a_missing_required_property_is_named(tree: PayloadServer) -> None:
    """A system without ``Id`` raises ParseError naming the property and the system's URL."""
    payload = system_payload()
    del payload["Id"]
    tree.add_json(SYSTEM, payload)
    with (
        pytest.raises(ParseError, match="missing required property Id") as info,
        RedfishDriver(target(tree)) as driver,
    ):
        driver.inventory()
    assert info.value.command.endswith(SYSTEM)


def test_a_collection_without_members_is_a_parse_error(tree: PayloadServer) -> None:
    """A Systems document that is not a collection is a ParseError, not an empty chassis."""
    tree.add_json(SYSTEMS, {"Name": "Systems"})
    with pytest.raises(ParseError, match="not a collection"), RedfishDriver(target(tree)) as driver:
        driver.inventory()


def test_a_wrongly_typed_property_is_a_parse_error(tree: PayloadServer) -> None:
    """An allow-list that is not a list of strings is a ParseError, not a guess."""
    tree.add_json(
        SYSTEM,
        system_payload(
            PowerState="Off",
            Actions={
                "#ComputerSystem.Reset": {
                    "target": RESET,
                    "ResetType@Redfish.AllowableValues": "On",
                }
            },
        ),
    )
    with (
        pytest.raises(ParseError, match="AllowableValues is not a list"),
        RedfishDriver(target(tree)) as driver,
    ):
        driver.set_power("n1", PowerAction.ON)
    assert tree.sent("POST") == []


def test_a_redfish_error_body_is_in_the_message(tree: PayloadServer) -> None:
    """The BMC's own ExtendedInfo message is part of the DeviceError of a refused action."""
    tree.add(
        "POST",
        RESET,
        redfish_error(400, "The operation is not allowed in the current power state."),
    )
    with (
        pytest.raises(DeviceError, match="HTTP 400") as info,
        RedfishDriver(target(tree)) as driver,
    ):
        driver.set_power("n1", PowerAction.OFF)
    assert "not allowed in the current power state" in str(info.value)


def test_a_500_on_a_read_is_transient(tree: PayloadServer) -> None:
    """A BMC answering 500 to a GET is a TransientError (retry later), with its message."""
    tree.add("GET", SYSTEMS, redfish_error(500, "Internal firmware error"))
    with (
        pytest.raises(TransientError, match=r"HTTP 500.*Internal firmware error"),
        RedfishDriver(target(tree)) as driver,
    ):
        driver.inventory()


def test_a_500_on_an_action_is_a_device_error(tree: PayloadServer) -> None:
    """A 500 to a POSTed action means the BMC answered: DeviceError, sent exactly once."""
    tree.add("POST", RESET, redfish_error(500, "Reset failed"))
    with pytest.raises(DeviceError, match="Reset failed"), RedfishDriver(target(tree)) as driver:
        driver.set_power("n1", PowerAction.OFF)
    assert len(tree.sent("POST", RESET)) == 1


def test_a_bmc_that_never_answers_a_read_times_out_as_transient(tree: PayloadServer) -> None:
    """A GET with no answer ends at the request deadline (httpx's read timeout or the alarm,
    whichever is first: both are 0.5 s) as a TransientError."""
    tree.add("GET", SYSTEMS, Response.never())
    started = time.monotonic()
    with (
        pytest.raises(TransientError, match=r"ReadTimeout|within 0\.5 s"),
        RedfishDriver(target(tree, timeouts=Timeouts(connect=2.0, command=0.5))) as driver,
    ):
        driver.inventory()
    assert time.monotonic() - started < 3


def test_an_action_without_an_answer_is_ambiguous_and_not_resent(tree: PayloadServer) -> None:
    """A POSTed reset with no answer is AmbiguousOutcome, and it reached the BMC exactly once."""
    tree.add("POST", RESET, Response.never())
    with (
        pytest.raises(AmbiguousOutcome, match="not re-sent"),
        RedfishDriver(target(tree, timeouts=Timeouts(connect=2.0, command=0.5))) as driver,
    ):
        driver.set_power("n1", PowerAction.OFF)
    assert len(tree.sent("POST", RESET)) == 1


def test_a_redirected_action_is_reported_not_resent(tree: PayloadServer) -> None:
    """A 307 to a POSTed reset is a DeviceError naming the redirect; nothing is re-POSTed."""
    tree.add("POST", RESET, Response(307, headers=(("Location", "/elsewhere"),)))
    tree.add("POST", "/elsewhere", Response(204))
    with (
        pytest.raises(DeviceError, match=r"redirect to /elsewhere.*not re-sent"),
        RedfishDriver(target(tree)) as driver,
    ):
        driver.set_power("n1", PowerAction.OFF)
    assert [r.path for r in tree.sent("POST")] == [RESET]


def test_a_redirect_to_another_host_is_not_followed(tree: PayloadServer) -> None:
    """A GET redirected to another origin is refused, so no credentials travel there."""
    tree.add("GET", SYSTEMS, Response(302, headers=(("Location", "https://127.0.0.2:1/x"),)))
    with pytest.raises(DeviceError, match="another host"), RedfishDriver(target(tree)) as driver:
        driver.inventory()


def test_a_refused_connection_is_transient(tls: TlsMaterial) -> None:
    """Nothing listening on the port is a TransientError: nothing reached a device."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        pytest.raises(TransientError, match="cannot connect"),
        RedfishDriver(make_target(f"127.0.0.1:{port}", ca_bundle=tls.ca_pem)),
    ):
        pass


def test_a_port_that_never_speaks_tls_is_transient(tls: TlsMaterial) -> None:
    """A TCP peer that accepts and stays silent ends at the connect timeout as TransientError."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with (
            pytest.raises(TransientError, match="ConnectTimeout"),
            RedfishDriver(
                make_target(
                    address, ca_bundle=tls.ca_pem, timeouts=Timeouts(connect=0.5, command=5)
                )
            ),
        ):
            pass
    assert time.monotonic() - started < 3


def test_a_wrong_pin_sends_nothing(tree: PayloadServer) -> None:
    """With a pin mismatch the connection closes after the handshake: no HTTP request arrives."""
    wrong = generate_tls_material().fingerprint
    with (
        pytest.raises(TrustError, match="pinned"),
        RedfishDriver(make_target(tree.address, certificate_fingerprint=wrong)),
    ):
        pass
    assert tree.requests == []


def test_pin_and_ca_bundle_must_both_hold(tree: PayloadServer) -> None:
    """With both a CA bundle and a pin set, a correct CA does not excuse a wrong pin."""
    wrong = generate_tls_material().fingerprint
    with pytest.raises(TrustError), RedfishDriver(target(tree, certificate_fingerprint=wrong)):
        pass
    with RedfishDriver(target(tree, certificate_fingerprint=tree.tls.fingerprint)) as driver:
        assert driver.power_state("n1") is PowerState.ON


def test_an_unusable_ca_bundle_is_a_trust_error(tree: PayloadServer) -> None:
    """A CA bundle that is not PEM fails before connecting, as TrustError."""
    with (
        pytest.raises(TrustError, match="unusable trust material"),
        RedfishDriver(target(tree, ca_bundle="not a certificate")),
    ):
        pass
    assert tree.requests == []


# -- session login on a Redfish service that offers it ---------------------------------------------


TOKEN = "tok-1"


def with_sessions(server: PayloadServer) -> None:
    """Add ``Links.Sessions`` to the root and a login/logout pair to the tree."""
    server.add_json(
        "/redfish/v1",
        {
            "Systems": {"@odata.id": SYSTEMS},
            "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions/"}},
        },
    )
    headers = (("X-Auth-Token", TOKEN), ("Location", "/redfish/v1/SessionService/Sessions/s1/"))
    server.add("POST", "/redfish/v1/SessionService/Sessions", Response.json(201, {}, headers))
    server.add("DELETE", "/redfish/v1/SessionService/Sessions/s1", Response(204))


def test_session_token_is_sent_and_the_session_deleted(tree: PayloadServer) -> None:
    """With Links.Sessions the driver logs in once, sends X-Auth-Token, and logs out on close."""
    with_sessions(tree)
    with RedfishDriver(target(tree)) as driver:
        driver.power_state("n1")
    [login] = tree.bodies("POST", "/redfish/v1/SessionService/Sessions")
    assert login == {"UserName": "admin", "Password": "password"}
    [get] = tree.sent("GET", SYSTEM)
    assert get.header("X-Auth-Token") == TOKEN and not get.header("Authorization")
    [logout] = tree.sent("DELETE")
    assert logout.path == "/redfish/v1/SessionService/Sessions/s1/"
    assert logout.header("X-Auth-Token") == TOKEN


def test_a_refused_session_login_is_an_auth_error(tree: PayloadServer) -> None:
    """A 401 to the session login is AuthError, and nothing else is requested."""
    with_sessions(tree)
    tree.add(
        "POST",
        "/redfish/v1/SessionService/Sessions",
        redfish_error(401, "Login failed", "Base.1.4.NoValidSession"),
    )
    with pytest.raises(AuthError, match="Login failed"), RedfishDriver(target(tree)):
        pass
    assert tree.sent("GET", SYSTEMS) == [] and tree.sent("DELETE") == []


def test_a_login_without_a_token_is_a_parse_error(tree: PayloadServer) -> None:
    """A 2xx login answer without X-Auth-Token is a ParseError naming the sessions URL."""
    with_sessions(tree)
    tree.add("POST", "/redfish/v1/SessionService/Sessions", Response.json(201, {}))
    with pytest.raises(ParseError, match="X-Auth-Token"), RedfishDriver(target(tree)):
        pass


def test_a_service_without_session_login_falls_back_to_basic(tree: PayloadServer) -> None:
    """A 405 to the session login makes the driver use HTTP Basic instead."""
    with_sessions(tree)
    tree.add("POST", "/redfish/v1/SessionService/Sessions", Response(405))
    with RedfishDriver(target(tree)) as driver:
        driver.power_state("n1")
    [get] = tree.sent("GET", SYSTEM)
    assert get.header("Authorization").startswith("Basic ")


@pytest.mark.parametrize("hostile", ["n1,n2", "n1\nn2", "n1\x1b[2J", "n1 n2", "n1;reboot"])
def test_a_hostile_system_id_fails_the_poll_escaped(tree: PayloadServer, hostile: str) -> None:
    """A system ``Id`` that could smuggle text into DHCP data or a terminal is refused at the
    driver boundary (the poller), as that chassis's ParseError quoting it escaped."""
    tree.add_json(SYSTEM, system_payload(Id=hostile))
    result = poll_chassis(Registry(), "redfish", target(tree))
    assert isinstance(result.error, ParseError)
    message = str(result.error)
    assert "redfish/bmc-t" in message and "refused" in message
    assert "\n" not in message and "\x1b" not in message
