"""Simulated HPE Moonshot 1500 iLO Chassis Manager: its SSH CLI and its ``/rest/v1`` REST API.

One module per job:

==================  ================================================================================
``model``           what a chassis contains and how it behaves: cartridges, nodes, NICs, CLI
                    profile, timing, faults; the deterministic generator and the YAML/dict loader
``state``           runtime state shared by SSH and REST: power, pending transitions, counters
``cli_commands``    the CLI grammar: one command line → state change + reply
``render``          the CLI's exact text (tables, blocks, framing)
``ssh_keys``        host keys and their OpenSSH text forms
``ssh_session``     exec requests and the interactive shell (echo, prompt, per-command faults)
``ssh_server``      the asyncssh server: logins, algorithms, session limit, connections
``handle``          ``SimHandle``: thread-safe control of a running chassis
``simulator``       ``MoonshotSimulator``: configure one chassis and run it (own loop or a thread)
``fleet``           many chassis in one process and one event loop
``ssh_cmdline``     ``chassisctl sim moonshot`` / ``python -m chassisd.sim``
``rest_state``      REST sessions, faults and counters
``rest_api``        REST routes and resources
``rest``            ``MoonshotRestSimulator``: configure one REST API and serve it over HTTPS
``rest_cmdline``    ``python -m chassisd.sim.moonshot.rest_cmdline``
==================  ================================================================================

This package re-exports what a test or script needs in one import line.

Must not: import anything from chassisd outside ``chassisd.sim``. The simulator is an
independent peer of the ``moonshot`` and ``moonshot-rest`` drivers; if both used the same parser
or renderer, a bug in it would be invisible to the tests.
"""

from chassisd.sim.moonshot.handle import SimHandle
from chassisd.sim.moonshot.model import (
    Cartridge,
    ChassisSpec,
    CliProfile,
    CommandKind,
    Faults,
    Firmware,
    Layout,
    NodeId,
    SimNode,
    Timing,
)
from chassisd.sim.moonshot.rest import (
    MoonshotRestSimulator,
    RequestKind,
    RestFaults,
    RestSimHandle,
    RestStats,
)
from chassisd.sim.moonshot.simulator import DEFAULT_USERS, MoonshotSimulator
from chassisd.sim.moonshot.ssh_keys import generate_host_key, known_hosts_line, public_key_line
from chassisd.sim.moonshot.state import PowerReport, Stats

__all__ = [
    "DEFAULT_USERS",
    "Cartridge",
    "ChassisSpec",
    "CliProfile",
    "CommandKind",
    "Faults",
    "Firmware",
    "Layout",
    "MoonshotRestSimulator",
    "MoonshotSimulator",
    "NodeId",
    "PowerReport",
    "RequestKind",
    "RestFaults",
    "RestSimHandle",
    "RestStats",
    "SimHandle",
    "SimNode",
    "Stats",
    "Timing",
    "generate_host_key",
    "known_hosts_line",
    "public_key_line",
]
