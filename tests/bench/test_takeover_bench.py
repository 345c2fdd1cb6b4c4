"""The takeover benchmark runs end to end: two real replicas, one killed and one stopped, and it
reports both takeovers (the README's takeover figure comes from this measurement)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.takeover import measure
from chassisd.kube.leader import LeaderElectionSettings

pytestmark = [pytest.mark.kube, pytest.mark.slow]


def test_a_killed_leader_is_replaced_after_its_lease_and_a_stopped_one_at_once(
    tmp_path: Path,
) -> None:
    """SIGKILL leaves the Lease held, so the follower waits for it to expire; SIGTERM releases
    it, so the follower takes over at its next retry, well before."""
    result = measure(1, tmp_path)
    killed, stopped = result["killed"]["max_s"], result["stopped"]["max_s"]
    lease, retry = LeaderElectionSettings.lease_duration, LeaderElectionSettings.retry_period
    assert lease - 2 * retry <= killed, result
    assert stopped < lease - 2 * retry, result
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"replica-{i}.log" for i in (1, 2, 3, 4)]
