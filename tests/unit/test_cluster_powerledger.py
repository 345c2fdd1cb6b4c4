"""The power ledger: attempts, sends and final statuses remembered per PowerAction uid."""

from __future__ import annotations

from chassisd.cluster.powerledger import WRITE_BACKOFF, PowerLedger


def test_a_new_attempt_remembers_the_earlier_ones() -> None:
    """A Running write that failed may still surface from the watch: its attempt stays ours."""
    ledger = PowerLedger()
    first = ledger.new_attempt("uid-1")
    second = ledger.new_attempt("uid-1")
    assert second.made(first.attempt) and second.made(second.attempt)
    assert not second.made("someone-else") and not second.made(None)
    assert ledger.get("uid-1") is second


def test_a_final_status_waits_for_its_write_with_back_off() -> None:
    """Failed writes back off (0.5 s doubling); a persisted status resets the count."""
    ledger = PowerLedger()
    entry = ledger.new_attempt("uid-2")
    ledger.mark_sent(entry)
    concluded = ledger.conclude("uid-2", {"phase": "Succeeded"})
    assert concluded is entry and entry.sent and entry.final == {"phase": "Succeeded"}
    assert ledger.write_failed(entry) == WRITE_BACKOFF.delay(1)
    assert ledger.write_failed(entry) == WRITE_BACKOFF.delay(2)
    ledger.persisted(entry)
    assert entry.persisted and entry.failures == 0
    ledger.forget("uid-2")
    assert ledger.get("uid-2") is None


def test_concluding_an_action_never_started_creates_its_entry() -> None:
    """An action that failed before any attempt (a bad reference) still gets its final status
    remembered until it is written."""
    ledger = PowerLedger()
    entry = ledger.conclude("uid-3", {"phase": "Failed"})
    assert entry.attempt == "" and not entry.sent and not entry.made("")
