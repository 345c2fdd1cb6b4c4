"""``chassisctl``: the operator's command line. Thin: parses arguments, calls the core, prints.

Owns argument parsing (kubectl's conventions: flags before or after the subcommand, the
kubeconfig context's namespace by default, ``-A``, ``--context``, ``-o``, ``--no-headers``,
``-l``), what goes to stdout and what to stderr, and the exit code of every command (the table
is ``chassisd.exitcodes``'s). Two modes: with ``--config FILE`` it talks to the devices itself
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
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chassisd import exitcodes
from chassisd.cluster.status import TERMINAL_PHASES
from chassisd.config import load_config
from chassisd.errors import ChassisdError, ConfigError, DriverError, NodeRefError
from chassisd.farm import Farm
from chassisd.helpformat import HelpFormatter
from chassisd.listing import ChassisProblem, LabelSelector, Listing, poll_reason, rows_from_plans
from chassisd.model import Outcome, PowerAction
from chassisd.noderef import NamedNode
from chassisd.output import OUTPUT_FORMATS, check_output, render_nodes
from chassisd.power import PowerService
from chassisd.registry import Registry

if TYPE_CHECKING:
    from chassisd.clusterctl import PowerOutcome
    from chassisd.kube.gateway import KubeGateway

EXIT_OK, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_DEVICE, EXIT_UNKNOWN = (
    exitcodes.OK, exitcodes.USAGE, exitcodes.NOT_FOUND, exitcodes.DEVICE, exitcodes.UNKNOWN,
)  # fmt: skip

POWER_VERBS = {
    "on": PowerAction.ON,
    "off": PowerAction.OFF,
    "shutdown": PowerAction.SHUTDOWN,
    "cycle": PowerAction.CYCLE,
    "reset": PowerAction.RESET,
}

POWER_HELP = """\
verbs:
  on        power the node on (idempotent; never implies a network boot)
  off       cut power at once (idempotent)
  shutdown  ask the operating system to shut down (ACPI), then power stays off
  cycle     off, then on again
  reset     hard reset, power stays on
  status    print the power state (standalone: asked now; cluster: as last recorded by a poll
            or a power action, or asked now through a PowerAction with --live)
  cancel    delete pending PowerActions, named by node or by PowerAction name (cluster only)

Every NODE is resolved before anything is done: one reference that matches no node, or
several, and nothing is sent (exit 3). In cluster mode each request is a PowerAction the agent
carries out; one that has not started when --timeout ends is cancelled (deleted) and never runs
later.
"""

EXIT_HELP = exitcodes.HELP

COMMANDS_HELP = """\
commands:
  nodes       list every node with its power, health, pool, IP and DHCP hostname
  map         draw every chassis as its front panel: 45 cartridge slots and their nodes
  power       power control: on|off|shutdown|cycle|reset|status|cancel NODE...
  poll        ask the agent to poll CHASSIS now (cluster mode)
  pxe         boot NODE from the network at its next boot only
  sync        poll once and write reservations to a directory (standalone mode)
  completion  print a shell completion script (bash or zsh)
  sim         run a simulated device

