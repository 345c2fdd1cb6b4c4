"""The ipmi driver against fakebmc.py (pyghmi's BMC server, a subprocess): FRU MACs and faults.

The events file shows what the BMC received: logins, logouts, every Chassis Control request
and whether it was executed, dropped or left unanswered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from chassisd_ipmi import NODE_ID, IpmiDriver
from chassisd_ipmi.session import CompletionCodeError

from chassisd.driver import ChassisTarget, Credentials, Timeouts, implemented_features
from chassisd.errors import (
    AmbiguousOutcome,
    AuthError,
    PermanentError,
    TransientError,
    UnsupportedError,
)
from chassisd.model import Outcome, PowerAction, PowerState
from chassisd.power import PowerService, PowerSettings
from chassisd.registry import Registry
from chassisd.retry import Backoff
from chassisd.testing import wait_until
from tests.ipmi.ipmi_fru_build import build_fru, mac_fields
from tests.ipmi.ipmi_peers import BMC_MAC, FakeBmc

MACS = ("00:11:22:33:44:01", "00:11:22:33:44:02")
FAST = Timeouts(connect=1.0, command=1.0)
"""For faults: long enough for a loopback answer, short enough to keep the tests quick."""

StartBmc = Callable[..., FakeBmc]


def power_service(
    *, connect_attempts: int = 3, connect_backoff: Backoff = Backoff(initial=1.0)
) -> PowerService:
    registry = Registry()
    registry.register(IpmiDriver)
    settings = PowerSettings(
        settle_timeout=10,
        settle_interval=0.2,
        connect_attempts=connect_attempts,
        connect_backoff=connect_backoff,
    )
    return PowerService(registry, settings)


def mac_args(*macs: str) -> list[str]:
    return [arg for mac in macs for arg in ("--mac", mac)]


def macs_of(target: ChassisTarget) -> tuple[list[str], bool, tuple[str, ...]]:
    with IpmiDriver(target) as driver:
        inventory = driver.inventory()
    (node,) = inventory.nodes
    return [str(mac) for mac in node.macs], node.macs_known, inventory.warnings


def test_inventory_in_one_session(start_bmc: StartBmc) -> None:
    """FRU MACs, serial and power come back from one login, and the session is logged out."""
    bmc = start_bmc(*mac_args(*MACS), "--serial", "SN-42", "--power", "on")
    with IpmiDriver(bmc.target()) as driver:
        inventory = driver.inventory()
    (node,) = inventory.nodes
    assert [str(mac) for mac in node.macs] == list(MACS) and node.macs_known
    assert (node.id, node.serial, node.power) == (NODE_ID, "SN-42", PowerState.ON)
    assert inventory.firmware == "1.00" and inventory.warnings == ()
    # Close Session is sent and not awaited (pyghmi's logout), so the BMC may log it a bit later.
    assert wait_until(lambda: bmc.events() == ["login admin", "logout"], 5), bmc.events()


def test_fru_read_size_backs_off(start_bmc: StartBmc) -> None:
    """A BMC that caps FRU reads below 32 bytes (completion code C8h) is read in smaller parts."""
    bmc = start_bmc(*mac_args(*MACS), "--fru-max-read", "10")
    macs, known, warnings = macs_of(bmc.target())
    assert (macs, known, warnings) == (list(MACS), True, ())


def test_bmc_mac_in_the_fru_is_not_a_host_mac(start_bmc: StartBmc) -> None:
    """A FRU that also lists the BMC's own MAC: it is left out, and the warning says so."""
    bmc = start_bmc(*mac_args(MACS[0], BMC_MAC))
    macs, known, warnings = macs_of(bmc.target())
    assert (macs, known) == ([MACS[0]], True)
    assert warnings == (f"FRU 0 lists the BMC's own MAC {BMC_MAC}; not used as a host MAC",)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--no-fru"], "no FRU 0 (Get FRU Inventory Area Info: completion code 0xcb"),
        (["--product-extra", "asset 7"], "host MACs unknown (no host MAC in FRU 0's custom"),
        ([f"--mac={BMC_MAC}"], "host MACs unknown (no host MAC in FRU 0's custom fields)"),
        (["--mac=00:11:22:33:44:01", "--fru-word-access"], "FRU 0 is accessed by words"),
    ],
)
def test_no_host_macs_means_unknown(start_bmc: StartBmc, args: list[str], reason: str) -> None:
    """Without host MACs the node says "unknown" (never the BMC's MAC) and warns why."""
    bmc = start_bmc(*args)
    macs, known, warnings = macs_of(bmc.target())
    assert (macs, known) == ([], False)
    assert any(reason in w for w in warnings), warnings
    assert any(f"the BMC's own MAC {BMC_MAC} is not one" in w for w in warnings), warnings


