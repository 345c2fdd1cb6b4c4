"""Fixtures: sushy-emulator's fake driver in-process over HTTPS, a payload server, iLO samples.

sushy-emulator's Flask app is one module-level object whose ``systems`` are memoized, so it is
configured once per test session (test-peers.md A1); tests that change power use their own
system, so they do not depend on each other's order.
"""

from __future__ import annotations

import ssl
import threading
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from chassisd.sim.net.tls import TlsMaterial, generate_tls_material
from tests.redfish.redfish_helpers import (
    FAKE_SYSTEMS,
    PASSWORD,
    USER,
    PayloadServer,
    ProliantSamples,
    Recorder,
    SushyPeer,
)


@pytest.fixture(scope="session")
def tls() -> TlsMaterial:
    """A CA and a server certificate for 127.0.0.1, shared by the session's HTTPS peers."""
    return generate_tls_material()


@pytest.fixture(scope="session")
def htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Apache htpasswd file with one bcrypt entry (sushy accepts bcrypt only)."""
    path = tmp_path_factory.mktemp("sushy-auth") / "htpasswd"
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"{USER}:{digest}\n")
    return path


@pytest.fixture(scope="session")
def sushy(
    tls: TlsMaterial, htpasswd: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SushyPeer]:
    """sushy-emulator's Flask app in this process: HTTPS on 127.0.0.1, instant power changes."""
    with warnings.catch_warnings():
        # sushy's auth middleware uses webob, which imports the stdlib ``cgi`` module
        # (deprecated in 3.11); the peer's dependency, not ours, so only that import is excused.
        warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
        import webob  # noqa: F401
    from sushy_tools.emulator import main as emulator
    from sushy_tools.emulator.resources.systems import fakedriver
    from werkzeug.serving import make_server

    # The fake driver applies a power change 1-11 s after it was requested, drawing the delay
    # from the ``random`` module it imported. Give it a private stand-in that answers 0 instead
    # of patching ``random.randint`` for the whole process (test-peers.md A1 quirk 1).
    original_random = fakedriver.random
    fakedriver.random = types.SimpleNamespace(randint=lambda a, b: 0)  # type: ignore[assignment]
    emulator.app.configure(
        extra_config={
            "SUSHY_EMULATOR_FAKE_DRIVER": True,
            "SUSHY_EMULATOR_FAKE_SYSTEMS": FAKE_SYSTEMS,
            "SUSHY_EMULATOR_STATE_DIR": str(tmp_path_factory.mktemp("sushy-state")),
            "SUSHY_EMULATOR_AUTH_FILE": str(htpasswd),
        }
    )
    recorder = Recorder(emulator.app)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_pem_files(tls, tmp_path_factory.mktemp("sushy-tls")))
    server = make_server("127.0.0.1", 0, recorder, threaded=True, ssl_context=context)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="sushy-emulator",
        daemon=True,
    )
    thread.start()
    address = f"127.0.0.1:{server.server_port}"
    try:
        yield SushyPeer(address=address, url=f"https://{address}", tls=tls, recorder=recorder)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        fakedriver.random = original_random


def _pem_files(tls: TlsMaterial, directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "bmc.crt", directory / "bmc.key"
    cert.write_text(tls.cert_pem)
    key.write_text(tls.key_pem)
    key.chmod(0o600)
    return cert, key


@pytest.fixture(scope="session")
def pem_files(tls: TlsMaterial, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The server certificate and key as files (for sushy-emulator as a process)."""
    return _pem_files(tls, tmp_path_factory.mktemp("bmc-tls"))


@pytest.fixture
def payloads(tls: TlsMaterial) -> Iterator[PayloadServer]:
    """An empty payload/fault server on 127.0.0.1; tests add routes before using it."""
    with PayloadServer(tls).running() as server:
        yield server


@pytest.fixture(scope="session")
def proliant_samples() -> ProliantSamples:
    """iLO payloads from proliantutils 2.16.3, committed under tests/fixtures/ilo5 and ilo4."""
    return ProliantSamples()
