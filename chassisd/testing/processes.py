"""Child processes of test peers: free loopback ports, dying with the parent, log tails.

Owns the small process helpers the control plane and Toxiproxy share. Starts nothing itself.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    # The port is free now; another process may take it before ours binds, which the callers
    # detect ("address already in use") and retry with fresh ports.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the child when this process dies (even by SIGKILL).

    Without it a killed pytest leaves etcd and kube-apiserver running. SIGKILL, not SIGTERM:
    with nobody left to stop them in order, both got SIGTERM at once and kube-apiserver's
    graceful shutdown hung on the vanished etcd (seen here); their data is throw-away anyway.
    The signal follows the *thread* that forked, so start the control plane from a thread that
    outlives it (pytest's and ``main()``'s main thread do).
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return preexec


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file (or why there are none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])
