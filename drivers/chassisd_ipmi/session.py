"""One IPMI-over-LAN (RMCP+) session to one BMC, through pyghmi.

Owns logging in and out, sending raw IPMI requests, bounding every pyghmi call in time, and
mapping pyghmi's failures onto the project's error classes. It knows nothing of what the
requests mean (``driver.py`` does) and never sleeps between attempts, retries or logs. Only
the standard (non-OEM) pyghmi session API is used: pyghmi's OEM handlers may open their own
HTTPS connections to the BMC (the Lenovo one does), outside our timeouts and trust settings.

pyghmi's threading model, and what this module does about it:

- pyghmi keeps process-wide state: one I/O thread (a daemon, started on first use, alive until
  the process ends), UDP sockets shared by every session (bound to ``[::]`` on an ephemeral
  port, one per 64 BMCs, never closed, so never a ResourceWarning), and a session cache: two
  logins with the same BMC, user and password share one RMCP+ session. Callers keep one
  conversation per BMC at a time, because closing one driver logs out the session another
  driver on the same BMC and user may be using.
- pyghmi's synchronous calls block on its own clocks (a login with no answer gives up after
  4–6 s; a request retransmits for about 9 s, logs in again and re-sends it: 30–40 s in all),
  which are module constants, and its wait can miss the wake-up for an answer already received
  (a 0.5–1 s stall on 1–2 % of requests on loopback). So this module uses pyghmi's asynchronous
  forms (``onlogon`` for the login, ``raw_command(callback=...)`` for requests) and runs
  pyghmi's shared event loop (``Session.wait_for_rsp``) itself, in 50 ms steps, until the
  answer or its own deadline: ``Timeouts.connect`` for the login, ``Timeouts.command`` for
  each request.
- Each call runs in a worker thread that ends at that deadline; the caller waits one more
  second (``GRACE``) at most, because running pyghmi's event loop may also run other sessions'
  keepalives and re-logins. A worker that overruns ends when pyghmi gives up; it owns no socket.
- At the deadline, a request's session is *abandoned*: retransmission stopped, logged out, so a
  late answer is dropped instead of being taken for the answer to a later request, and the next
  request logs in afresh. A login is cancelled, so pyghmi stops sending for it; one that still
  completes late is logged out by its worker.

pyghmi internals used (pinned at 1.6.19; every path is exercised against ipmi_sim and
fakebmc.py, so an upgrade that changes them fails the tests): a session's ``lastresponse``,
``_generic_callback``, ``lastpayload``, ``onlogpayload``, ``incommand``, ``evq``, ``logged``,
``broken``, ``_mark_broken``, and the class-level login cache ``Session.initting_sessions``
(whose stale entries pyghmi itself would hand out again; see ``_forget_dead_login``).

How a request is delivered (``Delivery``), and what a missing answer means:

- ``READ``: pyghmi may retransmit; no answer → ``TransientError`` (nothing changed).
- ``REPEATABLE`` (state-changing but idempotent: power on/off, boot flags): pyghmi may
  retransmit; no answer → ``AmbiguousOutcome``.
- ``ONCE`` (cycle, reset, soft-off): exactly one packet, never retransmitted by pyghmi (a BMC
  executes a retransmitted request again when only the answer was lost); no answer →
  ``AmbiguousOutcome``.

Login errors: no answer, or the BMC out of sessions → ``TransientError``; credentials or
privilege refused → ``AuthError``; no common cipher suite, or a malformed address →
``PermanentError``. Completion codes: C1h/C2h → ``UnsupportedError``, D4h → ``AuthError``,
any other → ``CompletionCodeError`` (a ``DeviceError`` with the code).
"""

from __future__ import annotations

import contextlib
import enum
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from pyghmi import exceptions as pyghmi_exceptions
from pyghmi.ipmi import command as pyghmi_command
from pyghmi.ipmi.private import session as pyghmi_session

