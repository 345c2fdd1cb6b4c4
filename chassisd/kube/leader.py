"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's semantics.

Owns: one Lease per election (``<namespace>/<name>``), the decision whether this replica leads,
and the two leadership callbacks. Two chassisd replicas run an elector each; only the one whose
``is_leader`` is true may write to Kubernetes or send power commands.

Must not: act on anything but the Lease; log credentials (only Lease names, identities, HTTP
status codes and error types are logged); keep reporting leadership on a lease it has not
renewed within ``renew_deadline``; let an API error end its loop.

How one attempt decides (client-go ``tryAcquireOrRenew``), every ``retry_period``::

    GET lease ── 404 ──> CREATE (holder = us)          409: another replica created it first
        │
        ├─ holder is another identity and the lease has not expired ──> stand by
        └─ otherwise (holder is us, empty, or expired) ──> REPLACE with the resourceVersion read
                                                           409: another replica won the race

*Expired* follows client-go, not the clock of whoever wrote ``renewTime``: a lease has expired
when this process has seen no change to it (its resourceVersion) for ``leaseDurationSeconds``,
measured on this process's monotonic clock. Farm nodes are diskless and may run on an unsynced
clock until NTP steps it, so a timestamp written by another node must never decide that a
live leader is dead. The cost: a replica that starts while an abandoned lease names a dead
holder waits one lease duration before taking over.

While leading, a renewal that has not succeeded within ``renew_deadline`` of the start of the
last successful one ends leadership: ``is_leader`` turns false by itself at that moment (even if
the elector thread is stuck in a request, whose timeout is the time left), then
``on_stopped_leading`` runs. ``renew_deadline < lease_duration`` is what keeps two leaders from
overlapping: the old leader stops acting before any other replica may consider the lease
expired. A lease that names another holder ends leadership at once.

On a clean stop the leader first calls ``on_stopped_leading`` (so it has stopped acting), then
releases the lease (client-go ``ReleaseOnCancel``: empty ``holderIdentity``, one-second
duration) so the other replica takes over within one retry period. client-go releases first and
calls back afterwards; the order here means the two replicas never act at the same time.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

__all__ = ["LeaderElectionSettings", "LeaderElector"]

log = logging.getLogger(__name__)

# client-go's JitterFactor: the renew deadline must leave room for more than one retry.
_JITTER_FACTOR = 1.2
# A request with less time than this left before the renew deadline is not worth sending.
_MIN_REQUEST_TIMEOUT = 0.05

# The errors one attempt can meet talking to the API server: HTTP errors (ApiException, also
# TLS failures as status 0), connection failures and timeouts after urllib3's retries
# (HTTPError), socket errors (OSError) and a response the client's models refuse (pydantic's
# ValidationError is a ValueError). Anything else is a bug and ends the loop (stepping down).
_API_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError)


@dataclass(frozen=True)
class LeaderElectionSettings:
    """Which Lease to contend for, as whom, and how fast (all durations in seconds).

    The defaults are client-go's (kube-controller-manager and kube-scheduler use them): a
    leader that stops renewing is replaced 15 s later, transient API hiccups of up to 10 s
    do not cost leadership, and the Lease is written every 2 s (one small PUT, plus a GET).
    """

    namespace: str
    name: str  # the Lease's name, e.g. "chassisd-leader"
    identity: str  # unique per replica; the pod name in a cluster
    # How long other replicas wait, after they last saw the lease change, before taking it over.
    # Written as the Lease's whole-second leaseDurationSeconds, so it must be whole seconds.
    lease_duration: float = 15.0
    # How long the leader keeps leading without a successful renewal. Must be shorter than
    # lease_duration: the gap covers one request timeout and clock-rate differences.
    renew_deadline: float = 10.0
    # Time between attempts, to acquire as well as to renew.
    retry_period: float = 2.0
    # Release the lease when stopped, so the other replica need not wait lease_duration.
    # False only to simulate a crashed leader in tests.
    release_on_stop: bool = True

    def __post_init__(self) -> None:
        for field in ("namespace", "name", "identity"):
            if not getattr(self, field):
                raise ValueError(f"leader election {field}: must not be empty")
        if self.retry_period <= 0:
            raise ValueError(f"leader election retry_period: {self.retry_period} is not > 0")
        if self.lease_duration < 1 or self.lease_duration != int(self.lease_duration):
            raise ValueError(
                f"leader election lease_duration: {self.lease_duration} is not a whole number "
                "of seconds >= 1 (the Lease stores leaseDurationSeconds as an integer)"
            )
        if not self.renew_deadline < self.lease_duration:
            raise ValueError(
                f"leader election renew_deadline: {self.renew_deadline} must be shorter than "
                f"lease_duration {self.lease_duration}, or two replicas could both lead"
            )
        if not self.renew_deadline > _JITTER_FACTOR * self.retry_period:
            raise ValueError(
                f"leader election renew_deadline: {self.renew_deadline} must be longer than "
                f"{_JITTER_FACTOR} × retry_period {self.retry_period}, or one slow renewal "
                "costs leadership"
            )


