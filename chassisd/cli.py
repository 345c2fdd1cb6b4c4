"""``chassisctl``: the operator's command line. Thin: parses arguments, calls the core, prints.

Owns argument parsing, output formats and exit codes. Two modes: with ``--config FILE`` it
talks to the devices itself (standalone: ``Farm``, ``PowerService``, ``standalone.sync``);
without, it talks to the cluster (``chassisd.clusterctl``): nodes from Chassis status, power
through PowerActions that the agent carries out. Imports no driver or protocol library.

Exit codes::

    0  success
    2  usage or configuration error (bad arguments, invalid config file)
    3  node reference matched no node, or several
    4  device error: unreachable, credentials or host key refused, command failed
    5  a power request was sent but its outcome is unknown (not re-sent)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chassisd.cluster.status import TERMINAL_PHASES
from chassisd.config import load_config
from chassisd.errors import ChassisdError, ConfigError, DriverError, NodeRefError
from chassisd.farm import Farm, FarmView
from chassisd.model import Outcome, PowerAction
from chassisd.noderef import NamedNode, node_to_dict
from chassisd.power import PowerService
from chassisd.registry import Registry

if TYPE_CHECKING:
    from chassisd.clusterctl import PowerOutcome
    from chassisd.kube.gateway import KubeGateway

EXIT_OK, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_DEVICE, EXIT_UNKNOWN = 0, 2, 3, 4, 5

POWER_VERBS = {
    "on": PowerAction.ON,
    "off": PowerAction.OFF,
    "shutdown": PowerAction.SHUTDOWN,
    "cycle": PowerAction.CYCLE,
    "reset": PowerAction.RESET,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``chassisctl`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="chassisctl",
        description="Inventory and power control of chassis and BMCs (chassisd).",
        epilog="Exit codes: 0 ok, 2 usage/config, 3 node not found or ambiguous, "
        "4 device error, 5 power outcome unknown.",
    )
    parser.add_argument("--config", type=Path, help="standalone config file (multi-document YAML)")
    parser.add_argument(
        "--kubeconfig", type=Path, help="cluster mode: default in-cluster/$KUBECONFIG"
    )
    parser.add_argument("-n", "--namespace", default="default", help="cluster mode namespace")
    commands = parser.add_subparsers(dest="command", required=True)

    nodes = commands.add_parser("nodes", help="list every node of every chassis")
    nodes.add_argument("-o", "--output", choices=("table", "wide", "json", "yaml"), default="table")

    power = commands.add_parser(
        "power",
        help="power control: on|off|shutdown|cycle|reset|status|cancel",
        description="Every NODE is resolved before anything is done: one reference that "
        "matches no node, or several, and nothing is sent (exit 3). In cluster mode each "
        "request is a PowerAction the agent carries out; one that has not started when "
        "--timeout ends is cancelled (deleted) and never runs later. `cancel` deletes pending "
        "PowerActions, named by node or by PowerAction name.",
    )
    power.add_argument("verb", choices=(*POWER_VERBS, "status", "cancel"))
    power.add_argument(
        "nodes",
        nargs="+",
        metavar="NODE",
        help="name, CHASSIS/ID or native id (cancel: or a PowerAction name)",
    )

    pxe = commands.add_parser("pxe", help="boot from the network at the next boot only")
    pxe.add_argument("nodes", nargs="+", metavar="NODE")
    power.add_argument(
        "--live",
        action="store_true",
        help="status: ask the device now (cluster mode: through a PowerAction), not the last poll",
    )
    for sub in (power, pxe):
        sub.add_argument("--no-wait", action="store_true", help="cluster mode: do not wait")
        sub.add_argument("--timeout", type=float, default=120.0, help="cluster mode: seconds")

    sync = commands.add_parser("sync", help="poll once and write reservations to a directory")
    sync.add_argument("--output-dir", type=Path, required=True)

    sim = commands.add_parser("sim", help="run a simulated device")
    sim_kinds = sim.add_subparsers(dest="sim_kind", required=True)
    from chassisd.sim.moonshot.ssh_cmdline import (
        add_moonshot_arguments,  # the simulator is part of chassisd
    )

    add_moonshot_arguments(sim_kinds.add_parser("moonshot", help="a Moonshot chassis manager"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chassisctl``."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `chassisctl nodes | head` ends quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sim":
        from chassisd.sim.moonshot.ssh_cmdline import run_moonshot

        return run_moonshot(args)
    if args.config is None:
        if args.command == "sync":
            parser.error("sync needs --config FILE")
        return _cluster(args)
    try:
        farm = Farm(load_config(args.config), Registry())
        if args.command == "nodes":
            return _nodes(farm, args.output)
        if args.command == "power":
            return _power(farm, args.verb, args.nodes)
        if args.command == "pxe":
            return _power(farm, "pxe-once", args.nodes)
        if args.command == "sync":
            return _sync(farm, args.output_dir)
    except ConfigError as exc:
        return _fail(EXIT_USAGE, f"config error: {exc}")
    except NodeRefError as exc:
        return _fail(EXIT_NOT_FOUND, str(exc))
    except ChassisdError as exc:
        return _fail(EXIT_DEVICE, str(exc))
    parser.error(f"unknown command {args.command}")  # argparse exits; pragma: no cover


def _cluster(args: argparse.Namespace) -> int:
    from chassisd.clusterctl import cluster_nodes, request_power
    from chassisd.kube.gateway import KubeGateway, load_api_client
    from chassisd.noderef import resolve

    try:
        gateway = KubeGateway(load_api_client(args.kubeconfig))
        nodes = cluster_nodes(gateway, args.namespace)
        if args.command == "nodes":
            return _print_nodes(nodes, args.output, failures=())
        if args.command == "power" and args.verb == "cancel":
            return _cancel(gateway, args.namespace, args.nodes, nodes)
        resolved = [resolve(reference, nodes) for reference in args.nodes]  # all, before any
        worst = EXIT_OK
        for node in resolved:
            if args.command == "power" and args.verb == "status" and not args.live:
                print(f"{node.name} ({node.ref}): {node.record.power.value} (as last recorded)")
                continue
            live = args.command == "power" and args.verb == "status"
            action = (
                None
                if live
                else PowerAction("pxe-once" if args.command == "pxe" else POWER_VERBS[args.verb])
            )
            outcome = request_power(
                gateway, args.namespace, node, action, wait=not args.no_wait, timeout=args.timeout
            )
            worst = max(
                worst, _report_action(node, outcome, waited=not args.no_wait, timeout=args.timeout)
            )
        return worst
    except ConfigError as exc:
        return _fail(EXIT_USAGE, f"{exc} (cluster mode; give --config FILE for standalone mode)")
    except NodeRefError as exc:
        return _fail(EXIT_NOT_FOUND, str(exc))
    except ChassisdError as exc:
        return _fail(EXIT_DEVICE, str(exc))


def _report_action(node: NamedNode, outcome: PowerOutcome, *, waited: bool, timeout: float) -> int:
    obj = outcome.obj
    name = obj["metadata"]["name"]
    status = obj.get("status") or {}
    phase = outcome.phase.value
    if not waited:
        print(f"{node.name} ({node.ref}): PowerAction {name} created")
        return EXIT_OK
    if outcome.cancelled:
        print(f"chassisctl: {node.name}: PowerAction {name} not started within {timeout:g} s: "
              "cancelled (deleted); nothing was sent", file=sys.stderr)  # fmt: skip
        return EXIT_DEVICE
    if phase not in TERMINAL_PHASES:
        print(f"chassisctl: {node.name}: PowerAction {name} still {phase} after {timeout:g} s "
              "(it started; check `kubectl get poweraction`)", file=sys.stderr)  # fmt: skip
        return EXIT_DEVICE
    message = f" ({status['message']})" if status.get("message") else ""
    print(
        f"{node.name} ({node.ref}): {obj['spec']['action']} {phase.lower()}, "
        f"power {status.get('powerState', 'unknown')}, driver {status.get('driver', '?')}, "
        f"PowerAction {name}{message}"
    )
    return {"Succeeded": EXIT_OK, "Unknown": EXIT_UNKNOWN}.get(phase, EXIT_DEVICE)


def _cancel(
    gateway: KubeGateway, namespace: str, references: list[str], nodes: list[NamedNode]
) -> int:
    from chassisd.clusterctl import cancel, pending_actions

    actions = pending_actions(gateway, namespace, references, nodes)
    if not actions:
        print(f"chassisctl: nothing pending to cancel for {', '.join(references)}",
              file=sys.stderr)  # fmt: skip
        return EXIT_DEVICE
    worst = EXIT_OK
    for obj in actions:
        name = obj["metadata"]["name"]
        if cancel(gateway, obj):
            print(f"PowerAction {name} ({obj['spec']['node']} {obj['spec']['action']}) cancelled")
        else:
            print(f"chassisctl: PowerAction {name} started meanwhile; not cancelled",
                  file=sys.stderr)  # fmt: skip
            worst = EXIT_DEVICE
    return worst


def _fail(code: int, message: str) -> int:
    print(f"chassisctl: {message}", file=sys.stderr)
    return code


def _report_failures(view: FarmView) -> None:
    for result in view.failures:
        print(f"chassisctl: {result.chassis}: poll failed: {result.error}", file=sys.stderr)


def node_dict(node: NamedNode) -> dict[str, Any]:
    """A node as the JSON/YAML output shows it (every key present)."""
    empty = {"cartridge": None, "node": None, "product": "", "serial": ""}
    return {"chassis": node.chassis, **empty, **node_to_dict(node)}


def _nodes(farm: Farm, output: str) -> int:
    view = farm.poll()
    _report_failures(view)
    return _print_nodes(list(view.nodes), output, failures=view.failures)


def _print_nodes(nodes: list[NamedNode], output: str, *, failures: Sequence[object]) -> int:
    rows = [node_dict(n) for n in nodes]
    if output == "json":
        print(json.dumps(rows, indent=2))
    elif output == "yaml":
        print(yaml.safe_dump(rows, sort_keys=False), end="")
    else:
        columns = ["name", "chassis", "id", "macs", "power", "health"]
        if output == "wide":
            columns += ["product", "serial"]
        table = [[c.upper() for c in columns]]
        for row in rows:
            table.append([",".join(row[c]) if c == "macs" else str(row[c] or "") for c in columns])
        widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
        for r in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return EXIT_DEVICE if failures else EXIT_OK


def _power(farm: Farm, verb: str, references: list[str]) -> int:
    if verb == "cancel":
        return _fail(EXIT_USAGE, "cancel is for PowerActions in a cluster (no --config)")
    service = PowerService(farm.registry)
    nodes, _view = farm.locate_all(references)  # every reference, before anything is sent
    worst = EXIT_OK
    for node in nodes:
        spec = farm.config.chassis_named(node.chassis)
        target = farm.config.driver_target(spec)
        try:
            if verb == "status":
                state = service.status(spec.driver, target, node.record.id)
                print(f"{node.name} ({node.ref}): {state.value}")
                continue
            result = service.run_routes(
                farm.config.power_routes(spec),
                node.record.id,
                PowerAction(POWER_VERBS.get(verb, verb)),
            )
        except DriverError as exc:
            print(f"chassisctl: {node.name} ({node.ref}): {exc}", file=sys.stderr)
            worst = max(worst, EXIT_DEVICE)
            continue
        message = f" ({result.message})" if result.message else ""
        print(
            f"{node.name} ({node.ref}): {result.action.value} {result.outcome.value}, "
            f"power {result.state.value}{message}"
        )
        if result.outcome is Outcome.UNKNOWN:
            worst = max(worst, EXIT_UNKNOWN)
        elif result.outcome is Outcome.FAILED:
            worst = max(worst, EXIT_DEVICE)
    return worst


def _sync(farm: Farm, output_dir: Path) -> int:
    from chassisd.standalone import sync

    report = sync(farm, output_dir)
    _report_failures(report.view)
    for result in report.view.results:
        if result.loss is not None:
            print(f"chassisctl: {result.chassis}: {result.loss.message}", file=sys.stderr)
    for plan in report.plans:
        print(f"pool {plan.pool.name}: {len(plan.hosts)} reservations")
        for conflict in plan.conflicts:
            print(f"chassisctl: pool {plan.pool.name}: left out: {conflict}", file=sys.stderr)
    for path in report.written:
        print(f"wrote {path}")
    return EXIT_DEVICE if report.view.failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
