"""The REST simulator on its own, driven by a plain httpx client (not the chassisd driver)."""

from __future__ import annotations

import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, SimNode
from chassisd.sim.moonshot.rest import MoonshotRestSimulator, RequestKind, RestFaults, RestSimHandle
from chassisd.sim.net.tls import certificate_fingerprint


@pytest.fixture
def client(rest: RestSimHandle) -> Iterator[httpx.Client]:
    """An httpx client that trusts the simulator's CA (no auth configured)."""
    context = ssl.create_default_context(cadata=rest.ca_pem)
    with httpx.Client(base_url=rest.url, verify=context, timeout=5) as http:
        yield http


def login(client: httpx.Client) -> httpx.Response:
    return client.post("/rest/v1/Sessions", json={"UserName": "admin", "Password": "password"})


def test_the_root_needs_no_login_and_links_the_tree(client: httpx.Client) -> None:
    """GET /rest/v1 answers without credentials and links Chassis, Systems and Sessions."""
    root = client.get("/rest/v1")
    assert root.status_code == 200
    assert root.json()["links"]["Sessions"] == {"href": "/rest/v1/Sessions"}


def test_everything_else_needs_a_token_or_basic(client: httpx.Client, rest: RestSimHandle) -> None:
    """Without credentials the chassis answers 401 with a RIS error body."""
    response = client.get("/rest/v1/Chassis")
    assert response.status_code == 401
    assert response.json()["Messages"][0]["MessageID"] == "Base.0.10.NoValidSession"
    assert rest.stats.unauthorized == 1
    basic = client.get("/rest/v1/Chassis", auth=("admin", "password"))
    assert basic.status_code == 200 and rest.stats.basic_auth_requests == 1
    wrong = client.get("/rest/v1/Chassis", auth=("admin", "nope"))
    assert wrong.status_code == 401 and rest.stats.failed_logins == 1


def test_session_login_token_and_logout(client: httpx.Client, rest: RestSimHandle) -> None:
    """POST /rest/v1/Sessions gives X-Auth-Token and Location; DELETE ends the session."""
    response = login(client)
    assert response.status_code == 201
    token, location = response.headers["X-Auth-Token"], response.headers["Location"]
    assert location.startswith("/rest/v1/Sessions/")
    headers = {"X-Auth-Token": token}
    assert client.get("/rest/v1/Systems", headers=headers).status_code == 200
    assert rest.stats.active_sessions == 1
    assert client.delete(location, headers=headers).status_code == 200
    assert client.get("/rest/v1/Systems", headers=headers).status_code == 401
    assert (rest.stats.logins, rest.stats.logouts, rest.stats.active_sessions) == (1, 1, 0)


def test_the_walk_follows_links_to_host_macs(client: httpx.Client, spec: ChassisSpec) -> None:
    """Chassis → Cartridges → C<n> → ComputerSystems → c<n>n<m> with HostCorrelation MACs."""
    auth = ("admin", "password")
    chassis_href = client.get("/rest/v1/Chassis", auth=auth).json()["links"]["Member"][0]["href"]
    cartridges = client.get(chassis_href, auth=auth).json()["links"]["Cartridges"]["href"]
    members = client.get(cartridges, auth=auth).json()["links"]["Member"]
    assert [m["href"] for m in members] == [
        f"/rest/v1/Chassis/1/Cartridges/C{slot}" for slot in spec.cartridges
    ]
    first_slot = next(iter(spec.cartridges))
    cartridge = client.get(members[0]["href"], auth=auth).json()
    node = client.get(cartridge["links"]["ComputerSystems"][0]["href"], auth=auth).json()
    assert node["Id"] == f"c{first_slot}n1"
    assert node["HostCorrelation"]["HostMACAddress"] == list(
        spec.cartridges[first_slot].nodes[0].macs
    )
    # Paths are matched case-insensitively (an ASSUMPTION; iLO links mix cases).
    assert client.get(f"/REST/v1/systems/C{first_slot}N1", auth=auth).json()["Id"] == node["Id"]


