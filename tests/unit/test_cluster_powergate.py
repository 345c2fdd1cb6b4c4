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


def test_one_namespace_cannot_take_every_worker() -> None:
    """With a share of 2, a third chassis of namespace a waits; namespace b still gets one."""
    gate = PowerGate(namespace_share=2)
    assert gate.claim(("a", "m1")) and gate.claim(("a", "m2"))
    assert not gate.claim(("a", "m3"))
    assert gate.claim(("b", "m9"))


def test_an_unreachable_chassis_fails_fast_for_a_while() -> None:
    """Marked unreachable, a chassis says why until the hold ends."""
    now = [0.0]
    gate = PowerGate(namespace_share=1, hold=30, clock=lambda: now[0])
    gate.mark_unreachable(("a", "m1"), "connection refused")
    assert "connection refused" in gate.unreachable(("a", "m1"))
    assert gate.unreachable(("a", "m2")) == ""
    now[0] = 31
    assert gate.unreachable(("a", "m1")) == ""
