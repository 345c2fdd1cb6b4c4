"""The agent's one HTTP port: ``/healthz``, ``/readyz`` and Prometheus ``/metrics``.

Owns: the HTTP server (stdlib ``ThreadingHTTPServer`` on a daemon thread), the meaning of each
path and its status codes, and rendering ``Metrics.registry`` in Prometheus' text format.

Must not: decide what "alive" or "ready" means (the daemon passes callables), import
``kubernetes`` or ``apscheduler``, write to stderr (request lines go to debug logging), or
answer anything but GET and HEAD on these three paths.

::

    GET /healthz   200 "ok" while alive() is true, else 503      (liveness probe)
    GET /readyz    200 "ok" when ready() says so, else 503 + the reason it gives
    GET /metrics   200, text format 0.0.4                        (Prometheus scrape)
    anything else  404
"""

from __future__ import annotations

import http.server
import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import cast

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from chassisd.metrics import Metrics

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "HealthServer"]

log = logging.getLogger(__name__)

DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - in a pod the kubelet and Prometheus reach the pod IP
DEFAULT_PORT = 8080

# Seconds a connection may sit idle before its handler thread gives up: a client that connects
# and sends nothing must not keep a thread (or stop()) waiting forever.
REQUEST_TIMEOUT = 10.0
# Seconds between the serving loop's checks for shutdown(): how long stop() may wait.
SHUTDOWN_POLL = 0.1
_TEXT = "text/plain; charset=utf-8"


class _Server(http.server.ThreadingHTTPServer):
    """The HTTP server, carrying what the handler needs."""

    def __init__(
        self,
        address: tuple[str, int],
        metrics: Metrics,
        alive: Callable[[], bool],
        ready: Callable[[], tuple[bool, str]],
    ) -> None:
        self.metrics = metrics
        self.alive = alive
        self.ready = ready
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the bind address with socket.getfqdn(), a reverse
        # DNS lookup that can stall start-up for seconds on a host without working DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _Handler(http.server.BaseHTTPRequestHandler):
    """One request: route by path, answer, close (HTTP/1.0, so no connection is kept)."""

    timeout = REQUEST_TIMEOUT
    server_version = "chassisd"
    sys_version = ""

    def version_string(self) -> str:
        """The Server header: the base class appends a space and ``sys_version`` to it."""
        return self.server_version

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def _respond(self, *, head: bool) -> None:
        server = cast(_Server, self.server)
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            status, body, content_type = self._healthz(server)
        elif path == "/readyz":
            status, body, content_type = self._readyz(server)
        elif path == "/metrics":
            status, body, content_type = (
                200,
                generate_latest(server.metrics.registry),
                (CONTENT_TYPE_PLAIN_0_0_4),
            )
        else:
            status, body, content_type = 404, b"not found\n", _TEXT
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    @staticmethod
    def _healthz(server: _Server) -> tuple[int, bytes, str]:
        try:
            alive = server.alive()
        except Exception:  # a failing check is an answer (503), not a crash
            log.exception("health: the liveness check raised")
            return 503, b"liveness check failed\n", _TEXT
        return (200, b"ok\n", _TEXT) if alive else (503, b"not alive\n", _TEXT)

    @staticmethod
    def _readyz(server: _Server) -> tuple[int, bytes, str]:
        try:
            ready, reason = server.ready()
        except Exception:  # a failing check is an answer (503), not a crash
            log.exception("health: the readiness check raised")
            return 503, b"readiness check failed\n", _TEXT
        if ready:
            return 200, b"ok\n", _TEXT
        return 503, f"not ready: {reason}\n".encode(), _TEXT

    def log_message(self, format: str, *args: object) -> None:
        # The stdlib writes every request line to stderr; probes every few seconds are noise.
        log.debug("health: %s %s", self.address_string(), format % args)


class HealthServer:
    """Serves ``/healthz``, ``/readyz`` and ``/metrics`` on one port, from a daemon thread.

    ``alive()`` answers the liveness probe (is the main loop still turning?); ``ready()``
    answers the readiness probe with ``(ready, reason)``, the reason shown when not ready
    (e.g. ``(False, "CRDs not listed yet")``). Both are called on request threads, so they
    must be cheap and thread-safe. Port 0 picks a free port; ``port`` tells which.
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        alive: Callable[[], bool],
        ready: Callable[[], tuple[bool, str]],
    ) -> None:
        self._address = (host, port)
        self._metrics = metrics
        self._alive = alive
        self._ready = ready
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0); only after ``start()``."""
        if self._server is None:
            raise RuntimeError("HealthServer.port: the server is not started")
        return self._server.server_port

    def start(self) -> None:
        """Bind the port and serve in a daemon thread; raises ``OSError`` if it cannot bind."""
        if self._server is not None:
            raise RuntimeError("HealthServer.start: already started")
        server = _Server(self._address, self._metrics, self._alive, self._ready)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL},
            name=f"chassisd-health-{server.server_port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        log.info("health: serving /healthz /readyz /metrics on %s:%d", self._address[0], self.port)

    def stop(self) -> None:
        """Stop serving, wait for in-flight requests and close the socket. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()  # returns once serve_forever has left its loop
        thread.join()
        server.server_close()  # joins the request threads, closes the listening socket
        self._server, self._thread = None, None
        log.info("health: stopped")
