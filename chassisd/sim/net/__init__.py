"""Network plumbing for simulated peers, with no knowledge of any device.

Owns: ``tls`` (a throw-away CA, a server certificate it signs, fingerprints, server contexts),
``https`` (a threaded HTTPS/1.1 server calling one handler per request, with a "never answer"
fault and a clean shutdown) and ``loop`` (an asyncio event loop on a background thread).

Must not: know any device, path, payload or CLI (an import-linter contract keeps
``chassisd.sim.moonshot`` out), or import anything from chassisd outside ``chassisd.sim``. The
Redfish tests reuse these pieces for their own payload servers.
"""
