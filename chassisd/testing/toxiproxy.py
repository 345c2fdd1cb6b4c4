"""Toxiproxy for tests: a ``toxiproxy-server`` process on loopback and a typed client of its API.

Owns: finding the binary ``tools/toxiproxy/toxiproxy.sh`` builds (``$TOXIPROXY_SERVER``, else
that script's cache directory), starting it on a free 127.0.0.1 port, stopping it by PID, and
the part of its HTTP API the tests use: proxies (create, show, enable/disable, delete) and
toxics (add, list, remove). Toxiproxy moves TCP bytes between a listening port and an upstream
address and damages them on request; whoever uses a proxy decides what runs through it.

Must not: build the binary, bind anything but 127.0.0.1, or know about Kubernetes or any other
peer (the pytest plugins wire peers through it). No maintained Python client exists (PyPI's
``toxiproxy-python`` was last released in 2019), so this talks to the API with httpx.

Directions, as Toxiproxy names them: ``upstream`` is client -> server (the request),
``downstream`` server -> client (the answer). A toxic's ``toxicity`` is the chance that it
applies to a given connection, decided once per connection.

Toxics this client can add (every time in milliseconds)::

    ResetPeer(timeout_ms)   on the first data, wait timeout_ms, then close with RST
    Timeout(timeout_ms)     drop all data; close after timeout_ms (0: never close)
    Latency(ms, jitter_ms)  delay each chunk of data by ms ± jitter_ms
    LimitData(bytes)        close the connection after that many bytes passed
    SlowClose(delay_ms)     delay the close (FIN) by delay_ms
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx

from chassisd.testing.processes import die_with_parent, free_port, tail

__all__ = [
    "Direction",
    "Latency",
    "LimitData",
    "Proxy",
    "ResetPeer",
    "SlowClose",
    "Timeout",
    "Toxic",
    "ToxicInfo",
    "ToxiproxyClient",
    "ToxiproxyError",
    "ToxiproxyNotFoundError",
    "ToxiproxyServer",
    "find_toxiproxy_server",
    "pinned_version",
    "start_toxiproxy",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this module lives in (``chassisd/testing/toxiproxy.py`` -> repo root)."""

BINARY_ENV = "TOXIPROXY_SERVER"
MODULE_PATH = "github.com/Shopify/toxiproxy/v2"

# toxiproxy-server answers /version ~20 ms after exec on an idle machine (measured); the limit
# leaves room for a loaded CI machine.
READY_TIMEOUT = 15.0
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
PORT_ATTEMPTS = 5  # a port picked as free may be taken before the server binds it
API_TIMEOUT = 30.0  # seconds for one call to Toxiproxy's own API: milliseconds, unless the
# machine is saturated (a latency toxic's removal waits for the connections it delays)
LOG_TAIL_LINES = 30


Direction = Literal["upstream", "downstream"]


class ToxiproxyError(RuntimeError):
    """toxiproxy-server did not start, or its API refused a request (``status`` is its HTTP
    status, 0 when it could not be reached)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        self.status = status
        super().__init__(message)


class ToxiproxyNotFoundError(ToxiproxyError):
    """No toxiproxy-server binary; the message says how to get one."""


# --- toxics --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResetPeer:
    """Close the connection with a TCP RST ``timeout_ms`` after the first data arrives."""

    type: ClassVar[str] = "reset_peer"
    timeout_ms: int = 0

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}


@dataclass(frozen=True)
class Timeout:
    """Let no data through; close the connection after ``timeout_ms`` (0: keep it open, silent,
    until the toxic is removed — a black hole)."""

    type: ClassVar[str] = "timeout"
    timeout_ms: int = 0

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}


@dataclass(frozen=True)
class Latency:
    """Delay every chunk of data by ``latency_ms`` ± ``jitter_ms``."""

    type: ClassVar[str] = "latency"
    latency_ms: int
    jitter_ms: int = 0

    def attributes(self) -> dict[str, int]:
        return {"latency": self.latency_ms, "jitter": self.jitter_ms}


@dataclass(frozen=True)
class LimitData:
    """Close the connection once ``bytes`` bytes have passed in the toxic's direction."""

    type: ClassVar[str] = "limit_data"
    bytes: int

    def attributes(self) -> dict[str, int]:
        return {"bytes": self.bytes}


@dataclass(frozen=True)
class SlowClose:
    """Hold the connection's close back by ``delay_ms``."""

    type: ClassVar[str] = "slow_close"
    delay_ms: int

    def attributes(self) -> dict[str, int]:
        return {"delay": self.delay_ms}


Toxic = ResetPeer | Timeout | Latency | LimitData | SlowClose


# --- the API -------------------------------------------------------------------------------------


