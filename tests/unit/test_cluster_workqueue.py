"""The cluster agent's work queue: each key held once, one worker per key, requeue-after."""

from __future__ import annotations

import threading
import time

from chassisd.cluster.workqueue import WorkQueue, start_workers
from chassisd.testing import wait_until


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_added_twice_is_handed_out_once() -> None:
    """Adding a waiting key again does not queue it twice; the earliest due time wins."""
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("t", clock=clock)
    queue.add("ns", after=5)
    queue.add("ns", after=1)
    queue.add("ns", after=3)
    assert len(queue) == 1
    clock.now += 1
    assert queue.get() == "ns"
    assert len(queue) == 0


def test_a_key_being_processed_is_not_handed_to_a_second_worker() -> None:
    """A key added while a worker holds it comes back only after that worker is done."""
    queue: WorkQueue[str] = WorkQueue("t")
    queue.add("a")
    assert queue.get() == "a"
    queue.add("a")
    queue.add("b")
    assert queue.get() == "b"  # "a" is still being processed
    queue.done("b")
    queue.done("a")
    assert queue.get() == "a"


def test_requeue_after_waits_for_the_due_time() -> None:
    """A key added with ``after`` is not handed out before it is due."""
    queue: WorkQueue[str] = WorkQueue("t")
    started = time.monotonic()
    queue.add("later", after=0.3)
    assert queue.get() == "later"
    assert time.monotonic() - started >= 0.3


def test_workers_run_each_key_once_at_a_time_and_survive_a_failing_handler() -> None:
    """Four workers, one key added many times while handled: never two at once; a handler
    exception is logged and the workers go on."""
    queue: WorkQueue[str] = WorkQueue("t")
    active: dict[str, int] = {}
    overlap: list[str] = []
    handled: list[str] = []
    lock = threading.Lock()

    def handler(key: str) -> None:
        with lock:
            active[key] = active.get(key, 0) + 1
            if active[key] > 1:
                overlap.append(key)
        time.sleep(0.02)
        with lock:
            active[key] -= 1
            handled.append(key)
        if key == "boom":
            raise RuntimeError("a bug in one handler")

    start_workers(queue, handler, 4)
    queue.add("boom")
    for _ in range(20):
        queue.add("same")
        time.sleep(0.005)
    queue.add("other")
    assert wait_until(lambda: "other" in handled and len(queue) == 0, timeout=5)
    queue.shutdown()
    assert overlap == []
    assert "boom" in handled
    assert 1 < handled.count("same") < 20  # batched while waiting, re-run after changes
