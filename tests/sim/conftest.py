"""Fixtures for the Moonshot simulator tests: an OpenSSH client key and running simulators."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec
from tests.sim.moonshot_sim_helpers import PASSWORD, ClientKey, make_client_key, small_spec


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> ClientKey:
    """A client key made by ``ssh-keygen``, authorised on every simulator started here."""
    return make_client_key(tmp_path_factory.mktemp("client-key"))


@pytest.fixture
def running(client_key: ClientKey) -> Iterator[Callable[..., SimHandle]]:
    """Start simulators with ``running(spec, **simulator_options)``; all stop after the test."""
    with ExitStack() as stack:

        def start(spec: ChassisSpec | None = None, **options: object) -> SimHandle:
            options.setdefault("users", {"admin": PASSWORD})
            options.setdefault("authorized_keys", [client_key.public_line])
            sim = MoonshotSimulator(spec or small_spec(), **options)  # type: ignore[arg-type]
            return stack.enter_context(sim.running())

        yield start


@pytest.fixture
def sim(running: Callable[..., SimHandle]) -> SimHandle:
    """A running ``small_spec`` chassis; login ``admin``/``password`` or the client key."""
    return running()
