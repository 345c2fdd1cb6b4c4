"""The agent of the ceiling benchmark: ``chassisd run`` over a synthetic inventory, no SSH.

Owns one child process: it builds the synthetic farm (``bench.synthetic``) for the ``fake``
driver, registers it, reports how much memory the farm itself holds (``farm nodes=N rss=MB``
on stderr, before the agent starts, so the harness can tell the agent's memory from the
inventory source's), then runs ``chassisd.daemon.main`` with the remaining arguments. While it
runs, each line ``add CHASSIS NODE MAC`` on its standard input puts a node into the farm (what a
technician inserting a cartridge does); the next poll of that chassis finds it.

Run as ``python -m bench.ceiling_agent CHASSIS SEED -- chassisd-run-arguments…``. Must not:
measure anything; the harness (``bench.ceiling``) does, from outside.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import IO

from bench.procstat import rss_mb
from bench.synthetic import synthetic_farm
from chassisd import daemon
from chassisd.testing import fake_farm


def _follow(stdin: IO[str], farm: fake_farm.Farm) -> None:
    for line in stdin:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "add":
            farm.add_node(parts[1], parts[2], (parts[3],), power_on=False)


def main(argv: list[str]) -> int:
    chassis, seed, separator, *run_args = argv
    if separator != "--":
        raise SystemExit("usage: python -m bench.ceiling_agent CHASSIS SEED -- ARGS…")
    farm = synthetic_farm(int(chassis), seed=int(seed)).farm
    nodes = sum(len(farm.node_ids(name)) for name in farm.chassis_names())
    print(f"farm nodes={nodes} rss={rss_mb(os.getpid()):.1f}", file=sys.stderr, flush=True)
    threading.Thread(target=_follow, args=(sys.stdin, farm), daemon=True).start()
    with fake_farm.registered(farm):
        return daemon.main(run_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
