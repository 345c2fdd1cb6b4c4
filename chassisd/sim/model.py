"""The old import path of the Moonshot simulator's model, kept for callers not yet moved.

Owns nothing: it re-exports ``chassisd.sim.moonshot.model`` names that
``tests/kube/test_agent.py`` imports from here. New code imports from ``chassisd.sim.moonshot``
(or ``chassisd.sim.moonshot.model``); delete this module once no caller is left.

Must not: grow code or new names of its own.
"""

from chassisd.sim.moonshot.model import Cartridge, ChassisSpec, Faults, SimNode

__all__ = ["Cartridge", "ChassisSpec", "Faults", "SimNode"]
