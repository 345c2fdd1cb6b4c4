"""What ``chassisctl nodes`` and ``map`` show: every node with its reservation, and every chassis
that could not be read.

Owns the row model (a node, the pool that reserves it, its IP and DHCP hostname, or why it has
none), the chassis problems (unreachable, refused, invalid, never polled), label selectors as
kubectl spells them (``-l a=b,c!=d,e,!f``) and turning pool plans into rows. Pure: it is given
nodes, plans and statuses and does no I/O; ``chassisd.cli`` (standalone) and
``chassisd.clusterlist`` (cluster) fill it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from chassisd.errors import (
    ChassisdError,
    ConfigError,
)
from chassisd.exitcodes import DEVICE, reason_exit
from chassisd.noderef import NamedNode
from chassisd.poller import FAILURE_REASONS
from chassisd.reconcile import PoolPlan

#: The Chassis annotation ``chassisctl poll`` sets (an RFC 3339 time) and the agent watches: a
#: new value asks for a poll now.
POLL_REQUEST = "chassisd.io/poll-requested"


def poll_reason(error: ChassisdError | None) -> str:
    """The reason word for a failed poll's error (the poller's ``FAILURE_REASONS``): the
    reason of the condition the cluster agent writes, and what ``chassisctl`` prints."""
    return next((r for cls, r in FAILURE_REASONS if isinstance(error, cls)), "Unknown")


@dataclass(frozen=True)
class NodeRow:
    """One node as listed: where it is, and its DHCP reservation or why it has none."""

    node: NamedNode
    namespace: str = ""
    pool: str = ""
    ip: str = ""
    hostname: str = ""
    left_out: str = ""  # why no reservation: a conflict, no MAC known, no pool claims it
    absent: bool = False  # no longer reported by its chassis; kept for the grace period


@dataclass(frozen=True)
class ChassisProblem:
    """A chassis whose nodes are not (or not freshly) known."""

    chassis: str
    reason: str  # a poller.FAILURE_REASONS word (AuthFailed, HostKeyRejected, ...), or NotPolled
    message: str
    namespace: str = ""

    @property
    def exit_code(self) -> int:
        """Its exit code (``chassisd.exitcodes``)."""
        return DEVICE if self.reason == "NotPolled" else reason_exit(self.reason)


@dataclass(frozen=True)
class Listing:
    """Rows, problems and every chassis that was asked about (read or not)."""

    rows: tuple[NodeRow, ...]
    problems: tuple[ChassisProblem, ...]
    chassis: tuple[tuple[str, str], ...] = field(default=())  # (namespace, name)


def rows_from_plans(
    nodes: Sequence[NamedNode], plans: Sequence[PoolPlan], namespace: str = ""
) -> tuple[NodeRow, ...]:
    """Rows for ``nodes`` with the reservation each got in ``plans`` (standalone mode)."""
    hosts = {h.key: (plan.pool.name, h) for plan in plans for h in plan.hosts}
    reasons = _left_out(c for plan in plans for c in (*plan.conflicts, *plan.skipped))
    rows = []
    for node in nodes:
        found = hosts.get(node.ref)
        if found is None:
            rows.append(NodeRow(node, namespace, left_out=reasons.get(node.ref, "in no pool")))
            continue
        pool, host = found
        rows.append(NodeRow(node, namespace, pool, host.ip or "", host.hostname))
    return tuple(rows)


def rows_from_members(
    nodes: Sequence[NamedNode],
    members: Mapping[str, tuple[str, str, str]],
    conflicts: Iterable[str],
    namespace: str = "",
) -> tuple[NodeRow, ...]:
    """Rows for ``nodes`` from NodePool statuses (cluster mode): ``members`` maps a node's
    ``CHASSIS/ID`` to (pool, IP, hostname); ``conflicts`` are the pools' Conflict messages."""
    reasons = _left_out(conflicts)
    rows = []
    for node in nodes:
        found = members.get(node.ref)
        if found is None:
            why = "in no pool" if node.record.macs else "no MAC address known"
            rows.append(NodeRow(node, namespace, left_out=reasons.get(node.ref, why)))
            continue
        pool, ip, hostname = found
        rows.append(NodeRow(node, namespace, pool, ip, hostname))
    return tuple(rows)


def _left_out(conflicts: Iterable[str]) -> dict[str, str]:
    """``CHASSIS/ID: why`` entries (reconcile's conflict wording) by node reference."""
    reasons: dict[str, str] = {}
    for text in conflicts:
        ref, sep, why = text.partition(": ")
        if sep and "/" in ref:
            reasons.setdefault(ref, why)
    return reasons


_REQUIREMENT = re.compile(r"\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*))?\s*")


@dataclass(frozen=True)
class LabelSelector:
    """A kubectl equality-based label selector: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``,
    joined by commas (all must hold)."""

    text: str
    requirements: tuple[tuple[str, str, str], ...]  # (key, operator, value); operators =, !=,
    # exists, !exists

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse ``text``; a malformed requirement is a ``ConfigError`` (exit 2)."""
        requirements = []
        for part in text.split(","):
            match = _REQUIREMENT.fullmatch(part)
            if match is None or (match.group(1) and match.group(3)):
                raise ConfigError(
                    f"label selector {text!r}: cannot parse {part.strip()!r} "
                    "(use key=value, key!=value, key or !key)"
                )
            negate, key, operator, value = match.groups()
            if operator is None:
                requirements.append((key, "!exists" if negate else "exists", ""))
            else:
                requirements.append((key, "!=" if operator == "!=" else "=", value or ""))
        return cls(text, tuple(requirements))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy every requirement."""
        for key, operator, value in self.requirements:
            held = labels.get(key)
            ok = {
                "=": held == value,
                "!=": held != value,
                "exists": held is not None,
                "!exists": held is None,
            }[operator]
            if not ok:
                return False
        return True
