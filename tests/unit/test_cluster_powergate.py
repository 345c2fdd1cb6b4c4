"""Fairness of power actions: one conversation per (namespace, chassis), a share per namespace,
unreachable chassis failing fast."""

from __future__ import annotations

from chassisd.cluster.powergate import PowerGate


def test_one_conversation_per_chassis_keyed_by_namespace() -> None:
    """The same chassis name in two namespaces is two chassis."""
    gate = PowerGate(namespace_share=4)
    assert gate.claim(("a", "m1"))
    assert not gate.claim(("a", "m1"))
    assert gate.claim(("b", "m1"))
    gate.release(("a", "m1"))
    assert gate.claim(("a", "m1"))


def test_one_namespace_cannot_take_every_worker_while_another_waits() -> None:
    """With a share of 2: alone, namespace a may use more; once b waits (it was refused, here
    because its chassis was busy), a third conversation of a is refused and b gets one."""
    now = [0.0]
    gate = PowerGate(namespace_share=2, clock=lambda: now[0])
    assert gate.claim(("a", "m1")) and gate.claim(("a", "m2")) and gate.claim(("a", "m3"))
    assert gate.claim(("b", "m9"))
    assert not gate.claim(("b", "m9"))  # busy: b is now waiting
    gate.release(("a", "m3"))
    assert not gate.claim(("a", "m4"))  # a holds its share (2) and b waits
    assert gate.claim(("b", "m8"))
    now[0] = 10.0  # b no longer waiting
    assert gate.claim(("a", "m4"))


def test_an_unreachable_chassis_fails_fast_for_a_while() -> None:
    """Marked unreachable, a chassis says why until the hold ends."""
    now = [0.0]
    gate = PowerGate(namespace_share=1, hold=30, clock=lambda: now[0])
    gate.mark_unreachable(("a", "m1"), "connection refused")
    assert "connection refused" in gate.unreachable(("a", "m1"))
    assert gate.unreachable(("a", "m2")) == ""
    now[0] = 31
    assert gate.unreachable(("a", "m1")) == ""
