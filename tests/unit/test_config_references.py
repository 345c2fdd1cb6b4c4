"""Checks across resources: each problem kind, which pools survive, and standalone raising."""

from __future__ import annotations

from typing import Any

import pytest

from chassisd.config import (
    ChassisResource,
    MemberSelector,
    NodePoolSpec,
    ReferenceReason,
    SecretRef,
    check_references,
    parse_documents,
    surviving_pools,
)
from chassisd.errors import ConfigError

CHASSIS = (
    ChassisResource("moonshot-1", "moonshot", "10.0.0.5", SecretRef("creds")),
    ChassisResource("moonshot-2", "moonshot", "10.0.0.6", SecretRef("creds")),
)


def pool(name: str, *chassis: str, catch_all: bool = False) -> NodePoolSpec:
    return NodePoolSpec(
        name, members=tuple(MemberSelector(c, all=True) for c in chassis), catch_all=catch_all
    )


def test_pools_that_name_existing_chassis_have_no_problems() -> None:
    """Members on known chassis and a single catch-all are fine, and every pool survives."""
    pools = [pool("cluster-a", "moonshot-1", "moonshot-2"), pool("rest", catch_all=True)]
    assert check_references(CHASSIS, pools) == []
    assert surviving_pools(pools, []) == tuple(pools)


def test_unknown_chassis_is_reported_and_the_pool_kept() -> None:
    """A pool naming chassis that do not exist gets one UnknownChassis problem listing them all,
    pointing at the first such member; the pool is kept for its other members."""
    pools = [pool("cluster-a", "moonshot-1", "moonshot-9", "moonshot-3", "moonshot-9")]
    [problem] = check_references(CHASSIS, pools)
    assert problem.pool == "cluster-a"
    assert problem.reason is ReferenceReason.UNKNOWN_CHASSIS
    assert problem.message == "no valid Chassis named moonshot-3, moonshot-9"
    assert problem.path == "spec.members[1].chassis"
    assert str(problem) == "UnknownChassis: no valid Chassis named moonshot-3, moonshot-9"
    assert not problem.drops_pool
    assert surviving_pools(pools, [problem]) == tuple(pools)


def test_duplicate_catch_all_keeps_the_first_by_name_whatever_the_order() -> None:
    """Of several catch-alls the first by name stays; each other is a DuplicateCatchAll problem
    and is dropped; the surviving pools keep the order they were given in."""
    pools = [pool("zeta", catch_all=True), pool("mid", "moonshot-1"), pool("alpha", catch_all=True)]
    problems = check_references(CHASSIS, pools)
    assert [(p.pool, p.reason, p.path) for p in problems] == [
        ("zeta", ReferenceReason.DUPLICATE_CATCH_ALL, "spec.catchAll")
    ]
    assert str(problems[0]) == "DuplicateCatchAll: 'alpha' is already the catch-all"
    assert problems[0].drops_pool
    assert [p.name for p in surviving_pools(pools, problems)] == ["mid", "alpha"]
    assert check_references(CHASSIS, list(reversed(pools))) == problems


def test_problems_come_in_pool_name_order() -> None:
    """Problems of different kinds and pools are listed by pool name."""
    pools = [
        pool("c-unknown", "moonshot-7"),
        pool("b-catch", catch_all=True),
        pool("d-catch", catch_all=True),
        pool("a-unknown", "moonshot-8"),
    ]
    problems = check_references(CHASSIS, pools)
    assert [(p.pool, p.reason) for p in problems] == [
        ("a-unknown", ReferenceReason.UNKNOWN_CHASSIS),
        ("c-unknown", ReferenceReason.UNKNOWN_CHASSIS),
        ("d-catch", ReferenceReason.DUPLICATE_CATCH_ALL),
    ]
    assert [p.name for p in surviving_pools(pools, problems)] == [
        "c-unknown",
        "b-catch",
        "a-unknown",
    ]


def documents(*pools: dict[str, Any]) -> list[dict[str, Any]]:
    """A Secret, the Chassis moonshot-1 and the given NodePool specs (by name)."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"username": "admin"},
    }
    chassis = {
        "apiVersion": "chassisd.io/v1alpha1",
        "kind": "Chassis",
        "metadata": {"name": "moonshot-1"},
        "spec": {
            "driver": "moonshot",
            "address": "10.0.0.5",
            "credentialsSecretRef": {"name": "creds"},
        },
    }
    return [
        secret,
        chassis,
        *(
            {
                "apiVersion": "chassisd.io/v1alpha1",
                "kind": "NodePool",
                "metadata": {"name": spec.pop("name")},
                "spec": spec,
            }
            for spec in pools
        ),
    ]


def test_standalone_raises_the_first_problem() -> None:
    """A standalone source fails with the first problem by pool name, as a ConfigError naming
    the pool's document and field path."""
    docs = documents(
        {"name": "zz", "members": [{"chassis": "moonshot-9"}]},
        {"name": "bb", "catchAll": True},
        {"name": "aa", "catchAll": True},
    )
    with pytest.raises(ConfigError) as info:
        parse_documents(docs, source="farm.yaml")
    assert info.value.document == "farm.yaml NodePool/bb"
    assert info.value.path == "spec.catchAll"
    assert info.value.reason == "'aa' is already the catch-all"


def test_standalone_unknown_chassis_names_the_first_unknown_member() -> None:
    """An unknown chassis in a standalone file points at the member that names it."""
    docs = documents(
        {"name": "cluster-a", "members": [{"chassis": "moonshot-1"}, {"chassis": "moonshot-9"}]}
    )
    with pytest.raises(ConfigError) as info:
        parse_documents(docs, source="farm.yaml")
    assert info.value.document == "farm.yaml NodePool/cluster-a"
    assert info.value.path == "spec.members[1].chassis"
    assert info.value.reason == "no valid Chassis named moonshot-9"


def test_standalone_without_problems_keeps_every_pool_in_document_order() -> None:
    """A clean source parses, its pools in the order of the documents."""
    docs = documents(
        {"name": "zz", "catchAll": True}, {"name": "aa", "members": [{"chassis": "moonshot-1"}]}
    )
    assert [p.name for p in parse_documents(docs).pools] == ["zz", "aa"]
