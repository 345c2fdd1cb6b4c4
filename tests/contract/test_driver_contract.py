"""The driver contract, checked for every registered driver against its real peer on loopback.

Parametrized over ``Registry().names()``: a new entry-point driver is tested here the moment it
is installed, and fails until it has a peer in ``DRIVER_PEERS`` (conftest.py). Checks:
declared features are the implemented methods; what is not declared says "unsupported";
inventory and power values have the model's types and follow the peer; failures come as the
chassisd error classes (transient, auth, device), name their source and never show the
password; ``close`` never raises.
"""

from __future__ import annotations

import dataclasses
import functools
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, ClassVar

import pytest

from chassisd.driver import FEATURE_METHODS, ChassisTarget, Driver, Timeouts, implemented_features
from chassisd.errors import (
    AuthError,
    ChassisdError,
    DeviceError,
    DriverError,
    TransientError,
    UnsupportedError,
)
from chassisd.model import (
    Feature,
    Health,
    Inventory,
    MacAddress,
    NodeRecord,
    PowerAction,
    PowerState,
)
from chassisd.registry import ENTRY_POINT_GROUP, Registry

DRIVER_NAMES = Registry().names()

PeerTuple = tuple[type[Driver], ChassisTarget, str]
"""What a peer fixture yields (conftest ``Peer``): driver class, target, an existing node id."""

SETTABLE_ACTIONS = frozenset(PowerAction) - {PowerAction.PXE_ONCE}
"""What ``power_actions`` may list: one-time PXE is its own feature, not a power verb."""

#: The actions that are safe to send twice, and the state each leads to.
REPEATABLE: Mapping[PowerAction, PowerState] = {
    PowerAction.ON: PowerState.ON,
    PowerAction.OFF: PowerState.OFF,
}

FOLLOW_TIMEOUT = 15.0
"""Seconds a peer may take to show a requested power state: sushy-emulator as a process
applies a change 1-11 s after the request (test-peers.md A1 quirk 1); the others at once."""

POLL_INTERVAL = 0.25

DEAD_TIMEOUTS = Timeouts(connect=1.0, command=1.0)
DEAD_DEADLINE = 5.0
"""Seconds a driver may take to give up on a dead device with ``DEAD_TIMEOUTS``."""

WRONG_PASSWORD = "Wrong-pw-5Zr8q"
UNKNOWN_NODES = ("c45n4", "no-such-node")
"""Node ids no peer has: one in Moonshot form (the peers' chassis have 4 slots), one not."""


@pytest.fixture(params=DRIVER_NAMES)
def name(request: pytest.FixtureRequest) -> str:
    """Each driver name in the ``chassisd.drivers`` entry-point group."""
    driver_name: str = request.param
    return driver_name


# -- helpers --------------------------------------------------------------------------------------


def values(items: frozenset[Feature] | frozenset[PowerAction]) -> list[str]:
    return sorted(item.value for item in items)


def declaration_problems(driver_class: type[Driver], entry_name: str) -> list[str]:
    """What is wrong with a driver class's declarations (features, power actions, name)."""
    if not (isinstance(driver_class, type) and issubclass(driver_class, Driver)):
        return [f"entry point {entry_name!r} loads {driver_class!r}, not a Driver subclass"]
    problems = []
    declared, implemented = driver_class.features, implemented_features(driver_class)
    if declared != implemented:
        problems.append(f"declares {values(declared)} but implements {values(implemented)}")
    if not driver_class.power_actions <= SETTABLE_ACTIONS:
        extra = values(driver_class.power_actions - SETTABLE_ACTIONS)
        problems.append(f"power_actions lists {extra}, which set_power must never carry out")
    if (Feature.POWER_SET in declared) != bool(driver_class.power_actions):
        problems.append(
            f"declares power-set {'with' if Feature.POWER_SET in declared else 'without'} "
            f"power actions {values(driver_class.power_actions)}: one needs the other"
        )
    if driver_class.name != entry_name:
        problems.append(f"class name {driver_class.name!r} is not the entry point's {entry_name!r}")
    return problems


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and the errors it was raised from or during, outermost first."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def raised(call: Callable[[], object]) -> BaseException | None:
    """The exception ``call`` raises, or None if it returns."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 (the contract checks the class of whatever comes)
        return exc
    return None


def error_problems(
    error: BaseException | None,
    expected: type[DriverError],
    name: str,
    target: ChassisTarget,
    what: str = "",
) -> list[str]:
    """How ``error`` falls short of an ``expected`` that names its driver and chassis and shows
    no password anywhere in its chain."""
    where = f"{what}: " if what else ""
    if error is None:
        return [f"{where}returned, expected {expected.__qualname__}"]
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    if not isinstance(error, expected):
        return [f"{where}{kind} is not a {expected.__qualname__}: {error}"]
    problems = []
    if (error.driver, error.chassis) != (name, target.name):
        problems.append(
            f"{where}{kind} names driver={error.driver!r} chassis={error.chassis!r}, "
            f"not {name!r}/{target.name!r}: {error}"
        )
    for link in chain(error):
        if any(s in str(link) for s in (target.credentials.password, WRONG_PASSWORD)):
            problems.append(f"{where}{type(link).__qualname__} shows a password: {link}")
    return problems


def first_contact(driver: Driver, node: str) -> None:
    """Open ``driver`` and make one read: a driver without a session meets the device there."""
    driver.open()
    if Feature.INVENTORY in driver.features:
        driver.inventory()
    else:
        read_power(driver, node)


def read_power(driver: Driver, node: str) -> PowerState:
    """The node's power through ``power_state``, else through the inventory."""
    if Feature.POWER_STATE in driver.features:
        return driver.power_state(node)
    record = driver.inventory().node(node)
    assert record is not None, f"{node} is missing from the inventory"
    return record.power


