"""Building in-memory farms for the ``fake`` driver, and handing them to it.

Owns: ``build`` (a farm of N chassis with Moonshot-style node ids ``c<cartridge>n<node>`` and
deterministic, locally administered MACs, unique across the farm), ``registered`` (the farm is
reachable by the driver for the ``with`` block only), ``target`` (a ``ChassisTarget`` for one
chassis) and ``chassis_document`` / ``secret_document`` (resources for standalone config
files). The farm, its faults and its command log are ``chassisd_fake.farm``'s; their names are
re-exported here so a test needs one import.

Must not: be imported by production code, or keep a farm registered past its ``with`` block.

Example::

    farm = fake_farm.build("power-once", chassis=1, cartridges=2, powered_on=True)
    farm.inject("chassis-1", Operation.SET_POWER, Fault.ambiguous())
    with fake_farm.registered(farm):
        result = PowerService(Registry()).run("fake", fake_farm.target(farm, "chassis-1"),
                                              "c1n1", PowerAction.OFF)
    assert result.outcome is Outcome.UNKNOWN and farm.count(action=PowerAction.OFF) == 1
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chassisd_fake.farm import (
    Farm,
    Fault,
    FaultKind,
    NodeView,
    Operation,
    SentCommand,
    register_farm,
    unregister_farm,
)

from chassisd.driver import ChassisTarget, Credentials, Timeouts

__all__ = [
    "Farm",
    "Fault",
    "FaultKind",
    "NodeView",
    "Operation",
    "SentCommand",
    "build",
    "chassis_document",
    "node_macs",
    "registered",
    "secret_document",
    "target",
]

USERNAME = "admin"
PASSWORD = "fake-password"  # noqa: S105 - the login of an in-memory farm is test data


def node_macs(chassis_index: int, cartridge: int, node: int, nics: int = 2) -> tuple[str, ...]:
    """``02:fa:<chassis>:<cartridge>:<node>:<nic>``: locally administered unicast, never reused."""
    return tuple(
        f"02:fa:{chassis_index:02x}:{cartridge:02x}:{node:02x}:{nic:02x}" for nic in range(nics)
    )


def build(
    name: str,
    *,
    chassis: int = 1,
    cartridges: int = 4,
    nodes_per_cartridge: int = 1,
    nics: int = 2,
    powered_on: bool = True,
    username: str = USERNAME,
    password: str = PASSWORD,
) -> Farm:
    """A farm ``name`` with chassis ``chassis-1`` … ``chassis-N``, each full of nodes."""
    if not 1 <= chassis <= 255 or not 1 <= cartridges <= 255 or not 1 <= nodes_per_cartridge <= 255:
        raise ValueError("chassis, cartridges and nodes_per_cartridge must be 1-255")
    farm = Farm(name, username=username, password=password)
    for index in range(1, chassis + 1):
        box = f"chassis-{index}"
        farm.add_chassis(box)
        for cartridge in range(1, cartridges + 1):
            for node in range(1, nodes_per_cartridge + 1):
                macs = node_macs(index, cartridge, node, nics)
                farm.add_node(box, f"c{cartridge}n{node}", macs, power_on=powered_on)
    return farm


@contextmanager
def registered(farm: Farm) -> Iterator[Farm]:
    """Make ``farm`` reachable by the ``fake`` driver for the ``with`` block."""
    register_farm(farm)
    try:
        yield farm
    finally:
        unregister_farm(farm)


def target(
    farm: Farm,
    chassis: str,
    *,
    name: str = "",
    username: str = USERNAME,
    password: str = PASSWORD,
    timeouts: Timeouts = Timeouts(connect=1.0, command=1.0),
) -> ChassisTarget:
    """A ``ChassisTarget`` for one chassis of ``farm`` (``name`` defaults to the chassis's)."""
    return ChassisTarget(
        name=name or chassis,
        address=farm.address(chassis),
        credentials=Credentials(username, password),
        timeouts=timeouts,
    )


def chassis_document(
    farm: Farm,
    chassis: str,
    *,
    name: str = "",
    secret: str = "fake-credentials",  # noqa: S107 - a Secret's name, not a password
) -> dict[str, object]:
    """A ``Chassis`` resource for one chassis of ``farm``; the Secret ``secret`` holds the login."""
    return {
        "apiVersion": "chassisd.io/v1alpha1",
        "kind": "Chassis",
        "metadata": {"name": name or chassis},
        "spec": {
            "driver": "fake",
            "address": farm.address(chassis),
            "credentialsSecretRef": {"name": secret},
        },
    }


def secret_document(
    name: str = "fake-credentials",
    *,
    username: str = USERNAME,
    password: str = PASSWORD,
) -> dict[str, object]:
    """The ``Secret`` that ``chassis_document`` refers to, holding a farm's login."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"username": username, "password": password},
    }
