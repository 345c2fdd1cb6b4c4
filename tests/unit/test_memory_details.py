"""Node memory's rules for product and serial read on request (``Details``): kept through polls
that do not read them, and when they are due again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chassisd.config import ChassisResource, Config, SecretRef
from chassisd.memory import (
    DETAILS_MAX_AGE,
    KnownNode,
    details_due,
    known_from_dict,
    known_to_dict,
    remember,
)
from chassisd.model import Details, MacAddress, NodeRecord
from chassisd.noderef import NamedNode

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MAC = MacAddress("02:00:00:00:00:01")
CONFIG = Config(
    chassis=(ChassisResource(name="m", driver="moonshot", address="x",
                             credentials_ref=SecretRef("c")),),
    pools=(),
    secrets={},
)  # fmt: skip


def polled(
    details: Details, product: str = "", serial: str = "", mac: MacAddress = MAC
) -> NamedNode:
    record = NodeRecord(id="c1n1", macs=(mac,), product=product, serial=serial, details=details)
    return NamedNode("c1n1", "m", record)


def test_details_read_are_kept_through_polls_that_do_not_read_them() -> None:
    """READ stores product, serial and when; DEFERRED and FAILED keep them (FAILED restarts the
    clock, so a bad answer is not asked again every poll); CURRENT (other drivers) has no time."""
    first, _ = remember(CONFIG, {}, {"m": [polled(Details.READ, "m710x", "CN1")]}, T0)
    entry = first["m/c1n1"]
    assert (entry.node.record.product, entry.node.record.serial, entry.details_at) == (
        "m710x", "CN1", T0
    )  # fmt: skip
    assert entry.node.record.details is Details.CURRENT
    later = T0 + timedelta(minutes=5)
    kept, _ = remember(CONFIG, first, {"m": [polled(Details.DEFERRED)]}, later)
    assert kept == first
    failed, _ = remember(CONFIG, first, {"m": [polled(Details.FAILED)]}, later)
    assert failed["m/c1n1"].node.record.product == "m710x"
    assert failed["m/c1n1"].details_at == later
    current, _ = remember(CONFIG, {}, {"m": [polled(Details.CURRENT, "dl360")]}, T0)
    assert current["m/c1n1"].details_at is None


def test_details_are_due_for_new_nodes_changed_cartridges_and_daily() -> None:
    """Due: a node never seen or never asked, details a day old, MACs that changed; not due:
    the same node a minute later, or polled with unknown MACs."""
    entry = KnownNode(polled(Details.CURRENT, "m710x", "CN1"), T0, details_at=T0)
    record = polled(Details.DEFERRED).record
    assert details_due(None, record, T0)
    assert details_due(replace(entry, details_at=None), record, T0)
    assert not details_due(entry, record, T0 + timedelta(minutes=1))
    assert details_due(entry, record, T0 + DETAILS_MAX_AGE)
    other = polled(Details.DEFERRED, mac=MacAddress("02:00:00:00:00:99")).record
    assert details_due(entry, other, T0 + timedelta(minutes=1))
    unknown = replace(record, macs=(), macs_known=False)
    assert not details_due(entry, unknown, T0 + timedelta(minutes=1))


def test_details_time_survives_the_record_format() -> None:
    """``detailsRead`` goes into the recorded dict and back; an absent node keeps it."""
    entry = KnownNode(polled(Details.CURRENT, "m710x", "CN1"), T0, details_at=T0)
    data = known_to_dict(entry)
    assert data["detailsRead"] == "2026-01-01T00:00:00Z"
    assert known_from_dict("m", data, T0 + timedelta(hours=1)) == entry
    gone, _ = remember(CONFIG, {"m/c1n1": entry}, {"m": []}, T0 + timedelta(minutes=1))
    assert gone["m/c1n1"].details_at == T0 and gone["m/c1n1"].absent_since is not None
