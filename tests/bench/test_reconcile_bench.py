"""``python -m bench.reconcile`` runs on a small farm and reports what it promises."""

from __future__ import annotations

import json

import pytest

from bench import reconcile


def test_reconcile_bench_reports_full_and_incremental_planning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """200 chassis, 4 changes: every figure is there, each change re-plans about one pool,
    and an incremental update costs far less than a full plan."""
    assert reconcile.main(["--chassis", "200", "--changes", "4", "--full-runs", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["chassis"] == 200 and result["pools"] == 21
    assert result["changes"] == 4
    assert 1 <= result["pools_changed_per_change"] <= 2
    assert result["incremental_update_ms"] * 5 < result["full_plan_pools_ms"]
    assert result["planner_state_mb"] > 0
