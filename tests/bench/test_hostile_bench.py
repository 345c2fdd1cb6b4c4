"""The hostile-device benchmark's acceptance, at its smallest: 400 MB of output costs the agent
process (``chassisd run --once`` as a child, ``ru_maxrss``) no more than the output cap plus a
few MiB over a healthy poll of the same chassis, over SSH and over HTTPS."""

from __future__ import annotations

from pathlib import Path

from bench.hostile import CAP, MIB, REST_CASES, SSH_CASES, measure, rest_chassis, ssh_chassis
from chassisd.sim.moonshot.model import ChassisSpec

SLACK_MIB = 8.0


def test_400_mb_of_output_costs_at_most_the_cap_and_a_few_mib(tmp_path: Path) -> None:
    """Healthy, then 400 MB after the answer: exit 4 for the flood, and peak RSS above the
    healthy run within cap + 8 MiB, for the SSH and the REST driver."""
    spec = ChassisSpec.generate("c1", seed=3, multi_node=0.2)
    ssh = {k: SSH_CASES[k] for k in ("healthy", "400 MB after the listing")}
    rest = {k: REST_CASES[k] for k in ("healthy", "400 MB after a system")}
    figures = measure("moonshot", ssh_chassis(spec), ssh, tmp_path)
    figures += measure("moonshot-rest", rest_chassis(spec), rest, tmp_path)
    assert [f.exit_code for f in figures] == [0, 4, 0, 4]
    for figure in figures:
        assert figure.rss_above_healthy_mib <= CAP / MIB + SLACK_MIB, figure
        assert "limit" in figure.last_line or figure.case == "healthy", figure
