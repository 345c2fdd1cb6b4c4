"""Node memory, pure: what chassisd remembers of every node, and its one record format.

Owns ``KnownNode`` (a node as last seen, since when, since when it is missing), the grace
period rule (``remember``: a node a *successful* poll no longer reports keeps its reservation
until its pool's grace period has passed; a failed poll changes nothing; a node polled with
unknown MACs keeps the MACs it was last seen with, so a MAC answer cut short removes no
reservation; a node whose product and serial this poll did not read keeps those it had, and
``details_due`` says when they are read again), and the codec between
a ``KnownNode`` and the dict recorded in a Chassis status and in the standalone state file, so
both modes remember the same way. No I/O, no clock: callers pass ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chassisd.config import DEFAULT_GRACE_PERIOD, Config
from chassisd.model import Details, NodeRecord
from chassisd.noderef import NamedNode, node_from_dict, node_to_dict
from chassisd.timestamps import parse_time, stamp


@dataclass(frozen=True, slots=True)
class KnownNode:
    """A node chassisd remembers: as last seen, since when, and since when it is missing.

    ``details_at``: when its product and serial were last asked for, by a driver that reads
    them only on request (``Details``); None for the others.
    """

    node: NamedNode
    first_seen: datetime
    absent_since: datetime | None = None
    details_at: datetime | None = None


#: How long product and serial read on request are believed before they are read again. They
#: change only with the cartridge, which a change of the node's MACs already reveals
#: (``details_due``); the daily read catches what that cannot (a swap to a cartridge with the
#: same MACs, a firmware that fills in a serial later) at one command per chassis per day.
DETAILS_MAX_AGE = timedelta(hours=24)


def details_due(before: KnownNode | None, record: NodeRecord, now: datetime) -> bool:
    """Whether a poll should ask for the product and serial of ``record`` (deferred by its
    driver), given what is known of it: a new node, one never asked, one whose details are
    ``DETAILS_MAX_AGE`` old, or one whose MACs changed (another cartridge in the slot)."""
    if before is None or before.details_at is None:
        return True
    if now - before.details_at >= DETAILS_MAX_AGE:
        return True
    old = set(before.node.record.macs)
    return bool(record.macs_known and record.macs and old and set(record.macs) != old)


def grace_period(config: Config, node: NamedNode) -> timedelta:
    """How long ``node`` keeps its reservation after a successful poll stops reporting it:
    the grace period of the pool that lists it, else the catch-all's, else the default."""
    rec = node.record
    listing = [
        p
        for p in config.pools
        if any(m.matches(node.chassis, rec.id, rec.cartridge, rec.node) for m in p.members)
    ]
    pools = listing or [p for p in config.pools if p.catch_all]
    return timedelta(seconds=pools[0].grace_period if pools else DEFAULT_GRACE_PERIOD)


def details_wanted(
    known: Mapping[str, KnownNode], chassis: str, now: datetime
) -> Callable[[NodeRecord], bool]:
    """The poller's ``details_due`` for one chassis, from what is known of its nodes."""
    return lambda record: details_due(known.get(f"{chassis}/{record.id}"), record, now)


def remember(
    config: Config,
    known: Mapping[str, KnownNode],
    polled: Mapping[str, Sequence[NamedNode]],
    now: datetime,
) -> tuple[dict[str, KnownNode], tuple[str, ...]]:
    """Update what is known from the chassis polled *successfully* (``polled``: chassis → nodes).

    Nodes of chassis not in ``polled`` (failed or not polled) are kept unchanged; a node a
    successful poll no longer reports gets ``absent_since`` and is dropped only once its grace
    period has passed; nodes of chassis no longer configured are dropped. A node polled with
    unknown MACs (``macs_known`` False, none given: the device's MAC answer left it out) keeps
    the MACs it was last seen with. Returns the new memory (by ``chassis/id``) and the refs
    dropped.
    """
    configured = {c.name for c in config.chassis}
    result: dict[str, KnownNode] = {}
    dropped: list[str] = []
    for nodes in polled.values():
        for node in nodes:
            ref = node.ref
            before = known.get(ref)
            if before is not None and not node.record.macs_known and not node.record.macs:
                node = replace(node, record=replace(node.record, macs=before.node.record.macs))
            node, details_at = _with_details(node, before, now)
            if (
                before is not None
                and before.absent_since is None
                and before.node == node
                and before.details_at == details_at
            ):
                result[ref] = before  # unchanged: the same value, so callers can tell by identity
            else:
                first_seen = before.first_seen if before else now
                result[ref] = KnownNode(node, first_seen, None, details_at)
    for ref, entry in sorted(known.items()):
        if ref in result:
            continue
        chassis = entry.node.chassis
        if chassis not in configured:
            dropped.append(ref)
        elif chassis in polled:
            absent_since = entry.absent_since or now
            if now - absent_since > grace_period(config, entry.node):
                dropped.append(ref)
            else:
                result[ref] = replace(entry, absent_since=absent_since)
        else:
            result[ref] = entry
    return result, tuple(dropped)


def _with_details(
    node: NamedNode, before: KnownNode | None, now: datetime
) -> tuple[NamedNode, datetime | None]:
    """``node`` as remembered (its product and serial kept when this poll did not read them;
    ``Details.CURRENT``) and when its details were last asked for."""
    rec = node.record
    if rec.details is Details.CURRENT:
        return node, None
    at = now if rec.details in (Details.READ, Details.FAILED) else None
    if rec.details is not Details.READ and before is not None:
        old = before.node.record
        rec = replace(rec, product=old.product, serial=old.serial)
        at = at or before.details_at
    return replace(node, record=replace(rec, details=Details.CURRENT)), at


def known_order(entry: KnownNode) -> tuple[int, int, str]:
    """The order nodes are recorded in: cartridge, node, native id."""
    rec = entry.node.record
    return rec.cartridge or 0, rec.node or 0, rec.id


def known_to_dict(entry: KnownNode, *, with_chassis: bool = False) -> dict[str, Any]:
    """A remembered node as recorded (a Chassis status entry; the state file adds the chassis)."""
    data = node_to_dict(entry.node)
    if with_chassis:
        data["chassis"] = entry.node.chassis
    data["firstSeen"] = stamp(entry.first_seen)
    if entry.absent_since is not None:
        data["absentSince"] = stamp(entry.absent_since)
    if entry.details_at is not None:
        data["detailsRead"] = stamp(entry.details_at)
    return data


def known_from_dict(chassis: str, entry: Mapping[str, Any], now: datetime) -> KnownNode:
    """The inverse of ``known_to_dict`` for a node of ``chassis`` (``now`` when no firstSeen)."""
    return KnownNode(
        node_from_dict(chassis, entry),
        parse_time(entry.get("firstSeen")) or now,
        parse_time(entry.get("absentSince")),
        parse_time(entry.get("detailsRead")),
    )
