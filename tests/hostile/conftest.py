"""Fixtures: a simulated Moonshot chassis manager over SSH and over REST, each on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec
from chassisd.sim.moonshot.rest import MoonshotRestSimulator, RestSimHandle


@pytest.fixture
def spec() -> ChassisSpec:
    """A 45-slot chassis with 1-node and 4-node cartridges."""
    return ChassisSpec.generate("moonshot-h", seed=3, multi_node=0.2)


@pytest.fixture
def chassis(spec: ChassisSpec) -> Iterator[SimHandle]:
    """The SSH simulator serving ``spec`` on 127.0.0.1."""
    with MoonshotSimulator(spec, users={"admin": "password"}).running() as handle:
        yield handle


@pytest.fixture
def rest(spec: ChassisSpec) -> Iterator[RestSimHandle]:
    """The REST simulator serving ``spec`` over HTTPS on 127.0.0.1."""
    with MoonshotRestSimulator(spec, users={"admin": "password"}).running() as handle:
        yield handle