def wait_for_power(driver: Driver, node: str, wanted: PowerState) -> PowerState:
    """Read the node's power until it is ``wanted`` or ``FOLLOW_TIMEOUT`` passes; the last read."""
    deadline = time.monotonic() + FOLLOW_TIMEOUT
    while (state := read_power(driver, node)) is not wanted and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    return state


@contextmanager
def dead_port() -> Iterator[int]:
    """A port on 127.0.0.1 where no device answers, over TCP or UDP, held for the block.

    TCP: bound, never listening, so connections are refused. UDP: bound, never read, so
    requests go unanswered. Holding the sockets keeps anything else off the port meanwhile.
    """
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:  # that UDP port is taken: try another TCP one
                    continue
                yield port
                return
    pytest.fail("found no port free for both TCP and UDP on 127.0.0.1")


def record_problems(record: NodeRecord) -> list[str]:
    """How one node record departs from the model's types."""
    expect: dict[str, tuple[Any, type | tuple[type, ...]]] = {
        "id": (record.id, str),
        "macs": (record.macs, tuple),
        "power": (record.power, PowerState),
        "health": (record.health, Health),
        "macs_known": (record.macs_known, bool),
        "product": (record.product, str),
        "serial": (record.serial, str),
        "asset_tag": (record.asset_tag, str),
    }
    problems = [
        f"{record.id}: {field} is {type(value).__qualname__} {value!r}"
        for field, (value, kind) in expect.items()
        if not isinstance(value, kind)
    ]
    problems += [
        f"{record.id}: {field} is {value!r}, not an int or None"
        for field, value in (("cartridge", record.cartridge), ("node", record.node))
        if value is not None and (type(value) is not int)
    ]
    if isinstance(record.macs, tuple):
        problems += [
            f"{record.id}: MAC {mac!r} is not a MacAddress"
            for mac in record.macs
            if not isinstance(mac, MacAddress)
        ]
    if not record.macs_known and record.macs:
        problems.append(f"{record.id}: MACs {record.macs} listed but macs_known is False")
    if not record.id:
        problems.append("a node with an empty id")
    return problems


# -- the registry and DRIVER_PEERS ----------------------------------------------------------------


def test_drivers_are_registered_and_every_peer_names_one(driver_peers: Mapping[str, str]) -> None:
    """The entry-point group lists drivers, and DRIVER_PEERS names none that is not installed."""
    assert DRIVER_NAMES, "no chassisd.drivers entry points: is the package installed?"
    stale = sorted(set(driver_peers) - set(DRIVER_NAMES))
    assert not stale, f"DRIVER_PEERS names drivers that are not installed: {stale}"


def test_driver_has_a_peer(name: str, driver_peers: Mapping[str, str]) -> None:
    """Every registered driver has a live peer for the contract tests below."""
    assert name in driver_peers, f"add a peer for driver {name!r} to DRIVER_PEERS (conftest.py)"


# -- 1. declarations --------------------------------------------------------------------------


