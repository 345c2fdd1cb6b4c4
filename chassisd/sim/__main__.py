"""``python -m chassisd.sim --listen 127.0.0.1:2222 ...``: one simulated Moonshot chassis.

Owns: only the argparse wiring around ``chassisd.sim.moonshot.ssh_cmdline`` (``chassisctl sim
moonshot`` is the supported entry point; this one exists for trying the simulator without the
full CLI).
Must not: contain any behaviour of its own.
"""

from __future__ import annotations

import argparse
import sys

from chassisd.sim.moonshot.ssh_cmdline import add_moonshot_arguments, run_moonshot


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chassisd.sim",
        description="Simulated HPE Moonshot iLO Chassis Manager (SSH CLI) on loopback.",
    )
    add_moonshot_arguments(parser)
    return run_moonshot(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
