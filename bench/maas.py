"""The second baseline, "MAAS enlistment", and MAAS's power-on: what MAAS sends a Moonshot chassis.

Owns a model of canonical/maas's SSH Moonshot driver (``provisioningserver/drivers/power/
mscm.py`` and the retry loop of ``drivers/power/__init__.py``, moonshot-cli.md §5), written
anew from those facts, with the same command sequence and waits:

* **Enlistment** ("add chassis", CM 1.x): ``show firmware`` (CM 2.0 would take another path;
  the simulated fleet is CM 1.x), ``show node list``, then per node ``set node boot M.2 cXnY``
  (a persistent boot-device change on every node), ``show node info cXnY`` (the product name;
  MAAS gives up on the chassis if it is missing) and ``show node macaddr cXnY`` (lower-case
  MACs). Every command is a new SSH login: 2 + 3N logins for a chassis of N nodes, in order,
  one chassis per thread of the same pool size as the agent's ``--workers``.
* **Power on** (``PowerDriver.on`` = ``perform_power(power_on, "on")``): one attempt is
  ``show node power``, ``set node power off force`` if it said on, ``set node bootonce pxe``,
  ``set node power on``; then it sleeps the next wait of ``WAITING_POLICY`` and asks ``show node
  power``; not on yet means another whole attempt (query included), up to one attempt per wait;
  a connection error also costs the wait and counts as an attempt. MAAS's power command then
  always reads the state once more (``power_driver_command``: ``query`` after ``on``), which is
  modelled too.

Not modelled, all of which would make MAAS slower: the region → Temporal → rack agent hop and
the ``maas.power`` process each power action starts (Python start-up, imports), node creation
and commissioning after enlistment, and Temporal's own retry of a failed activity (up to 3
attempts of 5 minutes). Shares the one-command SSH client and the thread-pool sweep of
``bench.baseline``, including its two kindnesses (known host keys checked; ``c(\\d+)n(\\d+)``,
which reads the bench fleet's single-digit node numbers exactly as MAAS's ``c\\d+n\\d`` does).

Run as ``python -m bench.maas enlist|power-on REQUEST.json``: prints one JSON object (the
enlistment sweep in ``bench.baseline``'s shape, or one record per power-on) and exits. Must
not reuse a connection, or wait or retry other than as MAAS does: the point is to measure that.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import paramiko

from bench.baseline import MAC, NODE_ID, ChassisResult, host_keys, run_command, sweep
from bench.procstat import cpu_seconds, peak_rss_mb

WAITING_POLICY = (1.0, 2.0, 2.0, 4.0, 6.0, 8.0, 12.0)
"""Seconds MAAS's ``PowerDriver`` waits after each attempt before it re-reads the state
(``DEFAULT_WAITING_POLICY``): at most 7 attempts, 35 s of waiting."""
CM2_MARKER = "HPE Moonshot Chassis Manager 2.0"
PRODUCT_NAME = re.compile(r"Product Name:\s*([A-Za-z0-9 ]+)")  # MAAS's own pattern
POWER_STATE = re.compile(r"Power State:\s*((O\w+|U\w+|P\w+))")
STATE_ON = ("On", "PoweringOn")
STATE_OFF = ("Off", "Unavailable")
SSH_ERRORS = (paramiko.SSHException, OSError, EOFError)


class MaasFatal(Exception):
    """What MAAS raises as ``PowerFatalError`` (unparsable output): never retried."""


@dataclass(frozen=True)
class Target:
    """Where the commands go: one chassis's SSH endpoint and its credentials."""

    host: str
    port: int
    key: paramiko.PKey
    user: str
    password: str
    timeout: float

    def run(self, command: str) -> str:
        """One command on its own login, as MAAS's ``run_mscm_command``."""
        return run_command(
            self.host, self.port, self.key, self.user, self.password, command, self.timeout
        )


def _target(request: dict[str, Any], port: int, key: paramiko.PKey) -> Target:
    return Target(
        request["host"], port, key, request["username"], request["password"], request["timeout"]
    )


