"""What ``bench.powercompare`` counts for one power-on: the agent's polls are left out."""

from __future__ import annotations

from bench.fleetproc import Counters
from bench.powercompare import delta


def _counters(logins: int, pxe: int, by_kind: dict[str, int]) -> Counters:
    return Counters(
        logins=logins,
        failed_logins=0,
        commands=sum(by_kind.values()),
        node_list=by_kind.get("node_list", 0),
        macaddr_all=by_kind.get("node_macaddr_all", 0),
        macaddr_node=0,
        active=0,
        pxe_boots=pxe,
        by_kind=by_kind,
    )


def test_polls_in_the_window_are_not_counted_as_the_power_path() -> None:
    """Two polls (a login, node list and macaddr all each) beside one power login of three
    commands: the delta is that one login and its three commands."""
    before = _counters(10, 0, {"node_list": 10, "node_macaddr_all": 10})
    after = _counters(
        13,
        1,
        {
            "node_list": 12,
            "node_macaddr_all": 12,
            "node_power": 1,
            "bootonce_pxe": 1,
            "power_on": 1,
        },
    )
    d = delta(before, after)
    assert (d.logins, d.commands, d.pxe_boots) == (1, 3, 1)
    assert d.by_kind == {"bootonce_pxe": 1, "node_power": 1, "power_on": 1}
