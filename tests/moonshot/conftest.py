"""Fixtures: one simulated Moonshot chassis on loopback, and targets that reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec

SEED = 7


@pytest.fixture
def spec() -> ChassisSpec:
    """A 45-slot chassis with a realistic mix of cartridges (1-node and 4-node)."""
    return ChassisSpec.generate("moonshot-t", seed=SEED, multi_node=0.2)


@pytest.fixture
def chassis(spec: ChassisSpec) -> Iterator[SimHandle]:
    """The simulator serving ``spec`` on 127.0.0.1, an ephemeral port, in a thread."""
    with MoonshotSimulator(spec, users={"admin": "password"}).running() as handle:
        yield handle
