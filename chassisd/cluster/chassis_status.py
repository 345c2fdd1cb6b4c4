"""The Chassis status: what a poll, a power read-back or an invalid spec says about a chassis.

Owns building and writing the status of a Chassis — conditions (ConfigValid, Reachable,
InventoryValid, Stale: each says what was observed, nothing positive about what was not),
consecutive failures, model/firmware and the remembered nodes — only when it changed or the
heartbeat is due, and the Events of its transitions (what is wrong changed, or it Recovered).
Polling and scheduling are the chassis controller's; this module decides nothing about when.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from chassisd.cluster.cache import Key, ObjectCache, key_of
from chassisd.cluster.nodes import NodeMemory
from chassisd.cluster.specs import parse_chassis
from chassisd.cluster.status import condition, digest, find_condition, older_than
from chassisd.cluster.writer import Writer
from chassisd.errors import ChassisdError, ConfigError, ParseError
from chassisd.kube.gateway import CHASSIS
from chassisd.listing import poll_reason
from chassisd.memory import KnownNode, known_order, known_to_dict
from chassisd.poller import NodeLoss, PollResult
from chassisd.timestamps import stamp

log = logging.getLogger(__name__)


class ChassisStatus:
    """Writes Chassis statuses and their transition Events through the writer."""

    def __init__(
        self, cache: ObjectCache, memory: NodeMemory, writer: Writer, *, heartbeat: float
    ) -> None:
        self._cache = cache
        self._memory = memory
        self._writer = writer
        self._heartbeat = heartbeat
        # Per chassis: the nodes last put into a status (sorted), a digest of the rest of that
        # status, and the digest of the whole. A steady poll finds the same node objects
        # (``chassisd.memory.remember`` keeps unchanged ones) and need not encode 45 nodes to
        # learn that its status is what is stored.
        self._last: dict[Key, tuple[tuple[KnownNode, ...], bytes, bytes]] = {}
        self._last_lock = threading.Lock()

    def forget(self, key: Key) -> None:
        """A Chassis went: drop what was remembered of its status."""
        with self._last_lock:
            self._last.pop(key, None)

    def after_poll(
        self,
        obj: dict[str, Any],
        result: PollResult,
        nodes: list[KnownNode],
        failures: int,
        now: datetime,
        interval: float,
    ) -> None:
        """The status after a poll: conditions, failures, model/firmware and the remembered
        nodes, written only when it changed or the heartbeat is due."""
        old = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        last_success = stamp(now) if result.ok else old.get("lastSuccessTime")
        conditions = [
            condition(old, kind, value, reason, message, generation, now)
            for kind, value, reason, message in poll_conditions(
                result, stale=older_than(last_success, now, STALE_INTERVALS * interval)
            )
        ]
        lost = _nodes_lost(old, result, generation, now)
        if lost is not None:
            conditions.append(lost)
        self._report_transition(obj, old, conditions)
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": conditions,
            "consecutiveFailures": failures,
            "nodeCount": len(nodes),
        }
        if result.inventory is not None:
            if result.inventory.model:
                status["model"] = result.inventory.model
            if result.inventory.firmware:
                status["firmware"] = result.inventory.firmware
        for name in ("lastPollTime", "lastSuccessTime"):
            if name in old:
                status[name] = old[name]
        key = key_of(obj)
        ordered = tuple(sorted(nodes, key=known_order))
        rest = digest(status)
        with self._last_lock:
            last = self._last.get(key)
        if last is not None and last[0] == ordered and last[1] == rest:
            whole = last[2]
        else:
            status["nodes"] = [known_to_dict(k) for k in ordered]
            whole = digest(status)
            with self._last_lock:
                self._last[key] = (ordered, rest, whole)
        stale = older_than(old.get("lastPollTime"), now, self._heartbeat)
        if self._cache.status_digest(CHASSIS, key) == whole and not stale:
            return
        if "nodes" not in status:
            status["nodes"] = [known_to_dict(k) for k in ordered]
        status["lastPollTime"] = stamp(now)
        if result.ok:
            status["lastSuccessTime"] = stamp(now)
        if self._write(obj, status):
            # The next poll starts from this status (its stamps): remember it as written.
            rest = digest({k: v for k, v in status.items() if k != "nodes"})
            with self._last_lock:
                self._last[key] = (ordered, rest, digest(status))

    def _report_transition(
        self, obj: dict[str, Any], old: dict[str, Any], conditions: list[dict[str, Any]]
    ) -> None:
        """An Event when what is wrong with the chassis changes: the failing condition's
        reason (InvalidConfig, InvalidSpec, Unreachable, AuthFailed, HostKeyRejected,
        CertificateRejected, NotTrusted, ParseError, DeviceError: ``poller.FAILURE_REASONS``)
        as a Warning with its message, and Recovered when a poll succeeds again.
        A steady chassis, failing or not, makes no Event."""
        before, after = _failing(old.get("conditions") or []), _failing(conditions)
        if (before or {}).get("reason") == (after or {}).get("reason"):
            return
        if after is not None:
            reason = str(after["reason"])
            text, warning = str(after.get("message") or reason), True
        elif before is not None:
            reason, text, warning = "Recovered", f"polled again after {before['reason']}", False
        else:
            return
        try:
            self._writer.event(obj, reason=reason, message=text, warning=warning)
        except ChassisdError as exc:
            log.error("Event %s for Chassis %s/%s not written: %s", reason, *key_of(obj), exc)

    def loss_event(self, obj: dict[str, Any], loss: NodeLoss) -> None:
        """A Warning Event for a poll that lost many nodes (confirmed: ``NodesLost``) or whose
        answer left nodes out (``PartialAnswer``: they keep what was known)."""
        reason = "NodesLost" if loss.confirmed else "PartialAnswer"
        try:
            self._writer.event(obj, reason=reason, message=loss.message, warning=True)
        except ChassisdError as exc:
            log.error("Event %s for Chassis %s/%s not written: %s", reason, *key_of(obj), exc)

    def read_back(self, key: Key) -> None:
        """A power action read a node's state back into the node memory: show it in the
        Chassis status now, not at the next poll."""
        obj = self._cache.get(CHASSIS, key)
        if obj is None:
            return
        known = sorted(self._memory.get(key).values(), key=known_order)
        status = {
            **(obj.get("status") or {}),
            "nodeCount": len(known),
            "nodes": [known_to_dict(k) for k in known],
        }
        if self._cache.status_digest(CHASSIS, key) != digest(status):
            self._write(obj, status)

    def invalid(self, key: Key, obj: dict[str, Any]) -> None:
        """A Chassis whose spec is invalid: say why in its status, keep its nodes."""
        try:
            parse_chassis(obj)
        except ConfigError as error:
            problem = str(error)
        else:
            return  # fixed meanwhile: the spec change reschedules it
        old = obj.get("status") or {}
        generation = obj["metadata"].get("generation")
        now = datetime.now(UTC)
        conditions = [
            condition(old, "ConfigValid", False, "InvalidSpec", problem, generation, now),
            condition(old, "Reachable", None, "NotPolled", "the spec is invalid", generation, now),
            condition(old, "InventoryValid", None, "NoInventory", "", generation, now),
        ]
        self._report_transition(obj, old, conditions)
        status = {**old, "observedGeneration": generation, "conditions": conditions}
        known = list(self._memory.get(key).values())
        if known:  # the cache holds no node list: write the remembered nodes back unchanged
            status["nodes"] = [known_to_dict(k) for k in sorted(known, key=known_order)]
        if self._cache.status_digest(CHASSIS, key) != digest(status):
            self._write(obj, status)

    def _write(self, obj: dict[str, Any], status: dict[str, Any]) -> bool:
        """Write a status; returns whether it was written."""
        try:
            self._writer.status(obj, status)
        except ChassisdError as exc:  # an API failure, or this replica stopped leading
            log.error("status of Chassis %s/%s not written: %s", *key_of(obj), exc)
            return False
        return True


def _failing(conditions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first condition that says something is wrong (Stale aside: it follows the others)."""
    for kind in ("ConfigValid", "Reachable", "InventoryValid"):
        found = find_condition({"conditions": conditions}, kind)
        if found.get("status") == "False":
            return found
    return None


