"""Fixtures for the IPMI tests: ipmi_sim and fakebmc.py peers, and leak checks.

Peers are started per test, in the test's own temp directory, and stopped by PID afterwards.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from pyghmi.ipmi.private import session as pyghmi_session

from chassisd.testing import wait_until
from tests.ipmi.ipmi_fru_build import build_fru, mac_fields
from tests.ipmi.ipmi_peers import (
    HOST_MACS,
    SERIAL,
    FakeBmc,
    IpmiSim,
    start_fakebmc,
    start_ipmi_sim,
    stop,
)

WORKER_PREFIX = "chassisd-ipmi"
WORKER_GRACE = 10.0
"""Seconds a driver's abandoned worker thread may outlive its caller (pyghmi's own give-up)."""


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., IpmiSim]]:
    """Start ipmi_sim peers: ``start_sim(fru=bytes|None, power="0"|"1")``; all stop afterwards."""
    numbers = itertools.count()
    with ExitStack() as stack:

        def start(*, fru: bytes | None = None, power: str = "0") -> IpmiSim:
            directory = tmp_path / f"ipmi_sim-{next(numbers)}"
            directory.mkdir()
            sim = start_ipmi_sim(directory, fru=fru, power=power)
            stack.callback(stop, sim.process)
            return sim

        yield start


@pytest.fixture
def sim(start_sim: Callable[..., IpmiSim]) -> IpmiSim:
    """ipmi_sim with FRU 0 carrying two host MACs as product extra fields, powered off."""
    return start_sim(fru=build_fru(serial=SERIAL, product_extra=mac_fields(HOST_MACS)))


@pytest.fixture
def start_bmc(tmp_path: Path) -> Iterator[Callable[..., FakeBmc]]:
    """Start fakebmc.py peers: ``start_bmc("--fault", "silent", ...)``; all stop afterwards."""
    numbers = itertools.count()
    with ExitStack() as stack:

        def start(*args: str) -> FakeBmc:
            directory = tmp_path / f"fakebmc-{next(numbers)}"
            directory.mkdir()
            bmc = start_fakebmc(directory, *args)
            stack.callback(stop, bmc.process)
            return bmc

        yield start


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves driver threads running, or makes pyghmi open more sockets.

    pyghmi keeps one client UDP socket per 64 BMCs for the whole process (by design, never
    closed); the driver must not add to that.
    """
    yield

    def workers() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith(WORKER_PREFIX)]

    assert wait_until(lambda: not workers(), WORKER_GRACE), f"leaked: {workers()}"
    assert len(pyghmi_session.iosockets) <= 1, pyghmi_session.iosockets
