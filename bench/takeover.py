"""Leader takeover, measured: how long two ``chassisd run`` replicas leave a farm without a leader.

Owns one measurement: on the real kube-apiserver + etcd, two replicas with leader election and
the default Lease timings (15 s lease, 10 s renew deadline, 2 s retry period — ``--lease-*``
defaults of the daemon); the leader is stopped, and the time until the other replica's
``/metrics`` says ``chassisd_leader 1`` is taken. Two ways, each repeated ``--rounds`` times:

- **killed** (SIGKILL, as a node failure or an OOM kill): nothing is released, the follower
  waits until the Lease it last saw change is ``leaseDurationSeconds`` old;
- **stopped** (SIGTERM, as a rolling update): the leader releases the Lease on its way out
  and the follower takes it at its next retry.

After each round the stopped replica is replaced by a new one, so two replicas always run. The
farm holds no Chassis: takeover is the Lease alone (what the new leader then does first — list,
poll, reconcile — is timed by the fleet benchmark).

Run as ``python -m bench.takeover [--rounds N] [--json PATH]``. Must not: reach into the agent;
everything is read from outside (its ``/metrics``), as an operator would.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.agentproc import AgentProcess
from bench.farm import create_namespace
from bench.settings import RESULTS_DIR
from chassisd.kube.leader import LeaderElectionSettings
from chassisd.testing.controlplane import api_client, start_control_plane

POLL = 0.05  # how often the follower's /metrics is read while waiting for it to lead
WAIT = 60.0  # a takeover slower than this is a failure of the run, not a figure


def _first_leader(agents: Sequence[AgentProcess]) -> AgentProcess:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for agent in agents:
            if agent.leading():
                return agent
        time.sleep(POLL)
    raise RuntimeError(f"no replica led within {WAIT:.0f} s")


def _takeover(leader: AgentProcess, follower: AgentProcess, how: str) -> float:
    """Stop ``leader`` (``how``: killed or stopped); seconds until ``follower`` leads."""
    time.sleep(3.0)  # a few renewals first, so the follower has seen the Lease held
    started = time.monotonic()
    if how == "killed":
        leader.kill()
    else:
        leader.stop()
    while time.monotonic() - started < WAIT:
        if follower.leading():
            return time.monotonic() - started
        time.sleep(POLL)
    raise RuntimeError(f"the follower did not lead within {WAIT:.0f} s of the leader {how}")


def _summary(samples: list[float]) -> dict[str, Any]:
    return {
        "samples_s": [round(s, 2) for s in samples],
        "min_s": round(min(samples), 2),
        "median_s": round(statistics.median(samples), 2),
        "max_s": round(max(samples), 2),
    }


def measure(rounds: int, log_dir: Path) -> dict[str, Any]:
    """Both ways, ``rounds`` times each, on a control plane of its own."""
    results: dict[str, list[float]] = {"killed": [], "stopped": []}
    with start_control_plane() as cp:
        with api_client(cp) as api:
            namespace = create_namespace(api)
        counter = 0

        def replica() -> AgentProcess:
            nonlocal counter
            counter += 1
            agent = AgentProcess(
                kubeconfig=cp.kubeconfig,
                namespace=namespace,
                workers=1,
                log_path=log_dir / f"replica-{counter}.log",
                identity=f"replica-{counter}",
                leader_election=True,
            )
            agent.start()
            return agent

        agents = [replica(), replica()]
        try:
            for how in ("killed", "stopped") * rounds:
                leader = _first_leader(agents)
                follower = next(a for a in agents if a is not leader)
                seconds = _takeover(leader, follower, how)
                results[how].append(seconds)
                print(f"{how}: the follower led after {seconds:.2f} s", file=sys.stderr)
                leader.stop()
                agents = [follower, replica()]
        finally:
            for agent in agents:
                agent.stop()
    return {
        "lease": {  # the daemon's defaults, which the replicas run with
            "duration_s": LeaderElectionSettings.lease_duration,
            "renew_deadline_s": LeaderElectionSettings.renew_deadline,
            "retry_period_s": LeaderElectionSettings.retry_period,
        },
        "rounds": rounds,
        "killed": _summary(results["killed"]),
        "stopped": _summary(results["stopped"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.takeover", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="takeovers of each kind")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "takeover.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chassisd-takeover-") as logs:
        result = measure(args.rounds, Path(logs))
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
