"""A small threaded HTTPS/1.1 server for simulated REST peers (stdlib only).

Owns: listening (default 127.0.0.1, ephemeral port), the TLS handshake per connection on the
connection's own thread (so a client that never speaks TLS blocks nobody), HTTP/1.1 keep-alive,
turning each request into a ``Request`` value and a handler's ``Response`` into bytes, the
"never answer" fault (a response with ``hang=True`` holds the connection until released), and a
clean shutdown that ends every connection and joins every thread, so pytest's warnings-as-errors
sees no ``ResourceWarning``.

Must not: know any resource, path or payload (the handler does), import anything from chassisd
outside ``chassisd.sim``, or listen anywhere but the address it is given.

Usage::

    def handler(request: Request) -> Response:
        return Response.json(200, {"hello": request.path})

    with HttpsServer(handler, tls.server_context()).running() as server:
        server.url      # https://127.0.0.1:PORT
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HANDSHAKE_TIMEOUT = 10.0
"""Seconds a client gets to complete the TLS handshake."""
_IDLE_TIMEOUT = 60.0
"""Seconds an idle keep-alive connection stays open."""
_JOIN_TIMEOUT = 10.0
"""Seconds ``close`` waits for each connection thread."""


@dataclass(frozen=True)
class Request:
    """One HTTP request as the handler sees it."""

    method: str
    path: str
    """The path without the query string, percent-escapes kept (``/rest/v1/Systems/c1n1``)."""
    query: str
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body decoded as JSON (``ValueError`` if it is not)."""
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class Response:
    """What to answer; ``hang=True`` answers nothing until the server releases hung requests."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    hang: bool = False
    content_type: str = "application/json"
    stream: Callable[[], Iterator[bytes]] | None = None
    """Body pieces made while sending, after ``body`` (hostile peers: a flood, an endless or a
    dripping answer): sent without Content-Length, the connection closing after the last."""

    @classmethod
    def json(
        cls, status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        return cls(status, json.dumps(payload, indent=1).encode("utf-8"), headers)

    @classmethod
    def never(cls) -> Response:
        """Read the request, then never answer (a BMC that hangs)."""
        return cls(0, hang=True)


Handler = Callable[[Request], Response]


@dataclass
class _Connections:
    """Open client connections and their threads, for a clean shutdown."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sockets: set[socket.socket] = field(default_factory=set)
    threads: set[threading.Thread] = field(default_factory=set)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # joined explicitly in HttpsServer.close
    allow_reuse_address = False

    def __init__(self, owner: HttpsServer, address: tuple[str, int]) -> None:
        self.owner = owner
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        owner = self.owner
        thread = threading.current_thread()
        with owner._conns.lock:
            owner._conns.threads.add(thread)
        try:
            # Headers and body go out in separate writes; without NODELAY, Nagle + the client's
            # delayed ACK add ~40 ms to every response.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(_HANDSHAKE_TIMEOUT)
            try:
                conn = owner._context.wrap_socket(request, server_side=True)
            except (OSError, ValueError):
                owner._count_tls_failure()  # the client refused our certificate, or spoke no TLS
                return
            conn.settimeout(_IDLE_TIMEOUT)
            with owner._conns.lock:
                owner._conns.sockets.add(conn)
            try:
                _RequestHandler(conn, client_address, self)
            except OSError:
                pass  # the client went away mid-request
            finally:
                with owner._conns.lock:
                    owner._conns.sockets.discard(conn)
                conn.close()
        finally:
            with owner._conns.lock:
                owner._conns.threads.discard(thread)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are normal for a simulator; stay quiet."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "chassisd-sim"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=split.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        try:
            response = owner._handler(request)
        except Exception as exc:  # noqa: BLE001 - a handler bug becomes a 500 the test can see
            owner._record_error(exc)
            response = Response.json(500, {"error": f"simulator error: {exc!r}"})
        if response.hang:
            owner._wait_for_release()
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.body or response.status not in (204, 304):
            self.send_header("Content-Type", response.content_type)
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
            if response.stream is not None:
                self.wfile.flush()
                for piece in response.stream():
                    if self.server.owner._closed:
                        break
                    self.wfile.write(piece)
                    self.wfile.flush()


class HttpsServer:
    """One listening HTTPS server calling ``handler`` for every request, on its own threads."""

    def __init__(
        self,
        handler: Handler,
        context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "https-sim",
    ) -> None:
        self._handler = handler
        self._context = context
        self._address = (host, port)
        self._name = name
        self._server: _Server | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._conns = _Connections()
        self._release_lock = threading.Lock()
        self._release = threading.Event()
        self._closed = False
        self._stats_lock = threading.Lock()
        self._tls_failures = 0
        self.errors: list[BaseException] = []
        """Exceptions raised by the handler (each answered with a 500)."""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve on a background thread."""
        server = _Server(self, self._address)
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self._name
        )
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        """Stop accepting, release hung requests, end every connection, join every thread."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._release_lock:
            self._closed = True
        server.shutdown()
        server.server_close()
        self.release_hangs()
        with self._conns.lock:
            sockets = list(self._conns.sockets)
            threads = list(self._conns.threads)
        for conn in sockets:
            with suppress(OSError):
                # Bypass SSLSocket.shutdown: the connection's own thread owns the TLS state.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        for thread in threads:
            thread.join(_JOIN_TIMEOUT)
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT)

    @contextmanager
    def running(self) -> Iterator[HttpsServer]:
        self.start()
        try:
            yield self
        finally:
            self.close()

    # -- addresses -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        """The bound port (0 until ``start``)."""
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port`` for IPv6), as chassisd's ``address`` field takes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    # -- faults and counters -------------------------------------------------------------------

    def release_hangs(self) -> None:
        """Let every request held by a ``hang`` response go (its connection closes unanswered)."""
        with self._release_lock:
            self._release.set()
            if not self._closed:  # after close, every later hang returns at once
                self._release = threading.Event()

    def _wait_for_release(self) -> None:
        with self._release_lock:
            event = self._release
        event.wait()

    @property
    def tls_failures(self) -> int:
        """Connections whose TLS handshake failed (e.g. the client did not trust us)."""
        with self._stats_lock:
            return self._tls_failures

    def _count_tls_failure(self) -> None:
        with self._stats_lock:
            self._tls_failures += 1

    def _record_error(self, exc: BaseException) -> None:
        with self._stats_lock:
            self.errors.append(exc)
