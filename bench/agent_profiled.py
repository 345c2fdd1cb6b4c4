"""``chassisd`` under a profiler: cProfile in every thread, tracemalloc on demand.

Owns ``python -m bench.agent_profiled DIR cpu|memory chassisd-args...`` (what
``--profile-agent DIR`` and ``--profile-memory DIR`` run instead of ``python -m
chassisd.daemon``).

- ``cpu``: cProfile sees only the thread that enables it, and the agent works on scheduler,
  watch and paramiko threads, so every new thread gets its own profile (``threading.setprofile``
  hands each thread a hook that enables one); all are merged into ``DIR/agent.prof`` and a text
  summary, ``DIR/agent-profile.txt``, when the agent exits. The timer is each thread's own CPU
  time, so waiting (for the network, a lock or the GIL) does not count.
- ``memory``: tracemalloc from the start; ``SIGUSR1`` writes the top allocations, by line and by
  call stack, to ``DIR/agent-memory.txt`` while the agent still holds its data.

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

# One frame per allocation: with deeper stacks a 1,000-chassis snapshot took over 10 minutes.
TRACE_FRAMES = 1


def _memory_report(out: Path) -> None:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    current, peak = tracemalloc.get_traced_memory()
    lines = [f"traced now {current / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB", ""]
    lines.append("top 40 by line:")
    lines += [str(stat) for stat in snapshot.statistics("lineno")[:40]]
    lines.append("")
    lines.append("top 25 by file:")
    lines += [str(stat) for stat in snapshot.statistics("filename")[:25]]
    partial = out / "agent-memory.txt.partial"
    partial.write_text("\n".join(lines) + "\n")
    partial.rename(out / "agent-memory.txt")  # appears whole: the runner waits for it


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out, mode, chassisd_args = Path(args[0]), args[1], args[2:]
    out.mkdir(parents=True, exist_ok=True)
    if mode == "memory":
        tracemalloc.start(TRACE_FRAMES)
        signal.signal(signal.SIGUSR1, lambda _signum, _frame: _memory_report(out))
        return daemon.main(chassisd_args)
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def thread_hook(_frame: FrameType, _event: str, _arg: Any) -> None:
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        profile.enable()  # replaces this hook for the rest of this thread's life

    threading.setprofile(thread_hook)
    main_profile = cProfile.Profile(time.thread_time)
    main_profile.enable()
    try:
        return daemon.main(chassisd_args)
    finally:
        main_profile.disable()
        threading.setprofile(None)
        stats = pstats.Stats(main_profile)
        with lock:
            for profile in profiles:
                profile.create_stats()
                stats.add(profile)
        stats.dump_stats(str(out / "agent.prof"))
        text = io.StringIO()
        stats.stream = text  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(60)
        stats.sort_stats("cumulative").print_stats(80)
        (out / "agent-profile.txt").write_text(text.getvalue())


if __name__ == "__main__":
    sys.exit(main())
