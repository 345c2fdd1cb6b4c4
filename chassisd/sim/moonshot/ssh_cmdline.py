"""Command-line glue for ``chassisctl sim moonshot`` (and ``python -m chassisd.sim``).

Owns: the argparse options of one simulated chassis, turning them into a ``MoonshotSimulator``,
host-key persistence (``--host-key FILE``), the single "ready" line on stdout, the known_hosts
file for the demo, and running until SIGINT/SIGTERM (exit status 0).

Must not: print anything on stdout except the one ready line (scripts read it), or bind anything
but ``--listen`` (default 127.0.0.1, ephemeral port).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import asyncssh
import yaml

from chassisd.sim.moonshot.model import (
    ChassisSpec,
    CliProfile,
    CommandKind,
    Firmware,
    Layout,
    Timing,
)
from chassisd.sim.moonshot.simulator import MoonshotSimulator
from chassisd.sim.moonshot.ssh_keys import HOST_KEY_TYPES, generate_host_key


def add_moonshot_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``chassisctl sim moonshot`` to ``parser``."""
    net = parser.add_argument_group("listening and login")
    net.add_argument(
        "--listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="address to listen on; port 0 picks a free port (default %(default)s)",
    )
    net.add_argument("--user", default="admin", help="login name (default %(default)s)")
    net.add_argument(
        "--password",
        default="password",
        help="login password; an empty string makes the account key-only",
    )
    net.add_argument(
        "--authorized-key",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="OpenSSH public key file(s) allowed to log in (repeatable)",
    )
    net.add_argument(
        "--host-key",
        type=Path,
        metavar="FILE",
        help="private host key file; created if missing so restarts keep the key",
    )
    net.add_argument(
        "--host-key-type",
        choices=HOST_KEY_TYPES,
        default="ssh-ed25519",
        help="type of a generated host key (default %(default)s)",
    )
    net.add_argument(
        "--known-hosts-out",
        type=Path,
        metavar="FILE",
        help="write the chassis's known_hosts line to FILE once listening",
    )
    net.add_argument(
        "--legacy-only",
        action="store_true",
        help="offer only the old firmware's algorithms (sha1 kex, aes128-cbc)",
    )
    net.add_argument(
        "--max-sessions",
        type=int,
        metavar="N",
        help="refuse logins beyond N concurrent connections",
    )

    hw = parser.add_argument_group("hardware (generated unless --spec is given)")
    hw.add_argument("--name", default="moonshot1", help="chassis name (default %(default)s)")
    hw.add_argument(
        "--spec", type=Path, metavar="FILE", help="YAML chassis spec (see ChassisSpec.from_mapping)"
    )
    hw.add_argument("--seed", type=int, default=0, help="generator seed (default %(default)s)")
    hw.add_argument(
        "--chassis-index",
        type=int,
        default=0,
        help="chassis number within a fleet; keeps MACs unique (default %(default)s)",
    )
    hw.add_argument("--slots", type=int, default=45, help="slots considered (default %(default)s)")
    hw.add_argument(
        "--fill",
        type=float,
        default=0.8,
        help="fraction of slots with a cartridge (default %(default)s)",
    )
    hw.add_argument(
        "--multi-node",
        type=float,
        default=0.1,
        help="fraction of cartridges with 4 nodes (default %(default)s)",
    )
    hw.add_argument(
        "--nics", type=int, default=2, help="NICs per single-node cartridge (default %(default)s)"
    )

    cli = parser.add_argument_group("CLI behaviour")
    cli.add_argument(
        "--layout",
        choices=[layout.value for layout in Layout],
        default=Layout.STATUS.value,
        help="show node list table: status (2021) or health (2014)",
    )
    cli.add_argument(
        "--firmware",
        choices=[fw.value for fw in Firmware],
        default=Firmware.CM1.value,
        help="what `show firmware` reveals (default %(default)s)",
    )
    cli.add_argument("--mac-upper", action="store_true", help="print MACs in upper case")
    cli.add_argument(
        "--nic-fill",
        choices=["N/A", "blank"],
        default="N/A",
        help="what absent NICs show in `show node macaddr`",
    )
    cli.add_argument(
        "--latency",
        action="append",
        default=[],
        metavar="[KIND=]SECONDS",
        help="answer delay, for one command kind or (without KIND=) all; kinds: "
        + ", ".join(kind.value for kind in CommandKind),
    )
    cli.add_argument(
        "--power-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="time until a power change is reported (default %(default)s)",
    )
    cli.add_argument(
        "--graceful-off-delay",
        type=float,
        metavar="SECONDS",
        help="time for `set node power off` (default 3 x --power-delay)",
    )
    cli.add_argument(
        "--report-powering-on",
        action="store_true",
        help="report PoweringOn while a power-on is pending",
    )


