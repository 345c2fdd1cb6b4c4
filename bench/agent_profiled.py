"""``chassisd`` under a profiler: cProfile in every thread, tracemalloc on demand.

Owns ``python -m bench.agent_profiled DIR cpu|memory chassisd-args...`` (what
``--profile-agent DIR`` and ``--profile-memory DIR`` run instead of ``python -m
chassisd.daemon``).

- ``cpu``: cProfile sees only the thread that enables it, and the agent works on scheduler,
  watch and paramiko threads, so every new thread gets its own profile (``threading.setprofile``
  hands each thread a hook that enables one); all are merged into ``DIR/agent.prof`` and a text
  summary, ``DIR/agent-profile.txt``, when the agent exits. The timer is each thread's own CPU
  time, so waiting (for the network, a lock or the GIL) does not count. ``SIGUSR2`` marks a
  window: the first one takes a snapshot of every profile, the second writes what was spent
  between the two to ``DIR/agent-window.prof`` and ``DIR/agent-window-profile.txt`` (the
  runner marks the steady sweep this way).
- ``memory`` (``memory:N`` keeps N frames per allocation, default 1): tracemalloc from the
  start, and a watcher thread that takes a snapshot each time the traced memory reaches a new
  high (5 % above the last one taken), so the report shows what was held at the peak, not only
  at the end. ``SIGUSR1`` writes both, by line, by call stack (with N > 1) and by file, with the
  process's RSS beside each, to ``DIR/agent-memory.txt``.

Both slow the agent down (cProfile about 2x, tracemalloc more): figures from a profiled run are
for finding where time and memory go, not for the table.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

from chassisd import daemon

# One frame per allocation unless asked: with deeper stacks a 1,000-chassis snapshot took over
# 10 minutes (200 chassis with 8 frames take well under one).
TRACE_FRAMES = 1
#: A new peak snapshot is taken once the traced memory exceeds the last one by this share.
PEAK_STEP = 1.05
PEAK_CHECK_S = 0.5


def _rss_mib() -> tuple[float, float]:
    """This process's (VmRSS, VmHWM) in MiB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


