"""Containment: one chassis's unexpected error is that chassis's error, never the farm's."""

from __future__ import annotations

import pytest

from chassisd.config import ChassisResource, Config
from chassisd.config.resources import SecretRef
from chassisd.driver import ChassisTarget, Credentials
from chassisd.errors import PermanentError
from chassisd.farm import Farm
from chassisd.registry import Registry
from chassisd.sim.moonshot import SimHandle


def chassis_resource(
    name: str, driver: str, address: str, known_hosts: str = ""
) -> ChassisResource:
    return ChassisResource(
        name=name,
        driver=driver,
        address=address,
        credentials_ref=SecretRef("creds"),
        known_hosts=known_hosts,
        connect_timeout=5.0,
        command_timeout=5.0,
    )


@pytest.mark.parametrize(
    ("driver", "address"),
    [("moonshot", "127.0.0.1:ssh"), ("moonshot-rest", "127.0.0.1:99999"), ("redfish", "[::1]:x")],
)
def test_a_bad_address_fails_its_chassis_and_not_the_farm(
    chassis: SimHandle, driver: str, address: str
) -> None:
    """A port that is no number (the CRD used to admit it) is that chassis's PermanentError,
    naming it; the healthy chassis beside it is polled as usual."""
    host, port = chassis.address
    config = Config(
        chassis=(
            chassis_resource("good", "moonshot", f"{host}:{port}", chassis.known_hosts_line),
            chassis_resource("bad", driver, address),
        ),
        pools=(),
        secrets={"creds": {"username": "admin", "password": "password"}},
    )
    view = Farm(config, Registry()).poll()
    results = {r.chassis: r for r in view.results}
    assert results["good"].ok
    error = results["bad"].error
    assert isinstance(error, PermanentError)
    assert error.chassis == "bad" and error.driver == driver
    assert address in str(error)


def test_host_port_refuses_a_port_out_of_range() -> None:
    """``host_port`` raises the project's error, not ValueError, for a port it cannot use."""
    target = ChassisTarget(name="x", address="10.0.0.5:99999", credentials=Credentials("a"))
    with pytest.raises(PermanentError, match="99999"):
        target.host_port(22)
