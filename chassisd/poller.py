"""One poll cycle: driver → ``Inventory``, with the retry decision made here and only here.

Owns calling a driver for a chassis's inventory and deciding, by error class, whether to try
again: ``TransientError`` (nothing reached the device) is retried with exponential back-off
within one cycle; every other error ends the cycle at once. The result always says what
happened; a failed poll carries no inventory, so nothing downstream can mistake it for
"the chassis is empty".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chassisd.driver import ChassisTarget
from chassisd.errors import ChassisdError, TransientError
from chassisd.model import Inventory
from chassisd.registry import Registry


@dataclass(frozen=True)
class RetryPolicy:
    """How often one poll cycle retries a transient failure.

    Three attempts with 1 s, 2 s back-off: chassis managers drop SSH logins now and then
    (MAAS LP #1544757; Mozilla retries 4 times), but a longer wait belongs to the next
    scheduled poll, not to this one.
    """

    attempts: int = 3
    backoff: float = 1.0  # seconds before the 2nd attempt; doubles each time
    backoff_max: float = 10.0


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
    delay = policy.backoff
    error: ChassisdError | None = None
    attempt = 0
    for attempt in range(1, policy.attempts + 1):
        try:
            with registry.create(driver_name, target) as driver:
                inventory = driver.inventory()
            return PollResult(
                target.name, driver_name, inventory, None, attempt, time.monotonic() - started
            )
        except TransientError as exc:
            error = exc
            if attempt < policy.attempts:
                sleep(min(delay, policy.backoff_max))
                delay *= 2
        except ChassisdError as exc:
            error = exc
            break
    return PollResult(target.name, driver_name, None, error, attempt, time.monotonic() - started)