class _Snapshots:
    """tracemalloc snapshots: the latest at a new high of traced memory, and on demand."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.peak: tuple[tracemalloc.Snapshot, int, float, float] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def take() -> tuple[tracemalloc.Snapshot, int, float, float]:
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        traced = tracemalloc.get_traced_memory()[0]
        rss, hwm = _rss_mib()
        return snapshot, traced, rss, hwm

    def watch(self) -> None:
        """Snapshot at every new high of traced memory (runs on a daemon thread)."""
        taken_at = 0
        while True:
            time.sleep(PEAK_CHECK_S)
            current = tracemalloc.get_traced_memory()[0]
            if current > taken_at * PEAK_STEP:
                taken = self.take()
                taken_at = taken[1]
                with self._lock:
                    self.peak = taken

    def report(self, out: Path) -> None:
        now = self.take()
        with self._lock:
            peak = self.peak
        current, traced_peak = tracemalloc.get_traced_memory()
        lines = [f"traced now {current / 2**20:.1f} MiB, peak {traced_peak / 2**20:.1f} MiB", ""]
        for title, taken in (("AT THE TRACED PEAK", peak), ("NOW", now)):
            if taken is None:
                continue
            snapshot, traced, rss, hwm = taken
            lines.append(
                f"=== {title}: traced {traced / 2**20:.1f} MiB, RSS {rss:.1f} MiB "
                f"(peak RSS so far {hwm:.1f} MiB)"
            )
            lines.append("top 40 by line:")
            lines += [str(stat) for stat in snapshot.statistics("lineno")[:40]]
            if self.frames > 1:
                lines.append("")
                lines.append(f"top 15 by call stack ({self.frames} frames):")
                for stat in snapshot.statistics("traceback")[:15]:
                    lines.append(f"{stat.size / 2**20:.1f} MiB in {stat.count} blocks")
                    lines += ["    " + frame for frame in stat.traceback.format()]
            lines.append("")
            lines.append("top 25 by file:")
            lines += [str(stat) for stat in snapshot.statistics("filename")[:25]]
            lines.append("")
        partial = out / "agent-memory.txt.partial"
        partial.write_text("\n".join(lines) + "\n")
        partial.rename(out / "agent-memory.txt")  # appears whole: the runner waits for it


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out, mode, chassisd_args = Path(args[0]), args[1], args[2:]
    out.mkdir(parents=True, exist_ok=True)
    if mode.startswith("memory"):
        frames = int(mode.partition(":")[2] or TRACE_FRAMES)
        daemon.limit_malloc_arenas()  # as the agent does, before the watcher thread starts
        tracemalloc.start(frames)
        snapshots = _Snapshots(frames)
        threading.Thread(target=snapshots.watch, daemon=True, name="memory-peaks").start()
        signal.signal(signal.SIGUSR1, lambda _signum, _frame: snapshots.report(out))
        return daemon.main(chassisd_args)
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    window: list[RawStats] = []

    def thread_hook(_frame: FrameType, _event: str, _arg: Any) -> None:
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        profile.enable()  # replaces this hook for the rest of this thread's life

    def mark(_signum: int, _frame: FrameType | None) -> None:
        with lock:
            window.append(_merged(profiles))
        if len(window) == 2:
            _write(_Raw(_minus(window[1], window[0])), out / "agent-window")

    signal.signal(signal.SIGUSR2, mark)
    threading.setprofile(thread_hook)
    main_profile = cProfile.Profile(time.thread_time)
    profiles.append(main_profile)
    main_profile.enable()
    try:
        return daemon.main(chassisd_args)
    finally:
        main_profile.disable()
        threading.setprofile(None)
        with lock:
            for profile in profiles:
                profile.disable()
            whole = _merged(profiles)
        _write(_Raw(whole), out / "agent")


#: pstats' raw form: (file, line, function) → (primitive calls, calls, own time, cumulative
#: time, callers → their four figures).
RawStats = dict[tuple[str, int, str], tuple[int, int, float, float, dict[Any, Any]]]


class _Raw:
    """Raw stats in the shape ``pstats.Stats`` loads (a profiler with ``create_stats``)."""

    def __init__(self, stats: RawStats) -> None:
        self.stats = stats

    def create_stats(self) -> None:
        return None


def _merged(profiles: list[cProfile.Profile]) -> RawStats:
    """Every profile's figures so far, added up (profiles keep running)."""
    total: RawStats = {}
    for profile in profiles:
        profile.snapshot_stats()  # unlike create_stats, leaves the profile enabled
        for func, (cc, nc, tt, ct, callers) in profile.stats.items():  # type: ignore[attr-defined]
            if func in total:
                c0, n0, t0, u0, callers0 = total[func]
                merged = dict(callers0)
                for caller, figures in callers.items():
                    merged[caller] = (
                        tuple(a + b for a, b in zip(merged[caller], figures, strict=True))
                        if caller in merged
                        else figures
                    )
                total[func] = (c0 + cc, n0 + nc, t0 + tt, u0 + ct, merged)
            else:
                total[func] = (cc, nc, tt, ct, dict(callers))
    return total


def _minus(later: RawStats, earlier: RawStats) -> RawStats:
    """What was spent between two snapshots."""
    result: RawStats = {}
    for func, (cc, nc, tt, ct, callers) in later.items():
        c0, n0, t0, u0, callers0 = earlier.get(func, (0, 0, 0.0, 0.0, {}))
        if nc - n0 <= 0 and tt - t0 <= 0:
            continue
        spent = {}
        for caller, figures in callers.items():
            before = callers0.get(caller)
            diff = figures
            if before is not None:
                diff = tuple(a - b for a, b in zip(figures, before, strict=True))
            if diff[1] > 0:
                spent[caller] = diff
        result[func] = (cc - c0, nc - n0, tt - t0, ct - u0, spent)
    return result


def _write(raw: _Raw, base: Path) -> None:
    """``base.prof`` (pstats) and ``base-profile.txt`` (by own time, then cumulative)."""
    stats = pstats.Stats(raw)  # type: ignore[arg-type]
    stats.dump_stats(str(base.with_suffix(".prof")))
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(60)
    stats.sort_stats("cumulative").print_stats(80)
    base.with_name(base.name + "-profile.txt").write_text(text.getvalue())


if __name__ == "__main__":
    sys.exit(main())