from chassisd.driver import ChassisTarget
from chassisd.errors import (
    AmbiguousOutcome,
    AuthError,
    DeviceError,
    DriverError,
    PermanentError,
    TransientError,
    UnsupportedError,
)

DEFAULT_PORT = 623  # RMCP/RMCP+ over UDP

NO_ANSWER_CODE = 0xFFFF
"""pyghmi's pseudo completion code in a reply dict that means "timed out"."""

PUMP_INTERVAL = 0.05
"""Seconds between checks for an answer (pyghmi's event loop wakes earlier on I/O)."""

LOGOUT_TIMEOUT = 2.0
"""Seconds ``logout`` waits; Close Session is sent once and not awaited by pyghmi."""

GRACE = 1.0
"""Extra seconds a request's worker may take past its own deadline before it counts as hung."""

#: Fragments of pyghmi login errors (lower case) meaning the BMC judged the credentials.
AUTH_REFUSALS = (
    "incorrect password",  # RAKP 2 integrity check failed: wrong password
    "unauthorized name",  # RMCP+ status 0x0d: no such user
    "invalid role",  # 0x09
    "unauthorized role",  # 0x0a: the user may not have that privilege
    "invalid username length",  # 0x0c
    "invalid integrity check value",  # 0x0f
    "rakp4 integrity code",  # wrong Kg (BMC key)
    "privelege level",  # [sic] pyghmi: Set Session Privilege Level refused
)

#: Fragments of pyghmi login errors meaning no security algorithm both sides speak.
INCOMPATIBLE = (
    "no cipher suite match",
    "invalid authentication algorithm",
    "invalid integrity algorithm",
    "invalid confidentiality algorithm",
    "md5 required",
)


#: Completion codes (IPMI 2.0 table 5-2) that mean "this BMC cannot do that at all".
UNSUPPORTED_CODES = frozenset({0xC1, 0xC2})  # invalid command; invalid command for this LUN
INSUFFICIENT_PRIVILEGE = 0xD4


class CompletionCodeError(DeviceError):
    """The BMC answered a request with a non-zero completion code (IPMI 2.0 table 5-2)."""

    def __init__(self, message: str, *, completion_code: int) -> None:
        self.completion_code = completion_code
        super().__init__(message)


class Delivery(enum.Enum):
    """How one request may be (re)sent; see the module docstring."""

    READ = "read"
    REPEATABLE = "repeatable"
    ONCE = "once"


@dataclass(frozen=True)
class Reply:
    """A BMC's answer: completion code, data bytes, and pyghmi's text for a non-zero code."""

    code: int
    data: bytes
    message: str = ""


T = TypeVar("T")


class _Overdue(Exception):
    """A bounded call was still running when its caller stopped waiting."""


class _NotSent(Exception):
    """A request was not sent (the session was already closed, or pyghmi refused it)."""


class _BoundedCall(Generic[T]):
    """Runs one blocking call in a daemon thread; the caller waits a bounded time for it."""

    def __init__(self, fn: Callable[[], T], on_late: Callable[[T], object] | None) -> None:
        self._fn = fn
        self._on_late = on_late
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._value: T | None = None
        self._error: Exception | None = None

    def run(self) -> None:
        value: T | None = None
        error: Exception | None = None
        try:
            value = self._fn()
        except Exception as exc:  # noqa: BLE001 - handed to the caller, which maps it
            error = exc
        with self._lock:
            self._value, self._error = value, error
            self._done.set()
            late = self._abandoned
        if late and error is None and self._on_late is not None and value is not None:
            # Nobody is left to tell about a failure here; the cleanup is best-effort.
            with contextlib.suppress(Exception):
                self._on_late(value)

    def result(self, timeout: float) -> T:
        if not self._done.wait(timeout):
            with self._lock:
                if not self._done.is_set():
                    self._abandoned = True
                    raise _Overdue()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)  # set whenever _error is None


