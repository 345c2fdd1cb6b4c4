"""One poll cycle: driver → ``Inventory``, with the retry decision made here and only here.

Owns calling a driver for a chassis's inventory and deciding, by error class, whether to try
again: ``TransientError`` (nothing reached the device) is retried with exponential back-off
(``chassisd.retry``) within one cycle; every other error ends the cycle at once. The result
always says what happened; a failed poll carries no inventory, so nothing downstream can
mistake it for "the chassis is empty". It is also the driver boundary for what a device says
about its nodes: an inventory with a node id that could smuggle text into DHCP data or a
terminal (``,``, a newline, an escape sequence; ``chassisd.names.device_id_problem``) is a
``ParseError``, whichever driver returned it, and so is one with more nodes (``MAX_NODES``) or
more node data (``MAX_NODE_LIST_BYTES``) than a Chassis status can hold with room to spare.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from chassisd.driver import ChassisTarget
from chassisd.errors import (
    ChassisdError,
    ParseError,
    PermanentError,
    TransientError,
    excerpt,
    located,
)
from chassisd.model import Inventory, NodeRecord
from chassisd.names import device_id_problem
from chassisd.registry import Registry
from chassisd.retry import Backoff, retry

#: Most nodes one chassis may report. Every node is listed in its Chassis status (a Moonshot's
#: 45 cartridges hold at most 360 nodes), and the API server refuses an object over 1.5 MiB
#: (etcd's request limit), which would fail every status write of that chassis.
MAX_NODES = 1000
#: Most bytes the nodes of one chassis may weigh in its stored Chassis object, estimated by
#: ``node_status_bytes``: half the API server's limit. Seen on kube-apiserver 1.37: the
#: server-side apply bookkeeping (``managedFields``) of a node list weighs more than the list
#: itself (every node's key and fields, and every MAC again: ``macs`` is a set), 1,000 nodes
#: of 22 MACs made a 1.57 MB object.
MAX_NODE_LIST_BYTES = 768 * 1024
#: Bytes per node beyond what the device reports, in status and managedFields together: its
#: name (at most 63 characters), power, health, ``macsKnown``, ``firstSeen``, ``absentSince``,
#: the JSON around them and each field's managedFields entry.
NODE_STATUS_OVERHEAD = 576
#: Bytes per MAC: ``"xx:xx:xx:xx:xx:xx",`` in status and ``"v:\"xx:…\"":{},`` in managedFields.
MAC_STATUS_BYTES = 50


def contain(exc: BaseException, *, chassis: str, driver: str) -> PermanentError:
    """An exception that is no ``ChassisdError`` (a driver or library bug, a ``ValueError``
    from a malformed link) as this chassis's ``PermanentError``: it ends this chassis's poll,
    and nothing else. Its text is cut (``excerpt``): it may quote device output."""
    error = PermanentError(f"unexpected {type(exc).__name__}: {excerpt(str(exc))}")
    error.__cause__ = exc
    # ``located`` is the one place that names the source; it stamps what passes through it.
    with contextlib.suppress(PermanentError), located(chassis=chassis, driver=driver):
        raise error
    return error


class _DeadlinePassed(Exception):
    """The cycle's deadline passed before another attempt (the last real error is reported)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often one poll cycle retries a transient failure, and how long it waits between.

    Three attempts with 1 s, 2 s back-off: chassis managers drop SSH logins now and then
    (MAAS LP #1544757; Mozilla retries 4 times), but a longer wait belongs to the next
    scheduled poll, not to this one - hence the 10 s cap on any one wait within a cycle.
    """

    attempts: int = 3
    backoff: Backoff = Backoff(initial=1.0, factor=2.0, maximum=10.0)


@dataclass(frozen=True)
class PollResult:
    """The outcome of one poll cycle of one chassis."""

    chassis: str
    driver: str
    inventory: Inventory | None
    error: ChassisdError | None
    attempts: int
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the poll returned a complete inventory."""
        return self.inventory is not None


def poll_chassis(
    registry: Registry,
    driver_name: str,
    target: ChassisTarget,
    policy: RetryPolicy = RetryPolicy(),
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> PollResult:
    """Poll one chassis: one driver session, ``inventory()``, retrying transient failures.

    The whole cycle, retries and back-off included, ends by ``target.timeouts.poll``: each
    attempt's session gets what is left of it as its own deadline (which the driver enforces
    by cutting its connection), and no attempt starts, nor back-off outlasts, once it passed.
    """
    started = time.monotonic()
    deadline = started + target.timeouts.poll
    attempts = 0
    last: list[ChassisdError] = []

    def attempt() -> Inventory:
        nonlocal attempts
        left = deadline - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed()
        attempts += 1
        bounded = replace(target, timeouts=replace(target.timeouts, poll=left))
        try:
            # Errors raised before the driver's own ``located`` blocks (its constructor) are
            # named here too.
            with (
                located(chassis=target.name, driver=driver_name),
                registry.create(driver_name, bounded) as driver,
            ):
                return checked(driver.inventory())
        except ChassisdError as exc:
            last.append(exc)
            raise
        except Exception as exc:
            contained = contain(exc, chassis=target.name, driver=driver_name)
            last.append(contained)
            raise contained from exc

    def wait(seconds: float) -> None:
        sleep(max(0.0, min(seconds, deadline - time.monotonic())))

    try:
        inventory = retry(
            attempt,
            attempts=policy.attempts,
            backoff=policy.backoff,
            retry_on=(TransientError,),
            sleep=wait,
        )
    except _DeadlinePassed:
        error = (
            last[-1]
            if last
            else TransientError(
                f"poll deadline of {target.timeouts.poll:g} s (spec.pollTimeout) passed"
            )
        )
        return PollResult(
            target.name, driver_name, None, error, attempts, time.monotonic() - started
        )
    except ChassisdError as exc:
        return PollResult(target.name, driver_name, None, exc, attempts, time.monotonic() - started)
    return PollResult(
        target.name, driver_name, inventory, None, attempts, time.monotonic() - started
    )


def checked(inventory: Inventory) -> Inventory:
    """``inventory`` if every node id is one chassisd can use; else a ``ParseError`` naming it
    (escaped: the id may hold control characters)."""
    for record in inventory.nodes:
        why = device_id_problem(record.id)
        if why:
            raise ParseError(
                f"node id {excerpt(repr(record.id))} refused: {why}", command="inventory"
            )
    if len(inventory.nodes) > MAX_NODES:
        raise ParseError(
            f"the chassis reports {len(inventory.nodes)} nodes, more than chassisd keeps for "
            f"one chassis ({MAX_NODES}, so its status stays far below the API server's object "
            "size limit); nothing of this poll is used",
            command="inventory",
        )
    size = sum(node_status_bytes(record) for record in inventory.nodes)
    if size > MAX_NODE_LIST_BYTES:
        raise ParseError(
            f"the chassis's {len(inventory.nodes)} nodes would weigh about {size // 1024} KiB "
            f"in its Chassis status, more than chassisd allows for one chassis "
            f"({MAX_NODE_LIST_BYTES // 1024} KiB); nothing of this poll is used",
            command="inventory",
        )
    return inventory


def node_status_bytes(record: NodeRecord) -> int:
    """About how many bytes ``record`` weighs in its stored Chassis object, managedFields
    included (an upper bound; the id counts twice: it is also the node's managedFields key)."""
    strings = (record.id, record.id, record.product, record.serial)
    return (
        NODE_STATUS_OVERHEAD
        + MAC_STATUS_BYTES * len(record.macs)
        + sum(len(json.dumps(s)) + 14 for s in strings)
    )
