"""The poll cycle's retry decision, with a test driver registered like a real one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import pytest

from chassisd.driver import ChassisTarget, Credentials, Driver
from chassisd.errors import AuthError, ConfigError, TransientError
from chassisd.model import Feature, Inventory
from chassisd.poller import RetryPolicy, poll_chassis
from chassisd.registry import Registry


class ScriptedDriver(Driver):
    """Fails with the queued errors, then returns an empty inventory."""

    name: ClassVar[str] = "scripted"
    features: ClassVar[frozenset[Feature]] = frozenset({Feature.INVENTORY})
    script: ClassVar[list[Exception]] = []
    opened: ClassVar[int] = 0

    def open(self) -> None:
        type(self).opened += 1

    def inventory(self) -> Inventory:
        if self.script:
            raise self.script.pop(0)
        return Inventory(self.target.name, self.name, (), datetime.now(UTC))


TARGET = ChassisTarget("c", "h", Credentials("u"))


@pytest.fixture
def registry() -> Registry:
    ScriptedDriver.script = []
    ScriptedDriver.opened = 0
    reg = Registry()
    reg.register(ScriptedDriver)
    return reg


def test_transient_errors_are_retried_with_backoff(registry: Registry) -> None:
    """Two transient failures, then success: three sessions, back-off 1 s then 2 s."""
    ScriptedDriver.script = [TransientError("x"), TransientError("y")]
    sleeps: list[float] = []
    result = poll_chassis(
        registry, "scripted", TARGET, RetryPolicy(attempts=3), sleep=sleeps.append
    )
    assert result.ok and result.attempts == 3
    assert sleeps == [1.0, 2.0]
    assert ScriptedDriver.opened == 3


def test_permanent_errors_are_not_retried(registry: Registry) -> None:
    """An auth failure ends the cycle at once and is carried in the result."""
    ScriptedDriver.script = [AuthError("refused")]
    result = poll_chassis(registry, "scripted", TARGET, sleep=lambda s: None)
    assert not result.ok and isinstance(result.error, AuthError) and result.attempts == 1


def test_retries_end_after_the_last_attempt(registry: Registry) -> None:
    """Transient failures on every attempt give a failed result, no inventory."""
    ScriptedDriver.script = [TransientError("x")] * 3
    result = poll_chassis(
        registry, "scripted", TARGET, RetryPolicy(attempts=3), sleep=lambda s: None
    )
    assert result.inventory is None and isinstance(result.error, TransientError)


def test_unknown_driver_lists_installed_ones(registry: Registry) -> None:
    """Naming a driver that is not installed is a config error listing what is."""
    with pytest.raises(ConfigError, match="moonshot"):
        registry.get("nosuch")


def test_registry_rejects_a_driver_whose_features_lie(registry: Registry) -> None:
    """A driver declaring a feature it does not implement is refused."""

    class Liar(Driver):
        name: ClassVar[str] = "liar"
        features: ClassVar[frozenset[Feature]] = frozenset({Feature.INVENTORY, Feature.PXE_ONCE})

        def inventory(self) -> Inventory:
            raise NotImplementedError

    with pytest.raises(ConfigError, match="declares"):
        registry.register(Liar)


def test_every_installed_driver_keeps_its_contract() -> None:
    """Each entry-point driver loads, and its declared features are exactly those it implements."""
    registry = Registry()
    assert "moonshot" in registry.names()
    for name in registry.names():
        driver_class = registry.get(name)  # raises if declared != implemented
        assert driver_class.name == name
        assert driver_class.features


def test_more_nodes_or_node_data_than_a_status_holds_is_refused() -> None:
    """1,000 nodes pass, 1,001 are a ParseError naming the cap; so is a node list whose
    estimated status size passes MAX_NODE_LIST_BYTES (here: 1,000 nodes of 40 MACs)."""
    from chassisd.errors import ParseError
    from chassisd.model import MacAddress, NodeRecord
    from chassisd.poller import MAX_NODE_LIST_BYTES, MAX_NODES, checked

    def inventory(count: int, macs: int = 2) -> Inventory:
        nodes = tuple(
            NodeRecord(
                id=f"c{i // 8 + 1}n{i % 8 + 1}",
                macs=tuple(
                    MacAddress(f"02:00:{i >> 8:02x}:{i & 255:02x}:00:{m:02x}") for m in range(macs)
                ),
            )
            for i in range(count)
        )
        return Inventory("m1", "fake", nodes, datetime.now(UTC))

    assert MAX_NODES == 1000
    assert len(checked(inventory(1000)).nodes) == 1000
    with pytest.raises(ParseError, match=r"reports 1001 nodes, more than chassisd keeps .*\(1000"):
        checked(inventory(1001))
    with pytest.raises(
        ParseError, match=rf"more than chassisd allows .*\({MAX_NODE_LIST_BYTES // 1024} KiB\)"
    ):
        checked(inventory(1000, macs=40))
