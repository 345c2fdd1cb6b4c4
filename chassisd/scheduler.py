"""The polling scheduler (APScheduler 3.x): runs sync jobs on an interval, never overlapping.

Owns the APScheduler objects; the only module that imports ``apscheduler``. A job runs at most
once at a time (``max_instances=1``), missed runs are coalesced into one, and each run is
jittered so a fleet is not polled in lockstep.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

from apscheduler.schedulers.blocking import BlockingScheduler

log = logging.getLogger(__name__)


def run_every(job: Callable[[], None], *, seconds: float, jitter: float, name: str) -> None:
    """Run ``job`` now and then every ``seconds`` (± ``jitter``) until interrupted."""
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
