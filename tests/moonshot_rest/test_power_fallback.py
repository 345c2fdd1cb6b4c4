"""Power fallback across drivers: SSH CLI first, the chassis manager's REST API second, against
one simulated chassis served by both simulators."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from chassisd_moonshot import MoonshotDriver
from chassisd_redfish import MoonshotRestDriver

from chassisd.driver import ChassisTarget, Timeouts
from chassisd.errors import TransientError, UnsupportedError
from chassisd.model import Outcome, PowerAction, PowerState, RouteAttempt, RouteResult
from chassisd.power import PowerService, PowerSettings
from chassisd.registry import Registry
from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import ChassisSpec, CommandKind, Faults
from chassisd.sim.moonshot.rest import MoonshotRestSimulator, RestSimHandle
from tests.moonshot_rest.moonshot_rest_helpers import target_for

SET_POWER = frozenset({CommandKind.POWER_ON, CommandKind.POWER_OFF, CommandKind.POWER_OFF_FORCE})


@pytest.fixture
def both(spec: ChassisSpec) -> Iterator[tuple[SimHandle, RestSimHandle]]:
    """One chassis, reachable over SSH and over REST."""
    ssh_sim = MoonshotSimulator(spec, users={"admin": "password"})
    with ssh_sim.running() as ssh, MoonshotRestSimulator(ssh_sim.state).running() as rest:
        yield ssh, rest


def routes(
    ssh: SimHandle, rest: RestSimHandle, **ssh_changes: object
) -> list[tuple[str, ChassisTarget]]:
    """moonshot (SSH) first, moonshot-rest second: same credentials, another address."""
    rest_target = target_for(rest)
    ssh_target = replace(
        rest_target,
        address=f"{ssh.host}:{ssh.port}",
        known_hosts=ssh.known_hosts_line,
        timeouts=Timeouts(connect=3.0, command=1.0),
    )
    return [("moonshot", replace(ssh_target, **ssh_changes)), ("moonshot-rest", rest_target)]  # type: ignore[arg-type]


def service() -> PowerService:
    registry = Registry()
    registry.register(MoonshotDriver)
    registry.register(MoonshotRestDriver)
    return PowerService(
        registry, PowerSettings(settle_timeout=5, settle_interval=0.05, connect_attempts=1)
    )


def test_unreachable_cli_falls_back_to_rest(both: tuple[SimHandle, RestSimHandle]) -> None:
    """When the SSH CLI cannot be reached, the REST API powers the node, and says so."""
    ssh, rest = both
    ssh.set_node_power("c1n1", False)
    result = service().run_routes(routes(ssh, rest, address="127.0.0.1:1"), "c1n1", PowerAction.ON)
    assert result.outcome is Outcome.SUCCEEDED and result.state is PowerState.ON
    assert result.driver == "moonshot-rest"
    assert ssh.is_powered_on("c1n1")
    assert [(a.driver, a.result) for a in result.routes] == [
        ("moonshot", RouteResult.NOT_REACHED),
        ("moonshot-rest", RouteResult.USED),
    ]
    assert "cannot connect to 127.0.0.1:1" in result.routes[0].message


def test_action_the_cli_lacks_goes_to_rest_without_touching_the_cli(
    both: tuple[SimHandle, RestSimHandle],
) -> None:
    """reset is not in the CLI: the REST API does it, and no power command went over SSH."""
    ssh, rest = both
    ssh.reset_stats()
    result = service().run_routes(routes(ssh, rest), "c1n1", PowerAction.RESET)
    assert result.outcome is Outcome.SUCCEEDED and result.driver == "moonshot-rest"
    assert [node for node, _ in rest.stats.resets] == ["c1n1"]
    assert sum(ssh.stats.count(k) for k in SET_POWER) == 0
    assert result.routes == (
        RouteAttempt(
            "moonshot",
            "moonshot-r",
            RouteResult.UNSUPPORTED,
            "reset is not supported by this driver (use cycle)",
        ),
        RouteAttempt("moonshot-rest", "moonshot-r", RouteResult.USED),
    )


def test_ambiguous_outcome_never_falls_back(both: tuple[SimHandle, RestSimHandle]) -> None:
    """An off that got no answer over SSH is not tried again over REST: the outcome is unknown."""
    ssh, rest = both
    ssh.set_node_power("c1n1", True)
    ssh.set_faults(Faults(hang=True, affects=SET_POWER))
    result = service().run_routes(routes(ssh, rest), "c1n1", PowerAction.CYCLE)
    assert result.outcome is Outcome.UNKNOWN and result.driver == "moonshot"
    assert rest.stats.resets == ()
    assert result.routes == (RouteAttempt("moonshot", "moonshot-r", RouteResult.USED),)


def test_every_route_unreachable_is_a_transient_error_naming_each(
    both: tuple[SimHandle, RestSimHandle],
) -> None:
    """With no route reachable, the error says what each route said."""
    ssh, rest = both
    dead = routes(ssh, rest, address="127.0.0.1:1")
    dead[1] = (dead[1][0], replace(dead[1][1], address="127.0.0.1:1"))
    with pytest.raises(TransientError, match="no route") as info:
        service().run_routes(dead, "c1n1", PowerAction.ON)
    assert "moonshot/" in str(info.value) and "moonshot-rest/" in str(info.value)
    assert [(a.driver, a.result) for a in info.value.routes] == [
        ("moonshot", RouteResult.NOT_REACHED),
        ("moonshot-rest", RouteResult.NOT_REACHED),
    ]
    cause = info.value.__cause__
    assert isinstance(cause, TransientError) and cause.driver == "moonshot-rest"


def test_every_route_unsupported_is_an_unsupported_error_with_the_record(
    both: tuple[SimHandle, RestSimHandle],
) -> None:
    """Two chassis-manager CLI routes, neither with a reset: permanent, not worth a retry."""
    ssh, rest = both
    cli = routes(ssh, rest)[0]
    with pytest.raises(UnsupportedError, match="no route can carry out reset") as info:
        service().run_routes([cli, cli], "c1n1", PowerAction.RESET)
    assert [a.result for a in info.value.routes] == [RouteResult.UNSUPPORTED] * 2
    cause = info.value.__cause__
    assert isinstance(cause, UnsupportedError) and cause.driver == "moonshot"
    assert sum(ssh.stats.count(k) for k in SET_POWER) == 0


def test_unsupported_then_unreachable_is_transient(
    both: tuple[SimHandle, RestSimHandle],
) -> None:
    """When a route that could do it was not reached, a later try may succeed: transient."""
    ssh, rest = both
    cli, api = routes(ssh, rest)
    api = (api[0], replace(api[1], address="127.0.0.1:1"))
    with pytest.raises(TransientError) as info:
        service().run_routes([cli, api], "c1n1", PowerAction.RESET)
    assert [a.result for a in info.value.routes] == [
        RouteResult.UNSUPPORTED,
        RouteResult.NOT_REACHED,
    ]
    assert rest.stats.resets == ()
