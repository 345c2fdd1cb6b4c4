"""``Alarm`` deadlines on one shared timer thread (``AlarmClock``)."""

from __future__ import annotations

import threading
import time

from chassisd.alarm import Alarm, AlarmClock


def _waiting(seconds: float, done: threading.Event) -> bool:
    return done.wait(seconds)


def test_an_alarm_fires_once_after_its_deadline() -> None:
    """The action runs once, not before the deadline; ``fired`` says so."""
    clock = AlarmClock()
    calls: list[float] = []
    done = threading.Event()
    started = time.monotonic()
    alarm = Alarm(0.2, lambda: (calls.append(time.monotonic() - started), done.set()), clock=clock)
    assert not alarm.fired
    assert _waiting(5, done)
    time.sleep(0.1)
    assert alarm.fired
    assert len(calls) == 1 and calls[0] >= 0.2


def test_a_cancelled_alarm_never_fires() -> None:
    """Cancelling (or leaving the ``with`` block) before the deadline disarms it."""
    clock = AlarmClock()
    calls: list[str] = []
    with Alarm(0.1, lambda: calls.append("block"), clock=clock) as in_block:
        pass
    cancelled = Alarm(0.1, lambda: calls.append("cancelled"), clock=clock)
    cancelled.cancel()
    later = threading.Event()
    Alarm(0.3, later.set, clock=clock)
    assert later.wait(5)
    assert calls == []
    assert not in_block.fired and not cancelled.fired
    assert clock.pending() == 0


def test_alarms_fire_in_deadline_order_whatever_the_arming_order() -> None:
    """A shorter alarm armed after a longer one still fires first (the clock wakes early)."""
    clock = AlarmClock()
    order: list[str] = []
    done = threading.Event()
    Alarm(0.6, lambda: (order.append("long"), done.set()), clock=clock)
    Alarm(0.1, lambda: order.append("short"), clock=clock)
    Alarm(0.3, lambda: order.append("middle"), clock=clock)
    assert done.wait(5)
    assert order == ["short", "middle", "long"]


def test_many_alarms_share_one_thread_and_cancelled_ones_are_compacted() -> None:
    """Thousands of alarms armed and cancelled (a large fleet's commands) start one thread,
    and the heap does not keep every cancelled one until its deadline."""
    clock = AlarmClock()
    threads_before = threading.active_count()
    for _ in range(5000):
        Alarm(600, lambda: None, clock=clock).cancel()
    assert threading.active_count() <= threads_before + 1
    assert len(clock._heap) < 200
    done = threading.Event()
    Alarm(0.05, done.set, clock=clock)
    assert done.wait(5)


def test_an_action_that_raises_does_not_stop_the_clock() -> None:
    """A buggy action is contained; the next alarm still fires."""
    clock = AlarmClock()

    def broken() -> None:
        raise RuntimeError("bug")

    Alarm(0.05, broken, clock=clock)
    done = threading.Event()
    Alarm(0.2, done.set, clock=clock)
    assert done.wait(5)
