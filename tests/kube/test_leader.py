"""Leader election (``chassisd.kube.leader``) against a real kube-apiserver: acquiring, renewing,
handing over on release and on death, losing a race with 409, and an unreachable API server.

Durations are short (lease 2 s, renew deadline 1.5 s, retry 0.2 s) so the file runs in seconds;
the bounds asserted follow from them and leave room for a loaded machine.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from chassisd.kube.leader import LeaderElectionSettings, LeaderElector
from chassisd.testing import wait_until
from chassisd.testing.controlplane import ControlPlane

pytestmark = pytest.mark.kube

LEASE = "chassisd-leader"
LEASE_DURATION = 2.0
RENEW_DEADLINE = 1.5
RETRY_PERIOD = 0.2
SLACK = 0.4  # seconds allowed for requests and thread scheduling on a busy machine
LOGGER = "chassisd.kube.leader"


class Candidate:
    """One elector on its own thread, recording when (time.monotonic) its callbacks ran."""

    def __init__(
        self, api: k8s.ApiClient, namespace: str, identity: str, *, release_on_stop: bool
    ) -> None:
        self.identity = identity
        self.elector = LeaderElector(
            api,
            namespace=namespace,
            name=LEASE,
            identity=identity,
            lease_duration=LEASE_DURATION,
            renew_deadline=RENEW_DEADLINE,
            retry_period=RETRY_PERIOD,
            release_on_stop=release_on_stop,
        )
        self.started: list[float] = []
        self.stopped: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.elector.run,
            args=(
                self._stop,
                lambda: self.started.append(time.monotonic()),
                lambda: self.stopped.append(time.monotonic()),
            ),
            name=f"elector-{identity}",
            daemon=True,
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def halt(self) -> float:
        """Set the stop event, wait for run() to return, and say when it had returned."""
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), f"elector {self.identity} did not stop"
        return time.monotonic()


MakeCandidate = Callable[..., Candidate]


@pytest.fixture
def candidate(kube_api: k8s.ApiClient, kube_namespace: str) -> Iterator[MakeCandidate]:
    """Start electors for the test's namespace (by default on the admin client); stop all after."""
    made: list[Candidate] = []

    def make(
        identity: str, *, api: k8s.ApiClient | None = None, release_on_stop: bool = True
    ) -> Candidate:
        started = Candidate(
            api or kube_api, kube_namespace, identity, release_on_stop=release_on_stop
        )
        made.append(started)
        return started

    yield make
    for each in made:
        each.halt()


def held_at(condition: Callable[[], object], timeout: float, what: str) -> float:
    """Poll ``condition`` every 10 ms; return the monotonic time it first held, or fail."""
    if not wait_until(condition, timeout, interval=0.01):
        pytest.fail(f"not within {timeout} s: {what}")
    return time.monotonic()


def read_lease(api: k8s.ApiClient, namespace: str) -> k8s.V1LeaseSpec:
    """The Lease's spec as the API server has it."""
    spec = k8s.CoordinationV1Api(api).read_namespaced_lease(LEASE, namespace).spec
    assert spec is not None
    return spec


def utc_now() -> datetime.datetime:
    """Now, timezone-aware, with a non-zero microsecond field (see leader._micro_time)."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=123456)


class TcpProxy:
    """A loopback TCP forwarder to the API server that can be cut (connections closed, port
    refusing) and reopened on the same port: an API outage for one client only."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._sockets: list[socket.socket] = []
        self._pumps: list[threading.Thread] = []

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.05)  # accept() notices a cut within 50 ms
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)  # no connection is accepted after this
            self._acceptor = None
        for sock in self._sockets:
            with contextlib.suppress(OSError):  # already closed by its pump
                sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv()
        for pump in self._pumps:
            pump.join(timeout=5)
        self._sockets, self._pumps = [], []
        if listener is not None:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                self._pumps.append(pump)
                pump.start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # the other direction or cut() closed the connection
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


