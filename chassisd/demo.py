"""``make demo``: two simulated Moonshot chassis, one standalone sync, power control.

Owns the demo's choreography only. Everything it runs is the real thing, started the way a user
would start it by hand (README "Trying it by hand"): ``chassisctl sim moonshot`` processes on
127.0.0.1 (ephemeral ports), a config file, ``chassisctl nodes``, ``chassisd run --once`` and
``chassisctl power``. Every process it starts is stopped by its PID.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml

from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, SimNode

READY_TIMEOUT = 30.0  # seconds for a simulator process to print its ready line


def demo_specs() -> tuple[ChassisSpec, ChassisSpec]:
    """Chassis 1: WEDOS-style, single-node cartridges (named ``c1n{cartridge}-{node}``, which
    stays unique where a cartridge holds several nodes),
    with cartridge 43 present and off; chassis 2: a mix including 4-node cartridges."""
    first = ChassisSpec.generate("moonshot-1", seed=2021, chassis_index=1, multi_node=0.0)
    node = SimNode(macs=("02:e5:00:01:2b:00", "02:e5:00:01:2b:01"), power_on=False)
    first = first.with_cartridge(43, Cartridge((node,)))
    second = ChassisSpec.generate("moonshot-2", seed=2021, chassis_index=2, multi_node=0.25)
    return first, second


def config_documents(ports: dict[str, int], known_hosts: str) -> list[dict[str, object]]:
    """The demo's standalone config: credentials, trust, two chassis, three pools."""
    secret_creds: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "moonshot-credentials"},
        "stringData": {"username": "admin", "password": "password"},
    }
    secret_hosts: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "chassis-host-keys"},
        "stringData": {"known_hosts": known_hosts},
    }
    chassis: list[dict[str, object]] = [
        {
            "apiVersion": "chassisd.io/v1alpha1",
            "kind": "Chassis",
            "metadata": {"name": name},
            "spec": {
                "driver": "moonshot",
                "address": f"127.0.0.1:{port}",
                "credentialsSecretRef": {"name": "moonshot-credentials"},
                "knownHostsSecretRef": {"name": "chassis-host-keys", "key": "known_hosts"},
                "pollInterval": "1m",
                "nodeNameTemplate": template,
            },
        }
        for (name, port), template in zip(
            sorted(ports.items()), ("c1n{cartridge}-{node}", "{chassis}-{id}"), strict=True
        )
    ]
    pools: list[dict[str, object]] = [
        {
            "apiVersion": "chassisd.io/v1alpha1",
            "kind": "NodePool",
            "metadata": {"name": "cluster-a"},
            "spec": {
                "members": [{"chassis": "moonshot-1", "nodes": ["c1-30n1"]}],
                "addressing": {"range": {"start": "10.28.36.10", "end": "10.28.36.250"}},
                "dhcp": {
                    "namespace": "kubefarm",
                    "setTags": ["cluster-a"],
                    "leaseTime": "infinite",
                },
            },
        },
        {
            "apiVersion": "chassisd.io/v1alpha1",
            "kind": "NodePool",
            "metadata": {"name": "cluster-b"},
            "spec": {
                "members": [{"chassis": "moonshot-2", "nodes": ["all"]}],
                "addressing": {"range": {"start": "10.28.37.10", "end": "10.28.37.250"}},
                "dhcp": {
                    "namespace": "kubefarm",
                    "setTags": ["cluster-b"],
                    "leaseTime": "infinite",
                },
            },
        },
        {
            "apiVersion": "chassisd.io/v1alpha1",
            "kind": "NodePool",
            "metadata": {"name": "unknown-nodes"},
            "spec": {"catchAll": True, "dhcp": {"namespace": "kubefarm", "leaseTime": "1h"}},
        },
    ]
    return [secret_creds, secret_hosts, *chassis, *pools]


@contextmanager
def simulator(spec_file: Path, name: str, workdir: Path) -> Iterator[tuple[int, str]]:
    """Run ``chassisctl sim moonshot`` for one chassis; yield (port, known_hosts line)."""
    known_hosts = workdir / f"{name}.known_hosts"
    known_hosts.unlink(missing_ok=True)
    argv = [
        sys.executable, "-m", "chassisd.cli", "sim", "moonshot", "--listen", "127.0.0.1:0",
        "--name", name, "--spec", str(spec_file), "--host-key", str(workdir / f"{name}.hostkey"),
        "--known-hosts-out", str(known_hosts), "--power-delay", "1",
    ]  # fmt: skip
    print(f"$ {shlex.join(['chassisctl', *argv[3:]])} &")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"simulator {name} did not start: {line!r}")
        print(f"  {line.strip()}")
        port = int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1])
        deadline = time.monotonic() + READY_TIMEOUT
        while not known_hosts.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield port, known_hosts.read_text().strip()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(title: str, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run one step as a user would, echoing the command and its output."""
    print(f"\n== {title}\n$ {shlex.join(_user_view(argv))}")
    result = subprocess.run(argv, text=True, capture_output=True, check=False)
    sys.stdout.write(result.stdout)
    sys.stdout.write(result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"demo step failed (exit {result.returncode}): {title}")
    return result


def _user_view(argv: Sequence[str]) -> list[str]:
    """``python -m chassisd.cli …`` → ``chassisctl …`` (and the same for chassisd)."""
    if len(argv) > 2 and argv[1] == "-m":
        tool = {"chassisd.cli": "chassisctl", "chassisd.daemon": "chassisd"}[argv[2]]
        return [tool, *argv[3:]]
    return list(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole demo in ``--workdir`` (default ``.cache/demo``)."""
    parser = argparse.ArgumentParser(prog="chassisd.demo")
    parser.add_argument("--workdir", type=Path, default=Path(".cache/demo"))
    args = parser.parse_args(argv)
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "out"
    first, second = demo_specs()
    specs = {}
    for spec in (first, second):
        path = workdir / f"{spec.name}.spec.yaml"
        path.write_text(yaml.safe_dump(spec.to_mapping(), sort_keys=False))
        specs[spec.name] = path
    print("== starting two simulated Moonshot chassis")
    with (
        simulator(specs["moonshot-1"], "moonshot-1", workdir) as (port1, keys1),
        simulator(specs["moonshot-2"], "moonshot-2", workdir) as (port2, keys2),
    ):
        config = workdir / "config.yaml"
        docs = config_documents({"moonshot-1": port1, "moonshot-2": port2}, f"{keys1}\n{keys2}\n")
        config.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        print(f"  wrote {config}")
        ctl = [sys.executable, "-m", "chassisd.cli", "--config", str(config)]
        run("inventory of both chassis", [*ctl, "nodes"])
        started = time.monotonic()
        run(
            "one standalone sync: DhcpHosts YAML and a dnsmasq dhcp-hostsfile",
            [sys.executable, "-m", "chassisd.daemon", "run", "--config", str(config),
             "--output-dir", str(output), "--once"],
        )  # fmt: skip
        print(f"  (sync took {time.monotonic() - started:.2f} s including start-up)")
        for path in [*sorted(output.glob("dhcphosts/*.yaml")), output / "dhcp-hostsfile"]:
            lines = path.read_text().splitlines()
            print(f"--- {path} ({len(lines)} lines), first lines:")
            print("\n".join(lines[:12]))
        run("power: c1n43-1 is cartridge 43 of moonshot-1", [*ctl, "power", "status", "c1n43-1"])
        run("power on c1n43-1", [*ctl, "power", "on", "c1n43-1"])
        run("read it back", [*ctl, "power", "status", "c1n43-1"])
    print("\ndemo finished; simulators stopped. Files are in", workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