modes: with --config FILE chassisctl talks to the devices itself (standalone); without, to the
cluster of the kubeconfig (its current context's namespace, unless -n or -A).
"""


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after its name. Only the top parser sets
    defaults: a subcommand's copy must not overwrite a value given before the subcommand."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("mode and namespace (before or after the command)")
    group.add_argument(
        "--config",
        type=Path,
        default=default(None),
        metavar="FILE",
        help="standalone mode: Chassis, NodePool and Secret documents (multi-document YAML)",
    )
    group.add_argument(
        "--kubeconfig",
        type=Path,
        default=default(None),
        metavar="FILE",
        help="cluster mode: kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    )
    group.add_argument(
        "--context", default=default(None), help="cluster mode: kubeconfig context to use"
    )
    group.add_argument(
        "-n",
        "--namespace",
        default=default(None),
        help="cluster mode: namespace (default: the context's namespace, else 'default')",
    )
    group.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        default=default(False),
        help="cluster mode: list across every namespace (nodes, map)",
    )


def _selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-l",
        "--selector",
        default="",
        metavar="SELECTOR",
        help="only chassis whose labels match (k=v, k!=v, k, !k; comma means and)",
    )
    parser.add_argument(
        "--chassis",
        action="append",
        default=[],
        metavar="NAME",
        help="only this chassis (repeatable, or comma-separated)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``chassisctl`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="chassisctl",
        description="Inventory and power control of chassis and BMCs (chassisd).\n\n"
        + COMMANDS_HELP,
        epilog=EXIT_HELP,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('chassisd')}")
    _global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=description or summary,
            epilog=EXIT_HELP,
            formatter_class=HelpFormatter,
        )
        _global_options(sub, top=False)
        return sub

    nodes = command(
        "nodes",
        "list every node with its power, health, pool, IP and DHCP hostname",
        "List every node. Chassis that could not be read (unreachable, refused, invalid, not "
        "polled yet) are named on stderr and make the exit code non-zero; the nodes that are "
        "known are still listed.\n\n"
        "  table     NAME CHASSIS ID MACS POWER HEALTH POOL IP\n"
        "  wide      also HOSTNAME (or why the node has no reservation), PRODUCT, SERIAL\n"
        "  name      CHASSIS/ID, one per line (a reference power accepts)\n"
        "  json/yaml a kubectl List of nodes\n"
        "  jsonpath=TEMPLATE  kubectl's templates over that List, e.g.\n"
        '            -o jsonpath=\'{range .items[*]}{.name}{"\\t"}{.ip}{"\\n"}{end}\'',
    )
    nodes.add_argument(
        "-o",
        "--output",
        default="table",
        metavar="FORMAT",
        help=f"one of {', '.join(OUTPUT_FORMATS)}",
    )
    nodes.add_argument("--no-headers", action="store_true", help="table and wide: no header row")
    _selection_options(nodes)
    nodes.add_argument("--pool", action="append", default=[], metavar="NAME",
                       help="only nodes reserved in this NodePool (repeatable)")  # fmt: skip
    nodes.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="standalone mode: show the IPs the last sync into DIR allocated "
        "(without: the IPs a first sync would allocate)",
    )

    map_ = command(
        "map",
        "draw every chassis as its front panel: 45 cartridge slots and their nodes",
        "Every chassis drawn as its front panel: a Moonshot's 45 cartridge slots in three rows\n"
        "of 15, each with the nodes of its cartridge (a BMC: one row of its nodes), one glyph\n"
        "per node for its pool, power and problems, and a legend. Coloured on a terminal;\n"
        "plain text otherwise (or with --no-color), where the letters say everything.\n"
        "Chassis that could not be read are marked UNREAD and named on stderr.",
    )
    _selection_options(map_)
    map_.add_argument("--no-color", action="store_true", help="plain text even on a terminal")

    power = command("power", "power control: on|off|shutdown|cycle|reset|status|cancel", POWER_HELP)
    power.add_argument(
        "verb",
        choices=(*POWER_VERBS, "status", "cancel"),
        metavar="VERB",
        help="on, off, shutdown, cycle, reset, status or cancel (see above)",
    )
    power.add_argument(
        "nodes",
        nargs="+",
        metavar="NODE",
        help="node name, CHASSIS/ID or native id (cancel: or a PowerAction name)",
    )

    power.add_argument(
        "--live",
        action="store_true",
        help="status: ask the device now (cluster mode: through a PowerAction), not the last poll",
    )
    pxe = command(
        "pxe",
        "boot from the network at the next boot only",
        "Set a one-time network (PXE) boot for each NODE; power is not touched (follow with "
        "`power cycle` to boot now).",
    )
    pxe.add_argument("nodes", nargs="+", metavar="NODE", help="name, CHASSIS/ID or native id")
    for sub in (power, pxe):
        sub.add_argument("--no-wait", action="store_true", help="cluster mode: do not wait")
        sub.add_argument(
            "--timeout", type=float, default=120.0, help="cluster mode: seconds to wait"
        )

    poll = command(
        "poll",
        "ask the agent to poll CHASSIS now (cluster mode)",
        "Annotate each CHASSIS (chassisd.io/poll-requested) so that the agent polls it at\n"
        "once, whatever its back-off: after fixing its Secret, its address or the device.",
    )
    poll.add_argument("chassis_names", nargs="+", metavar="CHASSIS", help="Chassis name")

    sync = command(
        "sync",
        "poll once and write reservations to a directory (standalone mode)",
        "Poll every chassis of --config once and write DhcpHosts YAML, kubefarm values, a "
        "dnsmasq dhcp-hostsfile and state.json into DIR (what `chassisd run --config FILE "
        "--output-dir DIR --once` does).",
    )
    sync.add_argument("--output-dir", type=Path, required=True, metavar="DIR",
                      help="where the reservations go")  # fmt: skip

    completion = command(
        "completion",
        "print a shell completion script (bash or zsh)",
        "Print a completion script: `source <(chassisctl completion bash)`, or for zsh "
        "`source <(chassisctl completion zsh)`.",
    )
    completion.add_argument("shell", choices=("bash", "zsh"), help="the shell")

    sim = commands.add_parser(
        "sim",
        help="run a simulated device",
        description="Run a simulated device (for trying chassisd without hardware).",
    )
    sim_kinds = sim.add_subparsers(dest="sim_kind", required=True, metavar="KIND")
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
        return _sync(farm, args.output_dir)
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
    view = farm.poll(chosen)
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


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """A completion script for ``shell`` listing every command and its options."""
    commands: dict[str, list[str]] = {}
    top = [o for a in parser._actions for o in a.option_strings]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words = [o for a in sub._actions for o in a.option_strings]
                for a in sub._actions:
                    if (
                        a.choices
                        and not a.option_strings
                        and not isinstance(
                            a,
                            argparse._SubParsersAction,
                        )
                    ):
                        words += list(a.choices)
                commands[name] = sorted(set(words))
    cases = "\n".join(
        f'        {name}) words="{" ".join(words)}" ;;' for name, words in sorted(commands.items())
    )
    body = f"""_chassisctl() {{
    local cur command i words
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    command=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -*) ;;
            *) command="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    case "$command" in
        "") words="{" ".join(sorted(commands))} {" ".join(sorted(set(top)))}" ;;
{cases}
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F _chassisctl chassisctl
"""
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body


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


def _sync(farm: Farm, output_dir: Path) -> int:
    from chassisd.standalone import sync

    report = sync(farm, output_dir)
    failures = report.view.failures
    _report_problems(
        [ChassisProblem(r.chassis, poll_reason(r.error), str(r.error)) for r in failures]
    )
    left_out = 0
    for plan in report.plans:
        print(f"pool {plan.pool.name}: {len(plan.hosts)} reservations")
        for conflict in plan.conflicts:
            print(f"chassisctl: pool {plan.pool.name}: left out: {conflict}", file=sys.stderr)
        left_out += len(plan.conflicts)
        for skipped in plan.skipped:
            print(f"chassisctl: pool {plan.pool.name}: no reservation: {skipped}", file=sys.stderr)
    for path in report.written:
        print(f"wrote {path}")
    return exitcodes.sync_exit((r.error for r in failures), left_out)


if __name__ == "__main__":
    sys.exit(main())
