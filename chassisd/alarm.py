"""Total deadlines enforced from outside a network library: an ``Alarm`` that cuts a connection.

Owns ``Alarm``: after a number of seconds, unless cancelled first, it calls an action once.
Drivers arm one per request and one per conversation, and their action shuts down the sockets
they use, which wakes any read blocked inside paramiko or httpx at once. The libraries' own
timeouts are per read: a device that sends one byte a second never trips them, so they cannot
bound a command, a request or a poll.

Every alarm of the process waits on one timer thread (``AlarmClock``: a heap of deadlines),
started with the first alarm: a poll arms four (the conversation, the login, each command), and
a ``threading.Timer`` each cost a thread start and its stack per alarm, thousands a minute on a
large fleet.

Must not: know any driver, protocol or error class; sleep or retry. The action must be quick
and must not raise (it runs on the shared timer thread, and would hold up every other alarm;
an exception is swallowed there): shutting down a socket is.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self


class AlarmClock:
    """One daemon thread that fires every armed ``Alarm`` at its deadline.

    Cancelled alarms stay in the heap until their deadline passes or the heap is compacted
    (when they are more than half of it), so cancelling is O(1) and arming O(log n).
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()  # ties broken by arming order, never by Alarm
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def arm(self, alarm: Alarm, deadline: float) -> None:
        """Fire ``alarm`` at monotonic time ``deadline``."""
        with self._wake:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline, next(self._order), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="alarms")
                self._thread.start()
            elif earliest is None or deadline < earliest:
                self._wake.notify()

    def disarmed(self) -> None:
        """An armed alarm was cancelled: compact the heap once most of it is cancelled."""
        with self._wake:
            self._cancelled += 1
            if self._cancelled * 2 > len(self._heap) > 64:
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def pending(self) -> int:
        """Alarms armed and neither fired nor cancelled."""
        with self._wake:
            return sum(1 for _, _, alarm in self._heap if not alarm.cancelled)

    def _run(self) -> None:
        while True:
            with self._wake:
                while True:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, due = heapq.heappop(self._heap)
                        if due.cancelled:
                            self._cancelled = max(0, self._cancelled - 1)
                            continue
                        break
                    self._wake.wait(self._heap[0][0] - now if self._heap else None)
            with contextlib.suppress(Exception):  # one action's bug must not stop the others
                due._fire()


#: The process's timer thread for every ``Alarm``, started with the first one armed.
CLOCK = AlarmClock()


class Alarm:
    """Call ``action`` once after ``seconds``, unless ``cancel`` (or leaving the block) came first.

    ``fired`` tells afterwards whether it went off, so the caller can say "deadline passed"
    instead of the "connection reset" the action caused.
    """

    def __init__(
        self, seconds: float, action: Callable[[], None], *, clock: AlarmClock = CLOCK
    ) -> None:
        self.seconds = seconds
        self._action = action
        self._clock = clock
        self._lock = threading.Lock()
        self._fired = False
        self._cancelled = False
        clock.arm(self, time.monotonic() + max(0.0, seconds))

    def _fire(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._fired = True
        self._action()

    @property
    def fired(self) -> bool:
        """True once the deadline passed and the action ran."""
        with self._lock:
            return self._fired

    @property
    def cancelled(self) -> bool:
        """True once ``cancel`` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Disarm; the action never runs after this returns (unless it already ran)."""
        with self._lock:
            if self._cancelled or self._fired:
                self._cancelled = True
                return
            self._cancelled = True
        self._clock.disarmed()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()


def cut(sock: socket.socket | None) -> None:
    """Shut a socket down both ways, waking every thread blocked on it; never raises.

    ``socket.socket.shutdown`` is called even for an ``ssl.SSLSocket`` (whose own ``shutdown``
    also drops its TLS state under a reader's feet): the reader then sees end of stream.
    """
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed or never connected: nothing to wake
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
