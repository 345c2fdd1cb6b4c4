"""Checks across resources: a pool's members name existing chassis; one catch-all per source.

Owns the rules both modes apply to the Chassis and NodePools of one source (a standalone file,
or one namespace of the cluster), and what happens to a pool that breaks one:

- ``UnknownChassis``: a member names no (valid) Chassis. The pool is kept: its other members
  still get their reservations, and that chassis's nodes join it once the Chassis exists.
- ``DuplicateCatchAll``: a second pool has ``catchAll: true``. The first by name stays the
  catch-all; the others are dropped, so that which pool takes the unclaimed nodes never
  depends on the order objects were listed in.

``check_references`` returns every problem, in pool-name order; the cluster agent records
them in each pool's status, while the standalone parser raises the first as a ``ConfigError``
(``ReferenceProblem.error``). ``surviving_pools`` gives the pools that are kept. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from chassisd.config.resources import ChassisResource, NodePoolSpec
from chassisd.errors import ConfigError


class ReferenceReason(StrEnum):
    """Why a pool's references do not hold; the word a NodePool condition's reason shows."""

    UNKNOWN_CHASSIS = "UnknownChassis"
    DUPLICATE_CATCH_ALL = "DuplicateCatchAll"


@dataclass(frozen=True)
class ReferenceProblem:
    """One broken reference of one pool.

    ``path`` is the field of the NodePool that holds the broken reference (the first member
    naming an unknown chassis, or ``spec.catchAll``); ``str()`` gives ``Reason: message``, the
    form a NodePool's status shows.
    """

    pool: str
    reason: ReferenceReason
    message: str
    path: str

    @property
    def drops_pool(self) -> bool:
        """Whether the pool is left out altogether (a duplicate catch-all), not just reported."""
        return self.reason is ReferenceReason.DUPLICATE_CATCH_ALL

    def error(self, source: str) -> ConfigError:
        """This problem as the ``ConfigError`` a standalone file fails with."""
        return ConfigError(self.message, document=f"{source} NodePool/{self.pool}", path=self.path)

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def check_references(
    chassis: Sequence[ChassisResource], pools: Sequence[NodePoolSpec]
) -> list[ReferenceProblem]:
    """Every broken reference among ``pools`` given the (valid) ``chassis`` of the same source,
    in pool-name order. At most one problem per pool: a catch-all lists no members."""
    known = {c.name for c in chassis}
    problems: list[ReferenceProblem] = []
    catch_all = ""
    for pool in sorted(pools, key=lambda p: p.name):
        unknown = [i for i, m in enumerate(pool.members) if m.chassis not in known]
        if unknown:
            names = ", ".join(sorted({pool.members[i].chassis for i in unknown}))
            problems.append(
                ReferenceProblem(
                    pool.name,
                    ReferenceReason.UNKNOWN_CHASSIS,
                    f"no valid Chassis named {names}",
                    f"spec.members[{unknown[0]}].chassis",
                )
            )
        if pool.catch_all:
            if catch_all:
                problems.append(
                    ReferenceProblem(
                        pool.name,
                        ReferenceReason.DUPLICATE_CATCH_ALL,
                        f"{catch_all!r} is already the catch-all",
                        "spec.catchAll",
                    )
                )
            else:
                catch_all = pool.name
    return problems


def surviving_pools(
    pools: Sequence[NodePoolSpec], problems: Sequence[ReferenceProblem]
) -> tuple[NodePoolSpec, ...]:
    """``pools`` (in their order) without those a problem drops."""
    dropped = {p.pool for p in problems if p.drops_pool}
    return tuple(pool for pool in pools if pool.name not in dropped)
