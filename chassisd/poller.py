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

Product and serial a driver reads only on request (``Details.DEFERRED``: Moonshot's
``show node info``) are asked for in the same session, only for the nodes the caller's
``details_due`` names (its memory: new nodes, changed cartridges, a slow cadence), so steady
polls send no extra command. That answer is contained like any other, but it never costs the
poll: a failure is a warning and leaves those nodes ``Details.FAILED`` (they keep what they had).

A successful poll is not always the truth: a chassis manager that cuts ``show node list`` short
at a line boundary sends a listing that parses. When a poll loses more of the nodes the chassis
had than ``is_mass_loss`` allows, a second session is asked before anything is believed (as
kube-controller-manager stops evicting when a whole zone goes unhealthy at once): a node either
session reports is present; what both leave out is lost, and ``PollResult.loss`` says so for
the caller to report. A confirmation that fails makes the poll fail, which changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace

from chassisd.driver import ChassisTarget, Driver
from chassisd.errors import (
    AuthError,
    CertificateError,
    ChassisdError,
    ConfigError,
    HostKeyError,
    ParseError,
    PermanentError,
    TransientError,
    TrustError,
    excerpt,
    located,
)
from chassisd.model import Details, Inventory, NodeRecord
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
#: Bytes of ``detailsRead`` in status and managedFields: only for the nodes of drivers that read
#: product and serial on request (``Details``), a Moonshot's 360 at most.
DETAILS_STATUS_BYTES = 64
#: Bytes per MAC: ``"xx:xx:xx:xx:xx:xx",`` in status and ``"v:\"xx:…\"":{},`` in managedFields.
MAC_STATUS_BYTES = 50


#: Which of a poll's nodes with deferred product and serial to ask about (``with_details``).
DetailsDue = Callable[[NodeRecord], bool]


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


#: A poll that loses more than this many of the nodes a chassis had is confirmed by a second
#: session. One Moonshot cartridge holds up to 4 nodes (m700: 4 SoCs), so pulling one cartridge
#: is believed at once; more than that in one poll interval is rarer than a firmware cutting an
#: answer short (issue: 23 and 24 nodes lost to a cut table).
MASS_LOSS_NODES = 4
#: ... or more than this share of them (small chassis and single-system BMCs: losing the only
#: node, or two of ten, is also worth a second look).
MASS_LOSS_SHARE = 0.10


def is_mass_loss(present: int, lost: int) -> bool:
    """Whether losing ``lost`` of ``present`` nodes in one poll needs a second session."""
    return lost > MASS_LOSS_NODES or (present > 0 and lost / present > MASS_LOSS_SHARE)


@dataclass(frozen=True)
class NodeLoss:
    """Many nodes missing from one poll's first answer, and what a second session said.

    ``confirmed``: the second session left them out too (``lost``, marked absent as usual);
    otherwise the second session reported them and the first answer was partial.
    """

    present: int
    lost: tuple[str, ...]
    confirmed: bool
    first_lost: int

    @property
    def message(self) -> str:
        """One line for a log, a condition or an Event."""
        if self.confirmed:
            return (
                f"{len(self.lost)} of {self.present} nodes no longer reported, confirmed by a "
                f"second session; marked absent (kept until the grace period ends): "
                f"{_some(self.lost)}"
            )
        return (
            f"the first answer left out {self.first_lost} of {self.present} nodes; a second "
            f"session reported them: partial answer not believed"
        )


def _some(ids: Collection[str], shown: int = 10) -> str:
    ordered = sorted(ids)
    more = len(ordered) - shown
    return ", ".join(ordered[:shown]) + (f" and {more} more" if more > 0 else "")


#: Why a poll failed, by error class (first match wins): the reason of a Chassis's ``Reachable``
#: condition, of the Event on its transition and the ``reason`` field of the failure's log line.
#: A refused SSH host key and a refused TLS certificate have their own words (the operator fixes
#: different things); ``NotTrusted`` is left for trust material that cannot be used at all.
FAILURE_REASONS: tuple[tuple[type[ChassisdError], str], ...] = (
    (AuthError, "AuthFailed"),
    (HostKeyError, "HostKeyRejected"),
    (CertificateError, "CertificateRejected"),
    (TrustError, "NotTrusted"),
    (TransientError, "Unreachable"),
    (ParseError, "ParseError"),
    (ConfigError, "InvalidConfig"),
    (ChassisdError, "DeviceError"),
)


