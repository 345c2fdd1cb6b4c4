"""``python -m bench.powersoak``: PowerActions under an API fault mix, every command counted.

Owns the power soak: a real kube-apiserver, simulated Moonshot chassis, the cluster agent
(``chassisd.cluster.Manager``, in process) talking to the API server only through Toxiproxy,
and ``--actions`` PowerActions (``off``, one per node, so a second command to a node shows as
a duplicate; spread round robin over the chassis) created while the fault mix cycles: responses
reset, requests reset, a black hole, high latency, and the API server unreachable. A first,
fault-free round of ``--baseline`` actions, one at a time, measures how long an action takes on
the device alone; under load, actions also wait for the others on the same chassis (one
conversation at a time).

Figures: actions created and their final phases, device commands sent, duplicates (commands
beyond one per node; must be 0), actions that ended Unknown, and the time from creation to a
final phase — mean and worst — beyond the fault-free baseline. Must not assert: it reports, and
its exit code says only whether it ran (and whether duplicates were found).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chassisd.cluster.manager import Manager
from chassisd.cluster.settings import AgentSettings, PollSettings, ReconcileSettings
from chassisd.cluster.status import TERMINAL_PHASES
from chassisd.kube.gateway import POWERACTION, KubeGateway
from chassisd.metrics import Metrics
from chassisd.poller import RetryPolicy
from chassisd.registry import Registry
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec, CommandKind, Timing
from chassisd.testing import wait_until
from chassisd.testing.controlplane import api_client, start_control_plane
from chassisd.testing.toxiproxy import (
    Latency,
    Proxy,
    ResetPeer,
    Timeout,
    ToxiproxyClient,
    start_toxiproxy,
)
from chassisd.timestamps import parse_time

API = "chassisd.io/v1alpha1"
SENDS = (CommandKind.POWER_ON, CommandKind.POWER_OFF, CommandKind.POWER_OFF_FORCE)
#: The fault mix, cycled while actions are created and carried out: (name, seconds, toxics or
#: None for "proxy disabled": the API server unreachable).
FAULTS: tuple[tuple[str, float, list[tuple[Any, str, float]] | None], ...] = (
    ("answers reset", 6.0, [(ResetPeer(timeout_ms=0), "downstream", 0.3)]),
    ("clean", 2.0, []),
    ("requests reset", 6.0, [(ResetPeer(timeout_ms=0), "upstream", 0.3)]),
    ("black hole", 5.0, [(Timeout(timeout_ms=1500), "downstream", 0.3)]),
    ("slow API", 6.0, [(Latency(latency_ms=800, jitter_ms=300), "downstream", 1.0)]),
    ("API unreachable", 4.0, None),
    ("clean", 2.0, []),
)


@dataclass(frozen=True)
class SoakFigures:
    """What one soak measured."""

    actions: int
    phases: dict[str, int]
    commands_sent: int
    nodes_powered_off: int
    duplicates: int
    unknown: int
    baseline_mean_s: float
    mean_beyond_baseline_s: float
    worst_beyond_baseline_s: float
    fault_cycles: int
    seconds: float


def _farm(gateway: KubeGateway, namespace: str, sims: Sequence[SimHandle]) -> None:
    known = "\n".join(s.known_hosts_line for s in sims) + "\n"
    for name, data in (("creds", {"username": "admin", "password": "password"}),
                       ("hostkeys", {"known_hosts": known})):  # fmt: skip
        meta = {"name": name, "namespace": namespace}
        gateway.create({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": data})
    for index, sim in enumerate(sims, start=1):
        gateway.create({
            "apiVersion": API, "kind": "Chassis",
            "metadata": {"name": f"m{index}", "namespace": namespace},
            "spec": {"driver": "moonshot", "address": f"127.0.0.1:{sim.port}",
                     "credentialsSecretRef": {"name": "creds"},
                     "knownHostsSecretRef": {"name": "hostkeys"}, "pollInterval": "20s",
                     "connectTimeout": "5s", "commandTimeout": "5s"},
        })  # fmt: skip
    gateway.create({"apiVersion": API, "kind": "NodePool",
                    "metadata": {"name": "all", "namespace": namespace},
                    "spec": {"catchAll": True, "dhcp": {"namespace": namespace}}})  # fmt: skip


def _create(gateway: KubeGateway, namespace: str, name: str, node: str) -> None:
    gateway.create({"apiVersion": API, "kind": "PowerAction",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"node": node, "action": "off", "deadlineSeconds": 900}})  # fmt: skip


def _finished(gateway: KubeGateway, namespace: str, names: set[str]) -> dict[str, dict[str, Any]]:
    items, _ = gateway.list(POWERACTION, namespace)
    return {
        i["metadata"]["name"]: i
        for i in items
        if i["metadata"]["name"] in names
        and (i.get("status") or {}).get("phase") in TERMINAL_PHASES
    }


def _any_finished(gateway: KubeGateway, namespace: str, name: str) -> bool:
    return bool(_finished(gateway, namespace, {name}))


def _durations(objs: Sequence[dict[str, Any]]) -> list[float]:
    out = []
    for obj in objs:
        created = parse_time(obj["metadata"]["creationTimestamp"])
        done = parse_time((obj.get("status") or {}).get("completionTime"))
        if created and done:
            out.append((done - created).total_seconds())
    return out


def _nodes_off(sims: Sequence[SimHandle]) -> int:
    return sum(1 for s in sims for node_id, _ in s.spec.nodes() if not s.is_powered_on(node_id))


def _cycle_faults(proxy: Proxy, stop: threading.Event, cycles: list[int]) -> None:
    while not stop.is_set():
        for _name, seconds, toxics in FAULTS:
            if stop.is_set():
                break
            if toxics is None:
                proxy.disable()
            else:
                for i, (toxic, stream, toxicity) in enumerate(toxics):
                    proxy.add_toxic(toxic, stream=stream, toxicity=toxicity, name=f"soak{i}")  # type: ignore[arg-type]
            stop.wait(seconds)
            if toxics is None:
                proxy.enable()
            else:
                for i in range(len(toxics)):
                    proxy.remove_toxic(f"soak{i}")
        cycles[0] += 1


def run(actions: int, baseline: int, chassis: int) -> SoakFigures:
    """Run one soak and return its figures (progress on stderr)."""
    started = time.monotonic()
    with ExitStack() as stack:
        cp = stack.enter_context(start_control_plane())
        server = stack.enter_context(start_toxiproxy())
        client = stack.enter_context(ToxiproxyClient(server.url))
        proxy = client.create_proxy("kube-apiserver", urlsplit(cp.server).netloc)
        admin = stack.enter_context(api_client(cp))
        faulty = stack.enter_context(api_client(cp, server=f"https://{proxy.listen}"))
        sims = [
            stack.enter_context(MoonshotSimulator(ChassisSpec.generate(
                f"m{i}", seed=7, chassis_index=i, multi_node=0.0, fill=1.0)).running())
            for i in range(1, chassis + 1)
        ]  # fmt: skip
        for sim in sims:
            sim.set_timing(Timing(power_delay=0.2))
        off_before = _nodes_off(sims)
        gateway = KubeGateway(admin)
        namespace = f"soak-{int(time.time())}"
        gateway.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        _farm(gateway, namespace, sims)
        settings = AgentSettings(
            namespace=namespace,
            identity="soak",
            poll=PollSettings(retry=RetryPolicy(attempts=1)),
            reconcile=ReconcileSettings(interval=1.0, relist_interval=60),
        )
        manager = Manager(KubeGateway(faulty, request_timeout=3.0), Registry(), Metrics(), settings)
        manager.start(leading=True)
        stack.callback(manager.stop)
        per_chassis = [
            [f"m{c}-{node_id}" for node_id, _ in sim.spec.nodes() if sim.is_powered_on(node_id)]
            for c, sim in enumerate(sims, start=1)
        ]
        # Round robin over the chassis: actions on one chassis wait for each other (one device
        # conversation per chassis), so consecutive actions go to different chassis.
        nodes = [n for group in itertools.zip_longest(*per_chassis) for n in group if n]
        total = baseline + actions
        if total > len(nodes):
            raise SystemExit(f"{total} actions need {total} nodes that are on; {len(nodes)} are")

        def polled() -> bool:
            return len(manager.memory.of_namespace(namespace)) == sum(
                1 for sim in sims for _ in sim.spec.nodes()
            )

        if not wait_until(polled, timeout=120):
            raise SystemExit("the agent did not poll every chassis in 120 s")
        print(f"soak: {len(nodes)} nodes known; baseline of {baseline}", file=sys.stderr)
        base_names = {f"base-{i}" for i in range(baseline)}
        for i in range(baseline):  # one at a time: the device's own time, nothing queued
            _create(gateway, namespace, f"base-{i}", nodes[i])
            wait_until(partial(_any_finished, gateway, namespace, f"base-{i}"), 60, interval=0.1)
        base = _durations(list(_finished(gateway, namespace, base_names).values()))
        print(f"soak: {actions} actions under the fault mix", file=sys.stderr)
        stop, cycles = threading.Event(), [0]
        faults = threading.Thread(target=_cycle_faults, args=(proxy, stop, cycles), daemon=True)
        faults.start()
        names = {f"soak-{i}" for i in range(actions)}
        for i in range(actions):
            _create(gateway, namespace, f"soak-{i}", nodes[baseline + i])
            time.sleep(0.1)
        wait_until(lambda: len(_finished(gateway, namespace, names)) == actions, 600, interval=2.0)
        stop.set()
        faults.join(timeout=30)
        proxy.enable()
        time.sleep(3)  # anything still in flight would show as an extra command now
        done = _finished(gateway, namespace, names)
        sent = sum(s.stats.commands_by_kind.get(k, 0) for s in sims for k in SENDS)
        turned_off = _nodes_off(sims) - off_before  # each node got one off, on at the start
        phases: dict[str, int] = {}
        for obj in done.values():
            phase = obj["status"]["phase"]
            phases[phase] = phases.get(phase, 0) + 1
        phases["unfinished"] = actions - len(done)
        base_mean = statistics.fmean(base) if base else 0.0
        beyond = [d - base_mean for d in _durations(list(done.values()))]
        return SoakFigures(
            actions=actions,
            phases=phases,
            commands_sent=sent,
            nodes_powered_off=turned_off,
            duplicates=sent - turned_off,
            unknown=phases.get("Unknown", 0),
            baseline_mean_s=round(base_mean, 2),
            mean_beyond_baseline_s=round(statistics.fmean(beyond), 2) if beyond else 0.0,
            worst_beyond_baseline_s=round(max(beyond), 2) if beyond else 0.0,
            fault_cycles=cycles[0],
            seconds=round(time.monotonic() - started, 1),
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the soak, print the figures as JSON, optionally save them."""
    parser = argparse.ArgumentParser(prog="python -m bench.powersoak", description=__doc__)
    parser.add_argument("--actions", type=int, default=200, help="actions under faults")
    parser.add_argument("--baseline", type=int, default=20, help="fault-free actions first")
    parser.add_argument("--chassis", type=int, default=5, help="simulated chassis (45 nodes)")
    parser.add_argument("--save", type=Path, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    figures = run(args.actions, args.baseline, args.chassis)
    text = json.dumps(asdict(figures), indent=2)
    print(text)
    if args.save:
        args.save.write_text(text + "\n")
    return 1 if figures.duplicates else 0


if __name__ == "__main__":
    sys.exit(main())