class _Attempt(Enum):
    """What one acquire-or-renew attempt found."""

    HELD = "held"  # we wrote the lease as its holder
    OTHER = "other"  # another replica holds it, or won a race for it
    FAILED = "failed"  # the API could not be reached or refused; nothing is known


class LeaderElector:
    """Contends for one Lease and reports, thread-safely, whether this replica leads.

    ``run`` blocks until ``stop`` is set; run it in its own thread. The callbacks are called on
    that thread and must return quickly (start or pause work, set a flag): renewals wait for
    them. An exception from a callback is logged and otherwise ignored.

    ``clock`` measures durations (seconds; only differences matter, so it should be monotonic);
    ``wall_clock`` gives the POSIX time written as ``renewTime``/``acquireTime``; ``sleep``
    waits between attempts (the default waits on ``stop``, so a stop is noticed at once).
    """

    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_stop: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = LeaderElectionSettings(
            namespace=namespace,
            name=name,
            identity=identity,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
            release_on_stop=release_on_stop,
        )
        self._leases = k8s.CoordinationV1Api(api)
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # clock() value until which this replica may act as leader; None when not leading.
        self._leading_until: float | None = None
        # The rest is touched only by the thread in run().
        self._observed_version: str | None = None  # resourceVersion last seen
        self._observed_at = 0.0  # clock() when that resourceVersion was first seen
        self._held: k8s.V1Lease | None = None  # the lease as we last wrote it (for release)
        self._holder_logged: str | None = None  # last holder logged while standing by
        self._failing = False  # an API error has been logged and not yet recovered from

    @property
    def is_leader(self) -> bool:
        """True while this replica holds the lease and renewed it within ``renew_deadline``."""
        with self._lock:
            return self._leading_until is not None and self._clock() < self._leading_until

    @property
    def _lease_ref(self) -> str:
        return f"{self.settings.namespace}/{self.settings.name}"

    def run(
        self,
        stop: threading.Event,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
    ) -> None:
        """Contend for the lease until ``stop`` is set; then release it if leading."""
        settings = self.settings
        leading = False
        log.info(
            "leader election: contending lease=%s identity=%s", self._lease_ref, settings.identity
        )
        try:
            while not stop.is_set():
                started = self._clock()
                if leading and not self.is_leader:  # the renew deadline passed
                    leading = False
                    self._stop_leading(
                        on_stopped_leading,
                        f"no successful renewal within {settings.renew_deadline:g} s",
                    )
                outcome = self._attempt(leading)
                if outcome is _Attempt.HELD:
                    with self._lock:
                        self._leading_until = started + settings.renew_deadline
                    if not leading:
                        leading = True
                        self._holder_logged = None
                        log.info(
                            "leader election: started leading lease=%s identity=%s",
                            self._lease_ref,
                            settings.identity,
                        )
                        _call(on_started_leading, "on_started_leading")
                elif leading and outcome is _Attempt.OTHER:
                    leading = False
                    self._stop_leading(on_stopped_leading, "the lease names another holder")
                self._wait(stop, started + settings.retry_period)
        finally:
            if leading:
                self._stop_leading(on_stopped_leading, "shutting down", level=logging.INFO)
                if settings.release_on_stop:
                    self._release()

    def _stop_leading(
        self, on_stopped_leading: Callable[[], None], reason: str, level: int = logging.WARNING
    ) -> None:
        with self._lock:
            self._leading_until = None
        log.log(
            level,
            "leader election: stopped leading lease=%s identity=%s: %s",
            self._lease_ref,
            self.settings.identity,
            reason,
        )
        _call(on_stopped_leading, "on_stopped_leading")

    # --- one attempt ------------------------------------------------------------------------

    def _attempt(self, leading: bool) -> _Attempt:
        try:
            outcome = self._try_acquire_or_renew(leading)
        except _API_ERRORS as exc:
            # One line when the API starts failing, not one per retry period.
            level = logging.DEBUG if self._failing else logging.WARNING
            self._failing = True
            log.log(
                level,
                "leader election: API request failed lease=%s identity=%s leading=%s: %s",
                self._lease_ref,
                self.settings.identity,
                leading,
                _describe(exc),
            )
            return _Attempt.FAILED
        if self._failing and outcome is not _Attempt.FAILED:
            self._failing = False
            log.info("leader election: API reachable again lease=%s", self._lease_ref)
        return outcome

    def _try_acquire_or_renew(self, leading: bool) -> _Attempt:
        settings = self.settings
        timeout = self._request_timeout(leading)
        if timeout is None:
            return _Attempt.FAILED  # the renew deadline has passed; a request cannot help
        now = self._now()
        try:
            lease = self._leases.read_namespaced_lease(
                settings.name, settings.namespace, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            return self._create(now, timeout)

        self._observe(lease)
        spec = lease.spec or k8s.V1LeaseSpec()
        holder = spec.holder_identity or ""
        if holder and holder != settings.identity and not self._expired(spec):
            if holder != self._holder_logged:
                self._holder_logged = holder
                log.info(
                    "leader election: lease=%s is held by %s; standing by as %s",
                    self._lease_ref,
                    holder,
                    settings.identity,
                )
            return _Attempt.OTHER

        if holder == settings.identity:  # a renewal keeps the acquisition record
            acquired = _micro_time(spec.acquire_time) if spec.acquire_time else now
            transitions = spec.lease_transitions or 0
        else:  # taking over a released or expired lease is a transition
            acquired = now
            transitions = (spec.lease_transitions or 0) + 1
            log.info(
                "leader election: taking over lease=%s from %s",
                self._lease_ref,
                f"expired holder {holder}" if holder else "no holder (released)",
            )
        body = k8s.V1Lease(
            metadata=lease.metadata,  # carries the resourceVersion read: a stale write gets 409
            spec=self._spec(now, acquired=acquired, transitions=transitions),
        )
        timeout = self._request_timeout(leading)
        if timeout is None:
            return _Attempt.FAILED
        try:
            written = self._leases.replace_namespaced_lease(
                settings.name, settings.namespace, body, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            if leading:
                # Someone wrote the lease since our GET. The next attempt reads who holds it.
                log.warning(
                    "leader election: renewal of lease=%s conflicted (409); re-reading",
                    self._lease_ref,
                )
                return _Attempt.FAILED
            log.info("leader election: lost the race for lease=%s (409 Conflict)", self._lease_ref)
            return _Attempt.OTHER
        self._observe(written)
        self._held = written
        return _Attempt.HELD

    def _create(self, now: datetime.datetime, timeout: float) -> _Attempt:
        settings = self.settings
        body = k8s.V1Lease(
            metadata=k8s.V1ObjectMeta(name=settings.name, namespace=settings.namespace),
            spec=self._spec(now, acquired=now, transitions=0),
        )
        try:
            created = self._leases.create_namespaced_lease(
                settings.namespace, body, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            log.info(
                "leader election: lease=%s was created by another replica first", self._lease_ref
            )
            return _Attempt.OTHER
        log.info("leader election: created lease=%s", self._lease_ref)
        self._observe(created)
        self._held = created
        return _Attempt.HELD

    def _spec(
        self, now: datetime.datetime, *, acquired: datetime.datetime, transitions: int
    ) -> k8s.V1LeaseSpec:
        return k8s.V1LeaseSpec(
            holder_identity=self.settings.identity,
            lease_duration_seconds=int(self.settings.lease_duration),
            acquire_time=acquired,
            renew_time=now,
            lease_transitions=transitions,
        )

    def _now(self) -> datetime.datetime:
        return _micro_time(datetime.datetime.fromtimestamp(self._wall_clock(), datetime.UTC))

    def _observe(self, lease: k8s.V1Lease) -> None:
        version = lease.metadata.resource_version if lease.metadata else None
        if version != self._observed_version:
            self._observed_version = version
            self._observed_at = self._clock()

    def _expired(self, spec: k8s.V1LeaseSpec) -> bool:
        duration = spec.lease_duration_seconds or self.settings.lease_duration
        return self._clock() - self._observed_at >= duration

    def _request_timeout(self, leading: bool) -> float | None:
        """Seconds a request may take: while leading, never past the renew deadline."""
        if not leading:
            return self.settings.renew_deadline
        with self._lock:
            until = self._leading_until
        left = (until if until is not None else 0.0) - self._clock()
        return left if left >= _MIN_REQUEST_TIMEOUT else None

    # --- leaving ----------------------------------------------------------------------------

    def _release(self) -> None:
        """Hand the lease back (empty holder), so the other replica need not wait for expiry."""
        held = self._held
        if held is None:
            return
        now = self._now()
        body = k8s.V1Lease(
            metadata=held.metadata,  # our last write's resourceVersion: 409 if anyone wrote since
            spec=k8s.V1LeaseSpec(
                holder_identity="",
                lease_duration_seconds=1,
                acquire_time=now,
                renew_time=now,
                lease_transitions=held.spec.lease_transitions if held.spec else None,
            ),
        )
        try:
            self._leases.replace_namespaced_lease(
                self.settings.name,
                self.settings.namespace,
                body,
                _request_timeout=self.settings.renew_deadline,
            )
        except _API_ERRORS as exc:
            if isinstance(exc, ApiException) and exc.status == 409:
                log.info(
                    "leader election: lease=%s changed since our last renewal; not released",
                    self._lease_ref,
                )
            else:
                log.warning(
                    "leader election: could not release lease=%s (it expires in %g s): %s",
                    self._lease_ref,
                    self.settings.lease_duration,
                    _describe(exc),
                )
            return
        self._held = None
        log.info(
            "leader election: released lease=%s identity=%s",
            self._lease_ref,
            self.settings.identity,
        )

    def _wait(self, stop: threading.Event, until: float) -> None:
        delay = until - self._clock()
        if delay <= 0:
            return
        if self._sleep is None:
            stop.wait(delay)
        else:
            self._sleep(delay)


def _micro_time(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` as a UTC datetime the API server accepts as a MicroTime.

    kube-apiserver parses MicroTime with the layout ``2006-01-02T15:04:05.000000Z07:00``: six
    fractional digits and an offset, both required. The client serialises with ``isoformat()``,
    which leaves out the fraction when it is zero, and the server then answers 400 ("cannot
    parse "+00:00" as ".000000""); such an instant is moved by one microsecond. Applies to
    times read back too: another writer's ``acquireTime`` may fall on a whole second.
    """
    if moment.tzinfo is None:
        raise ValueError(f"MicroTime {moment.isoformat()} has no timezone")
    moment = moment.astimezone(datetime.UTC)
    return moment.replace(microsecond=1) if moment.microsecond == 0 else moment


def _describe(exc: BaseException) -> str:
    """An error in one line without headers or bodies (they may echo request details)."""
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason or ''}".strip()
    return f"{type(exc).__name__}: {exc}"


def _call(callback: Callable[[], None], what: str) -> None:
    try:
        callback()
    except Exception:  # a callback's bug must not stop renewals or the release
        log.exception("leader election: %s raised", what)