@dataclass(frozen=True)
class PollResult:
    """The outcome of one poll cycle of one chassis (``loss``: see ``NodeLoss``)."""

    chassis: str
    driver: str
    inventory: Inventory | None
    error: ChassisdError | None
    attempts: int
    seconds: float
    loss: NodeLoss | None = field(default=None)

    @property
    def ok(self) -> bool:
        """True when the poll returned a complete inventory."""
        return self.inventory is not None

    @property
    def reason(self) -> str:
        """Why the poll failed, in one CamelCase word (``FAILURE_REASONS``); empty when it
        did not."""
        if self.ok:
            return ""
        return next((r for cls, r in FAILURE_REASONS if isinstance(self.error, cls)), "Unknown")


def poll_chassis(
    registry: Registry,
    driver_name: str,
    target: ChassisTarget,
    policy: RetryPolicy = RetryPolicy(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    present: Collection[str] = (),
    details_due: DetailsDue | None = None,
) -> PollResult:
    """Poll one chassis: one driver session, ``inventory()``, retrying transient failures.

    The whole cycle, retries and back-off included, ends by ``target.timeouts.poll``: each
    attempt's session gets what is left of it as its own deadline (which the driver enforces
    by cutting its connection), and no attempt starts, nor back-off outlasts, once it passed.
    ``present`` are the native ids of the nodes the chassis had (not yet absent): when the
    poll loses too many of them (``is_mass_loss``) a second session confirms, within the same
    deadline. ``details_due``: which nodes with deferred product and serial to ask about in
    the same session (``describe``); None asks about none.
    """
    started = time.monotonic()
    first = _poll_once(registry, driver_name, target, policy, sleep, details_due)
    if first.inventory is None or not present:
        return first
    lost = set(present) - {n.id for n in first.inventory.nodes}
    if not is_mass_loss(len(present), len(lost)):
        return first
    left = target.timeouts.poll - (time.monotonic() - started)
    bounded = replace(target, timeouts=replace(target.timeouts, poll=max(left, 0.001)))
    second = _poll_once(registry, driver_name, bounded, policy, sleep, details_due)
    seconds = time.monotonic() - started
    attempts = first.attempts + second.attempts
    if second.inventory is None:
        # Not confirmed: nothing is believed, nothing changes until a poll can say.
        return replace(second, attempts=attempts, seconds=seconds)
    ids = {n.id for n in second.inventory.nodes}
    merged = second.inventory.nodes + tuple(n for n in first.inventory.nodes if n.id not in ids)
    inventory = replace(second.inventory, nodes=merged)
    still_lost = tuple(sorted(lost - {n.id for n in merged}))
    loss = NodeLoss(
        present=len(present),
        lost=still_lost,
        confirmed=is_mass_loss(len(present), len(still_lost)),
        first_lost=len(lost),
    )
    return replace(second, inventory=inventory, attempts=attempts, seconds=seconds, loss=loss)


def _poll_once(
    registry: Registry,
    driver_name: str,
    target: ChassisTarget,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    details_due: DetailsDue | None,
) -> PollResult:
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
                inventory = checked(driver.inventory())
                if details_due is not None:
                    inventory = checked(with_details(driver, inventory, details_due))
                return inventory
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


def with_details(driver: Driver, inventory: Inventory, due: DetailsDue) -> Inventory:
    """``inventory`` with product and serial of its deferred nodes that are ``due``, asked of
    ``driver`` (``describe``) in its open session: those answered are ``Details.READ``, the
    others asked ``Details.FAILED``, and why is a warning. Nothing raised here ends the poll:
    its MACs are what it is for."""
    asked = [r.id for r in inventory.nodes if r.details is Details.DEFERRED and due(r)]
    if not asked:
        return inventory
    problem = ""
    try:
        found = driver.describe(asked)
    except Exception as exc:  # noqa: BLE001 - contained: a warning, never the poll's error
        error = exc if isinstance(exc, ChassisdError) else contain(
            exc, chassis=inventory.chassis, driver=inventory.driver
        )  # fmt: skip
        found, problem = {}, f"product and serial not read: {error}"
    missed = [node_id for node_id in asked if node_id not in found]
    if missed and not problem:
        problem = f"no product and serial for {len(missed)} node(s): {_some(missed)}"
    failed = set(missed)
    nodes = tuple(
        replace(r, product=found[r.id].product, serial=found[r.id].serial, details=Details.READ)
        if r.id in found
        else replace(r, details=Details.FAILED)
        if r.id in failed
        else r
        for r in inventory.nodes
    )
    warnings = (*inventory.warnings, problem) if problem else inventory.warnings
    return replace(inventory, nodes=nodes, warnings=warnings)


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
        + (DETAILS_STATUS_BYTES if record.details is not Details.CURRENT else 0)
        + MAC_STATUS_BYTES * len(record.macs)
        + sum(_json_length(s) + 14 for s in strings)
    )


def _json_length(text: str) -> int:
    """``len(json.dumps(text))``, without encoding the usual plain ASCII text."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return len(json.dumps(text))
