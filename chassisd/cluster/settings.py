"""Settings of the cluster agent, grouped by the controller they tune.

Owns the defaults and the reason for each. Seconds unless said otherwise. The daemon builds
these from its command line; tests shorten them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chassisd.poller import RetryPolicy
from chassisd.power import PowerSettings


@dataclass(frozen=True)
class PollSettings:
    """The chassis controller: how many polls at once, how failing chassis are retried."""

    #: Chassis polled at once; None (``--workers auto``): derived from the fleet and kept up
    #: with it by the chassis controller (the rule is ``chassisd.workers``'s). A poll is one
    #: mostly-waiting device session, so workers are cheap threads.
    workers: int | None = None
    #: Retries of transient failures inside one poll (the next poll does the rest).
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Longest wait before polling a failing chassis again (back-off doubles from its interval).
    max_backoff: float = 1800.0
    #: A Secret read for a poll is used this long: a fleet-wide known_hosts Secret read per
    #: poll cost a 100 KB GET per chassis; a rotated credential is picked up within this.
    secret_ttl: float = 30.0
    #: lastPollTime/lastSuccessTime are refreshed this often even when nothing changed (a
    #: steady farm otherwise causes no writes at all).
    status_heartbeat: float = 600.0


@dataclass(frozen=True)
class ReconcileSettings:
    """The pool reconciler and the informers."""

    #: A namespace is reconciled at most this often: changes of a poll round are batched.
    interval: float = 2.0
    #: DhcpHosts/ConfigMap applies in flight at once (a first sweep writes thousands).
    write_concurrency: int = 4
    #: Watches are restarted with a fresh list this often, and owned objects listed again: the
    #: safety net for missed events and for objects someone else edited.
    relist_interval: int = 300


@dataclass(frozen=True)
class PowerControllerSettings:
    """The power controller."""

    #: Power actions carried out at once (one BMC conversation per chassis at a time).
    workers: int = 4
    #: Finished PowerActions are deleted this long after they finished.
    ttl: float = 3600.0
    #: Timing of one action on the device (settling, connection retries).
    device: PowerSettings = field(default_factory=PowerSettings)


@dataclass(frozen=True)
class AgentSettings:
    """Everything the cluster agent can be tuned by."""

    namespace: str | None = None  # follow only this namespace (None: every namespace)
    identity: str = "chassisd"  # this replica's name: the leader Lease holder, PowerAction agent
    poll: PollSettings = field(default_factory=PollSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    power: PowerControllerSettings = field(default_factory=PowerControllerSettings)
