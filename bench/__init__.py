"""Fleet benchmark: chassisd against the connection-per-command approach, on one machine.

Owns ``python -m bench`` (``make bench``): a simulated Moonshot fleet in one child process, the
real control plane, one ``chassisd run`` subprocess, the measurements taken from outside the
agent (simulator counters, ``/proc``, ``/metrics``, API watches), and two baseline clients that
open a new SSH connection per command. Must not change chassisd's behaviour or reach into its
internals: the agent is measured as it ships, through the same interfaces an operator has.

Modules: ``settings`` (options), ``fleetproc`` (the simulator process), ``farm`` (the
Kubernetes objects), ``agentproc`` (the agent process and its metrics), ``apiwatch`` (API
changes as the watch sees them), ``sweeps`` (poll rounds from the simulator's counters),
``baseline`` (the connection-per-command client, "MACs node by node"), ``maas`` (MAAS's
enlistment and power-on), ``powercompare`` (power-on of a running node, both ways),
``procstat`` (``/proc`` readers), ``runner`` (the phases), ``report`` (table, JSON, ratios,
targets), ``agent_profiled`` (the agent under cProfile or tracemalloc, for ``--profile-agent``
and ``--profile-memory``).
"""