class ToxiproxyClient:
    """Calls toxiproxy-server's HTTP API at ``url`` (``http://127.0.0.1:<port>``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        # trust_env=False: loopback must never go through an http(s)_proxy from the environment.
        self._http = httpx.Client(base_url=url, timeout=API_TIMEOUT, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ToxiproxyError(f"{method} {path}: toxiproxy-server unreachable: {exc}") from exc
        if response.is_error:
            raise ToxiproxyError(
                f"{method} {path}: {response.status_code} {response.text.strip()}",
                status=response.status_code,
            )
        return response.json() if response.content else None

    def version(self) -> str:
        """The server's version string (``2.12.0``; ``git`` when built without stamping)."""
        data = self._call("GET", "/version")
        # Since v2.6 /version answers JSON ({"version": ...}); older servers answer plain text.
        return str(data["version"]) if isinstance(data, dict) else str(data)

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> Proxy:
        """A new enabled proxy forwarding ``listen`` to ``upstream`` (``host:port``).

        With port 0 the server picks a free port; ``Proxy.listen`` holds the one it bound.
        """
        if not listen.startswith("127.0.0.1:"):
            raise ValueError(f"listen={listen!r}: proxies bind 127.0.0.1 only")
        data = self._call(
            "POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream}
        )
        return Proxy._from_api(self, data)

    def proxy(self, name: str) -> Proxy:
        """The proxy ``name`` as the server has it now."""
        return Proxy._from_api(self, self._call("GET", f"/proxies/{name}"))

    def delete_proxy(self, name: str) -> None:
        """Stop and remove a proxy; its connections are closed. Already gone is fine."""
        try:
            self._call("DELETE", f"/proxies/{name}")
        except ToxiproxyError as exc:
            if exc.status != 404:
                raise

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")


@dataclass(frozen=True)
class ToxicInfo:
    """A toxic as the server reports it."""

    name: str
    type: str
    stream: Direction
    toxicity: float
    attributes: dict[str, int]