@pytest.fixture
def proxied_api(
    control_plane: ControlPlane, kube_api: k8s.ApiClient
) -> Iterator[tuple[k8s.ApiClient, TcpProxy]]:
    """An admin ApiClient that reaches the API server only through a ``TcpProxy``."""
    server = urllib.parse.urlsplit(control_plane.server)
    assert server.hostname and server.port
    proxy = TcpProxy((server.hostname, server.port))
    proxy.open()
    configuration = copy.deepcopy(kube_api.configuration)
    configuration.host = f"https://127.0.0.1:{proxy.port}"  # the serving cert names 127.0.0.1
    with k8s.ApiClient(configuration) as api:
        yield api, proxy
    proxy.cut()


def test_settings_refuse_timings_that_allow_two_leaders() -> None:
    """A renew deadline not shorter than the lease, or a fractional lease, is refused up front."""
    with pytest.raises(ValueError, match="renew_deadline"):
        LeaderElectionSettings(namespace="ns", name=LEASE, identity="a", renew_deadline=15.0)
    with pytest.raises(ValueError, match="whole number"):
        LeaderElectionSettings(namespace="ns", name=LEASE, identity="a", lease_duration=15.5)
    with pytest.raises(ValueError, match="identity"):
        LeaderElectionSettings(namespace="ns", name=LEASE, identity="")


