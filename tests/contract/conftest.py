"""Fixtures for the driver contract suite: one real peer per registered driver, on loopback.

Every name in the ``chassisd.drivers`` entry-point group needs an entry in ``DRIVER_PEERS``
(driver name → fixture name). The fixture yields a ``Peer``: the driver class as its entry point
loads it, a target that reaches a live peer speaking the driver's protocol, and the id of a node
that exists there. Peers start once per module, bind 127.0.0.1 only, share one distinctive
password (so a test can tell whether an error message leaks it), and subprocesses are stopped
by their PID.

- ``moonshot``: ``chassisd.sim.moonshot.MoonshotSimulator`` (SSH) in a thread.
- ``moonshot-rest``: ``chassisd.sim.moonshot.rest.MoonshotRestSimulator`` (HTTPS) in a thread.
- ``redfish``: ``sushy-emulator`` (fake driver) as a subprocess over HTTPS with Basic auth. It is
  not the in-process emulator of ``tests/redfish/conftest.py``: that one is session-scoped and
  module-global (test-peers.md A1). As a process it keeps its real 1-11 s power delays, and
  its imports (webob's of the deprecated ``cgi`` module) warn in its process, not in pytest's.
- ``ipmi``: OpenIPMI's ``ipmi_sim`` as a subprocess, started by ``tests/ipmi/ipmi_peers.py``.
- ``fake``: an in-memory farm (``chassisd.testing.fake_farm``), registered for the module.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import NamedTuple

import bcrypt
import pytest

from chassisd.driver import ChassisTarget, Credentials, Driver, Timeouts
from chassisd.registry import ENTRY_POINT_GROUP
from chassisd.sim.moonshot import MoonshotSimulator
from chassisd.sim.moonshot.model import ChassisSpec
from chassisd.sim.moonshot.rest import MoonshotRestSimulator
from chassisd.sim.net.tls import generate_tls_material
from chassisd.testing import fake_farm

# The IPMI peer's start-up (ipmi_sim config templates, its chassis-control hook, the FRU image
# builder, stop-by-PID) lives with the IPMI tests; reuse it rather than keep a second copy.
from tests.ipmi.ipmi_fru_build import build_fru, mac_fields
from tests.ipmi.ipmi_peers import PASSWORD as IPMI_SIM_PASSWORD
from tests.ipmi.ipmi_peers import start_ipmi_sim, stop

USER = "admin"
PASSWORD = "Kq7-contract-pw"
"""Every peer's password: distinctive, so that finding it in a message means a leak, and at
most 16 bytes, so IPMI 1.5 and 2.0 BMCs both accept it."""

PEER_TIMEOUTS = Timeouts(connect=5.0, command=5.0)
"""Generous for loopback peers; the dead-device test uses its own short ones."""


class Peer(NamedTuple):
    """A driver class, a target reaching its live peer, and a node id that exists there."""

    driver_class: type[Driver]
    target: ChassisTarget
    node: str


#: Driver name (entry point) → the fixture below that starts a peer for it.
DRIVER_PEERS: Mapping[str, str] = {
    "moonshot": "moonshot_peer",
    "moonshot-rest": "moonshot_rest_peer",
    "redfish": "redfish_peer",
    "ipmi": "ipmi_peer",
    "fake": "fake_peer",
}


def load_driver(name: str) -> type[Driver]:
    """The class behind entry point ``name``, loaded directly (``Registry.get`` would refuse a
    class whose features disagree, and the contract test wants to report that itself)."""
    (point,) = entry_points(group=ENTRY_POINT_GROUP, name=name)
    loaded: type[Driver] = point.load()
    return loaded


@pytest.fixture
def driver_peers() -> Mapping[str, str]:
    """``DRIVER_PEERS``, for tests that check it against the registry."""
    return DRIVER_PEERS


@pytest.fixture
def peer(request: pytest.FixtureRequest, name: str) -> Peer:
    """The running peer of driver ``name``; fails (never skips) when it has none."""
    fixture = DRIVER_PEERS.get(name)
    if fixture is None:
        pytest.fail(
            f"add a peer for driver {name!r}: a fixture in tests/contract/conftest.py that "
            f"yields Peer(driver_class, target, node), named in DRIVER_PEERS",
            pytrace=False,
        )
    found: Peer = request.getfixturevalue(fixture)
    return found


def _small_chassis(name: str) -> ChassisSpec:
    """Four full slots, every node powered on: enough nodes for the contract, fast to read."""
    return ChassisSpec.generate(name, seed=11, slots=4, fill=1.0, multi_node=0.5, powered_off=0.0)


@pytest.fixture(scope="module")
def moonshot_peer() -> Iterator[Peer]:
    """The Moonshot SSH simulator in a thread, trusted through its known_hosts line."""
    spec = _small_chassis("contract-moonshot")
    with MoonshotSimulator(spec, users={USER: PASSWORD}).running() as handle:
        host, port = handle.address
        target = ChassisTarget(
            name="contract-moonshot",
            address=f"{host}:{port}",
            credentials=Credentials(USER, PASSWORD),
            known_hosts=handle.known_hosts_line,
            timeouts=PEER_TIMEOUTS,
        )
        node_id, _ = next(spec.nodes())
        yield Peer(load_driver("moonshot"), target, str(node_id))


@pytest.fixture(scope="module")
def moonshot_rest_peer() -> Iterator[Peer]:
    """The Moonshot REST simulator in a thread, trusted through its CA bundle."""
    spec = _small_chassis("contract-moonshot-rest")
    with MoonshotRestSimulator(spec, users={USER: PASSWORD}).running() as handle:
        target = ChassisTarget(
            name="contract-moonshot-rest",
            address=handle.address,
            credentials=Credentials(USER, PASSWORD),
            ca_bundle=handle.ca_pem,
            timeouts=PEER_TIMEOUTS,
        )
        node_id, _ = next(spec.nodes())
        yield Peer(load_driver("moonshot-rest"), target, str(node_id))
        assert handle.errors == []  # a handler exception would be a simulator bug


SUSHY_SYSTEM = "33333333-4444-5555-6666-000000000001"
SUSHY_START_TIMEOUT = 20.0
"""Seconds sushy-emulator may take to print its address (it imports Flask and friends)."""


@pytest.fixture(scope="module")
def redfish_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """``sushy-emulator --config FILE`` with one fake system (On), HTTPS and an htpasswd file."""
    directory = tmp_path_factory.mktemp("contract-sushy")
    tls = generate_tls_material()
    cert, key = directory / "bmc.crt", directory / "bmc.key"
    cert.write_text(tls.cert_pem)
    key.write_text(tls.key_pem)
    key.chmod(0o600)
    htpasswd = directory / "htpasswd"  # sushy accepts bcrypt entries only
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"{USER}:{digest}\n")
    config = directory / "emulator.conf"
    config.write_text(
        f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
        f"SUSHY_EMULATOR_LISTEN_PORT = 0\n"
        f"SUSHY_EMULATOR_SSL_CERT = {str(cert)!r}\n"
        f"SUSHY_EMULATOR_SSL_KEY = {str(key)!r}\n"
        f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}\n"
        f"SUSHY_EMULATOR_STATE_DIR = {str(directory / 'state')!r}\n"
        f"SUSHY_EMULATOR_FAKE_DRIVER = True\n"
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': {SUSHY_SYSTEM!r}, 'name': 'contract-1', "
        f"'power_state': 'On', 'external_notifier': False, "
        f"'nics': [{{'mac': '00:11:22:33:66:01', 'ip': '127.0.0.1'}}]}}]\n"
    )
    log = directory / "emulator.log"
    executable = Path(sys.executable).with_name("sushy-emulator")
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(executable), "--config", str(config)],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        address = _sushy_address(process, log)
        target = ChassisTarget(
            name="contract-redfish",
            address=address,
            credentials=Credentials(USER, PASSWORD),
            ca_bundle=tls.ca_pem,
            timeouts=PEER_TIMEOUTS,
        )
        yield Peer(load_driver("redfish"), target, SUSHY_SYSTEM)
    finally:
        stop(process)  # SIGTERM by PID, SIGKILL after 5 s


def _sushy_address(process: subprocess.Popen[str], log: Path) -> str:
    marker = "Running on https://127.0.0.1:"
    deadline = time.monotonic() + SUSHY_START_TIMEOUT
    while True:
        text = log.read_text(errors="replace")
        if marker in text:
            port = text.split(marker, 1)[1].split(None, 1)[0].rstrip("/")
            return f"127.0.0.1:{int(port)}"
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"sushy-emulator did not start:\n{text}")
        time.sleep(0.05)


IPMI_NODE = "bmc"
"""The ipmi driver's node id: one BMC is one node, always named ``bmc`` (its module docstring)."""