def enlist_chassis(
    request: dict[str, Any], chassis: dict[str, Any], key: paramiko.PKey
) -> ChassisResult:
    """MAAS's ``probe_and_enlist_mscm`` for one CM 1.x chassis (node creation left out)."""
    target = _target(request, int(chassis["port"]), key)
    started = time.monotonic()
    nodes = macs = 0
    try:
        if CM2_MARKER in target.run("show firmware"):
            raise MaasFatal("CM 2.0 chassis: its enlistment path is not modelled")
        listing = target.run("show node list")
        node_ids = [f"c{c}n{n}" for c, n in NODE_ID.findall(listing)]  # MAAS keeps repeats
        for node_id in node_ids:
            target.run(f"set node boot M.2 {node_id}")
            if PRODUCT_NAME.search(target.run(f"show node info {node_id}")) is None:
                raise MaasFatal(f"no product name for {node_id}")
            found = MAC.findall(target.run(f"show node macaddr {node_id}"))
            nodes += 1
            macs += len(set(found))
    except (*SSH_ERRORS, MaasFatal) as exc:
        return ChassisResult(chassis["name"], nodes, macs, time.monotonic() - started, repr(exc))
    return ChassisResult(chassis["name"], nodes, macs, time.monotonic() - started)


@dataclass(frozen=True)
class PowerOnResult:
    """One MAAS power-on: seconds end to end, attempts, the state read last, any error."""

    chassis: str
    node: str
    seconds: float
    attempts: int
    state: str
    error: str = ""


def query(target: Target, node_id: str) -> str:
    """``power_query``: ``on``, ``off``, or ``""`` for a state word in neither tuple (MAAS
    returns nothing then, which its caller treats as "not the state wanted")."""
    match = POWER_STATE.search(target.run(f"show node power {node_id}"))
    if match is None:
        raise MaasFatal(f"no power state for {node_id}")
    word = match.group(1)
    return "on" if word in STATE_ON else "off" if word in STATE_OFF else ""


def power_on_attempt(target: Target, node_id: str) -> None:
    """``MSCMPowerDriver.power_on``: hard off if on, one-time PXE, on."""
    if query(target, node_id) == "on":
        target.run(f"set node power off force {node_id}")
    target.run(f"set node bootonce pxe {node_id}")
    target.run(f"set node power on {node_id}")


def power_on(target: Target, chassis: str, node_id: str) -> PowerOnResult:
    """``maas.power on``: ``perform_power`` with ``WAITING_POLICY``, then one more query."""
    started = time.monotonic()
    attempts = 0
    state = ""
    error = ""
    try:
        for wait in WAITING_POLICY:
            attempts += 1
            try:
                power_on_attempt(target, node_id)
            except SSH_ERRORS as exc:
                error = repr(exc)
                time.sleep(wait)
                continue
            time.sleep(wait)
            try:
                state = query(target, node_id)
            except SSH_ERRORS as exc:
                error = repr(exc)
                continue
            if state == "on":
                error = ""
                break
        else:
            error = error or f"BMC never transitioned from {state or 'unknown'} to on"
        if not error:  # a failed ``on`` raises before ``maas.power`` reads the state again
            state = query(target, node_id)
    except (*SSH_ERRORS, MaasFatal) as exc:
        error = repr(exc)
    return PowerOnResult(chassis, node_id, time.monotonic() - started, attempts, state, error)


def power_on_all(request: dict[str, Any]) -> dict[str, Any]:
    """The request's power-ons, one after another (``samples``: chassis name, port, node)."""
    keys = host_keys(request["known_hosts"])
    results = []
    for sample in request["samples"]:
        port = int(sample["port"])
        target = _target(request, port, keys[f"[{request['host']}]:{port}"])
        results.append(power_on(target, sample["chassis"], sample["node"]))
    return {
        "cpu_s": cpu_seconds(os.getpid()),
        "peak_rss_mb": peak_rss_mb(os.getpid()),
        "power_on": [asdict(r) for r in results],
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("enlist", "power-on"):
        print("usage: python -m bench.maas enlist|power-on REQUEST.json", file=sys.stderr)
        return 2
    request = json.loads(Path(args[1]).read_text())
    result = sweep(request, enlist_chassis) if args[0] == "enlist" else power_on_all(request)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