def test_a_reset_type_outside_the_list_is_refused(
    client: httpx.Client, rest: RestSimHandle
) -> None:
    """ResetTypes not in AvailableActions get 400 ActionParameterValueNotInList; none applied."""
    response = client.post(
        "/rest/v1/Systems/c1n1",
        json={"Action": "Reset", "ResetType": "GracefulShutdown"},
        auth=("admin", "password"),
    )
    assert response.status_code == 400
    assert response.json()["Messages"][0]["MessageID"] == "Base.0.10.ActionParameterValueNotInList"
    assert rest.stats.resets == ()


def test_cartridges_come_and_go(client: httpx.Client, rest: RestSimHandle) -> None:
    """A cartridge inserted or removed at runtime shows in the next walk."""
    spec = rest.spec
    free = next(slot for slot in range(1, 46) if slot not in spec.cartridges)
    rest.insert_cartridge(free, Cartridge((SimNode(macs=("02:aa:00:00:00:01",)),)))
    auth = ("admin", "password")
    node = client.get(f"/rest/v1/Systems/c{free}n1", auth=auth).json()
    assert node["HostCorrelation"]["HostMACAddress"] == ["02:aa:00:00:00:01"]
    rest.remove_cartridge(free)
    assert client.get(f"/rest/v1/Systems/c{free}n1", auth=auth).status_code == 404


def test_faults_apply_only_to_the_kinds_they_name(
    client: httpx.Client, rest: RestSimHandle
) -> None:
    """A 500 limited to cartridges leaves systems alone; malformed JSON cuts the body."""
    auth = ("admin", "password")
    rest.set_faults(RestFaults(status=500, affects=frozenset({RequestKind.CARTRIDGE})))
    assert client.get("/rest/v1/Chassis/1/Cartridges/C1", auth=auth).status_code == 500
    assert client.get("/rest/v1/Systems/c1n1", auth=auth).status_code == 200
    rest.set_faults(RestFaults(malformed_json=True))
    with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
        client.get("/rest/v1/Systems/c1n1", auth=auth).json()


def test_a_hung_request_is_released_when_faults_change(rest: RestSimHandle) -> None:
    """A hanging request holds its connection until set_faults, then closes unanswered."""
    rest.set_faults(RestFaults(hang=True))
    context = ssl.create_default_context(cadata=rest.ca_pem)
    errors: list[BaseException] = []

    def request() -> None:
        with httpx.Client(verify=context, timeout=10) as http:
            try:
                http.get(f"{rest.url}/rest/v1")
            except httpx.HTTPError as exc:
                errors.append(exc)

    thread = threading.Thread(target=request)
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()
    started = time.monotonic()
    rest.set_faults(RestFaults())
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 2
    assert len(errors) == 1 and isinstance(errors[0], httpx.RemoteProtocolError)


def test_closing_with_a_hung_request_is_prompt(spec: ChassisSpec) -> None:
    """Stopping the simulator releases hung requests and joins every thread quickly."""
    sim = MoonshotRestSimulator(spec, faults=RestFaults(hang=True))
    context = ssl.create_default_context(cadata=sim.tls.ca_pem)
    with sim.running() as rest, httpx.Client(verify=context, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get(f"{rest.url}/rest/v1")
        started = time.monotonic()
    assert time.monotonic() - started < 2


def test_the_certificate_matches_the_advertised_trust_material(rest: RestSimHandle) -> None:
    """The served certificate's SHA-256 is the handle's fingerprint and chains to its CA."""
    context = ssl.create_default_context(cadata=rest.ca_pem)
    with context.wrap_socket(
        socket.create_connection((rest.host, rest.port), timeout=5), server_hostname=rest.host
    ) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    assert certificate_fingerprint(ssl.DER_cert_to_PEM_cert(der)) == rest.fingerprint


def test_the_command_line_serves_until_sigterm(tmp_path: Path) -> None:
    """The REST simulator's command line prints a ready line, serves, exits 0 on SIGTERM."""
    ca = tmp_path / "ca.pem"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chassisd.sim.moonshot.rest_cmdline",
            "--seed",
            "3",
            "--ca-out",
            str(ca),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(
            r"moonshot-rest simulator moonshot1 listening on (\S+) fingerprint (\S+)\n", line
        )
        assert match, line
        context = ssl.create_default_context(cadata=ca.read_text())
        with httpx.Client(verify=context, timeout=5) as http:
            assert http.get(f"{match.group(1)}/rest/v1").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert process.stdout.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