def call_bounded(
    fn: Callable[[], T],
    timeout: float,
    *,
    name: str,
    on_late: Callable[[T], object] | None = None,
) -> T:
    """Return ``fn()``, or raise ``_Overdue`` after ``timeout`` seconds (``fn`` goes on).

    ``on_late`` receives the value of a call that finishes after its caller gave up (to log out
    a late session). Exceptions of ``fn`` are re-raised here, in the caller's thread.
    """
    call = _BoundedCall(fn, on_late)
    threading.Thread(target=call.run, name=name, daemon=True).start()
    return call.result(timeout)


class IpmiSession:
    """An authenticated RMCP+ session that sends raw IPMI requests, each bounded in time."""

    def __init__(self, target: ChassisTarget) -> None:
        self._target = target
        self._command: Any = None  # pyghmi.ipmi.command.Command (pyghmi is untyped)

    def _host_port(self) -> tuple[str, int]:
        try:
            host, port = self._target.host_port(DEFAULT_PORT)
        except ValueError as exc:
            raise PermanentError(f"address {self._target.address!r} is not host[:port]") from exc
        if not host or not 0 < port < 65536:
            raise PermanentError(f"address {self._target.address!r} is not host[:port]")
        return host, port

    @property
    def where(self) -> str:
        host, port = self._host_port()
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{port}/udp"

    def _thread_name(self, what: str) -> str:
        return f"chassisd-ipmi {self._target.name}: {what}"

    def check(self, reply: Reply, what: str) -> Reply:
        """Return ``reply`` if its completion code is 0, else raise the matching error."""
        if reply.code == 0:
            return reply
        detail = f"{what}: completion code {reply.code:#04x}" + (
            f" ({reply.message})" if reply.message else ""
        )
        if reply.code in UNSUPPORTED_CODES:
            raise UnsupportedError(f"the BMC does not support {detail}")
        if reply.code == INSUFFICIENT_PRIVILEGE:
            user = self._target.credentials.username
            raise AuthError(f"{user!r} lacks the privilege for {detail}")
        raise CompletionCodeError(detail, completion_code=reply.code)

    def login(self) -> None:
        """Open the RMCP+ session (cipher suite negotiation, RAKP, privilege level)."""
        creds = self._target.credentials
        timeout = self._target.timeouts.connect
        host, port = self._host_port()

        key = (host, creds.username, creds.password, port, None)
        connect = functools.partial(_connect, host, creds.username, creds.password, port, timeout)
        try:
            self._command = call_bounded(
                connect, timeout + GRACE, name=self._thread_name("login"), on_late=_logout_command
            )
        except _Overdue as exc:
            _cancel_login(key)
            raise TransientError(
                f"no answer from {self.where} within {timeout:g} s (login)"
            ) from exc
        except pyghmi_exceptions.IpmiException as exc:
            raise self._login_error(exc) from exc
        except OSError as exc:  # name resolution, no route
            raise TransientError(f"cannot reach {self.where}: {exc}") from exc
        except Exception as exc:  # pyghmi fails on odd answers with any exception
            raise TransientError(f"login to {self.where} failed: {exc!r}") from exc

    def _login_error(self, exc: pyghmi_exceptions.IpmiException) -> DriverError:
        text = str(exc.args[0]) if exc.args and exc.args[0] else "no answer"
        lowered = text.lower()
        if any(fragment in lowered for fragment in AUTH_REFUSALS):
            user = self._target.credentials.username
            return AuthError(f"login to {self.where} as {user!r} refused: {text}")
        if any(fragment in lowered for fragment in INCOMPATIBLE):
            return PermanentError(f"no common RMCP+ security algorithms with {self.where}: {text}")
        if text in ("timeout", "None"):  # pyghmi's words for "no answer"
            text = "no answer"
        return TransientError(f"login to {self.where} failed: {text}")

    def logout(self) -> None:
        """Close the session; never raises. A BMC expires a session it never hears from."""
        command, self._command = self._command, None
        if command is None:
            return
        _forget_login(command.ipmi_session)
        # Closing never raises: a BMC times out a session whose Close Session it missed.
        with contextlib.suppress(Exception):
            call_bounded(
                command.ipmi_session.logout, LOGOUT_TIMEOUT, name=self._thread_name("logout")
            )

    def _abandon(self) -> None:
        """Stop pyghmi's work on an unanswered request and log out (see the module docstring)."""
        command = self._command
        if command is None:
            return
        raw = command.ipmi_session
        raw.lastpayload = None  # pyghmi retransmits this while it waits for an answer
        raw.onlogpayload = None  # ... and re-sends this after logging in again
        raw.incommand = False  # logout would otherwise wait for the request in flight
        self.logout()

    def _live_session(self) -> Any:
        """The pyghmi session, logging in again if it was abandoned or pyghmi dropped it."""
        command = self._command
        if command is not None:
            raw = command.ipmi_session
            if raw.broken or not raw.logged:  # keepalive failed, or the BMC closed it
                self._command = None
        if self._command is None:
            self.login()
        return self._command.ipmi_session

    def request(
        self,
        netfn: int,
        command: int,
        data: bytes = b"",
        *,
        what: str,
        delivery: Delivery = Delivery.READ,
    ) -> Reply:
        """Send one request and return the BMC's answer, whatever its completion code.

        ``what`` names the request in errors ("Get Chassis Status").
        """
        raw = self._live_session()
        timeout = self._target.timeouts.command
        failure: type[DriverError] = (
            TransientError if delivery is Delivery.READ else AmbiguousOutcome
        )
        call = functools.partial(
            _exchange,
            raw,
            netfn,
            command,
            list(data),
            timeout,
            retransmit=delivery is not Delivery.ONCE,
        )
        try:
            answer = call_bounded(call, timeout + GRACE, name=self._thread_name(what))
        except _NotSent as exc:
            self._command = None
            raise TransientError(f"{what} not sent: {exc}") from exc
        except _Overdue as exc:
            self._abandon()
            raise failure(f"no answer to {what} within {timeout:g} s") from exc
        except Exception as exc:  # pyghmi fails on odd answers with any exception
            self._abandon()
            raise failure(f"{what} failed without an answer: {exc!r}") from exc
        reply = _reply(answer, netfn, command)
        if reply is None:
            self._abandon()
            raise failure(f"no answer to {what} within {timeout:g} s")
        return reply


