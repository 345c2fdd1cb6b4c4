"""Total deadlines enforced from outside a network library: an ``Alarm`` that cuts a connection.

Owns ``Alarm``: after a number of seconds, unless cancelled first, it calls an action once, on
its own timer thread. Drivers arm one per request and one per conversation, and their action
shuts down the sockets they use, which wakes any read blocked inside paramiko or httpx at once.
The libraries' own timeouts are per read: a device that sends one byte a second never trips
them, so they cannot bound a command, a request or a poll.

Must not: know any driver, protocol or error class; sleep or retry. The action must be quick
and must not raise (an exception there would be lost on the timer thread): shutting down a
socket is.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self


class Alarm:
    """Call ``action`` once after ``seconds``, unless ``cancel`` (or leaving the block) came first.

    ``fired`` tells afterwards whether it went off, so the caller can say "deadline passed"
    instead of the "connection reset" the action caused.
    """

    def __init__(self, seconds: float, action: Callable[[], None]) -> None:
        self.seconds = seconds
        self._action = action
        self._lock = threading.Lock()
        self._fired = False
        self._cancelled = False
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True  # never keeps the process alive
        self._timer.start()

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

    def cancel(self) -> None:
        """Disarm; the action never runs after this returns (unless it already ran)."""
        with self._lock:
            self._cancelled = True
        self._timer.cancel()

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
