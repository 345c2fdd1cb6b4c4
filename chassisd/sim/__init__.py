"""Simulated hardware peers that ship with chassisd, and the network plumbing they share.

Owns nothing by itself:

- ``moonshot``: the HPE Moonshot iLO Chassis Manager (SSH CLI and ``/rest/v1`` REST API), its
  model, state and rendering, a fleet launcher and the command lines (``chassisctl sim
  moonshot``, ``python -m chassisd.sim``, ``python -m chassisd.sim.moonshot.rest_cmdline``).
- ``net``: generic plumbing with no device knowledge - TLS material (a throw-away CA and server
  certificate), a threaded HTTPS server, and an asyncio loop on a background thread.
- ``model``: a re-export of ``moonshot.model`` names under their old path, kept only while
  callers move to ``chassisd.sim.moonshot``.

Must not: import anything from chassisd outside ``chassisd.sim``. A simulator is an independent
peer of the chassisd driver; sharing parsing or rendering code would hide bugs.
"""