def _connect(host: str, user: str, password: str, port: int, timeout: float) -> Any:
    """Log in and return the pyghmi ``Command``, or raise ``_Overdue`` after ``timeout``.

    pyghmi's asynchronous login (``onlogon``) with our own event-loop pump, as in ``_exchange``:
    the synchronous one has the same missed wake-up stall, and its own clock of 4–6 s.
    """
    key = (host, user, password, port, None)
    _forget_dead_login(key)
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def on_logon(response: dict[str, Any], _command: Any) -> None:
        outcome.update(response)
        done.set()

    deadline = time.monotonic() + timeout
    try:
        command = pyghmi_command.Command(
            bmc=host, userid=user, password=password, port=port, onlogon=on_logon
        )
        while not done.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Overdue()
            pyghmi_session.Session.wait_for_rsp(timeout=min(remaining, PUMP_INTERVAL))
    finally:
        if not done.is_set() or "error" in outcome:  # out of time, refused, or pyghmi failed
            _cancel_login(key)
    if "error" in outcome:
        raise pyghmi_exceptions.IpmiException(outcome["error"])
    return command


def _exchange(
    raw: Any, netfn: int, command: int, data: list[int], timeout: float, *, retransmit: bool
) -> Any:
    """Send one request and run pyghmi's event loop until its answer, a give-up, or ``timeout``.

    ``raw_command`` with a callback transmits and returns at once (with ``retry=False`` it never
    retransmits). The answer arrives through pyghmi's shared event loop, which ``wait_for_rsp``
    runs, into ``lastresponse``. Polling every ``PUMP_INTERVAL`` also avoids the 0.5–1 s stall
    of pyghmi's synchronous wait, which can miss the wake-up for an answer its I/O thread took
    early (1–2 % of requests on loopback; ``test-peers.md`` B2 saw it too).
    Returns the answer dict, pyghmi's give-up dict (code ``NO_ANSWER_CODE``), or None.
    """
    if raw.broken or not raw.logged:
        raise _NotSent("the session was closed")
    try:
        raw.raw_command(
            netfn=netfn,
            command=command,
            data=data,
            retry=retransmit,
            callback=raw._generic_callback,  # records the answer and pyghmi's error text
        )
    except Exception as exc:  # raised before transmitting (pyghmi checks first)
        raise _NotSent(repr(exc)) from exc
    deadline = time.monotonic() + timeout
    try:
        while True:
            answer = raw.lastresponse
            if isinstance(answer, dict) and (
                answer.get("code") == NO_ANSWER_CODE or _reply(answer, netfn, command)
            ):
                return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0 or raw.broken:
                return None
            pyghmi_session.Session.wait_for_rsp(timeout=min(remaining, PUMP_INTERVAL))
    finally:
        # What pyghmi's synchronous path does after an answer; a callback caller must do it.
        raw.incommand = False
        while raw.evq:
            raw.evq.popleft().set()


