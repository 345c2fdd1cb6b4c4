"""One poll cycle: driver → ``Inventory``, with the retry decision made here and only here.

Owns calling a driver for a chassis's inventory and deciding, by error class, whether to try
again: ``TransientError`` (nothing reached the device) is retried with exponential back-off
(``chassisd.retry``) within one cycle; every other error ends the cycle at once. The result
always says what happened; a failed poll carries no inventory, so nothing downstream can
mistake it for "the chassis is empty". It is also the driver boundary for what a device says
about its nodes: an inventory with a node id that could smuggle text into DHCP data or a
terminal (``,``, a newline, an escape sequence; ``chassisd.names.device_id_problem``) is a
``ParseError``, whichever driver returned it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chassisd.driver import ChassisTarget
from chassisd.errors import ChassisdError, ParseError, TransientError
from chassisd.model import Inventory
from chassisd.names import device_id_problem
from chassisd.registry import Registry
from chassisd.retry import Backoff, retry


@dataclass(frozen=True)
class RetryPolicy:
    """How often one poll cycle retries a transient failure, and how long it waits between.

    Three attempts with 1 s, 2 s back-off: chassis managers drop SSH logins now and then
    (MAAS LP #1544757; Mozilla retries 4 times), but a longer wait belongs to the next
    scheduled poll, not to this one - hence the 10 s cap on any one wait within a cycle.
    """

    attempts: int = 3
    backoff: Backoff = Backoff(initial=1.0, factor=2.0, maximum=10.0)


@dataclass(frozen=True)
class PollResult:
    """The outcome of one poll cycle of one chassis."""

    chassis: str
    driver: str
    inventory: Inventory | None
    error: ChassisdError | None
    attempts: int
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the poll returned a complete inventory."""
        return self.inventory is not None


def poll_chassis(
    registry: Registry,
    driver_name: str,
    target: ChassisTarget,
    policy: RetryPolicy = RetryPolicy(),
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> PollResult:
    """Poll one chassis: one driver session, ``inventory()``, retrying transient failures."""
    started = time.monotonic()
    attempts = 0

    def attempt() -> Inventory:
        nonlocal attempts
        attempts += 1
        with registry.create(driver_name, target) as driver:
            return checked(driver.inventory())

    try:
        inventory = retry(
            attempt,
            attempts=policy.attempts,
            backoff=policy.backoff,
            retry_on=(TransientError,),
            sleep=sleep,
        )
    except ChassisdError as exc:
        return PollResult(target.name, driver_name, None, exc, attempts, time.monotonic() - started)
    return PollResult(
        target.name, driver_name, inventory, None, attempts, time.monotonic() - started
    )


def checked(inventory: Inventory) -> Inventory:
    """``inventory`` if every node id is one chassisd can use; else a ``ParseError`` naming it
    (escaped: the id may hold control characters)."""
    for record in inventory.nodes:
        why = device_id_problem(record.id)
        if why:
            raise ParseError(f"node id {record.id!r} refused: {why}", command="inventory")
    return inventory
