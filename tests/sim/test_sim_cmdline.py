"""`chassisctl sim moonshot` glue: ready line, known_hosts file, persistent host key, signals."""

from __future__ import annotations

import argparse
import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chassisd.sim.moonshot.model import CommandKind
from chassisd.sim.moonshot.ssh_cmdline import _parse_latency, add_moonshot_arguments, run_moonshot
from tests.sim.moonshot_sim_helpers import TIMEOUT, ClientKey

READY = re.compile(
    r"^moonshot simulator (?P<name>\S+) listening on 127\.0\.0\.1:(?P<port>\d+) "
    r"host-key (?P<fp>SHA256:[A-Za-z0-9+/]+)\n$"
)


@contextmanager
def simulator_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], re.Match[str]]]:
    """Start `python -m chassisd.sim ARGS`, wait for its ready line, stop it afterwards."""
    command = [sys.executable, "-m", "chassisd.sim", *args]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(proc.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=15), "no ready line within 15 s"
            line = proc.stdout.readline()
            match = READY.match(line)
            assert match, f"unexpected ready line {line!r}"
            yield proc, match
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=TIMEOUT)


def openssh_exec(port: str, key: ClientKey, known_hosts: Path, command: str) -> bytes:
    env = {name: value for name, value in os.environ.items() if name != "SSH_AUTH_SOCK"}
    result = subprocess.run(
        [
            "/usr/bin/ssh",
            "-F",
            "/dev/null",
            "-p",
            port,
            "-i",
            str(key.private_path),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "admin@127.0.0.1",
            command,
        ],
        capture_output=True,
        timeout=20,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cli_prints_one_ready_line_and_stops_cleanly_on_sigterm(
    tmp_path: Path, client_key: ClientKey
) -> None:
    """Ready line, known_hosts file usable by OpenSSH, exit 0 on SIGTERM, nothing else on stdout."""
    public = tmp_path / "id.pub"
    public.write_text(client_key.public_line + "\n")
    known_hosts = tmp_path / "known_hosts"
    args = ["--listen", "127.0.0.1:0", "--name", "moonshot7", "--seed", "7"]
    args += ["--authorized-key", str(public), "--known-hosts-out", str(known_hosts)]
    with simulator_process(*args) as (proc, ready):
        assert ready["name"] == "moonshot7"
        assert known_hosts.read_text().startswith(f"[127.0.0.1]:{ready['port']} ssh-ed25519 ")
        output = openssh_exec(ready["port"], client_key, known_hosts, "show node list")
        assert output.startswith(b"show node list\r\r\nSlot ID")
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, stderr
        assert stdout == ""


def test_cli_host_key_file_survives_restarts(tmp_path: Path) -> None:
    """`--host-key FILE` is created (mode 0600) once and reused after a restart; SIGINT stops."""
    host_key = tmp_path / "host_key"
    fingerprints = []
    for _ in range(2):
        with simulator_process("--host-key", str(host_key)) as (proc, ready):
            fingerprints.append(ready["fp"])
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0
    assert fingerprints[0] == fingerprints[1]
    assert host_key.stat().st_mode & 0o777 == 0o600


def test_cli_spec_file_and_layout(tmp_path: Path, client_key: ClientKey) -> None:
    """A YAML spec and `--layout health` give the 2014 table for exactly that hardware."""
    spec = tmp_path / "chassis.yaml"
    spec.write_text(
        "name: lab1\n"
        "cartridges:\n"
        "  1:\n"
        "    nodes:\n"
        "      - macs: [94:57:a5:d3:ec:f2, 94:57:a5:d3:ec:f3]\n"
        "        power: off\n"
        "  2:\n"
        "    nodes:\n"
        "      - {macs: ['02:00:00:00:02:00'], no_asset_info: true}\n"
    )
    public = tmp_path / "id.pub"
    public.write_text(client_key.public_line + "\n")
    known_hosts = tmp_path / "known_hosts"
    args = ["--spec", str(spec), "--layout", "health", "--password", ""]
    args += ["--authorized-key", str(public), "--known-hosts-out", str(known_hosts)]
    with simulator_process(*args) as (proc, ready):
        assert ready["name"] == "lab1"
        output = openssh_exec(ready["port"], client_key, known_hosts, "show node list").decode()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=TIMEOUT)
    rows = output.split("\r\n")[3:5]
    assert rows == [
        " 01  c1n1  Intel Corporation      x86 Architecture     32 GB  Off   OK ",
        " 02  c2n1  N/A                    No Asset Information ",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "127.0.0.1"], "--listen must be HOST:PORT"),
        (["--latency", "node_lst=0.3"], "--latency must be"),
        (["--password", ""], "needs at least one --authorized-key"),
        (["--slots", "46"], "slots must be 1-45"),
    ],
)
def test_cli_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad options are reported on stderr with exit status 2, before anything listens."""
    parser = argparse.ArgumentParser()
    add_moonshot_arguments(parser)
    assert run_moonshot(parser.parse_args(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_cli_latency_option_accepts_kind_and_global_forms() -> None:
    """`--latency node_list=0.3 --latency 0.1` parses into per-kind seconds."""
    latency = _parse_latency(["0.1", "node_list=0.3"])
    assert latency[CommandKind.NODE_LIST] == 0.3
    assert latency[CommandKind.NODE_MACADDR_ALL] == 0.1
