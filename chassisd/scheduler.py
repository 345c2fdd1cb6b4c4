"""The polling scheduler (APScheduler 3.x): runs jobs on intervals, never overlapping.

Owns the APScheduler objects; the only module that imports ``apscheduler``. Every job runs at
most once at a time (``max_instances=1``), missed runs are coalesced into one, and runs can be
jittered so a fleet is not polled in lockstep. A job can be pushed back (back-off after a
failure, or the next poll timed from when this one really started) without changing its
interval. The number of poll workers can be raised while it runs (``--workers auto``).
"""

from __future__ import annotations

import concurrent.futures
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import BasePoolExecutor, ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

log = logging.getLogger(__name__)

HOUSEKEEPING = "housekeeping"  # the executor of short bookkeeping jobs


def run_every(job: Callable[[], None], *, seconds: float, jitter: float, name: str) -> None:
    """Run ``job`` now and then every ``seconds`` (plus up to ``jitter``) until interrupted."""
    job()
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        job, "interval", seconds=seconds, jitter=jitter, id=name, max_instances=1, coalesce=True
    )
    # SIGTERM (Kubernetes, systemd) ends the loop like Ctrl-C: no new runs, clean exit.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: scheduler.shutdown(wait=False))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")


class _GrowingThreadPool(concurrent.futures.ThreadPoolExecutor):
    """A thread pool whose bound can be raised while it runs; threads still start only when
    work is waiting, and are never stopped (an idle one costs little)."""

    def grow(self, workers: int) -> None:
        with self._shutdown_lock:
            if workers <= self._max_workers:
                return
            self._max_workers = workers
            # Work already queued gets its threads now, not only at the next submit.
            for _ in range(min(self._work_queue.qsize(), workers - len(self._threads))):
                self._adjust_thread_count()

    @property
    def bound(self) -> int:
        return self._max_workers


class _GrowingExecutor(BasePoolExecutor):  # type: ignore[misc]  # APScheduler has no types
    """APScheduler's thread-pool executor over a ``_GrowingThreadPool``."""

    def __init__(self, workers: int) -> None:
        self.pool = _GrowingThreadPool(workers, thread_name_prefix="poll")
        super().__init__(self.pool)


class JobScheduler:
    """Interval jobs on a bounded thread pool, in the background.

    ``workers`` bounds how many jobs run at once (chassis managers are slow; the agent has few
    cores). Housekeeping jobs (reconcile, starting power actions) get their own small pool, so
    they never queue behind a fleet's worth of polls. Jobs are keyed by id; adding an existing
    id replaces its schedule.
    """

    def __init__(self, *, workers: int) -> None:
        self._polls = _GrowingExecutor(workers)
        self._scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={
                "default": self._polls,
                HOUSEKEEPING: ThreadPoolExecutor(max_workers=2),
            },
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        # Runs in progress, counted here: APScheduler's own shutdown(wait=True) holds its job
        # store lock while it waits, so a running job that touches its schedule (delay) would
        # deadlock it.
        self._state = threading.Condition()
        self._running = 0
        self._stopping = False

    def _tracked(self, func: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with self._state:
                if self._stopping:
                    return  # queued before shutdown: not started any more
                self._running += 1
            try:
                func()
            finally:
                with self._state:
                    self._running -= 1
                    self._state.notify_all()

        return run

    @property
    def workers(self) -> int:
        """How many jobs may run at once (housekeeping aside)."""
        return self._polls.pool.bound

    def grow(self, workers: int) -> None:
        """Let up to ``workers`` jobs run at once from now on (never fewer than before)."""
        self._polls.pool.grow(workers)

    def start(self, *, paused: bool = False) -> None:
        """Start the scheduler (optionally with every job held until ``resume``)."""
        self._scheduler.start(paused=paused)

    def pause(self) -> None:
        """Hold every job (runs in progress finish)."""
        self._scheduler.pause()

    def resume(self) -> None:
        """Release held jobs."""
        self._scheduler.resume()

    def shutdown(self) -> None:
        """Stop: no new runs, queued runs dropped, waits for the runs in progress."""
        with self._state:
            self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        with self._state:
            self._state.wait_for(lambda: self._running == 0)

    def every(
        self,
        job_id: str,
        func: Callable[[], None],
        *,
        seconds: float,
        jitter: float = 0.0,
        first_in: float = 0.0,
        housekeeping: bool = False,
    ) -> None:
        """Run ``func`` every ``seconds`` (plus up to ``jitter``, APScheduler's: random in
        [0, jitter] added to each run), the first time after ``first_in``."""
        self._scheduler.add_job(
            self._tracked(func),
            "interval",
            seconds=seconds,
            jitter=jitter or None,
            id=job_id,
            replace_existing=True,
            executor=HOUSEKEEPING if housekeeping else "default",
            next_run_time=datetime.now(UTC) + timedelta(seconds=first_in),
        )

    def has(self, job_id: str) -> bool:
        """Whether a job with this id is scheduled."""
        return self._scheduler.get_job(job_id) is not None

    def remove(self, job_id: str) -> None:
        """Unschedule a job; an unknown id is fine."""
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:
            return

    def delay(self, job_id: str, seconds: float) -> None:
        """Make the job's next run ``seconds`` from now (back-off), keeping its interval."""
        if self._stopping:
            return
        job = self._scheduler.get_job(job_id)
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC) + timedelta(seconds=seconds))
