"""The bench reads the agent's incremental reconcile CPU from the agent's own exposition."""

from __future__ import annotations

import math

from prometheus_client.exposition import generate_latest

from bench.agentproc import parse_metrics
from chassisd.metrics import Metrics


def test_incremental_reconcile_cpu_is_read_and_bounded_by_its_bucket() -> None:
    metrics = Metrics(version="test")
    metrics.observe_reconcile(1.2, full=True)  # a full plan: not an incremental figure
    before = parse_metrics(generate_latest(metrics.registry).decode())
    for seconds in (0.004, 0.012, 0.03):
        metrics.observe_reconcile(seconds, full=False)
    after = parse_metrics(generate_latest(metrics.registry).decode())
    window = after.minus(before)
    assert window.reconciles == 3
    assert math.isclose(window.reconcile_cpu_s, 0.046)
    assert window.reconcile_cpu_bound() == 0.05  # all three under the 50 ms bucket
    metrics.observe_reconcile(0.07, full=False)
    worse = parse_metrics(generate_latest(metrics.registry).decode()).minus(before)
    assert worse.reconcile_cpu_bound() == 0.1
    assert math.isnan(before.minus(before).reconcile_cpu_bound())
