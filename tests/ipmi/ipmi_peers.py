"""The two IPMI peers the tests run, as subprocesses on 127.0.0.1 (``test-peers.md`` B, E).

- ``ipmi_sim`` (Debian ``openipmi``): a real C BMC. Its power and boot device go through the
  chassis-control hook in ``ipmi_sim/``, which records them in files a test reads.
- ``fakebmc.py`` (pyghmi's ``Bmc`` server): FRU 0 with host MACs, the BMC's LAN MAC, and faults.

Each peer gets a fresh directory and an ephemeral port, and is stopped by its PID. ``ipmitool``
is the independent client the tests cross-check with. A missing Debian package fails the test
with the command that installs it; nothing here is skipped.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import IO

import pytest

from chassisd.driver import ChassisTarget, Credentials, Timeouts

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "ipmi_sim"
REPO_ROOT = HERE.parents[1]
FAKEBMC_MODULE = "tests.ipmi.fakebmc"
"""Run with ``python -m`` from ``REPO_ROOT``, so that it imports its sibling as ``tests.ipmi``."""

DEBIAN_HINT = "run make deps-debian (Debian packages openipmi ipmitool)"
START_TIMEOUT = 10.0
"""Seconds a peer may take to start before the test fails."""

USER, PASSWORD = "admin", "password"
BMC_MAC = "02:00:00:00:00:20"
"""The BMC's own LAN MAC in both peers (``ipmi_sim/lan-control.sh``, ``fakebmc.py``)."""

HOST_MACS = ("00:11:22:33:44:01", "00:11:22:33:44:02")
SERIAL = "SN-SIM-0001"
"""FRU 0 of the ``sim`` fixture: two host MACs as product extra fields, and this serial."""

ASF_PING = bytes.fromhex("0600ff06000011be80010000")
"""RMCP presence ping (ASF); ipmi_sim answers it with a pong once its socket is bound."""


def require(tool: str) -> str:
    """The path of ``tool``, or fail the test saying how to install it."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: {DEBIAN_HINT}")
    return path


def free_udp_port() -> int:
    """An unused UDP port on 127.0.0.1 (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def target(port: int, **changes: object) -> ChassisTarget:
    """A target for a peer on 127.0.0.1:``port``; short timeouts, since peers are local."""
    values: dict[str, object] = {
        "name": "ipmi-t",
        "address": f"127.0.0.1:{port}",
        "credentials": Credentials(USER, PASSWORD),
        "timeouts": Timeouts(connect=5.0, command=5.0),
    }
    values.update(changes)
    return ChassisTarget(**values)  # type: ignore[arg-type]


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a peer by its PID: SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    if process.stdout is not None:
        process.stdout.close()


@dataclass
class IpmiSim:
    """A running ipmi_sim and the files its chassis-control hook keeps."""

    port: int
    directory: Path
    process: subprocess.Popen[str]

    def target(self, **changes: object) -> ChassisTarget:
        return target(self.port, **changes)

    @property
    def power(self) -> str:
        """``1`` or ``0``, as the hook last recorded it."""
        return (self.directory / "power.state").read_text().strip()

    @power.setter
    def power(self, value: str) -> None:
        (self.directory / "power.state").write_text(value + "\n")

    def calls(self) -> list[str]:
        """The hook's calls in order, as ``get power`` / ``set boot pxe`` (the MC left out)."""
        path = self.directory / "chassis.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line.split(" ", 1)[1] for line in lines]

    def resets(self) -> int:
        path = self.directory / "resets.log"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def ipmitool(self, *args: str, user: str = USER, password: str = PASSWORD) -> str:
        """Run ipmitool over lanplus; ``-C 3`` because ipmi_sim lacks Get Channel Cipher Suites."""
        argv = [require("ipmitool"), "-I", "lanplus", "-C", "3", "-H", "127.0.0.1"]
        argv += ["-p", str(self.port), "-U", user, "-P", password, *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=True)
        return done.stdout


def start_ipmi_sim(directory: Path, *, fru: bytes | None, power: str = "0") -> IpmiSim:
    """Start ipmi_sim in ``directory`` (fresh state) with ``fru`` as FRU 0 (None: no FRU)."""
    binary = require("ipmi_sim")
    require("ipmitool")
    for script in ("chassis-control.sh", "lan-control.sh"):
        path = directory / script
        shutil.copyfile(TEMPLATES / script, path)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    fru_line = ""
    if fru is not None:
        (directory / "fru.bin").write_bytes(fru)
        fru_line = f'mc_add_fru_data 0x20 0 {len(fru)} file 0 "{directory / "fru.bin"}"'
    port = free_udp_port()
    values = {"port": port, "dir": directory, "fru_line": fru_line}
    for name in ("lan.conf", "sim.emu"):
        template = Template((TEMPLATES / f"{name}.in").read_text())
        (directory / name).write_text(template.substitute(values))
    (directory / "power.state").write_text(power + "\n")
    (directory / "state").mkdir()
    log = (directory / "ipmi_sim.out").open("w")
    with log:
        process = subprocess.Popen(
            [binary, "-c", "lan.conf", "-f", "sim.emu", "-s", "state", "-n"],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    sim = IpmiSim(port, directory, process)
    try:
        _wait_for_pong(port, process)
    except BaseException:
        stop(process)
        raise
    return sim


def _wait_for_pong(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.05)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"ipmi_sim exited with {process.returncode} at start")
            try:
                sock.sendto(ASF_PING, ("127.0.0.1", port))
                if sock.recv(64)[:4] == ASF_PING[:4]:
                    return
            except OSError:  # nothing bound yet (ICMP port unreachable) or no answer yet
                time.sleep(0.02)
    pytest.fail(f"ipmi_sim did not answer on 127.0.0.1:{port}/udp within {START_TIMEOUT:g} s")


@dataclass
class FakeBmc:
    """A running ``fakebmc.py`` and its events file."""

    port: int
    events_path: Path
    process: subprocess.Popen[str]
    log: Path = field(repr=False)

    def target(self, **changes: object) -> ChassisTarget:
        return target(self.port, **changes)

    def events(self) -> list[str]:
        return self.events_path.read_text().splitlines() if self.events_path.exists() else []

    def count(self, prefix: str) -> int:
        return sum(1 for line in self.events() if line.startswith(prefix))


def start_fakebmc(directory: Path, *args: str) -> FakeBmc:
    """Start ``fakebmc.py --port 0`` with ``args``; read its port from its first stdout line."""
    events = directory / "events.log"
    log = directory / "fakebmc.err"
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", FAKEBMC_MODULE, "--port", "0", "--events", str(events), *args],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        line = _first_line(process.stdout, START_TIMEOUT)
        if not line.strip().isdigit():
            pytest.fail(f"fakebmc.py did not print its port: {line!r}; {log.read_text()}")
    except BaseException:
        stop(process)
        raise
    return FakeBmc(int(line), events, process, log)


def _first_line(stream: IO[str] | None, timeout: float) -> str:
    assert stream is not None
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"fakebmc.py printed nothing within {timeout:g} s")
    return stream.readline()
