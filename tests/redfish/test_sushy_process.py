"""The redfish driver and the power service against sushy-emulator run as its own process.

Unlike the in-process fixture, the emulator keeps its real behaviour here: a power change lands
1-11 s after it was requested (test-peers.md A1 quirk 1), so waiting belongs to the power service.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chassisd_redfish import RedfishDriver

from chassisd.model import Outcome, PowerAction, PowerState
from chassisd.power import PowerService, PowerSettings
from chassisd.registry import Registry
from chassisd.sim.net.tls import TlsMaterial
from tests.redfish.redfish_helpers import make_target

UUID = "22222222-3333-4444-5555-000000000001"
_READY = re.compile(r"Running on https://127\.0\.0\.1:(\d+)")


@pytest.fixture
def sushy_process(tmp_path: Path, pem_files: tuple[Path, Path], htpasswd: Path) -> Iterator[str]:
    """``sushy-emulator --config FILE`` on 127.0.0.1, an ephemeral port; yields ``host:port``."""
    cert, key = pem_files
    config = tmp_path / "emulator.conf"
    config.write_text(
        f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
        f"SUSHY_EMULATOR_LISTEN_PORT = 0\n"
        f"SUSHY_EMULATOR_SSL_CERT = {str(cert)!r}\n"
        f"SUSHY_EMULATOR_SSL_KEY = {str(key)!r}\n"
        f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}\n"
        f"SUSHY_EMULATOR_STATE_DIR = {str(tmp_path / 'state')!r}\n"
        f"SUSHY_EMULATOR_FAKE_DRIVER = True\n"
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': {UUID!r}, 'name': 'slow-1', "
        f"'power_state': 'On', 'external_notifier': False, "
        f"'nics': [{{'mac': '00:11:22:33:55:01', 'ip': '127.0.0.1'}}]}}]\n"
    )
    log = tmp_path / "emulator.log"
    executable = Path(sys.executable).with_name("sushy-emulator")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(executable), "--config", str(config)],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while not (match := _READY.search(log.read_text(errors="replace"))):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sushy-emulator did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield f"127.0.0.1:{match.group(1)}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.mark.slow
def test_power_off_with_real_emulator_delays_is_confirmed_by_polling(
    sushy_process: str, tls: TlsMaterial
) -> None:
    """PowerService sends ForceOff once and polls until the delayed Off shows (≤ 20 s)."""
    registry = Registry()
    registry.register(RedfishDriver)
    service = PowerService(registry, PowerSettings(settle_timeout=20, settle_interval=0.5))
    target = make_target(sushy_process, ca_bundle=tls.ca_pem)
    assert service.status("redfish", target, UUID) is PowerState.ON
    started = time.monotonic()
    result = service.run("redfish", target, UUID, PowerAction.OFF)
    elapsed = time.monotonic() - started
    assert (result.outcome, result.state) == (Outcome.SUCCEEDED, PowerState.OFF), result.message
    assert elapsed < 20
    with RedfishDriver(target) as driver:
        assert driver.power_state(UUID) is PowerState.OFF
