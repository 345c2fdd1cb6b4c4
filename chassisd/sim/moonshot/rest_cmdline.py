"""Command line of the Moonshot REST simulator: ``python -m chassisd.sim.moonshot.rest_cmdline``.

Owns: the argparse options of one simulated chassis manager REST API, building the simulator,
writing the CA certificate for clients (``--ca-out``), the single "ready" line on stdout
(address and certificate fingerprint) and running until SIGINT/SIGTERM (exit status 0).
``add_arguments``/``run`` let a ``chassisctl sim moonshot-rest`` subcommand reuse them.

Must not: print anything on stdout except the ready line, or bind anything but ``--listen``
(default 127.0.0.1, ephemeral port).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from chassisd.sim.moonshot.model import ChassisSpec, Timing
from chassisd.sim.moonshot.rest import DEFAULT_RESET_TYPES, MoonshotRestSimulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the REST simulator's options to ``parser``."""
    parser.add_argument(
        "--listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="address to listen on; port 0 picks a free port (default %(default)s)",
    )
    parser.add_argument("--user", default="admin", help="login name (default %(default)s)")
    parser.add_argument("--password", default="password", help="login password")
    parser.add_argument(
        "--ca-out",
        type=Path,
        metavar="FILE",
        help="write the CA certificate clients should trust to FILE",
    )
    parser.add_argument("--name", default="moonshot1", help="chassis name (default %(default)s)")
    parser.add_argument(
        "--spec", type=Path, metavar="FILE", help="YAML chassis spec (see ChassisSpec.from_mapping)"
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default %(default)s)")
    parser.add_argument(
        "--chassis-index",
        type=int,
        default=0,
        help="keeps MACs unique across a fleet (default %(default)s)",
    )
    parser.add_argument(
        "--fill",
        type=float,
        default=0.8,
        help="fraction of the 45 slots in use (default %(default)s)",
    )
    parser.add_argument(
        "--multi-node",
        type=float,
        default=0.1,
        help="fraction of 4-node cartridges (default %(default)s)",
    )
    parser.add_argument(
        "--power-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="time until a power change shows (default %(default)s)",
    )
    parser.add_argument(
        "--reset-types",
        default=",".join(DEFAULT_RESET_TYPES),
        help="ResetType values nodes accept, comma-separated (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    try:
        host, port = _parse_listen(args.listen)
        spec = _spec(args)
        sim = MoonshotRestSimulator(
            spec,
            users={args.user: args.password},
            reset_types=[t.strip() for t in args.reset_types.split(",") if t.strip()],
            timing=Timing(power_delay=args.power_delay),
        )
    except (ValueError, OSError, yaml.YAMLError) as exc:
        print(f"chassisd sim moonshot-rest: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with sim.running(host, port) as handle:
            if args.ca_out is not None:
                args.ca_out.write_text(handle.ca_pem)
            print(
                f"moonshot-rest simulator {handle.name} listening on {handle.url} "
                f"fingerprint {handle.fingerprint}",
                flush=True,
            )
            stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chassisd.sim.moonshot.rest_cmdline",
        description="Simulated HPE Moonshot Chassis Manager REST API (/rest/v1) over HTTPS.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _spec(args: argparse.Namespace) -> ChassisSpec:
    if args.spec is None:
        return ChassisSpec.generate(
            args.name,
            args.seed,
            chassis_index=args.chassis_index,
            fill=args.fill,
            multi_node=args.multi_node,
        )
    data: Any = yaml.safe_load(args.spec.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{args.spec}: a chassis spec must be a YAML mapping")
    data.setdefault("name", args.name)
    return ChassisSpec.from_mapping(data)


if __name__ == "__main__":
    raise SystemExit(main())