class Proxy:
    """One proxy on the server: ``listen`` (``127.0.0.1:<port>``) forwards to ``upstream``."""

    def __init__(self, client: ToxiproxyClient, name: str, listen: str, upstream: str) -> None:
        self.client = client
        self.name = name
        self.listen = listen
        self.upstream = upstream

    @classmethod
    def _from_api(cls, client: ToxiproxyClient, data: dict[str, Any]) -> Proxy:
        return cls(client, str(data["name"]), str(data["listen"]), str(data["upstream"]))

    def __repr__(self) -> str:
        return f"Proxy({self.name!r}, listen={self.listen!r}, upstream={self.upstream!r})"

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def enabled(self) -> bool:
        """Whether the proxy listens and forwards now (asks the server)."""
        return bool(self.client._call("GET", f"/proxies/{self.name}")["enabled"])

    def disable(self) -> None:
        """Stop listening and close every open connection through the proxy."""
        self._set_enabled(False)

    def enable(self) -> None:
        """Listen again, on the same address."""
        self._set_enabled(True)

    def _set_enabled(self, enabled: bool) -> None:
        self.client._call("PATCH", f"/proxies/{self.name}", {"enabled": enabled})

    def add_toxic(
        self,
        toxic: Toxic,
        *,
        stream: Direction = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        """Add ``toxic`` in direction ``stream``; it applies to open connections at once and to
        new ones with probability ``toxicity``. Returns its name (default ``<type>_<stream>``,
        Toxiproxy's own default)."""
        if not 0.0 <= toxicity <= 1.0:
            raise ValueError(f"toxicity={toxicity}: must be between 0 and 1")
        toxic_name = name or f"{toxic.type}_{stream}"
        self.client._call(
            "POST",
            f"/proxies/{self.name}/toxics",
            {
                "name": toxic_name,
                "type": toxic.type,
                "stream": stream,
                "toxicity": toxicity,
                "attributes": toxic.attributes(),
            },
        )
        return toxic_name

    def remove_toxic(self, name: str) -> None:
        """Remove the toxic ``name``; connections it held back carry on."""
        self.client._call("DELETE", f"/proxies/{self.name}/toxics/{name}")

    @contextlib.contextmanager
    def toxic(
        self,
        toxic: Toxic,
        *,
        stream: Direction = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Iterator[str]:
        """``add_toxic`` for the ``with`` block, removed when it ends."""
        toxic_name = self.add_toxic(toxic, stream=stream, toxicity=toxicity, name=name)
        try:
            yield toxic_name
        finally:
            self.remove_toxic(toxic_name)

    def toxics(self) -> list[ToxicInfo]:
        """The toxics on this proxy now."""
        return [
            ToxicInfo(
                name=str(t["name"]),
                type=str(t["type"]),
                stream=t["stream"],
                toxicity=float(t["toxicity"]),
                attributes={str(k): int(v) for k, v in (t.get("attributes") or {}).items()},
            )
            for t in self.client._call("GET", f"/proxies/{self.name}/toxics")
        ]


# --- the server process --------------------------------------------------------------------------


def pinned_version() -> str | None:
    """The Toxiproxy version pinned in tools/toxiproxy/go.mod, read as toxiproxy.sh reads it."""
    try:
        lines = (REPO_ROOT / "tools" / "toxiproxy" / "go.mod").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if fields[:1] == ["require"]:
            fields = fields[1:]
        if len(fields) >= 2 and fields[0] == MODULE_PATH and fields[1].startswith("v"):
            return fields[1]
    return None


def find_toxiproxy_server() -> Path:
    """The ``toxiproxy-server`` binary: ``$TOXIPROXY_SERVER`` when set, else the one
    ``toxiproxy.sh`` built into its cache. Raises ``ToxiproxyNotFoundError`` saying what to do."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return Path(explicit)
        raise ToxiproxyNotFoundError(
            f"{BINARY_ENV}={explicit} is not an executable file; point it at toxiproxy-server, "
            "or unset it and run `make toxiproxy`"
        )
    version = pinned_version()
    if version is not None:
        cache_root = os.environ.get("CHASSISD_TOXIPROXY_CACHE") or str(
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            / "chassisd"
            / "toxiproxy"
        )
        cached = Path(cache_root) / version / "toxiproxy-server"
        if os.access(cached, os.X_OK):
            return cached
    raise ToxiproxyNotFoundError(
        "toxiproxy-server was not found. Run `make toxiproxy` (builds it with Go >= 1.26 from "
        "tools/toxiproxy/go.mod in about 2 min; install Go from https://go.dev/dl/ if `go` is "
        f"missing), or set {BINARY_ENV} to a toxiproxy-server binary, e.g. "
        f"`export {BINARY_ENV}=$(bash tools/toxiproxy/toxiproxy.sh | tail -n 1)`"
    )


@dataclass(frozen=True)
class ToxiproxyServer:
    """A running toxiproxy-server; valid only inside ``start_toxiproxy``'s ``with`` block."""

    url: str  # http://127.0.0.1:<port>, its API
    pid: int
    log_path: Path  # its output; removed when it stops


def _stop(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is None:
        popen.terminate()  # SIGTERM to its PID: toxiproxy-server closes its proxies and exits
        try:
            popen.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def _wait_ready(popen: subprocess.Popen[bytes], url: str, log_path: Path) -> bool:
    """True once /version answers; False when the port was taken before the server bound it
    (toxiproxy-server then logs "address already in use" and keeps running without an API)."""
    deadline = time.monotonic() + READY_TIMEOUT
    with httpx.Client(base_url=url, timeout=1.0, trust_env=False) as http:
        while True:
            if popen.poll() is not None:
                raise ToxiproxyError(
                    f"toxiproxy-server exited with status {popen.returncode} during start-up; "
                    f"last lines of its log:\n{tail(log_path, LOG_TAIL_LINES)}"
                )
            if "address already in use" in tail(log_path, LOG_TAIL_LINES):
                return False
            try:
                if http.get("/version").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ToxiproxyError(
                    f"toxiproxy-server not ready after {READY_TIMEOUT:.0f} s; "
                    f"last lines of its log:\n{tail(log_path, LOG_TAIL_LINES)}"
                )
            time.sleep(0.05)


@contextlib.contextmanager
def start_toxiproxy(binary: Path | None = None) -> Iterator[ToxiproxyServer]:
    """Start toxiproxy-server on a free 127.0.0.1 port, yield it once its API answers, then stop
    it by PID (SIGTERM, SIGKILL after ``STOP_GRACE`` s). ``binary`` defaults to
    ``find_toxiproxy_server()``."""
    executable = binary if binary is not None else find_toxiproxy_server()
    log_dir = Path(tempfile.mkdtemp(prefix="chassisd-toxiproxy-"))
    try:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log_path = log_dir / f"toxiproxy-server.{attempt}.log"
            with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
                popen = subprocess.Popen(
                    [str(executable), "-host", "127.0.0.1", "-port", str(port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a terminal's Ctrl-C reaches only pytest
                    preexec_fn=die_with_parent(),  # only calls prctl(); takes no locks
                )
            try:
                ready = _wait_ready(popen, url, log_path)
            except BaseException:
                _stop(popen)
                raise
            if not ready:
                _stop(popen)
                if attempt < PORT_ATTEMPTS:
                    continue
                raise ToxiproxyError(
                    f"toxiproxy-server found no free port in {PORT_ATTEMPTS} attempts; "
                    f"last lines of its log:\n{tail(log_path, LOG_TAIL_LINES)}"
                )
            try:
                yield ToxiproxyServer(url=url, pid=popen.pid, log_path=log_path)
            finally:
                _stop(popen)
            return
        raise AssertionError("unreachable")
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
