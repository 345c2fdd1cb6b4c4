"""The Chassis conditions after a poll (``chassis_status.poll_conditions``): each says what was
observed, nothing positive about what was not."""

from __future__ import annotations

from datetime import UTC, datetime

from chassisd.cluster.chassis_status import poll_conditions
from chassisd.errors import ChassisdError, ConfigError, ParseError, TransientError
from chassisd.model import Inventory
from chassisd.poller import PollResult


def _conditions(result: PollResult, *, stale: bool = False) -> dict[str, tuple[object, str]]:
    conditions = poll_conditions(result, stale=stale)
    return {kind: (value, reason) for kind, value, reason, _ in conditions}


def _failed(error: ChassisdError) -> PollResult:
    return PollResult("m1", "moonshot", None, error, 1, 0.1)


def test_a_configuration_error_is_its_own_condition() -> None:
    """An unknown driver or missing Secret: ConfigValid=False; nothing was tried, so Reachable
    and InventoryValid are Unknown (not Reachable=False, not InventoryValid=True)."""
    conds = _conditions(_failed(ConfigError("unknown driver 'x'", path="spec.driver")))
    assert conds["ConfigValid"] == (False, "InvalidConfig")
    assert conds["Reachable"] == (None, "NotPolled")
    assert conds["InventoryValid"] == (None, "NoInventory")


def test_unparsable_output_means_reachable_but_invalid() -> None:
    """A device that answered what chassisd cannot parse was reached: Reachable=True,
    InventoryValid=False ParseError."""
    conds = _conditions(_failed(ParseError("bad row", command="show node list", line_no=3)))
    assert conds["Reachable"] == (True, "Answered")
    assert conds["InventoryValid"] == (False, "ParseError")


def test_an_unreachable_chassis_claims_nothing_about_its_inventory() -> None:
    """Unreachable: Reachable=False; InventoryValid Unknown (never Parsed for an unread one);
    Stale only once the caller says no success came for several intervals."""
    conds = _conditions(_failed(TransientError("timed out")))
    assert conds["Reachable"] == (False, "Unreachable")
    assert conds["InventoryValid"] == (None, "NoInventory")
    assert conds["Stale"] == (False, "RecentSuccess")
    assert _conditions(_failed(TransientError("timed out")), stale=True)["Stale"] == (
        True,
        "NoRecentSuccess",
    )


def test_a_good_poll_is_valid_reachable_parsed_and_fresh() -> None:
    """Success: every condition positive, Stale False whatever the last success was."""
    inventory = Inventory(chassis="m1", driver="moonshot", nodes=(), taken_at=datetime.now(UTC))
    ok = PollResult("m1", "moonshot", inventory, None, 1, 0.1)
    conds = _conditions(ok, stale=True)
    assert conds == {
        "ConfigValid": (True, "Valid"),
        "Reachable": (True, "PollSucceeded"),
        "InventoryValid": (True, "Parsed"),
        "Stale": (False, "RecentSuccess"),
    }


def test_a_long_conflict_message_says_how_many_more() -> None:
    """Conflicts beyond the condition's 2,048 characters are counted, not cut mid-item."""
    from chassisd.cluster.status import MAX_MESSAGE, summarize

    items = [f"m1/c{i}n1: MAC 02:00:00:00:{i:02x}:01 already reserved for m2/c{i}n1"
             for i in range(45)]  # fmt: skip
    text = summarize(items)
    assert len(text) <= MAX_MESSAGE
    shown = text.split("; … and ")[0].split("; ")
    assert shown == items[: len(shown)]
    assert text.endswith(f"… and {len(items) - len(shown)} more")
    assert summarize(items[:3]) == "; ".join(items[:3])
