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


def test_free_memory_is_given_back_on_glibc() -> None:
    """``trim_malloc`` reaches glibc's ``malloc_trim`` (the agent calls it every
    ``MALLOC_TRIM_INTERVAL``), and after it a freed burst of large blocks no longer counts in
    the resident size."""
    script = (
        "import gc\n"
        "from chassisd.daemon import limit_malloc_arenas, trim_malloc\n"
        "limit_malloc_arenas()\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1])\n"
        "base = rss()\n"
        "burst, pins = [], []\n"
        "for _ in range(2000):\n"  # small live blocks between the large ones pin the heap top
        "    burst.append(bytearray(100_000)); pins.append(bytearray(600))\n"
        "peak = rss()\n"
        "del burst; gc.collect()\n"
        "held = rss()\n"
        "print(trim_malloc(), base, peak, held, rss())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    trimmed, base, peak, held, after = out.stdout.split()
    assert trimmed == "True"
    assert int(peak) - int(base) > 150_000  # the burst was resident (KiB)
    assert int(held) - int(base) > 150_000  # freed, but held between the pins
    assert int(after) - int(base) < 20_000  # given back by the trim
