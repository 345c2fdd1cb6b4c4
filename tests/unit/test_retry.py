"""``Backoff`` delays and the ``retry`` helper every waiting loop uses."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from chassisd.errors import (
    AmbiguousOutcome,
    AuthError,
    DriverError,
    KubeApiError,
    TransientError,
)
from chassisd.retry import Backoff, retry

NO_WAIT = Backoff(initial=0.0, maximum=0.0)


def failing(*errors: Exception, result: str = "done") -> tuple[Callable[[], str], list[int]]:
    """A call that raises ``errors`` in turn, then returns ``result``; and its call counter."""
    queue = list(errors)
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if queue:
            raise queue.pop(0)
        return result

    return call, calls


def test_delays_grow_by_the_factor_up_to_the_maximum() -> None:
    """1, 2, 4, 8, then the cap."""
    backoff = Backoff(initial=1.0, factor=2.0, maximum=10.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_first_delay_above_the_maximum_is_capped() -> None:
    """A chassis polled hourly, failing, is retried within a 30-minute cap from the start."""
    assert Backoff(initial=3600.0, maximum=1800.0).delay(1) == 1800.0


def test_a_long_failure_streak_stays_at_the_maximum() -> None:
    """A chassis failing for weeks does not overflow the arithmetic."""
    assert Backoff(initial=300.0, factor=2.0, maximum=1800.0).delay(100_000) == 1800.0


def test_jitter_spreads_each_delay_within_its_fraction() -> None:
    """±10 %: the extremes of the random draw give 0.9× and (almost) 1.1× the delay."""
    backoff = Backoff(initial=100.0, factor=2.0, maximum=1000.0, jitter=0.1)
    assert backoff.delay(1, uniform=lambda: 0.0) == pytest.approx(90.0)
    assert backoff.delay(1, uniform=lambda: 0.5) == pytest.approx(100.0)
    assert backoff.delay(5, uniform=lambda: 0.999999) == pytest.approx(1100.0, rel=1e-5)
    rng = random.Random(7)  # noqa: S311 - jitter, not cryptography
    delays = {backoff.delay(2, uniform=rng.random) for _ in range(200)}
    assert all(180.0 <= d <= 220.0 for d in delays) and len(delays) > 100


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"initial": -1.0}, "cannot be negative"),
        ({"maximum": -1.0}, "cannot be negative"),
        ({"factor": 0.5}, "factor must be at least 1"),
        ({"jitter": 1.0}, "jitter is a fraction"),
        ({"jitter": -0.1}, "jitter is a fraction"),
    ],
)
def test_nonsense_settings_are_refused(arguments: dict[str, float], complaint: str) -> None:
    """A back-off that shrinks, goes negative or jitters past zero is a ValueError."""
    with pytest.raises(ValueError, match=complaint):
        Backoff(**arguments)


def test_transient_errors_are_retried_with_the_backoff_delays() -> None:
    """Two transient failures, then success: three calls, waits of 1 s and 2 s."""
    call, calls = failing(TransientError("a"), TransientError("b"))
    sleeps: list[float] = []
    assert retry(call, attempts=3, backoff=Backoff(), sleep=sleeps.append) == "done"
    assert len(calls) == 3 and sleeps == [1.0, 2.0]


def test_the_last_error_is_raised_as_it_came_after_the_last_attempt() -> None:
    """Attempts are a hard limit; the final error object is the caller's to handle."""
    last = TransientError("third")
    call, calls = failing(TransientError("first"), TransientError("second"), last)
    with pytest.raises(TransientError) as info:
        retry(call, attempts=3, backoff=NO_WAIT, sleep=lambda s: None)
    assert info.value is last and len(calls) == 3


def test_errors_not_named_end_it_at_once() -> None:
    """A refused login is not retried."""
    call, calls = failing(AuthError("refused"))
    sleeps: list[float] = []
    with pytest.raises(AuthError):
        retry(call, attempts=5, backoff=Backoff(), sleep=sleeps.append)
    assert len(calls) == 1 and sleeps == []


def test_an_ambiguous_outcome_is_never_retried_even_when_its_base_is_named() -> None:
    """A command that may have reached the device is not sent again, whatever retry_on says."""
    call, calls = failing(AmbiguousOutcome("sent, no answer"))
    with pytest.raises(AmbiguousOutcome):
        retry(call, attempts=5, backoff=NO_WAIT, retry_on=(DriverError,), sleep=lambda s: None)
    assert len(calls) == 1


def test_other_classes_can_be_retried_and_each_retry_is_reported() -> None:
    """The watch loop retries API errors; ``on_retry`` hears of each wait before it."""
    first, second = KubeApiError("down", status=0), KubeApiError("still down", status=0)
    call, _ = failing(first, second)
    told: list[tuple[Exception, float]] = []
    result = retry(
        call,
        attempts=3,
        backoff=Backoff(initial=1.0, factor=2.0, maximum=30.0),
        retry_on=(KubeApiError,),
        sleep=lambda s: None,
        on_retry=lambda error, delay: told.append((error, delay)),
    )
    assert result == "done" and told == [(first, 1.0), (second, 2.0)]


def test_at_least_one_attempt() -> None:
    """Zero attempts is a programming error, not a silent no-op."""
    call, calls = failing()
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        retry(call, attempts=0, backoff=NO_WAIT)
    assert calls == []
