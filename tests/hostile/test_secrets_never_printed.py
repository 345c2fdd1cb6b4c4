"""Secrets are never printed: a canary password and a canary private key, driven through every
failure path standalone mode can reach (config errors, YAML errors, refused password, refused
or unreadable key, device errors, power failures), never appear in logs at debug level (text
and JSON, chassisd's and the libraries'), in chassisctl's output or in the files written."""

from __future__ import annotations

import base64
import io
import logging
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest
import yaml

from chassisd import cli, daemon
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec, CommandKind, Faults
from chassisd.standalone import OutputOptions

PASSWORD = "Kanarie-73915528"
NUMBER = 73915528  # a password of digits: YAML reads it as a number
KEY = asyncssh.generate_private_key("ssh-ed25519")
KEY_TEXT = KEY.export_private_key().decode()
#: Pieces of the key as they could leak: any base64 line of it.
KEY_PIECES = [line for line in KEY_TEXT.splitlines() if line and not line.startswith("-----")]
BROKEN_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nS2FuYXJpZS1rZXk=\n-----END OPENSSH PRIVATE KEY-----\n"
)
CANARIES = [PASSWORD, str(NUMBER), "S2FuYXJpZS1rZXk", *KEY_PIECES]


@pytest.fixture
def chassis() -> Iterator[SimHandle]:
    """A chassis whose admin password is the canary (the canary key is not authorised)."""
    spec = ChassisSpec.generate("m1", seed=5, slots=4, fill=1.0, multi_node=0.0)
    with MoonshotSimulator(spec, users={"admin": PASSWORD}).running() as handle:
        yield handle


@pytest.fixture
def logs() -> Iterator[Callable[[], str]]:
    """Everything logged at DEBUG (paramiko included), as text lines and as JSON lines."""
    text, json_lines = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(text), logging.StreamHandler(json_lines)]
    handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handlers[1].setFormatter(daemon.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    loggers = [logging.getLogger(n) for n in ("paramiko", "chassisd", "asyncssh")]
    levels = [lg.level for lg in loggers]
    root.setLevel(logging.DEBUG)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    yield lambda: text.getvalue() + json_lines.getvalue()
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)
    for lg, old in zip(loggers, levels, strict=True):
        lg.setLevel(old)


def config_text(handle: SimHandle, secret: dict[str, object]) -> str:
    documents = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, **secret},
        {
            "apiVersion": "chassisd.io/v1alpha1",
            "kind": "Chassis",
            "metadata": {"name": "m1"},
            "spec": {
                "driver": "moonshot",
                "address": f"127.0.0.1:{handle.port}",
                "credentialsSecretRef": {"name": "creds"},
                "knownHosts": handle.known_hosts_line,
                "connectTimeout": "5s",
                "commandTimeout": "3s",
                "pollTimeout": "10s",
            },
        },
        {
            "apiVersion": "chassisd.io/v1alpha1",
            "kind": "NodePool",
            "metadata": {"name": "all"},
            "spec": {"catchAll": True},
        },
    ]
    return yaml.safe_dump_all(documents)


def secret_cases(handle: SimHandle) -> dict[str, str]:
    """Config files, by the failure they lead to (and one that works)."""
    ok = {"stringData": {"username": "admin", "password": PASSWORD}}
    cases = {
        "works": config_text(handle, ok),
        "wrong-password": config_text(
            handle, {"stringData": {"username": "admin", "password": PASSWORD + "x"}}
        ),
        "refused-key": config_text(
            handle, {"stringData": {"username": "admin", "ssh-privatekey": KEY_TEXT}}
        ),
        "unreadable-key": config_text(
            handle, {"stringData": {"username": "admin", "ssh-privatekey": BROKEN_KEY}}
        ),
        "number-password": config_text(
            handle, {"stringData": {"username": "admin", "password": NUMBER}}
        ),
        "password-a-list": config_text(
            handle, {"stringData": {"username": "admin", "password": [PASSWORD]}}
        ),
        "binary-password": config_text(
            handle,
            {"data": {"password": base64.b64encode(PASSWORD.encode() + b"\xff").decode()}},
        ),
    }
    broken = config_text(handle, ok).replace(f"password: {PASSWORD}", f"password: {PASSWORD}: x")
    assert broken != cases["works"]
    cases["yaml-error-in-secret"] = broken
    return cases


def drive(config: Path, out: Path, chassis: SimHandle) -> set[int]:
    """Every entry point on ``config``, healthy and with device faults; the exit codes."""
    codes: set[int] = set()
    for faults in (
        Faults(),
        Faults(garbage_line="c1n1,x  OK  On  x", affects=frozenset({CommandKind.NODE_LIST})),
        Faults(hang=True, affects=frozenset({CommandKind.POWER_ON})),
    ):
        chassis.set_faults(faults)
        codes.add(
            daemon._standalone(
                config, out, once=True, health="127.0.0.1:0", options=OutputOptions()
            )
        )
        codes.add(cli.main(["--config", str(config), "nodes", "-o", "json"]))
        codes.add(cli.main(["--config", str(config), "sync", "--output-dir", str(out)]))
        codes.add(cli.main(["--config", str(config), "power", "on", "m1/c1n1"]))
    return codes


def test_no_failure_path_prints_the_canaries(
    tmp_path: Path,
    chassis: SimHandle,
    logs: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each config through a standalone sync (`chassisd run --once`), `chassisctl nodes`,
    `chassisctl sync` and `chassisctl power on`, healthy and with device faults (a hostile row,
    a power command that never answers): no canary anywhere, and every case was reached."""
    codes: dict[str, set[int]] = {}
    # chassisctl's main sets SIGPIPE to its default (`| head` ends quietly); not for pytest.
    sigpipe = signal.getsignal(signal.SIGPIPE)
    try:
        for name, text in secret_cases(chassis).items():
            config = tmp_path / f"{name}.yaml"
            config.write_text(text)
            codes[name] = drive(config, tmp_path / f"out-{name}", chassis)
    finally:
        signal.signal(signal.SIGPIPE, sigpipe)
    printed = capsys.readouterr()
    files = "".join(
        p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()
        if not p.name.endswith(".yaml") or "out-" in str(p)
    )  # fmt: skip
    everything = logs() + printed.out + printed.err + files
    for canary in CANARIES:
        assert canary not in everything, canary
    # Every path was reached: success, device errors, unknown power outcome, config errors.
    assert codes["works"] >= {0, 4, 5}
    assert codes["wrong-password"] == {4} and codes["refused-key"] == {4}
    assert codes["unreadable-key"] == {4}
    for config_error in ("number-password", "password-a-list", "binary-password"):
        assert codes[config_error] == {2}
    assert codes["yaml-error-in-secret"] == {2}
    assert "refused" in everything and "not valid YAML" in everything
    assert "stringData.password: must be a string" in everything
    assert "paramiko" in everything  # the libraries' debug lines were captured too