def test_declared_features_are_the_implemented_methods(name: str) -> None:
    """Features are the overridden methods; power actions settable, iff power-set; names agree."""
    (point,) = entry_points(group=ENTRY_POINT_GROUP, name=name)
    driver_class = point.load()  # directly: Registry.get would refuse a mismatch unexplained
    problems = declaration_problems(driver_class, name)
    assert not problems, "\n".join(problems)
    assert Registry().get(name) is driver_class


def test_declaration_check_catches_a_driver_that_breaks_the_contract() -> None:
    """The declaration check itself reports each kind of mistake (so a pass means something)."""

    class Broken(Driver):
        name: ClassVar[str] = "broken"
        features: ClassVar[frozenset[Feature]] = frozenset({Feature.PXE_ONCE})
        power_actions: ClassVar[frozenset[PowerAction]] = frozenset({PowerAction.PXE_ONCE})

        def inventory(self) -> Inventory:
            raise NotImplementedError

    assert declaration_problems(Broken, "broken-ep") == [
        "declares ['pxe-once'] but implements ['inventory']",
        "power_actions lists ['pxe-once'], which set_power must never carry out",
        "declares power-set without power actions ['pxe-once']: one needs the other",
        "class name 'broken' is not the entry point's 'broken-ep'",
    ]


# -- 2. what is not declared is unsupported ---------------------------------------------------


def test_undeclared_features_and_actions_raise_unsupported(name: str, peer: PeerTuple) -> None:
    """Undeclared features' methods and set_power's undeclared actions raise UnsupportedError."""
    driver_class, target, node = peer
    calls: dict[Feature, Callable[[Driver], object]] = {
        Feature.INVENTORY: lambda d: d.inventory(),
        Feature.POWER_STATE: lambda d: d.power_state(node),
        Feature.POWER_SET: lambda d: d.set_power(node, PowerAction.ON),
        Feature.PXE_ONCE: lambda d: d.pxe_once(node),
    }
    assert set(calls) == set(FEATURE_METHODS)  # a new feature needs a call here
    undeclared = frozenset(Feature) - driver_class.features
    with driver_class(target) as driver:
        before = read_power(driver, node)
        problems = []
        for feature in sorted(undeclared, key=lambda f: f.value):
            error = raised(functools.partial(calls[feature], driver))
            what = FEATURE_METHODS[feature]
            problems += error_problems(error, UnsupportedError, name, target, what)
        if Feature.POWER_SET in driver_class.features:
            for action in sorted(frozenset(PowerAction) - driver_class.power_actions, key=str):
                error = raised(functools.partial(driver.set_power, node, action))
                what = f"set_power {action.value}"
                problems += error_problems(error, UnsupportedError, name, target, what)
        assert not problems, "\n".join(problems)
        assert read_power(driver, node) is before  # nothing was carried out after all


# -- 3. values against the live peer ----------------------------------------------------------


def test_inventory_and_power_state_have_the_model_types(name: str, peer: PeerTuple) -> None:
    """inventory() and power_state() return model values naming this chassis, driver and node."""
    driver_class, target, node = peer
    assert Feature.INVENTORY in driver_class.features, "the poller reads every driver's inventory"
    with driver_class(target) as driver:
        inventory = driver.inventory()
        state = read_power(driver, node)
    assert isinstance(inventory, Inventory), inventory
    assert (inventory.chassis, inventory.driver) == (target.name, name)
    assert isinstance(inventory.taken_at, datetime) and inventory.taken_at.tzinfo is not None
    assert isinstance(inventory.model, str) and isinstance(inventory.firmware, str)
    assert isinstance(inventory.warnings, tuple), inventory.warnings
    assert all(isinstance(warning, str) for warning in inventory.warnings), inventory.warnings
    assert isinstance(inventory.nodes, tuple) and inventory.nodes, inventory.nodes
    assert all(isinstance(record, NodeRecord) for record in inventory.nodes), inventory.nodes
    problems = [p for record in inventory.nodes for p in record_problems(record)]
    assert not problems, "\n".join(problems)
    ids = [record.id.lower() for record in inventory.nodes]
    assert len(ids) == len(set(ids)), f"node ids repeat: {ids}"
    record = inventory.node(node)
    assert record is not None, f"{node} not in {[r.id for r in inventory.nodes]}"
    assert isinstance(state, PowerState) and state is not PowerState.UNKNOWN, state
    assert state is record.power


