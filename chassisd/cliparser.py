"""``chassisctl``'s command line: every command, option and help text, and shell completion.

Owns the argument parser (kubectl's conventions: flags before or after the subcommand, ``-n``
or ``-A``, ``--context``, ``-o``, ``--no-headers``, ``-l``; every verb explained, defaults
shown) and the completion script built from it. Parses nothing itself and does nothing: the
``cli`` module runs what was asked.
"""

from __future__ import annotations

import argparse
from importlib.metadata import version
from pathlib import Path
from typing import Any

from chassisd import exitcodes
from chassisd.helpformat import HelpFormatter
from chassisd.model import PowerAction
from chassisd.output import OUTPUT_FORMATS
from chassisd.standalone import add_output_arguments

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
    add_output_arguments(sync)

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