def test_corrupt_fru_gives_unknown_macs(start_bmc: StartBmc, tmp_path: Path) -> None:
    """A FRU with a bad checksum is not half-used: MACs unknown, with the decoder's reason."""
    data = bytearray(build_fru(serial="SN-X", product_extra=mac_fields(MACS)))
    data[data[4] * 8 + 12] ^= 0x20
    (tmp_path / "bad.fru").write_bytes(bytes(data))
    bmc = start_bmc("--fru-file", str(tmp_path / "bad.fru"))
    macs, known, warnings = macs_of(bmc.target())
    assert (macs, known) == ([], False)
    assert any("product area checksum mismatch" in w for w in warnings), warnings


def test_pxe_once_sets_next_boot_only(start_bmc: StartBmc) -> None:
    """pxe-once writes boot flags "valid, this boot only, PXE" and keeps them past 60 s."""
    bmc = start_bmc("--power", "on")
    with IpmiDriver(bmc.target()) as driver:
        driver.pxe_once(NODE_ID)
    assert [e for e in bmc.events() if e.startswith("boot-option")] == [
        "boot-option 3 08",
        "boot-option 5 8004000000",
    ]
    assert bmc.count("control") == 0


def test_silent_bmc_is_transient_within_the_timeout(start_bmc: StartBmc) -> None:
    """A BMC that answers nothing fails the login as TransientError after the connect timeout."""
    bmc = start_bmc("--fault", "silent")
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"no answer from 127\.0\.0\.1:\d+/udp within 1 s"):
        IpmiDriver(bmc.target(timeouts=FAST)).open()
    assert time.monotonic() - started < 3


def test_silent_bmc_through_the_power_service_sends_nothing(start_bmc: StartBmc) -> None:
    """The power service retries a login that got no answer, and then reports it; no command."""
    bmc = start_bmc("--fault", "silent")
    service = power_service(connect_attempts=2, connect_backoff=Backoff(initial=0.1))
    with pytest.raises(TransientError):
        service.run("ipmi", bmc.target(timeouts=FAST), NODE_ID, PowerAction.RESET)
    assert bmc.events() == []


def test_wrong_password_is_an_auth_error(start_bmc: StartBmc) -> None:
    """The BMC proves it knows the password in RAKP 2; a mismatch is AuthError, at once."""
    bmc = start_bmc()
    started = time.monotonic()
    target = bmc.target(credentials=Credentials("admin", "wrong"), timeouts=FAST)
    with pytest.raises(AuthError, match="Incorrect password provided"):
        IpmiDriver(target).open()
    assert time.monotonic() - started < 3


def test_unanswered_reset_is_ambiguous_and_sent_once(start_bmc: StartBmc) -> None:
    """A reset whose answer is lost is AmbiguousOutcome, and the BMC received it exactly once."""
    bmc = start_bmc("--power", "on", "--fault", "mute-control")
    target = bmc.target(timeouts=Timeouts(connect=1.0, command=2.0))
    with (
        IpmiDriver(target) as driver,
        pytest.raises(AmbiguousOutcome, match=r"no answer to Chassis Control \(reset\) within 2 s"),
    ):
        driver.set_power(NODE_ID, PowerAction.RESET)
    # pyghmi would have retransmitted within 0.5-1 s; 2 s later there is still one request.
    assert [e for e in bmc.events() if e.startswith("control")] == [
        "control reset executed rc=0x00"
    ]


def test_unanswered_reset_through_the_power_service(start_bmc: StartBmc) -> None:
    """The service reports "unknown, not re-sent" and reads the state back on a new session."""
    bmc = start_bmc("--power", "on", "--fault", "mute-control")
    target = bmc.target(timeouts=Timeouts(connect=1.0, command=1.0))
    result = power_service().run("ipmi", target, NODE_ID, PowerAction.RESET)
    assert (result.outcome, result.state) == (Outcome.UNKNOWN, PowerState.ON)
    assert "not re-sent" in result.message
    assert bmc.count("control reset") == 1
    assert bmc.count("login") == 2  # the unanswered session was dropped; the read-back logged in


