"""The polling scheduler on APScheduler: bounded workers, housekeeping beside them, delays."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from chassisd.scheduler import JobScheduler


@pytest.fixture
def scheduler() -> Iterator[JobScheduler]:
    jobs = JobScheduler(workers=2)
    jobs.start()
    try:
        yield jobs
    finally:
        jobs.shutdown()


def test_housekeeping_runs_while_every_worker_is_busy(scheduler: JobScheduler) -> None:
    """Polls that fill the worker pool do not hold up housekeeping (reconcile, power)."""
    release = threading.Event()
    busy = threading.Semaphore(0)

    def poll() -> None:
        busy.release()
        release.wait(10)

    for i in range(4):
        scheduler.every(f"poll:{i}", poll, seconds=60)
    for _ in range(2):
        assert busy.acquire(timeout=5)  # both workers now wait, two polls queue behind them
    ran = threading.Event()
    try:
        scheduler.every("reconcile", ran.set, seconds=60, housekeeping=True)
        assert ran.wait(5)
        assert not busy.acquire(timeout=0.2)  # the queued polls are still waiting
    finally:
        release.set()


def test_delay_moves_the_next_run(scheduler: JobScheduler) -> None:
    """``delay`` pushes a job's next run out; it then runs after that delay, not before."""
    runs: list[float] = []
    scheduler.every("poll:x", lambda: runs.append(time.monotonic()), seconds=0.3, first_in=5)
    start = time.monotonic()
    scheduler.delay("poll:x", 0.5)
    deadline = time.monotonic() + 5
    while not runs and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runs, "the delayed job never ran"
    assert 0.4 <= runs[0] - start < 3.0
    scheduler.remove("poll:x")
    assert not scheduler.has("poll:x")


def test_shutdown_waits_for_a_run_that_reschedules_itself() -> None:
    """A poll that calls ``delay`` on its own job while the scheduler shuts down (a failing
    chassis backing off) finishes, and shutdown returns; queued runs are dropped."""
    jobs = JobScheduler(workers=1)
    jobs.start()
    started, finished, queued_ran = threading.Event(), threading.Event(), threading.Event()

    def poll() -> None:
        started.set()
        time.sleep(0.5)  # shutdown begins meanwhile
        jobs.delay("poll:a", 60)
        finished.set()

    jobs.every("poll:a", poll, seconds=60)
    jobs.every("poll:b", queued_ran.set, seconds=60)  # waits behind poll:a for the one worker
    assert started.wait(5)
    stopper = threading.Thread(target=jobs.shutdown)
    stopper.start()
    stopper.join(10)
    assert not stopper.is_alive(), "shutdown deadlocked"
    assert finished.is_set()
    assert not queued_ran.is_set()


def test_grow_lets_more_jobs_run_at_once_including_those_already_queued(
    scheduler: JobScheduler,
) -> None:
    """``--workers auto`` raises the bound while polls queue: the queued ones start at once,
    up to the new bound and no further; a smaller number never shrinks it."""
    release = threading.Event()
    busy = threading.Semaphore(0)

    def poll() -> None:
        busy.release()
        release.wait(10)

    try:
        for i in range(6):
            scheduler.every(f"poll:{i}", poll, seconds=60)
        for _ in range(2):
            assert busy.acquire(timeout=5)
        assert not busy.acquire(timeout=0.3)  # two run, four queue
        scheduler.grow(5)
        assert scheduler.workers == 5
        for _ in range(3):
            assert busy.acquire(timeout=5)  # three of the queued ones start without a new submit
        assert not busy.acquire(timeout=0.3)  # the sixth still waits: the bound is 5
        scheduler.grow(3)
        assert scheduler.workers == 5
    finally:
        release.set()