@pytest.fixture(scope="module")
def ipmi_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """ipmi_sim with a FRU carrying two host MACs, powered on, its admin password changed."""
    fru = build_fru(
        serial="SN-CONTRACT-1", product_extra=mac_fields(["00:11:22:33:77:01", "00:11:22:33:77:02"])
    )
    sim = start_ipmi_sim(tmp_path_factory.mktemp("contract-ipmi_sim"), fru=fru, power="1")
    try:
        # The helper's lan.conf template fixes the password; change it over IPMI itself with
        # ipmitool (an independent client) so this peer uses the suite's distinctive one.
        sim.ipmitool("user", "set", "password", "2", PASSWORD, password=IPMI_SIM_PASSWORD)
        sim.ipmitool("chassis", "power", "status", password=PASSWORD)  # the new one works
        target = sim.target(
            name="contract-ipmi", credentials=Credentials(USER, PASSWORD), timeouts=PEER_TIMEOUTS
        )
        yield Peer(load_driver("ipmi"), target, IPMI_NODE)
    finally:
        stop(sim.process)  # SIGTERM by PID, SIGKILL after 5 s


@pytest.fixture(scope="module")
def fake_peer() -> Iterator[Peer]:
    """A one-chassis in-memory farm for the ``fake`` driver, every node powered on."""
    farm = fake_farm.build(
        "contract", cartridges=4, nodes_per_cartridge=2, username=USER, password=PASSWORD
    )
    with fake_farm.registered(farm):
        target = fake_farm.target(
            farm,
            "chassis-1",
            name="contract-fake",
            username=USER,
            password=PASSWORD,
            timeouts=PEER_TIMEOUTS,
        )
        yield Peer(load_driver("fake"), target, "c1n1")