def test_power_on_and_off_are_followed_by_the_peer(name: str, peer: PeerTuple) -> None:
    """set_power(on/off), each sent twice, returns None and the node's power follows."""
    driver_class, target, node = peer
    actions = [action for action in REPEATABLE if action in driver_class.power_actions]
    with driver_class(target) as driver:
        before = read_power(driver, node)
        assert before in (PowerState.ON, PowerState.OFF), before
        # The action that changes the state first, then the one that restores it; each is sent
        # a second time once the node is there, which must change nothing.
        for action in sorted(actions, key=lambda a: REPEATABLE[a] is before):
            for attempt in (1, 2):
                assert driver.set_power(node, action) is None
                reached = wait_for_power(driver, node, REPEATABLE[action])
                assert reached is REPEATABLE[action], f"{action.value} #{attempt}: {reached}"


def test_pxe_once_returns_none_where_declared(name: str, peer: PeerTuple) -> None:
    """pxe_once() returns None when the driver declares it, and changes no power."""
    driver_class, target, node = peer
    with driver_class(target) as driver:
        before = read_power(driver, node)
        if Feature.PXE_ONCE in driver_class.features:
            assert driver.pxe_once(node) is None
        else:
            error = raised(lambda: driver.pxe_once(node))
            problems = error_problems(error, UnsupportedError, name, target)
            assert not problems, "\n".join(problems)
        assert read_power(driver, node) is before


# -- 4. errors of the right classes -----------------------------------------------------------


def test_dead_device_is_a_transient_error(name: str, peer: PeerTuple) -> None:
    """Nothing answering at the address: open (or the first read) raises TransientError in time."""
    driver_class, target, node = peer
    with dead_port() as port:
        dead = dataclasses.replace(target, address=f"127.0.0.1:{port}", timeouts=DEAD_TIMEOUTS)
        driver = driver_class(dead)
        started = time.monotonic()
        error = raised(lambda: first_contact(driver, node))
        elapsed = time.monotonic() - started
        driver.close()
        driver.close()
    problems = error_problems(error, TransientError, name, dead)
    assert not problems, "\n".join(problems)
    assert error is not None
    # The underlying cause survives: a library error, or (a silent UDP peer) the driver's own
    # deadline; either way something other than a chassisd error.
    causes = chain(error)[1:]
    assert any(not isinstance(cause, ChassisdError) for cause in causes), (
        f"the underlying error is not chained: {causes}"
    )
    assert elapsed < DEAD_DEADLINE, f"gave up after {elapsed:.1f} s"


def test_wrong_password_is_an_auth_error(name: str, peer: PeerTuple) -> None:
    """Refused credentials raise AuthError, at open or (HTTP Basic) at the first request."""
    driver_class, target, node = peer
    credentials = dataclasses.replace(target.credentials, password=WRONG_PASSWORD)
    wrong = dataclasses.replace(target, credentials=credentials)
    driver = driver_class(wrong)
    error = raised(lambda: first_contact(driver, node))
    driver.close()
    driver.close()
    problems = error_problems(error, AuthError, name, wrong)
    assert not problems, "\n".join(problems)


def test_unknown_node_is_a_device_error(name: str, peer: PeerTuple) -> None:
    """A node id the peer does not have raises DeviceError from each per-node method."""
    driver_class, target, _ = peer
    features = driver_class.features
    calls: dict[str, Callable[[Driver, str], object]] = {}
    if Feature.POWER_STATE in features:
        calls["power_state"] = lambda d, n: d.power_state(n)
    if PowerAction.ON in driver_class.power_actions:
        calls["set_power on"] = lambda d, n: d.set_power(n, PowerAction.ON)
    if Feature.PXE_ONCE in features:
        calls["pxe_once"] = lambda d, n: d.pxe_once(n)
    assert calls, "the driver declares no per-node method"
    problems = []
    with driver_class(target) as driver:
        present = [record.id for record in driver.inventory().nodes]
        for unknown in UNKNOWN_NODES:
            assert unknown not in present
            for what, call in calls.items():
                error = raised(functools.partial(call, driver, unknown))
                problems += error_problems(error, DeviceError, name, target, f"{what}({unknown!r})")
    assert not problems, "\n".join(problems)


# -- 5. close ---------------------------------------------------------------------------------


def test_close_never_raises(name: str, peer: PeerTuple) -> None:
    """close() is quiet before open, after a session, and when called twice."""
    driver_class, target, _ = peer
    unopened = driver_class(target)
    unopened.close()
    unopened.close()
    with driver_class(target) as driver:
        driver.inventory()
    driver.close()
    driver.close()
