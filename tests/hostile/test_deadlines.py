"""Deadlines: a dripping, hanging or slow device ends its poll within the deadline plus a little.

The libraries' timeouts are per read; these devices send a byte now and then, or answer each of
many commands slowly, and only a total deadline enforced from outside ends them.
"""

from __future__ import annotations

import time

import pytest
from chassisd_moonshot import MoonshotDriver
from chassisd_redfish import MoonshotRestDriver

from chassisd.driver import ChassisTarget, Credentials, Timeouts
from chassisd.errors import AmbiguousOutcome, TransientError
from chassisd.model import PowerAction
from chassisd.poller import poll_chassis
from chassisd.registry import Registry
from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import ChassisSpec, CommandKind, Faults, Timing
from chassisd.sim.moonshot.rest import RequestKind, RestFaults, RestSimHandle
from tests.moonshot_rest.moonshot_rest_helpers import target_for as rest_target_for

#: What a deadline may be overshot by: a thread wake-up, a socket shutdown, the session's close.
MARGIN = 3.0


def ssh_target(handle: SimHandle, timeouts: Timeouts) -> ChassisTarget:
    host, port = handle.address
    return ChassisTarget(
        name="moonshot-h",
        address=f"{host}:{port}",
        credentials=Credentials("admin", "password"),
        known_hosts=handle.known_hosts_line,
        timeouts=timeouts,
    )


def test_a_slow_per_node_fallback_ends_at_the_poll_deadline(chassis: SimHandle) -> None:
    """`macaddr all` refused and each per-node query slow: the poll stops at pollTimeout."""
    chassis.set_faults(Faults(refuse_macaddr_all=True))
    chassis.set_timing(Timing(latency={CommandKind.NODE_MACADDR: 0.5}))
    target = ssh_target(chassis, Timeouts(connect=5.0, command=5.0, poll=3.0))
    started = time.monotonic()
    result = poll_chassis(Registry(), "moonshot", target)
    elapsed = time.monotonic() - started
    assert not result.ok
    assert isinstance(result.error, TransientError)
    assert "pollTimeout" in str(result.error) and "moonshot/moonshot-h" in str(result.error)
    assert elapsed < 3.0 + MARGIN


def test_a_hang_after_a_command_ends_at_the_poll_deadline_retries_included(
    chassis: SimHandle,
) -> None:
    """A command that never answers, with a long command timeout: the whole cycle (three
    attempts) still ends at the poll deadline."""
    chassis.set_faults(Faults(hang=True, affects=frozenset({CommandKind.NODE_LIST})))
    target = ssh_target(chassis, Timeouts(connect=5.0, command=30.0, poll=2.0))
    started = time.monotonic()
    result = poll_chassis(Registry(), "moonshot", target)
    assert time.monotonic() - started < 2.0 + MARGIN
    assert isinstance(result.error, TransientError)


def test_a_dripping_chassis_manager_ends_at_the_command_timeout(chassis: SimHandle) -> None:
    """One byte every 0.2 s (a table takes minutes): the command ends at its 2 s timeout."""
    chassis.set_faults(Faults(drip_interval=0.2, affects=frozenset({CommandKind.NODE_LIST})))
    target = ssh_target(chassis, Timeouts(connect=5.0, command=2.0, poll=60.0))
    started = time.monotonic()
    with pytest.raises(TransientError, match="within 2 s"), MoonshotDriver(target) as driver:
        driver.inventory()
    assert time.monotonic() - started < 2.0 + MARGIN


def test_a_dripping_bmc_ends_at_the_request_timeout(rest: RestSimHandle) -> None:
    """httpx's read timeout never trips on one byte every 0.1 s; the request deadline does."""
    rest.set_faults(RestFaults(drip_interval=0.1, affects=frozenset({RequestKind.SYSTEM})))
    target = rest_target_for(rest, timeouts=Timeouts(connect=3.0, command=2.0, poll=60.0))
    started = time.monotonic()
    result = poll_chassis(Registry(), "moonshot-rest", target)
    elapsed = time.monotonic() - started
    assert isinstance(result.error, TransientError)
    assert "no complete answer within 2 s" in str(result.error)
    assert result.attempts == 3
    assert elapsed < 3 * 2.0 + 1 + 2 + MARGIN  # three attempts and the back-off between


def test_a_dripping_bmc_poll_ends_at_the_poll_deadline(rest: RestSimHandle) -> None:
    """The same drip with a short poll deadline: the cycle ends there, retries included."""
    rest.set_faults(RestFaults(drip_interval=0.1, affects=frozenset({RequestKind.SYSTEM})))
    target = rest_target_for(rest, timeouts=Timeouts(connect=3.0, command=30.0, poll=2.5))
    started = time.monotonic()
    result = poll_chassis(Registry(), "moonshot-rest", target)
    assert isinstance(result.error, TransientError)
    assert time.monotonic() - started < 2.5 + MARGIN


def test_a_dripping_answer_to_a_power_request_is_ambiguous(
    rest: RestSimHandle, spec: ChassisSpec
) -> None:
    """A power request whose answer drips past the deadline may have happened: ambiguous."""
    rest.set_faults(RestFaults(drip_interval=0.2, affects=frozenset({RequestKind.RESET})))
    target = rest_target_for(rest, timeouts=Timeouts(connect=3.0, command=1.5, poll=60.0))
    node = str(next(iter(spec.nodes()))[0])
    started = time.monotonic()
    with pytest.raises(AmbiguousOutcome), MoonshotRestDriver(target) as driver:
        driver.set_power(node, PowerAction.OFF if rest.is_powered_on(node) else PowerAction.ON)
    assert time.monotonic() - started < 1.5 + MARGIN
