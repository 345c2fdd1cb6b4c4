"""Readers of ``/proc``: CPU seconds and peak memory of a process, and the load average.

Owns parsing ``/proc/<pid>/stat`` (utime + stime), ``/proc/<pid>/status`` (VmHWM, VmRSS) and
the process's TCP connections (its socket fds matched against ``/proc/net/tcp``). Measures from
outside: nothing here runs inside the process it measures. Linux only.
"""

from __future__ import annotations

import os
from collections.abc import Container
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far, in seconds (its threads included)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces and parentheses: split after its last ")".
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM), in MiB."""
    return _status_kib(pid, "VmHWM") / 1024


def rss_mb(pid: int) -> float:
    """The process's current resident set size (VmRSS), in MiB."""
    return _status_kib(pid, "VmRSS") / 1024


def loadavg() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


_ESTABLISHED = "01"


def established_connections(pid: int, remote_ports: Container[int]) -> int:
    """TCP connections ``pid`` holds open (ESTABLISHED, IPv4 or IPv6) to any of
    ``remote_ports``. Counted on the client's side: a socket the process has closed is gone at
    once, even while the peer is still tearing the connection down."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if (
                state == _ESTABLISHED
                and inode in inodes
                and int(remote.rsplit(":", 1)[1], 16) in remote_ports
            ):
                count += 1
    return count
