"""``chassisd``: the agent's entry point.

Owns the ``chassisd run`` command line and logging set-up. In standalone mode
(``--config FILE``) it polls every chassis, keeps the output directory's reservations up to
date (``chassisd.standalone``) and repeats on the shortest configured poll interval.
Cluster mode is not part of this entry point yet.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from chassisd.config import load_config
from chassisd.errors import ConfigError
from chassisd.farm import Farm
from chassisd.registry import Registry
from chassisd.standalone import sync

log = logging.getLogger("chassisd")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chassisd``."""
    parser = argparse.ArgumentParser(prog="chassisd", description="chassis inventory agent")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="poll chassis and keep reservations up to date")
    run.add_argument("--config", type=Path, required=True, help="standalone config file")
    run.add_argument("--output-dir", type=Path, required=True, help="where reservations go")
    run.add_argument("--once", action="store_true", help="one sync, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)  # one line per failure is ours to log
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("config error: %s", exc)
        return 2
    farm = Farm(config, Registry())

    def once() -> None:
        report = sync(farm, args.output_dir)
        for result in report.view.results:
            if result.ok:
                log.info(
                    "chassis=%s driver=%s nodes=%d seconds=%.2f",
                    result.chassis,
                    result.driver,
                    len(result.inventory.nodes) if result.inventory else 0,
                    result.seconds,
                )
            else:
                log.error(
                    "chassis=%s driver=%s poll failed: %s",
                    result.chassis,
                    result.driver,
                    result.error,
                )
        for plan in report.plans:
            for conflict in plan.conflicts:
                log.warning("pool=%s left out: %s", plan.pool.name, conflict)

    if args.once:
        once()
        return 0
    from chassisd.scheduler import run_every

    interval = min((c.poll_interval for c in config.chassis), default=300.0)
    run_every(once, seconds=interval, jitter=interval * 0.1, name="standalone-sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
