"""The error tree of chassisd: every failure the project raises on purpose, and where it happened.

Owns the classes and their fields, and ``located``, the one way an error learns which chassis
and driver it came from. Does not log, retry or format for users beyond the message; the
poller and the power service decide what to do, by class, in one place (``chassisd.retry``).

::

    ChassisdError
    ├── ConfigError            a config document or resource is invalid (document + field path)
    ├── NodeRefError           a node reference matches nothing, or several nodes (lists candidates)
    ├── KubeApiError           the Kubernetes API refused a request (HTTP status) or was unreachable
    └── DriverError            something went wrong talking to a chassis manager or BMC
        ├── TransientError     nothing reached the device: retrying is safe
        ├── AmbiguousOutcome   a state-changing command was sent and no answer came: never re-send
        └── PermanentError     retrying cannot help
            ├── AuthError          credentials refused
            ├── TrustError         host key or certificate not trusted
            │   ├── HostKeyError       the SSH host key is unknown or changed
            │   └── CertificateError   the TLS certificate fails verification or its pin
            ├── UnsupportedError   the driver or device cannot do this
            ├── DeviceError        the device answered, with an error
            └── ParseError         the device's output is not what we understand (command + line)

Drivers raise only ``DriverError`` subclasses, plain (no chassis or driver in them), and chain
the library error (``raise ... from exc``). Each public entry point of a driver runs inside
``located(chassis=..., driver=...)`` (``Driver.located()``), which names the source in every
``DriverError`` leaving it, as httpx's request context names the request. Messages never
contain secrets.

A power request tried over several routes (``PowerService.run_routes``) that no route carried
out raises ``UnsupportedError`` (every route said so) or ``TransientError`` (nothing reached a
device), with ``routes`` listing what happened on each.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chassisd.model import RouteAttempt


class ChassisdError(Exception):
    """Base of every error chassisd raises on purpose."""


class ConfigError(ChassisdError):
    """A configuration document or resource is invalid.

    ``document`` names where it came from (``config.yaml#3 Chassis/moonshot-1``),
    ``path`` is the field path inside it (``spec.address``).
    """

    def __init__(self, message: str, *, document: str = "", path: str = "") -> None:
        self.document = document
        self.path = path
        self.reason = message
        where = ": ".join(part for part in (document, path) if part)
        super().__init__(f"{where}: {message}" if where else message)


class NodeRefError(ChassisdError):
    """A node reference matched no node, or more than one."""

    def __init__(self, message: str, *, reference: str, candidates: tuple[str, ...] = ()) -> None:
        self.reference = reference
        self.candidates = candidates
        super().__init__(message)


class KubeApiError(ChassisdError):
    """The Kubernetes API refused a request, or could not be reached.

    ``status`` is the HTTP status of the refusal, or 0 when no answer came (connection refused,
    timeout, TLS failure): then the request may or may not have been applied. Raised only by
    the Kubernetes adapter (``chassisd.kube``); the properties name the statuses callers branch
    on.
    """

    def __init__(self, message: str, *, status: int) -> None:
        self.status = status
        super().__init__(message)

    @property
    def unreachable(self) -> bool:
        """No answer came from the API server (``status`` 0)."""
        return self.status == 0

    @property
    def not_found(self) -> bool:
        """The object, or its kind, does not exist (404)."""
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """A create found the name taken, or an update's resourceVersion was stale (409)."""
        return self.status == 409

    @property
    def forbidden(self) -> bool:
        """RBAC does not allow chassisd's service account this request (403)."""
        return self.status == 403


class DriverError(ChassisdError):
    """A failure talking to one chassis manager or BMC.

    ``reason`` is the message as raised; ``chassis`` and ``driver`` name the source once the
    error has left a ``located`` block (empty before), and the message then starts with
    ``driver/chassis:``. ``routes`` is filled only by ``PowerService.run_routes`` (see the
    module docstring).
    """

    def __init__(self, message: str, *, routes: tuple[RouteAttempt, ...] = ()) -> None:
        self.reason = message
        self.chassis = ""
        self.driver = ""
        self.routes = routes
        super().__init__(message)

    def _locate(self, *, chassis: str, driver: str) -> None:
        """Fill in the source where it is still empty and rebuild the message from ``reason``,
        so a second ``located`` never stamps twice."""
        self.chassis = self.chassis or chassis
        self.driver = self.driver or driver
        prefix = "/".join(part for part in (self.driver, self.chassis) if part)
        self.args = (f"{prefix}: {self.reason}" if prefix else self.reason,)


class located:  # lower case: it reads as a verb at the call site, like contextlib's closing
    """Name ``chassis`` and ``driver`` in every ``DriverError`` raised inside the block.

    The one place where an error learns where it came from: drivers raise plain errors and
    run each public entry point inside this block (``Driver.located()``). The same exception
    object travels on, so its class, fields, ``__cause__`` and traceback are kept. An error
    that already names its source (an inner block) keeps it; only empty fields are filled.
    Other exceptions pass through untouched; nothing is ever swallowed.
    """

    __slots__ = ("chassis", "driver")

    def __init__(self, *, chassis: str, driver: str) -> None:
        self.chassis = chassis
        self.driver = driver

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, DriverError):
            exc._locate(chassis=self.chassis, driver=self.driver)


class TransientError(DriverError):
    """Nothing reached the device (connection refused, timeout before a command was sent).

    Safe to retry later, including state-changing commands.
    """


class AmbiguousOutcome(DriverError):
    """A state-changing command was sent and no reply came: it may or may not have happened.

    Never re-sent automatically; the caller reads the state back and reports "unknown".
    """


class PermanentError(DriverError):
    """Retrying the same request cannot help until something changes."""


class AuthError(PermanentError):
    """The device refused the credentials."""


class TrustError(PermanentError):
    """The device's host key or certificate is not trusted (unknown, or it changed), or the
    trust material itself is unusable. Raise a subclass when the device's key or certificate
    was refused: the poller's reasons tell them apart."""


class HostKeyError(TrustError):
    """The SSH host key the device showed is not in its known hosts, or differs from it."""


class CertificateError(TrustError):
    """The TLS certificate the device showed fails verification (CA bundle) or its pin."""


class UnsupportedError(PermanentError):
    """The driver or the device cannot do what was asked."""


class DeviceError(PermanentError):
    """The device answered, but with an error (bad node id, command refused)."""


class ParseError(PermanentError):
    """Device output that the parser does not understand.

    ``command`` is the CLI command (or API path) whose output it was, ``line_no`` is 1-based
    within that output, ``line`` the offending text - cut to ``EXCERPT_CHARS`` (``excerpt``),
    like ``command`` and ``message``: a hostile device's 400 MB line must not become a 400 MB
    error message and log line.
    """

    def __init__(self, message: str, *, command: str, line: str = "", line_no: int = 0) -> None:
        self.command = excerpt(command)
        self.line = excerpt(line)
        self.line_no = line_no
        self.problem = excerpt(message, EXCERPT_CHARS * 2)
        detail = f"{self.command!r}: {self.problem}"
        if line_no:
            detail += f" (line {line_no}: {self.line!r})"
        super().__init__(detail)


#: Characters of device-provided text an error message quotes at most (``excerpt``).
EXCERPT_CHARS = 200


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out.

    Every error that quotes what a device sent goes through this: device output is unbounded
    (a hostile chassis manager sends one endless line), messages and log lines must not be.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"
