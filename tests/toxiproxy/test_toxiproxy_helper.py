"""The Toxiproxy test helper against a real toxiproxy-server and a TCP echo peer on loopback:
each toxic the helper offers does to the bytes what Toxiproxy documents, and the server process
is stopped by its PID."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from chassisd.testing.toxiproxy import (
    Latency,
    LimitData,
    Proxy,
    ResetPeer,
    SlowClose,
    Timeout,
    ToxiproxyClient,
    ToxiproxyError,
    pinned_version,
    start_toxiproxy,
)


class _EchoHandler(socketserver.StreamRequestHandler):
    """Echoes each line; on ``close`` answers ``bye`` and closes the connection."""

    def handle(self) -> None:
        try:
            for line in self.rfile:
                if line == b"close\n":
                    self.wfile.write(b"bye\n")
                    return
                self.wfile.write(line)
        except ConnectionResetError:
            return  # what reset_peer does to this side too


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def echo_address() -> Iterator[str]:
    server = _EchoServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, name="echo", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def proxy(toxiproxy: ToxiproxyClient, echo_address: str) -> Iterator[Proxy]:
    created = toxiproxy.create_proxy(f"echo-{uuid.uuid4().hex[:8]}", echo_address)
    try:
        yield created
    finally:
        toxiproxy.delete_proxy(created.name)


def _connect(proxy: Proxy, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)


def _echo(conn: socket.socket, data: bytes) -> bytes:
    conn.sendall(data)
    received = b""
    while not received.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_server_is_the_pinned_build(toxiproxy: ToxiproxyClient) -> None:
    """/version reports the release pinned in tools/toxiproxy/go.mod, stamped at build time."""
    pinned = pinned_version()
    assert pinned is not None
    assert toxiproxy.version() == pinned.removeprefix("v")


def test_proxy_listens_on_loopback_and_forwards_unchanged(proxy: Proxy) -> None:
    """Port 0 becomes a real port on 127.0.0.1, and bytes pass both ways untouched."""
    assert proxy.listen.startswith("127.0.0.1:") and proxy.port > 0
    with _connect(proxy) as conn:
        assert _echo(conn, b"hello\n") == b"hello\n"


def test_latency_delays_the_answer(proxy: Proxy) -> None:
    """A 300 ms downstream latency toxic delays the echo by at least 300 ms."""
    with proxy.toxic(Latency(300)), _connect(proxy) as conn:
        started = time.monotonic()
        assert _echo(conn, b"slow\n") == b"slow\n"
        assert time.monotonic() - started >= 0.3


def test_reset_peer_resets_the_connection(proxy: Proxy) -> None:
    """reset_peer upstream: the request never gets an answer, the client sees the connection
    reset (RST, not an orderly close)."""
    proxy.add_toxic(ResetPeer(), stream="upstream")
    with _connect(proxy) as conn:
        conn.sendall(b"lost\n")
        with pytest.raises(ConnectionResetError):
            conn.recv(4096)


def test_timeout_blackholes_then_closes(proxy: Proxy) -> None:
    """timeout 400 ms downstream: nothing comes back, and the connection closes after ~400 ms."""
    proxy.add_toxic(Timeout(400))
    with _connect(proxy) as conn:
        started = time.monotonic()
        conn.sendall(b"void\n")
        assert conn.recv(4096) == b""
        assert 0.3 <= time.monotonic() - started < 3.0


def test_limit_data_cuts_after_the_byte_budget(proxy: Proxy) -> None:
    """limit_data 10 downstream: exactly 10 bytes of a longer answer arrive, then EOF."""
    proxy.add_toxic(LimitData(10))
    with _connect(proxy) as conn:
        conn.sendall(b"0123456789abcdef\n")
        received = b""
        while chunk := conn.recv(4096):
            received += chunk
    assert received == b"0123456789"


def test_slow_close_holds_the_close_back(proxy: Proxy) -> None:
    """slow_close 400 ms downstream: the peer's answer arrives at once, its close ≥ 400 ms later."""
    proxy.add_toxic(SlowClose(400))
    with _connect(proxy) as conn:
        started = time.monotonic()
        assert _echo(conn, b"close\n") == b"bye\n"
        answered = time.monotonic() - started
        assert conn.recv(4096) == b""
        assert time.monotonic() - started >= 0.4 > answered


def test_toxicity_zero_spares_new_connections(proxy: Proxy) -> None:
    """A toxic with toxicity 0 is listed but applies to no connection."""
    proxy.add_toxic(ResetPeer(), stream="upstream", toxicity=0.0)
    [info] = proxy.toxics()
    assert (info.type, info.stream, info.toxicity) == ("reset_peer", "upstream", 0.0)
    with _connect(proxy) as conn:
        assert _echo(conn, b"spared\n") == b"spared\n"


def test_toxics_are_listed_and_removed(proxy: Proxy) -> None:
    """add_toxic names a toxic <type>_<stream>, a second one of that name is refused (409), and
    once removed the proxy forwards again."""
    name = proxy.add_toxic(Timeout(0), stream="upstream")
    assert name == "timeout_upstream"
    assert [(t.name, t.attributes) for t in proxy.toxics()] == [(name, {"timeout": 0})]
    with pytest.raises(ToxiproxyError) as refused:
        proxy.add_toxic(Timeout(0), stream="upstream")
    assert refused.value.status == 409
    proxy.remove_toxic(name)
    assert proxy.toxics() == []
    with _connect(proxy) as conn:
        assert _echo(conn, b"again\n") == b"again\n"


def test_disable_closes_connections_and_enable_listens_again(proxy: Proxy) -> None:
    """Disabling closes open connections and refuses new ones; enabling listens on the same
    port again."""
    with _connect(proxy) as conn:
        assert _echo(conn, b"before\n") == b"before\n"
        proxy.disable()
        assert not proxy.enabled
        assert conn.recv(4096) == b""
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy).close()
    proxy.enable()
    assert proxy.enabled
    with _connect(proxy) as conn:
        assert _echo(conn, b"after\n") == b"after\n"


def test_bad_arguments_are_refused_before_any_request(toxiproxy: ToxiproxyClient) -> None:
    """A listen address off loopback and a toxicity outside [0, 1] are ValueErrors."""
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        toxiproxy.create_proxy("off-loopback", "127.0.0.1:1", listen="0.0.0.0:0")
    proxy = Proxy(toxiproxy, "never-created", "127.0.0.1:1", "127.0.0.1:2")
    with pytest.raises(ValueError, match="toxicity"):
        proxy.add_toxic(Latency(1), toxicity=1.5)


def test_server_is_stopped_by_pid() -> None:
    """start_toxiproxy's server answers inside the block and its process is gone after it."""
    with start_toxiproxy() as server, ToxiproxyClient(server.url) as client:
        assert client.version()
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
