"""The first baseline, "MACs node by node": inventory the connection-per-command way.

Owns a deliberately plain client in the style of canonical/maas ``drivers/power/mscm.py``
(moonshot-cli.md §5): every command on a fresh paramiko ``SSHClient`` (connect, log in,
``exec_command``, read to EOF, close), ``show node list`` first, then ``show node macaddr cXnY``
for every node it lists, one by one. That is N + 1 logins for a chassis of N nodes: the least a
client that asks per node can do. (MAAS's own enlistment makes 3N + 2; ``bench.maas`` models
that one.) Also owns what both baselines share: that one-command SSH client, the known_hosts
reader, and the sweep over chassis on a thread pool of the same size as the agent's
``--workers``.

Two deliberate differences from MAAS, neither of which makes the baseline slower: host keys are
checked against the fleet's known_hosts (parsed once, up front) instead of ``AutoAddPolicy``, and
node ids are read with ``c(\\d+)n(\\d+)`` instead of MAAS's truncating ``c\\d+n\\d``.

Run as ``python -m bench.baseline REQUEST.json``: prints one JSON object (per-chassis nodes,
MACs, seconds, errors; the sweep time; its own CPU seconds and peak RSS, read from its own
``/proc`` entry just before it exits, as the runner reads the agent's) and exits. Must not
retry or reuse a connection: the point is to measure that cost.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import paramiko
from paramiko.hostkeys import HostKeyEntry

from bench.procstat import cpu_seconds, peak_rss_mb

NODE_ID = re.compile(r"\bc(\d+)n(\d+)\b", re.IGNORECASE)
MAC = re.compile(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b")


@dataclass(frozen=True)
class ChassisResult:
    name: str
    nodes: int
    macs: int
    seconds: float
    error: str = ""


def host_keys(text: str) -> dict[str, paramiko.PKey]:
    """known_hosts text → host pattern → key (one key per host in the bench fleet)."""
    keys: dict[str, paramiko.PKey] = {}
    for line in text.splitlines():
        entry = HostKeyEntry.from_line(line.strip()) if line.strip() else None
        if entry is not None and entry.key is not None:
            for name in entry.hostnames:
                keys[name] = entry.key
    return keys


def run_command(
    host: str, port: int, key: paramiko.PKey, user: str, password: str, command: str, timeout: float
) -> str:
    """One command on one fresh SSH connection (connect, log in, exec, read, close)."""
    client = paramiko.SSHClient()
    client.get_host_keys().add(f"[{host}]:{port}", key.get_name(), key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            host,
            port,
            username=user,
            password=password,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            look_for_keys=False,
            allow_agent=False,
        )
        _stdin, stdout, _stderr = client.exec_command(command, timeout=timeout)
        return bytes(stdout.read()).decode("utf-8", errors="replace")
    finally:
        client.close()


def poll_chassis(
    request: dict[str, Any], chassis: dict[str, Any], key: paramiko.PKey
) -> ChassisResult:
    """``show node list``, then ``show node macaddr cXnY`` per node, each on a new connection."""
    host, port = request["host"], int(chassis["port"])
    user, password, timeout = request["username"], request["password"], request["timeout"]
    started = time.monotonic()
    nodes = macs = 0
    try:
        listing = run_command(host, port, key, user, password, "show node list", timeout)
        node_ids = list(dict.fromkeys(f"c{c}n{n}" for c, n in NODE_ID.findall(listing)))
        nodes = len(node_ids)
        for node_id in node_ids:
            text = run_command(
                host, port, key, user, password, f"show node macaddr {node_id}", timeout
            )
            macs += len(set(MAC.findall(text.lower())))
    except (paramiko.SSHException, OSError, EOFError) as exc:
        return ChassisResult(chassis["name"], nodes, macs, time.monotonic() - started, repr(exc))
    return ChassisResult(chassis["name"], nodes, macs, time.monotonic() - started)


PollChassis = Callable[[dict[str, Any], dict[str, Any], paramiko.PKey], ChassisResult]


def sweep(request: dict[str, Any], poll: PollChassis = poll_chassis) -> dict[str, Any]:
    """Poll every chassis of the request once with ``poll``, ``workers`` at a time."""
    keys = host_keys(request["known_hosts"])
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=request["workers"]) as pool:
        futures = [
            pool.submit(poll, request, c, keys[f"[{request['host']}]:{c['port']}"])
            for c in request["chassis"]
        ]
        results = [f.result() for f in futures]
    elapsed = time.monotonic() - started
    # Read from /proc like the agent's figures. (getrusage's ru_maxrss would not do: Linux
    # keeps the high-water mark across exec, so it would include the parent's memory.)
    return {
        "sweep_s": elapsed,
        "cpu_s": cpu_seconds(os.getpid()),
        "peak_rss_mb": peak_rss_mb(os.getpid()),
        "chassis": [asdict(r) for r in results],
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.baseline REQUEST.json", file=sys.stderr)
        return 2
    request = json.loads(Path(args[0]).read_text())
    json.dump(sweep(request), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
