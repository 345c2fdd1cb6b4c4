"""Waiting for a condition in tests: the one ``wait_until`` every test and helper uses.

Owns: polling a condition at a fixed interval until it holds or a deadline passes.

Must not: fail or raise on its own (the caller asserts on the result and says what it waited
for), or sleep past the deadline by more than one interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float, *, interval: float = 0.05) -> bool:
    """Poll ``condition()`` every ``interval`` seconds until it is truthy or ``timeout`` passes.

    Returns whether it held; the condition is always evaluated once more at the deadline, so a
    slow machine never reports False for something that did happen in time::

        assert wait_until(lambda: sim.stats.logins == 1, timeout=5), sim.stats
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