#: A chassis is Stale once no poll succeeded for this many poll intervals.
STALE_INTERVALS = 3


def poll_conditions(result: PollResult, *, stale: bool) -> list[tuple[str, bool | None, str, str]]:
    """The Chassis conditions after a poll, as (type, status, reason, message); None is
    Unknown. Each says what was observed, and nothing positive about what was not:

    - ConfigValid: False for a configuration error (unknown driver, missing Secret or key);
      nothing was tried then, so Reachable and InventoryValid are Unknown.
    - Reachable: True when the device answered, even with output chassisd cannot parse.
    - InventoryValid: True only for a parsed inventory; Unknown when no answer came.
    - Stale: True once no poll succeeded for ``STALE_INTERVALS`` intervals. It changes only
      when that changes, so a steady farm makes no writes for it.
    """
    error = result.error
    reason = poll_reason(error)
    message = "" if error is None else str(error)
    stale_condition = (
        "Stale",
        stale and not result.ok,
        "NoRecentSuccess" if stale and not result.ok else "RecentSuccess",
        f"no successful poll for {STALE_INTERVALS} poll intervals: {reason}"
        if stale and not result.ok
        else "",
    )
    if isinstance(error, ConfigError):
        return [
            ("ConfigValid", False, reason, message),
            ("Reachable", None, "NotPolled", "the configuration is invalid"),
            ("InventoryValid", None, "NoInventory", ""),
            stale_condition,
        ]
    config = ("ConfigValid", True, "Valid", "")
    if result.ok:
        return [config, ("Reachable", True, "PollSucceeded", ""),
                ("InventoryValid", True, "Parsed", ""), stale_condition]  # fmt: skip
    if isinstance(error, ParseError):
        return [config, ("Reachable", True, "Answered", ""),
                ("InventoryValid", False, reason, message), stale_condition]  # fmt: skip
    return [config, ("Reachable", False, reason, message),
            ("InventoryValid", None, "NoInventory", ""), stale_condition]  # fmt: skip


def _nodes_lost(
    old: dict[str, Any], result: PollResult, generation: Any, now: datetime
) -> dict[str, Any] | None:
    """The ``NodesLost`` condition: True while the last successful poll confirmed a mass
    disappearance; absent until one was first seen, so a quiet chassis's status stays as it was."""
    loss = result.loss
    if loss is not None:
        reason = "ConfirmedBySecondSession" if loss.confirmed else "PartialAnswerIgnored"
        return condition(old, "NodesLost", loss.confirmed, reason, loss.message, generation, now)
    previous = find_condition(old, "NodesLost")
    if not previous:
        return None
    if not result.ok:  # a failed poll says nothing about the nodes
        return previous
    return condition(old, "NodesLost", False, "NoMassLoss", "", generation, now)
