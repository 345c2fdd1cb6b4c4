"""``chassisd`` caps glibc's malloc arenas unless the operator chose a number."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from chassisd.daemon import limit_malloc_arenas

_CHECK = "from chassisd.daemon import limit_malloc_arenas as f; print(f())"


def test_operator_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """With MALLOC_ARENA_MAX in the environment, mallopt is not called."""
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def test_cap_is_set_on_glibc() -> None:
    """On glibc (Debian, the image's base) mallopt accepts the cap; run in a fresh process so
    this test run's own allocator is left alone."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", _CHECK], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"
