"""Output size limits: a device that sends too much costs the limit, not the agent's memory."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from chassisd_moonshot import MoonshotDriver
from chassisd_redfish import MoonshotRestDriver

from chassisd.driver import ChassisTarget, Credentials, Limits, Timeouts
from chassisd.errors import ParseError
from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import CommandKind, Faults
from chassisd.sim.moonshot.rest import RequestKind, RestFaults, RestSimHandle
from tests.moonshot_rest.moonshot_rest_helpers import target_for as rest_target_for

MIB = 1024 * 1024
NODE_LIST = frozenset({CommandKind.NODE_LIST})


def target_for(handle: SimHandle, *, limit: int, command: float = 30.0) -> ChassisTarget:
    host, port = handle.address
    return ChassisTarget(
        name="moonshot-h",
        address=f"{host}:{port}",
        credentials=Credentials("admin", "password"),
        known_hosts=handle.known_hosts_line,
        timeouts=Timeouts(connect=5.0, command=command),
        limits=Limits(output_bytes=limit),
    )


def test_a_flood_is_cut_at_the_limit_while_reading(chassis: SimHandle) -> None:
    """400 MB after `show node list` ends at the 1 MiB limit: a ParseError naming chassis,
    command and limit, with Python memory growing by about the limit, not the flood."""
    chassis.set_faults(Faults(flood_bytes=400 * MIB, affects=NODE_LIST))
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(ParseError) as info, MoonshotDriver(target_for(chassis, limit=MIB)) as d:
            d.inventory()
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "moonshot/moonshot-h" in message and "show node list" in message
    assert f"{MIB} bytes" in message
    assert len(message) < 600
    assert peak < MIB + 8 * MIB  # the limit, the SSH window (2 MiB) and the simulator's buffers
    assert elapsed < 20


def test_one_endless_line_is_cut_and_never_quoted_whole(chassis: SimHandle) -> None:
    """An endless answer without a newline ends at the limit; the error quotes none of it."""
    chassis.set_faults(Faults(endless=True, flood_line=10**12, affects=NODE_LIST))
    with pytest.raises(ParseError) as info, MoonshotDriver(target_for(chassis, limit=MIB)) as d:
        d.inventory()
    assert "limit" in str(info.value) and len(str(info.value)) < 600


def test_a_long_bad_line_below_the_limit_is_quoted_truncated(chassis: SimHandle) -> None:
    """A 500 kB garbage row is a ParseError whose message and ``line`` field are cut short."""
    chassis.set_faults(Faults(garbage_line="@" * 500_000, affects=NODE_LIST))
    with pytest.raises(ParseError) as info, MoonshotDriver(target_for(chassis, limit=MIB)) as d:
        d.inventory()
    assert info.value.line.startswith("@" * 100)
    assert len(info.value.line) < 300
    assert len(str(info.value)) < 1000


def test_an_http_flood_is_cut_at_the_limit_while_reading(rest: RestSimHandle) -> None:
    """200 MB after a system's JSON ends at the 1 MiB limit (a ParseError naming chassis,
    request and limit), and Python memory grows by about the limit, not the body."""
    rest.set_faults(RestFaults(flood_bytes=200 * MIB, affects=frozenset({RequestKind.SYSTEM})))
    target = rest_target_for(rest, limits=Limits(output_bytes=MIB))
    tracemalloc.start()
    try:
        with pytest.raises(ParseError) as info, MoonshotRestDriver(target) as driver:
            driver.inventory()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "moonshot-rest/moonshot-r" in message and "/rest/v1/Systems/" in message
    assert f"{MIB} bytes" in message and len(message) < 600
    assert peak < MIB + 8 * MIB


def test_an_endless_http_answer_is_cut_at_the_limit(rest: RestSimHandle) -> None:
    """An answer that never ends is cut at the limit, well within the request timeout."""
    rest.set_faults(RestFaults(endless=True, affects=frozenset({RequestKind.CHASSIS_COLLECTION})))
    target = rest_target_for(rest, limits=Limits(output_bytes=MIB))
    with pytest.raises(ParseError, match="limit"), MoonshotRestDriver(target) as driver:
        driver.inventory()
