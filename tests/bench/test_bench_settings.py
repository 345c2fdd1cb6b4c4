"""The fleet benchmark's command line: every option parses into the settings it names."""

from __future__ import annotations

import pytest

from bench.settings import parse_settings


def test_the_full_size_command_line_parses() -> None:
    s = parse_settings(["--chassis", "1000", "--baseline-chassis", "100",
                        "--running-power-samples", "2", "--force-off-delay", "0.5",
                        "--profile-frames", "4"])  # fmt: skip
    assert (s.chassis, s.baseline_chassis, s.running_power_samples) == (1000, 100, 2)
    assert s.force_off_delay == 0.5 and s.profile_frames == 4
    assert s.workers is None  # auto: the agent derives them
    assert s.new_node_samples >= 10


def test_workers_are_auto_or_a_number() -> None:
    assert parse_settings(["--workers", "auto"]).workers is None
    assert parse_settings(["--workers", "32"]).workers == 32
    with pytest.raises(SystemExit):
        parse_settings(["--workers", "many"])