def test_one_elector_creates_the_lease_and_renews_it(
    candidate: MakeCandidate,
    kube_api: k8s.ApiClient,
    kube_namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lone elector creates the Lease naming itself and keeps advancing renewTime."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    a = candidate("a")
    held_at(lambda: a.elector.is_leader, 5, "a leads")
    first = read_lease(kube_api, kube_namespace)
    assert first.holder_identity == "a"
    assert first.lease_duration_seconds == 2
    assert first.lease_transitions == 0
    assert first.renew_time is not None and first.renew_time.tzinfo is not None
    assert first.acquire_time is not None

    time.sleep(3 * RETRY_PERIOD)
    later = read_lease(kube_api, kube_namespace)
    assert later.holder_identity == "a"
    assert later.renew_time is not None and later.renew_time > first.renew_time
    assert later.acquire_time == first.acquire_time  # renewals keep the acquisition record
    assert later.lease_transitions == 0
    assert len(a.started) == 1 and a.stopped == []

    a.halt()
    assert len(a.stopped) == 1
    released = read_lease(kube_api, kube_namespace)
    assert released.holder_identity in ("", None)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert any("started leading lease=" in m and "identity=a" in m for m in messages)
    assert any("released lease=" in m for m in messages)


def test_two_electors_never_lead_at_once(
    candidate: MakeCandidate, kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """Of two electors started together exactly one leads, for longer than a lease duration."""
    pair = [candidate("a"), candidate("b")]
    held_at(lambda: any(c.elector.is_leader for c in pair), 5, "one of a, b leads")
    leader = next(c for c in pair if c.elector.is_leader)
    follower = next(c for c in pair if c is not leader)

    end = time.monotonic() + LEASE_DURATION + 1.0
    while time.monotonic() < end:
        assert [c.identity for c in pair if c.elector.is_leader] == [leader.identity]
        time.sleep(0.02)
    assert read_lease(kube_api, kube_namespace).holder_identity == leader.identity
    assert len(leader.started) == 1 and leader.stopped == []
    assert follower.started == [] and follower.running


def test_released_lease_is_taken_over_within_one_retry_period(
    candidate: MakeCandidate, kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """A leader that stops releases the Lease; the standby leads within one retry period."""
    a = candidate("a")
    held_at(lambda: a.elector.is_leader, 5, "a leads")
    b = candidate("b")
    time.sleep(3 * RETRY_PERIOD)  # b has read the lease and stands by
    assert b.started == []
    acquired_by_a = read_lease(kube_api, kube_namespace).acquire_time

    released_at = a.halt()  # returns after on_stopped_leading and the release
    took_over_at = held_at(lambda: b.elector.is_leader, 5, "b leads after a released")

    assert took_over_at - released_at <= RETRY_PERIOD + SLACK
    assert a.stopped[0] < b.started[0]  # a had stopped acting before b started
    lease = read_lease(kube_api, kube_namespace)
    assert lease.holder_identity == "b"
    assert lease.lease_transitions == 1
    assert lease.acquire_time is not None and acquired_by_a is not None
    assert lease.acquire_time > acquired_by_a


def test_dead_leader_is_replaced_after_the_lease_duration(
    candidate: MakeCandidate, kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """A leader that vanishes without releasing is replaced once the lease has expired."""
    a = candidate("a", release_on_stop=False)
    held_at(lambda: a.elector.is_leader, 5, "a leads")
    b = candidate("b")
    time.sleep(3 * RETRY_PERIOD)

    died_at = a.halt()
    assert read_lease(kube_api, kube_namespace).holder_identity == "a"  # not released
    took_over_at = held_at(lambda: b.elector.is_leader, 10, "b leads after a died")

    # b counts the lease duration from the last change it saw: a's last renewal, which came
    # at most one retry period before a died and was seen at most one retry period after.
    waited = took_over_at - died_at
    assert LEASE_DURATION - 2 * RETRY_PERIOD <= waited <= LEASE_DURATION + 2 * RETRY_PERIOD + SLACK
    lease = read_lease(kube_api, kube_namespace)
    assert lease.holder_identity == "b"
    assert lease.lease_transitions == 1


def test_renewal_survives_a_whole_second_acquire_time(
    candidate: MakeCandidate, kube_api: k8s.ApiClient, kube_namespace: str
) -> None:
    """A Lease of ours whose acquireTime falls on a whole second (as client-go may write it) is
    renewed: the time is re-sent with the six fractional digits the API server requires."""
    whole_second = "2025-01-01T00:00:00.000000Z"
    response = kube_api.call_api(
        "POST",
        f"{kube_api.configuration.host}/apis/coordination.k8s.io/v1/namespaces/"
        f"{kube_namespace}/leases",
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body={
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE},
            "spec": {
                "holderIdentity": "a",
                "leaseDurationSeconds": 2,
                "acquireTime": whole_second,
                "renewTime": whole_second,
                "leaseTransitions": 3,
            },
        },
    )
    response.read()
    assert response.status == 201
    assert read_lease(kube_api, kube_namespace).acquire_time == datetime.datetime(
        2025, 1, 1, tzinfo=datetime.UTC
    )

    a = candidate("a")  # the same identity, e.g. a restarted StatefulSet pod
    held_at(lambda: a.elector.is_leader, 5, "a renews its own lease")
    lease = read_lease(kube_api, kube_namespace)
    assert lease.acquire_time == datetime.datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=datetime.UTC)
    assert lease.lease_transitions == 3  # renewing one's own lease is no transition


class RivalWritesAfterFirstRead(k8s.ApiClient):
    """An ApiClient that, right after its first GET returns, lets a rival write the Lease: the
    caller then replaces the Lease from a copy that is already stale. Records every status."""

    def __init__(self, configuration: k8s.Configuration, rival: Callable[[], None]) -> None:
        super().__init__(configuration)
        self._rival: Callable[[], None] | None = rival
        self.statuses: list[tuple[str, int]] = []

    def call_api(
        self,
        method: str,
        url: str,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> Any:
        response = super().call_api(method, url, header_params, body, post_params, _request_timeout)
        self.statuses.append((method, response.status))
        if method == "GET" and self._rival is not None:
            rival, self._rival = self._rival, None
            rival()
        return response


def test_stale_write_gets_409_and_does_not_claim_leadership(
    candidate: MakeCandidate,
    kube_api: k8s.ApiClient,
    kube_namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An elector whose takeover write carries a stale resourceVersion gets 409 and stands by."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    leases = k8s.CoordinationV1Api(kube_api)
    now = utc_now()
    leases.create_namespaced_lease(
        kube_namespace,
        k8s.V1Lease(
            metadata=k8s.V1ObjectMeta(name=LEASE),
            spec=k8s.V1LeaseSpec(
                holder_identity="", lease_duration_seconds=1, renew_time=now, acquire_time=now
            ),
        ),
    )

    def rival_takes_the_lease() -> None:
        lease = leases.read_namespaced_lease(LEASE, kube_namespace)
        moment = utc_now()
        lease.spec = k8s.V1LeaseSpec(
            holder_identity="rival",
            lease_duration_seconds=60,
            renew_time=moment,
            acquire_time=moment,
            lease_transitions=1,
        )
        leases.replace_namespaced_lease(LEASE, kube_namespace, lease)

    with RivalWritesAfterFirstRead(
        copy.deepcopy(kube_api.configuration), rival_takes_the_lease
    ) as racing:
        b = candidate("b", api=racing)
        held_at(lambda: ("PUT", 409) in racing.statuses, 5, "b's stale PUT got 409")
        time.sleep(3 * RETRY_PERIOD)
        assert not b.elector.is_leader
        assert b.started == [] and b.running
        assert all(status == 200 for method, status in racing.statuses if method == "GET")
        assert ("PUT", 200) not in racing.statuses  # b never wrote the lease
        assert read_lease(kube_api, kube_namespace).holder_identity == "rival"
        b.halt()
    assert any("lost the race" in r.getMessage() for r in caplog.records if r.name == LOGGER)


def test_unreachable_api_never_leads_and_keeps_trying(
    candidate: MakeCandidate, caplog: pytest.LogCaptureFixture
) -> None:
    """Against a port nothing listens on, an elector never leads, keeps running, logs once."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    configuration = k8s.Configuration(host="https://127.0.0.1:1", no_proxy="127.0.0.1")
    with k8s.ApiClient(configuration) as dead:
        c = candidate("c", api=dead)
        time.sleep(5 * RETRY_PERIOD)
        assert c.running
        assert not c.elector.is_leader
        stopping = time.monotonic()
        c.halt()
        assert time.monotonic() - stopping < 1.0
    assert c.started == [] and c.stopped == []
    failures = [
        r for r in caplog.records if r.name == LOGGER and "request failed" in r.getMessage()
    ]
    assert len(failures) >= 3  # one per attempt …
    assert [r.levelno for r in failures].count(logging.WARNING) == 1  # … one of them a warning


def test_leader_stops_leading_within_the_renew_deadline_when_the_api_goes_away(
    candidate: MakeCandidate,
    proxied_api: tuple[k8s.ApiClient, TcpProxy],
    kube_api: k8s.ApiClient,
    kube_namespace: str,
) -> None:
    """When renewals fail, is_leader turns false within renew_deadline (long before the lease
    could expire for anyone else), on_stopped_leading runs, and leadership returns with the API."""
    api, proxy = proxied_api
    a = candidate("a", api=api)
    held_at(lambda: a.elector.is_leader, 5, "a leads")
    time.sleep(2 * RETRY_PERIOD)

    proxy.cut()
    cut_at = time.monotonic()
    not_leading_at = held_at(lambda: not a.elector.is_leader, 5, "a stops leading")
    # The last successful renewal began at most one retry period (plus its request) before
    # the cut, and leadership ends renew_deadline after that beginning.
    # (0.1 s: this test polls is_leader every 10 ms and may itself be scheduled late.)
    assert RENEW_DEADLINE - RETRY_PERIOD - SLACK <= not_leading_at - cut_at <= RENEW_DEADLINE + 0.1
    assert not_leading_at - cut_at < LEASE_DURATION - RETRY_PERIOD
    held_at(lambda: a.stopped, RETRY_PERIOD + SLACK, "on_stopped_leading ran")
    assert a.running
    assert read_lease(kube_api, kube_namespace).holder_identity == "a"  # nobody else wrote

    proxy.open()  # same port: the API server is back
    held_at(lambda: a.elector.is_leader, 5, "a leads again")
    assert len(a.started) == 2 and len(a.stopped) == 1
    assert read_lease(kube_api, kube_namespace).lease_transitions == 0  # still the same holder
    a.halt()
    assert read_lease(kube_api, kube_namespace).holder_identity in ("", None)  # released