class _UsageError(Exception):
    pass


def run_moonshot(args: argparse.Namespace) -> int:
    """Run one simulated chassis until SIGINT/SIGTERM; returns the process exit status."""
    try:
        sim, host, port = _build(args)
    except (_UsageError, ValueError, OSError, yaml.YAMLError, asyncssh.KeyImportError) as exc:
        print(f"chassisd sim moonshot: error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(sim, host, port, args.known_hosts_out))
    except OSError as exc:  # the port is taken, or the address is not this host's
        why = exc.strerror or exc
        print(
            f"chassisd sim moonshot: error: cannot listen on {args.listen}: {why}", file=sys.stderr
        )
        return 2


async def _serve(sim: MoonshotSimulator, host: str, port: int, known_hosts_out: Path | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with sim.serving(host, port) as handle:
            if known_hosts_out is not None:
                known_hosts_out.write_text(handle.known_hosts_line + "\n")
            shown_host = f"[{host}]" if ":" in host else host  # IPv6 literal
            print(
                f"moonshot simulator {handle.name} listening on {shown_host}:{handle.port} "
                f"host-key {handle.host_key_fingerprint}",
                flush=True,
            )
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


def _build(args: argparse.Namespace) -> tuple[MoonshotSimulator, str, int]:
    host, port = _parse_listen(args.listen)
    spec = _load_spec(args)
    password = args.password or None
    keys = [line for path in args.authorized_key for line in _key_lines(path)]
    if password is None and not keys:
        raise _UsageError("an empty --password needs at least one --authorized-key")
    profile = CliProfile(
        layout=Layout(args.layout),
        firmware=Firmware(args.firmware),
        mac_upper=args.mac_upper,
        nic_fill="" if args.nic_fill == "blank" else "N/A",
    )
    timing = Timing(
        latency=_parse_latency(args.latency),
        power_delay=args.power_delay,
        graceful_off_delay=args.graceful_off_delay,
        report_powering_on=args.report_powering_on,
    )
    host_key = _host_key(args.host_key, args.host_key_type) if args.host_key else None
    sim = MoonshotSimulator(
        spec,
        users={args.user: password},
        authorized_keys=keys,
        host_key=host_key,
        host_key_type=args.host_key_type,
        legacy_algorithms_only=args.legacy_only,
        max_sessions=args.max_sessions,
        profile=profile,
        timing=timing,
    )
    return sim, host, port


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise _UsageError(f"--listen must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _load_spec(args: argparse.Namespace) -> ChassisSpec:
    if args.spec is None:
        return ChassisSpec.generate(
            args.name,
            args.seed,
            chassis_index=args.chassis_index,
            slots=args.slots,
            fill=args.fill,
            nics=args.nics,
            multi_node=args.multi_node,
        )
    data: Any = yaml.safe_load(args.spec.read_text())
    if not isinstance(data, dict):
        raise _UsageError(f"{args.spec}: a chassis spec must be a YAML mapping")
    data.setdefault("name", args.name)
    try:
        return ChassisSpec.from_mapping(data)
    except ValueError as exc:
        raise _UsageError(f"{args.spec}: {exc}") from exc


def _key_lines(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    if not keys:
        raise _UsageError(f"{path}: no public key in the file")
    return keys


def _parse_latency(items: list[str]) -> dict[CommandKind, float]:
    latency: dict[CommandKind, float] = {}
    for item in items:
        name, sep, seconds = item.rpartition("=")
        try:
            value = float(seconds)
            kinds = [CommandKind(name)] if sep else list(CommandKind)
        except ValueError as exc:
            raise _UsageError(f"--latency must be [KIND=]SECONDS, got {item!r}") from exc
        for kind in kinds:
            latency[kind] = value
    return latency


def _host_key(path: Path, key_type: str) -> asyncssh.SSHKey:
    """Load the host key at ``path``, or generate one and save it (mode 0600)."""
    if path.exists():
        return asyncssh.read_private_key(path)
    key = generate_host_key(key_type)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key.export_private_key())
    return key
