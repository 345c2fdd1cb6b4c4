"""The ``--workers auto`` rule: poll workers from the fleet size, intervals and poll time."""

from __future__ import annotations

import math

import pytest

from chassisd.config.documents import parse_documents
from chassisd.farm import Farm
from chassisd.registry import Registry
from chassisd.workers import (
    EXPECTED_POLL_SECONDS,
    MAX_WORKERS,
    MIN_WORKERS,
    SWEEP_WINDOW,
    UTILISATION,
    PollDurations,
    parse_workers,
    poll_workers,
    sweep_rate,
)


def test_workers_cover_the_fleet_within_its_window_at_half_load() -> None:
    """200 chassis every 30 s with 1 s polls need 200/30 workers busy, twice that with the
    headroom: 14; each then does its share of a round in half the window."""
    rate = sweep_rate([30.0] * 200)
    assert rate == pytest.approx(200 / 30)
    workers = poll_workers(rate, 1.0)
    assert workers == math.ceil(200 / 30 / UTILISATION) == 14
    assert 200 / workers * 1.0 <= 30 * UTILISATION + 1.0


def test_the_window_is_at_most_a_minute_so_a_first_sweep_ends_soon() -> None:
    """The default 5-minute interval still gets a round (a start, a new leader) done within
    ``SWEEP_WINDOW``: 1,000 chassis of 1 s polls need 34 workers, not 7."""
    assert SWEEP_WINDOW == 60.0
    assert poll_workers(sweep_rate([300.0] * 1000)) == math.ceil(1000 / 60 / UTILISATION) == 34


def test_slower_polls_mean_more_workers_and_the_bounds_hold() -> None:
    """Twice the poll time, twice the workers; a tiny farm gets the minimum, a huge one the
    maximum; mixed intervals add up chassis by chassis."""
    rate = sweep_rate([60.0] * 300)
    assert poll_workers(rate, 2.0) == 2 * poll_workers(rate, 1.0) == 20
    assert poll_workers(sweep_rate([300.0]), EXPECTED_POLL_SECONDS) == MIN_WORKERS
    assert poll_workers(sweep_rate([30.0] * 1000)) == MAX_WORKERS  # 67 wanted
    assert sweep_rate([30.0, 60.0, 600.0]) == pytest.approx(1 / 30 + 1 / 60 + 1 / 60)
    assert poll_workers(0.0) == MIN_WORKERS


def test_workers_flag_takes_auto_or_a_positive_number() -> None:
    """``auto`` (any case) is None; a number wins as given; anything else is refused."""
    assert parse_workers("auto") is None and parse_workers("AUTO") is None
    assert parse_workers("48") == 48
    for bad in ("0", "-3", "many", ""):
        with pytest.raises(ValueError, match="auto"):
            parse_workers(bad)


def test_poll_durations_follow_the_polls_gradually() -> None:
    """The average starts at the expectation and moves a tenth of the way per poll."""
    durations = PollDurations()
    assert durations.average == EXPECTED_POLL_SECONDS
    assert durations.observe(3.0) == pytest.approx(1.2)
    for _ in range(100):
        durations.observe(0.5)
    assert durations.average == pytest.approx(0.5, abs=0.01)


def test_the_standalone_farm_uses_the_rule_unless_given_a_number() -> None:
    """``chassisd run --config`` polls as many chassis at once as the rule gives for the
    configured chassis and intervals (paused ones left out); ``--workers N`` wins."""
    documents = [
        {
            "apiVersion": "chassisd.io/v1alpha1",
            "kind": "Chassis",
            "metadata": {"name": f"m{i}"},
            "spec": {
                "driver": "moonshot",
                "address": f"10.0.0.{i + 1}",
                "credentialsSecretRef": {"name": "creds"},
                "insecureSkipVerify": True,
                "pollInterval": "20s",
                "paused": i >= 60,
            },
        }
        for i in range(70)
    ]
    documents.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"username": "admin", "password": "password"},
        }
    )
    config = parse_documents(documents)
    assert Farm(config, Registry()).concurrency == poll_workers(60 / 20) == 6
    assert Farm(config, Registry(), concurrency=2).concurrency == 2
