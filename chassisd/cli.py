"""``chassisctl``: the operator's command line. Thin: parses arguments, calls the core, prints.

Owns running what was asked (the parser and its help are ``chassisd.cliparser``'s: kubectl's
conventions), what goes to stdout and what to stderr, and the exit code of every command (the
table is ``chassisd.exitcodes``'s). Two modes: with ``--config FILE`` it talks to the devices itself
(standalone: ``Farm``, ``PowerService``, ``standalone.sync``); without, it talks to the cluster
(``chassisd.clusterlist`` for what it shows, ``chassisd.clusterctl`` for power): nodes from
Chassis status, power through PowerActions that the agent carries out. Imports no driver or
protocol library.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chassisd import exitcodes
from chassisd.cliparser import POWER_VERBS, build_parser, completion_script
from chassisd.cluster.status import TERMINAL_PHASES
from chassisd.config import load_config
from chassisd.errors import ChassisdError, ConfigError, DriverError, NodeRefError
from chassisd.farm import Farm
from chassisd.listing import ChassisProblem, LabelSelector, Listing, poll_reason, rows_from_plans
from chassisd.model import Outcome, PowerAction
from chassisd.noderef import NamedNode
from chassisd.output import check_output, render_nodes
from chassisd.power import PowerService
from chassisd.registry import Registry
from chassisd.standalone import OutputOptions, output_options

if TYPE_CHECKING:
    from chassisd.clusterctl import PowerOutcome
    from chassisd.kube.gateway import KubeGateway

EXIT_OK, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_DEVICE, EXIT_UNKNOWN = (
    exitcodes.OK, exitcodes.USAGE, exitcodes.NOT_FOUND, exitcodes.DEVICE, exitcodes.UNKNOWN,
)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chassisctl``."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `chassisctl nodes | head` ends quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sim":
        from chassisd.sim.moonshot.ssh_cmdline import run_moonshot

        return run_moonshot(args)
    if args.command == "completion":
        print(completion_script(parser, args.shell), end="")
        return EXIT_OK
    try:
        if getattr(args, "output", "table") != "table":
            check_output(args.output)
        if args.config is None:
            if args.command == "sync":
                parser.error("sync needs --config FILE")
            return _cluster(args)
        return _standalone(args)
    except ConfigError as exc:
        return _fail(EXIT_USAGE, f"config error: {exc}")
    except NodeRefError as exc:
        return _fail(EXIT_NOT_FOUND, str(exc))
    except ChassisdError as exc:
        return _fail(EXIT_DEVICE, str(exc))


def _chassis_names(args: argparse.Namespace) -> frozenset[str]:
    return frozenset(n for item in getattr(args, "chassis", []) for n in item.split(",") if n)


def _selector(args: argparse.Namespace) -> LabelSelector | None:
    text = getattr(args, "selector", "")
    return LabelSelector.parse(text) if text else None


def _standalone(args: argparse.Namespace) -> int:
    if args.all_namespaces or args.namespace or args.context:
        raise ConfigError("-n, -A and --context are for cluster mode (not with --config)")
    farm = Farm(load_config(args.config), Registry())
    if args.command in ("nodes", "map"):
        listing = _standalone_listing(farm, args)
        if args.command == "map":
            return _map(listing, args)
        return _show_nodes(listing, args, where="the config file")
    if args.command == "power":
        return _power(farm, args.verb, args.nodes)
    if args.command == "pxe":
        return _power(farm, "pxe-once", args.nodes)
    if args.command == "sync":
        return _sync(farm, args.output_dir, output_options(args))
    return _fail(EXIT_USAGE, f"{args.command} is for cluster mode (no --config)")


def _standalone_listing(farm: Farm, args: argparse.Namespace) -> Listing:
    from chassisd.reconcile import plan_pools
    from chassisd.standalone import load_allocations

    names, selector = _chassis_names(args), _selector(args)
    unknown = sorted(names - {c.name for c in farm.config.chassis})
    if unknown:
        raise ConfigError(f"no chassis named {', '.join(unknown)} in {args.config}")
    chosen = [
        c
        for c in farm.config.chassis
        if (not names or c.name in names) and (selector is None or selector.matches(dict(c.labels)))
    ]
    # Product and serial cost Moonshot one more command per chassis: read only for outputs
    # that show them (wide, json, yaml, jsonpath), not for the table, names or the map.
    shown = args.command == "nodes" and getattr(args, "output", "table") not in ("table", "name")
    view = farm.poll(chosen, details_due=(lambda _name: lambda _record: True) if shown else None)
    output_dir = getattr(args, "output_dir", None)
    allocations = load_allocations(output_dir) if output_dir else {}
    plans = plan_pools(farm.config, view.nodes, allocations)
    problems = tuple(
        ChassisProblem(r.chassis, poll_reason(r.error), str(r.error)) for r in view.failures
    )
    return Listing(
        rows_from_plans(view.nodes, plans), problems, tuple(("", c.name) for c in chosen)
    )


def _cluster_context(args: argparse.Namespace) -> tuple[KubeGateway, str]:
    from chassisd.kube.gateway import KubeGateway, default_namespace, load_api_client

    try:
        gateway = KubeGateway(load_api_client(args.kubeconfig, context=args.context))
        namespace = args.namespace or default_namespace(args.kubeconfig, args.context) or "default"
    except ConfigError as exc:
        raise ConfigError(f"{exc} (cluster mode; give --config FILE for standalone mode)") from None
    return gateway, namespace


def _cluster(args: argparse.Namespace) -> int:
    from chassisd.clusterctl import cluster_nodes, request_power
    from chassisd.clusterlist import list_farm
    from chassisd.noderef import resolve

    gateway, namespace = _cluster_context(args)
    if args.command in ("nodes", "map"):
        listing = list_farm(
            gateway,
            None if args.all_namespaces else namespace,
            selector=_selector(args),
            chassis_names=_chassis_names(args),
        )
        if args.command == "map":
            return _map(listing, args)
        where = "any namespace" if args.all_namespaces else f"{namespace} namespace"
        return _show_nodes(listing, args, where=where)
    if args.all_namespaces:
        raise ConfigError(f"{args.command} acts in one namespace: give -n NAMESPACE, not -A")
    if args.command == "poll":
        return _request_poll(gateway, namespace, args.chassis_names)
    nodes = cluster_nodes(gateway, namespace)
    if args.command == "power" and args.verb == "cancel":
        return _cancel(gateway, namespace, args.nodes, nodes)
    try:
        resolved = [resolve(reference, nodes) for reference in args.nodes]  # all, before any
    except NodeRefError as exc:
        raise _unresolved(exc, list_farm(gateway, namespace), namespace, args.nodes) from None
    worst = EXIT_OK
    for node in resolved:
        live = args.command == "power" and args.verb == "status" and args.live
        if args.command == "power" and args.verb == "status" and not live:
            print(f"{node.name} ({node.ref}): {node.record.power.value} (as last recorded)")
            continue
        action = (
            None
            if live
            else PowerAction("pxe-once" if args.command == "pxe" else POWER_VERBS[args.verb])
        )
        outcome = request_power(
            gateway, namespace, node, action, wait=not args.no_wait, timeout=args.timeout
        )
        worst = max(
            worst, _report_action(node, outcome, waited=not args.no_wait, timeout=args.timeout)
        )
    return worst


def _unresolved(
    error: NodeRefError, listing: Listing, namespace: str, references: Sequence[str]
) -> ChassisdError:
    """A reference matched nothing: if a chassis it may be on could not be read, say that
    (exit 4, or 2 for an invalid one), as standalone mode does; else the error, naming the
    namespace searched."""
    named = {r.partition("/")[0] for r in references if "/" in r}
    relevant = [p for p in listing.problems if p.chassis in named] or (
        list(listing.problems) if len(named) < len(references) else []
    )
    if relevant:
        failed = "; ".join(f"{p.chassis}: {p.reason}: {p.message}" for p in relevant)
        message = (
            f"cannot resolve {', '.join(references)!r} in namespace {namespace}: "
            f"some chassis could not be read: {failed}"
        )
        if all(p.exit_code == EXIT_USAGE for p in relevant):
            return ConfigError(message)
        return ChassisdError(message)
    if not listing.chassis:
        return NodeRefError(
            f"{error} (no Chassis in namespace {namespace})",
            reference=error.reference,
            candidates=error.candidates,
        )
    return NodeRefError(
        f"{error} (namespace {namespace})", reference=error.reference, candidates=error.candidates
    )


def _request_poll(gateway: KubeGateway, namespace: str, names: Sequence[str]) -> int:
    from chassisd.clusterlist import request_poll

    for name in names:
        when = request_poll(gateway, namespace, name)
        print(f"chassis/{name} poll requested ({when}); `kubectl get chassis {name} -w` to see it")
    return EXIT_OK


def _show_nodes(listing: Listing, args: argparse.Namespace, *, where: str) -> int:
    rows = [r for r in listing.rows if not args.pool or r.pool in args.pool]
    _report_problems(listing.problems)
    text = render_nodes(
        rows, args.output, no_headers=args.no_headers, namespaced=bool(args.all_namespaces)
    )
    sys.stdout.write(text)
    if not rows and args.output in ("table", "wide", "name"):
        print(f"No resources found in {where}.", file=sys.stderr)
    return exitcodes.worst(*(p.exit_code for p in listing.problems))


def _report_problems(problems: Sequence[ChassisProblem]) -> None:
    for problem in problems:
        where = f"{problem.namespace}/{problem.chassis}" if problem.namespace else problem.chassis
        message = f": {problem.message}" if problem.message else ""
        print(f"chassisctl: chassis {where}: {problem.reason}{message}", file=sys.stderr)


def _map(listing: Listing, args: argparse.Namespace) -> int:
    from chassisd.farmmap import draw

    _report_problems(listing.problems)
    sys.stdout.write(draw(listing, colour=sys.stdout.isatty() and not args.no_color))
    return exitcodes.worst(*(p.exit_code for p in listing.problems))


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


def _sync(farm: Farm, output_dir: Path, options: OutputOptions) -> int:
    from chassisd.standalone import sync

    report = sync(farm, output_dir, options=options)
    failures = report.view.failures
    _report_problems(
        [ChassisProblem(r.chassis, poll_reason(r.error), str(r.error)) for r in failures]
    )
    for result in report.view.results:
        if result.loss is not None:
            print(f"chassisctl: {result.chassis}: {result.loss.message}", file=sys.stderr)
    for plan in report.plans:
        name = plan.pool.name
        print(f"pool {name}: {len(plan.hosts)} reservations")
        for conflict in report.conflicts.get(name, ()):
            print(f"chassisctl: pool {name}: left out: {conflict}", file=sys.stderr)
        for skipped in plan.skipped:
            print(f"chassisctl: pool {name}: no reservation: {skipped}", file=sys.stderr)
        for member in plan.unmatched:
            print(f"chassisctl: pool {name}: member {member} matches no node", file=sys.stderr)
    for path in report.written:
        print(f"wrote {path}")
    return exitcodes.sync_exit((r.error for r in failures), int(report.left_out))


if __name__ == "__main__":
    sys.exit(main())
