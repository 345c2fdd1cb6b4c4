"""How many chassis to poll at once: the rule behind ``chassisd run --workers auto``.

Owns the rule and its constants, nothing else (pure; no clock, no threads). A poll is one
device session that mostly waits on the device, so a worker serves ``window / poll_seconds``
polls per window, and the fleet needs::

    workers = ceil(sum over chassis of (poll_seconds / window) / UTILISATION)
    window  = min(pollInterval, SWEEP_WINDOW)

clamped to ``MIN_WORKERS``..``MAX_WORKERS``. ``poll_seconds`` is the typical time of one poll
(``EXPECTED_POLL_SECONDS`` until polls have been measured, then their moving average, see
``PollDurations``). The window is the poll interval, but at most ``SWEEP_WINDOW``: a start, a
new leader or a relist makes every chassis due at once, and that first sweep should end within
a minute whatever the interval. ``UTILISATION`` leaves half the workers idle on average, so a
round still ends in its window when polls get slower (a loaded chassis manager, a retry).

An explicit ``--workers N`` wins over all of this.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable

#: Seconds one poll takes before any was measured: a Moonshot login plus ``show node list``
#: and ``show node macaddr all`` is about 1 s (bench/: 0.96 s mean at 300 + 500 ms latency).
EXPECTED_POLL_SECONDS = 1.0
#: The share of the workers a round keeps busy on average (the rest is headroom).
UTILISATION = 0.5
#: Seconds a whole round of polls may take at most, the first after a start included.
SWEEP_WINDOW = 60.0
#: Fewest workers: a small farm still polls a slow chassis beside the others.
MIN_WORKERS = 4
#: Most workers: each is a thread with an SSH session and an API connection; beyond this a
#: 2-core agent is CPU-bound and more threads only cost memory (bench/, 1,000 chassis).
MAX_WORKERS = 64
#: Weight of each new poll in the moving average of poll durations.
AVERAGE_WEIGHT = 0.1


def sweep_rate(intervals: Iterable[float]) -> float:
    """Polls per second a fleet with these poll intervals (seconds, one per chassis) needs
    for every chassis to be polled once per window."""
    return sum(1.0 / min(max(interval, 1.0), SWEEP_WINDOW) for interval in intervals)


def poll_workers(rate: float, poll_seconds: float = EXPECTED_POLL_SECONDS) -> int:
    """Workers for ``rate`` polls per second (``sweep_rate``) of ``poll_seconds`` each."""
    needed = math.ceil(rate * max(poll_seconds, 0.0) / UTILISATION - 1e-9)
    return min(MAX_WORKERS, max(MIN_WORKERS, needed))


def parse_workers(text: str) -> int | None:
    """``--workers``: ``auto`` (None: derived from the fleet) or a number of at least 1."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"--workers {text!r}: 'auto' or a whole number of at least 1")
    return value


class PollDurations:
    """The moving average of how long successful polls take (thread-safe)."""

    def __init__(self, initial: float = EXPECTED_POLL_SECONDS) -> None:
        self._lock = threading.Lock()
        self._average = initial

    def observe(self, seconds: float) -> float:
        """Add one poll's duration; returns the new average."""
        with self._lock:
            self._average += AVERAGE_WEIGHT * (seconds - self._average)
            return self._average

    @property
    def average(self) -> float:
        with self._lock:
            return self._average