def _reply(answer: Any, netfn: int, command: int) -> Reply | None:
    """Turn pyghmi's reply dict into a ``Reply``; None if it is not an answer to this request."""
    if not isinstance(answer, dict):
        return None
    code = answer.get("code")
    if not isinstance(code, int) or code == NO_ANSWER_CODE:
        return None
    if answer.get("netfn") != netfn + 1 or answer.get("command") != command:
        return None
    return Reply(
        code=code, data=bytes(answer.get("data", b"")), message=str(answer.get("error", ""))
    )


def _logout_command(command: Any) -> None:
    command.ipmi_session.logout()


# pyghmi's login cache. ``Session.__new__`` files a login in progress in
# ``Session.initting_sessions`` under (bmc, user, password, port, kg) as given (text), but deletes
# the entry with the user and password it has encoded to bytes, so the entry stays after the login
# ends. pyghmi 1.6.19 then hands that session, logged out or broken, to the next login with the
# same BMC, user and password, and every request on it fails with
# ``TypeError: '<' not supported between instances of 'float' and 'NoneType'``
# (tests/ipmi/test_ipmi_sim.py::test_status_matches_ipmitool logs in twice).


def _forget_dead_login(key: tuple[str, str, str, int, None]) -> None:
    """Drop a finished session from pyghmi's login cache, so that a new login really logs in."""
    cache = pyghmi_session.Session.initting_sessions
    stale = cache.get(key)
    if stale is not None and getattr(stale, "broken", False):
        cache.pop(key, None)


def _forget_login(raw: Any) -> None:
    """Drop ``raw`` from pyghmi's login cache if it is still filed there (pyghmi leaves it)."""
    cache = pyghmi_session.Session.initting_sessions
    for key, session in list(cache.items()):
        if session is raw:
            cache.pop(key, None)


def _cancel_login(key: tuple[str, str, str, int, None]) -> None:
    """Drop a failed or unanswered login from pyghmi's cache, and stop it if it still runs.

    Without this, pyghmi keeps retransmitting for its own 4–6 s. Best-effort: a login pyghmi
    restarts at the same moment runs to pyghmi's own end, and ``on_late`` logs it out.
    """
    session = pyghmi_session.Session.initting_sessions.pop(key, None)
    # getattr: the entry is filed before pyghmi's __init__ has set the attributes.
    if session is not None and getattr(session, "logging", False) and not session.broken:
        with contextlib.suppress(Exception):  # best-effort; pyghmi ends the login itself later
            session._mark_broken("login abandoned: no answer in time")