def test_lost_reset_request_is_not_resent(start_bmc: StartBmc) -> None:
    """A reset lost on the way is not retransmitted: ambiguous, and never executed."""
    bmc = start_bmc("--power", "on", "--fault", "drop-first-control")
    target = bmc.target(timeouts=Timeouts(connect=1.0, command=1.5))
    with IpmiDriver(target) as driver, pytest.raises(AmbiguousOutcome):
        driver.set_power(NODE_ID, PowerAction.RESET)
    assert [e for e in bmc.events() if e.startswith("control")] == ["control reset dropped"]


def test_lost_power_on_is_retransmitted(start_bmc: StartBmc) -> None:
    """``on`` is idempotent, so a lost request is retransmitted and the node comes on."""
    bmc = start_bmc("--fault", "drop-first-control")
    result = power_service().run("ipmi", bmc.target(), NODE_ID, PowerAction.ON)
    assert (result.outcome, result.state) == (Outcome.SUCCEEDED, PowerState.ON)
    assert [e for e in bmc.events() if e.startswith("control")] == [
        "control on dropped",
        "control on executed rc=0x00",
    ]


def test_completion_code_is_a_device_error_with_the_code(start_bmc: StartBmc) -> None:
    """A refused Chassis Control is a DeviceError carrying the completion code."""
    bmc = start_bmc("--fault", "refuse-control=0xD5")
    with IpmiDriver(bmc.target()) as driver, pytest.raises(CompletionCodeError) as caught:
        driver.set_power(NODE_ID, PowerAction.CYCLE)
    assert caught.value.completion_code == 0xD5
    assert "Chassis Control (cycle): completion code 0xd5" in str(caught.value)
    result = power_service().run("ipmi", bmc.target(), NODE_ID, PowerAction.CYCLE)
    assert result.outcome is Outcome.FAILED and "0xd5" in result.message


@pytest.mark.parametrize(
    ("code", "error"),
    [(0xC1, UnsupportedError), (0xD4, AuthError), (0xCC, CompletionCodeError)],
)
def test_completion_codes_map_to_error_classes(
    start_bmc: StartBmc, code: int, error: type[Exception]
) -> None:
    """C1h (invalid command) is unsupported, D4h (insufficient privilege) an auth error."""
    bmc = start_bmc("--fault", f"refuse-control={code:#x}")
    with IpmiDriver(bmc.target()) as driver, pytest.raises(error, match=f"{code:#04x}"):
        driver.set_power(NODE_ID, PowerAction.SHUTDOWN)


def test_pxe_once_is_not_a_power_action(start_bmc: StartBmc) -> None:
    """``set_power`` refuses pxe-once (it has its own method) without sending anything."""
    bmc = start_bmc()
    with IpmiDriver(bmc.target()) as driver, pytest.raises(UnsupportedError):
        driver.set_power(NODE_ID, PowerAction.PXE_ONCE)
    assert bmc.count("control") == 0


def test_slow_read_is_transient_within_the_timeout(start_bmc: StartBmc) -> None:
    """An unanswered power-state read is TransientError after the command timeout."""
    bmc = start_bmc("--fault", "mute-status")
    with IpmiDriver(bmc.target(timeouts=FAST)) as driver:
        started = time.monotonic()
        with pytest.raises(TransientError, match="no answer to Get Chassis Status within 1 s"):
            driver.power_state(NODE_ID)
        assert time.monotonic() - started < 3
    assert wait_until(lambda: bmc.count("logout") == 1, 5), bmc.events()


def test_bad_address_is_permanent() -> None:
    """An address that is not host[:port] is refused before anything is sent."""
    target = ChassisTarget("bad", "127.0.0.1:port", Credentials("admin", "password"))
    with pytest.raises(PermanentError, match="port 'port' is not 1 to 65535"):
        IpmiDriver(target).open()


def test_declared_features_are_implemented() -> None:
    """The driver declares exactly what it overrides, and IPMI's five native power actions."""
    registry = Registry()
    registry.register(IpmiDriver)
    assert implemented_features(IpmiDriver) == IpmiDriver.features
    assert registry.get("ipmi") is IpmiDriver
    assert IpmiDriver.power_actions == {
        PowerAction.ON,
        PowerAction.OFF,
        PowerAction.SHUTDOWN,
        PowerAction.CYCLE,
        PowerAction.RESET,
    }
