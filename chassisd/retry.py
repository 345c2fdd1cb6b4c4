"""Back-off and retry: the one shape of "wait longer after each failure" in chassisd.

Owns ``Backoff`` (the n-th delay of an exponential back-off, capped, optionally jittered) and
``retry`` (call again after a delay, only for the error classes named). Every loop that waits
after a failure uses ``Backoff``:

- the poll cycle retrying a transient failure (``poller.RetryPolicy``: 1 s, 2 s, ...);
- the power service opening a driver session (``power.PowerSettings.connect_backoff``);
- the cluster agent's informers, waiting before they follow a kind again after an API error
  (``cluster.informer``: 1 s doubling to 30 s); its per-chassis back-off, delaying the next
  poll of a failing chassis (``cluster.chassis``: the poll interval doubling up to a cap,
  ±10 % jitter); and the power controller retrying a status write (``cluster.power``).

Must not: decide *which* errors are worth retrying for a caller (it says so in ``retry_on``),
log, or retry an ``AmbiguousOutcome``: a command that may have reached the device is never
sent again, whatever ``retry_on`` says.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from chassisd.errors import AmbiguousOutcome, TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: ``initial`` seconds after the first failure, times ``factor`` after
    each further one, never more than ``maximum`` seconds; then spread by ``jitter``.

    ``jitter`` is a fraction: each delay is multiplied by a random factor in
    ``[1 - jitter, 1 + jitter]``, so that many loops failing together (a switch outage cuts off
    hundreds of chassis at once) do not all come back in the same second. It applies after the
    cap, so a jittered delay can be up to ``maximum * (1 + jitter)``.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        # initial > maximum is allowed: the cap applies from the first delay (a chassis polled
        # hourly still retries within the agent's cap).
        if self.initial < 0 or self.maximum < 0:
            raise ValueError(f"delays cannot be negative: {self.initial}, {self.maximum}")
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter is a fraction in [0, 1), got {self.jitter}")

    def delay(self, failures: int, *, uniform: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 for the first).

        ``uniform`` returns a number in [0, 1) for the jitter (tests pass their own).
        """
        if failures < 1:
            raise ValueError(f"failures counts from 1, got {failures}")
        try:
            base = min(self.initial * self.factor ** (failures - 1), self.maximum)
        except OverflowError:  # factor ** n beyond a float: long past the cap
            base = self.maximum
        if not self.jitter:
            return base
        return base * (1 + self.jitter * (2 * uniform() - 1))


def retry(
    call: Callable[[], T],
    *,
    attempts: int,
    backoff: Backoff,
    retry_on: tuple[type[Exception], ...] = (TransientError,),
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[Exception, float], None] | None = None,
) -> T:
    """Return ``call()``, calling it again after ``backoff``'s delay when it raises one of
    ``retry_on``, at most ``attempts`` times in all; the last error is raised as it came.

    Any other exception ends it at once, and so does an ``AmbiguousOutcome`` even when
    ``retry_on`` names a base class of it. ``on_retry(error, delay)`` is told before each wait
    (for a log line); ``sleep`` is injectable for tests and for stoppable loops.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    failures = 0
    while True:
        try:
            return call()
        except retry_on as exc:
            failures += 1
            if isinstance(exc, AmbiguousOutcome) or failures >= attempts:
                raise
            delay = backoff.delay(failures)
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)
