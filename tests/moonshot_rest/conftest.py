"""Fixtures: one simulated Moonshot chassis manager REST API on loopback, and targets for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chassisd.sim.moonshot.model import ChassisSpec
from chassisd.sim.moonshot.rest import MoonshotRestSimulator, RestSimHandle

SEED = 7


@pytest.fixture
def spec() -> ChassisSpec:
    """A 45-slot chassis with 1-node and 4-node cartridges (the same spec the SSH tests use)."""
    return ChassisSpec.generate("moonshot-r", seed=SEED, multi_node=0.2)


@pytest.fixture
def rest(spec: ChassisSpec) -> Iterator[RestSimHandle]:
    """The REST simulator serving ``spec`` over HTTPS on 127.0.0.1, an ephemeral port."""
    with MoonshotRestSimulator(spec, users={"admin": "password"}).running() as handle:
        yield handle
        assert handle.errors == []  # a handler exception would be a simulator bug
