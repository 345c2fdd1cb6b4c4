"""A work queue of dirty keys, the way controllers take work: events enqueue, workers reconcile.

Owns the rules that make a queue of keys safe for reconcilers: a key waiting in the queue is
held once however often it is added (the earliest due time wins); a key being processed is
never handed to a second worker, and if it was added meanwhile it comes back once its worker
is ``done``; ``add(key, after=s)`` requeues it for later (a retry, a deadline, a TTL). Workers
are threads that call one handler per key. Knows nothing of what the keys mean.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Keys due at a time, each handed to one worker at a time."""

    def __init__(self, name: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._cond = threading.Condition()
        self._due: dict[K, float] = {}  # waiting keys → when they are due
        self._heap: list[tuple[float, int, K]] = []  # (due, tiebreak, key); stale entries skipped
        self._counter = itertools.count()
        self._processing: set[K] = set()
        self._again: dict[K, float] = {}  # added while processing → due time
        self._shutdown = False

    def add(self, key: K, *, after: float = 0.0) -> None:
        """Make ``key`` due in ``after`` seconds (sooner if it is already due sooner)."""
        due = self._clock() + max(after, 0.0)
        with self._cond:
            if self._shutdown:
                return
            if key in self._processing:
                self._again[key] = min(due, self._again.get(key, due))
                return
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            heapq.heappush(self._heap, (due, next(self._counter), key))
            self._cond.notify()

    def get(self) -> K | None:
        """Wait for a due key and mark it processing; None once the queue is shut down."""
        with self._cond:
            while not self._shutdown:
                while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded by an earlier add
                if self._heap:
                    due, _, key = self._heap[0]
                    wait = due - self._clock()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        del self._due[key]
                        self._processing.add(key)
                        return key
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def done(self, key: K) -> None:
        """The worker finished ``key``; if it was added meanwhile, it is queued again."""
        with self._cond:
            self._processing.discard(key)
            again = self._again.pop(key, None)
        if again is not None:
            self.add(key, after=again - self._clock())

    def shutdown(self) -> None:
        """Wake every waiting worker; no key is handed out any more."""
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._due) + len(self._again)


def start_workers(
    queue: WorkQueue[K], handler: Callable[[K], None], count: int
) -> list[threading.Thread]:
    """Start ``count`` daemon threads that hand each due key to ``handler``; an exception is
    logged with the key and the key is not retried unless the handler requeued it."""

    def work() -> None:
        while (key := queue.get()) is not None:
            try:
                handler(key)
            except Exception:  # one key's bug must not stop the others' work
                log.exception("%s: handling %r failed", queue.name, key)
            finally:
                queue.done(key)

    threads = [
        threading.Thread(target=work, daemon=True, name=f"{queue.name}-{i}") for i in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads
