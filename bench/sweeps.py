"""Poll rounds as the simulated chassis see them, from their counters.

Owns a sampler thread that reads every chassis's counters a few times a second and turns them
into, per chassis, when its k-th poll started (its k-th successful login) and when it ended
(its k-th ``show node macaddr all`` was answered and no connection is open any more). A sweep
(round k) is every chassis's k-th poll; its span is from the earliest start to the latest end.
Also records the most connections open at once: as the agent holds them (its own sockets, read
from ``/proc``), as the fleet counts them (which includes connections the agent has closed but
the simulator has not yet torn down), and on any one chassis.

Resolution is the sampling interval (0.05-0.25 s, longer for bigger fleets). Built for an agent
that polls each chassis over one connection; the baseline is timed by its own process instead.

Must not: change the fleet.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bench.fleetproc import Counters, FleetProcess
from bench.procstat import established_connections


@dataclass(frozen=True)
class Round:
    """One sweep: the k-th poll of every chassis."""

    number: int
    first_start: float
    last_end: float

    @property
    def span(self) -> float:
        return self.last_end - self.first_start


class SweepSampler:
    """Samples the fleet's counters from ``start`` until ``stop``."""

    def __init__(self, fleet: FleetProcess, chassis: int) -> None:
        self._fleet = fleet
        self.interval = min(0.25, max(0.05, chassis / 4000))
        self._lock = threading.Lock()
        self._starts: list[list[float]] = [[] for _ in range(chassis)]
        self._ends: list[list[float]] = [[] for _ in range(chassis)]
        self._latest: list[Counters] = []
        self.max_sessions = 0  # most connections open at once, fleet-wide (simulator's count)
        self.max_sessions_per_chassis = 0
        self.max_agent_connections = 0  # most the agent held open at once (its own sockets)
        self.agent_pid: int | None = None  # set once the agent runs
        self.ports: frozenset[int] = frozenset()  # the fleet's SSH ports
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-sweeps")
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.sample()
                self._stop.wait(self.interval)
        except BaseException as exc:  # noqa: BLE001 - surfaced by check()
            self._error = exc

    def check(self) -> None:
        """Raise what stopped the sampler, if anything did."""
        if self._error is not None:
            raise RuntimeError(f"sampling the fleet failed: {self._error!r}") from self._error

    def sample(self) -> None:
        """Read the counters once and record new poll starts and ends."""
        counters = self._fleet.counters()
        now = time.monotonic()
        with self._lock:
            self._latest = counters
            active = 0
            for index, c in enumerate(counters):
                active += c.active
                self.max_sessions_per_chassis = max(self.max_sessions_per_chassis, c.active)
                starts, ends = self._starts[index], self._ends[index]
                while len(starts) < c.logins:
                    starts.append(now)
                if c.active == 0:
                    while len(ends) < min(c.macaddr_all, len(starts)):
                        ends.append(now)
            self.max_sessions = max(self.max_sessions, active)
        if self.agent_pid is not None:
            try:
                held = established_connections(self.agent_pid, self.ports)
            except OSError:
                return  # the agent has exited
            with self._lock:
                self.max_agent_connections = max(self.max_agent_connections, held)

    def take_peaks(self) -> tuple[int, int, int]:
        """Most connections open at once since the last call: held by the agent, fleet-wide as
        the simulator counts them (connections still closing included), and on one chassis."""
        with self._lock:
            peaks = self.max_agent_connections, self.max_sessions, self.max_sessions_per_chassis
            self.max_agent_connections = self.max_sessions = self.max_sessions_per_chassis = 0
            return peaks

    def latest(self) -> list[Counters]:
        with self._lock:
            return list(self._latest)

    def started(self) -> list[int]:
        """Polls started so far, per chassis."""
        with self._lock:
            return [len(s) for s in self._starts]

    def completed(self) -> list[int]:
        """Polls completed so far, per chassis."""
        with self._lock:
            return [len(e) for e in self._ends]

    def round_done(self, number: int) -> bool:
        """Whether every chassis has completed ``number`` polls."""
        return min(self.completed(), default=0) >= number

    def round(self, number: int) -> Round:
        """Round ``number`` (1-based); every chassis must have completed it."""
        with self._lock:
            first = min(s[number - 1] for s in self._starts)
            last = max(e[number - 1] for e in self._ends)
        return Round(number, first, last)

    def gaps(self, number: int) -> list[float]:
        """Per chassis, seconds between the starts of polls ``number`` and ``number + 1``."""
        with self._lock:
            return [s[number] - s[number - 1] for s in self._starts if len(s) > number]
