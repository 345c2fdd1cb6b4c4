"""Simulated hardware peers that ship with chassisd; today: the HPE Moonshot iLO Chassis Manager.

Owns: nothing by itself; the Moonshot simulator lives in ``model`` (spec, profile, timing,
faults), ``state`` (runtime state, counters), ``render`` (CLI text), ``cli_commands`` (grammar),
``moonshot`` (SSH server, handle), ``fleet`` (many chassis, one loop) and ``cmdline``
(``chassisctl sim moonshot``).

Must not: import anything from chassisd outside ``chassisd.sim``. The simulator is an
independent peer of the chassisd driver; sharing parsing or rendering code would hide bugs.
"""
