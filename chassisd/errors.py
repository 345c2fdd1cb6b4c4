"""The error tree of chassisd: every failure the project raises on purpose.

Owns the classes and their fields. Does not log, retry or format for users beyond the
message; the poller and the power service decide what to do, by class, in one place.

::

    ChassisdError
    ├── ConfigError            a config document or resource is invalid (document + field path)
    ├── NodeRefError           a node reference matches nothing, or several nodes (lists candidates)
    └── DriverError            something went wrong talking to a chassis manager or BMC
        ├── TransientError     nothing reached the device: retrying is safe
        ├── AmbiguousOutcome   a state-changing command was sent and no answer came: never re-send
        └── PermanentError     retrying cannot help
            ├── AuthError          credentials refused
            ├── TrustError         host key or certificate not trusted
            ├── UnsupportedError   the driver or device cannot do this
            ├── DeviceError        the device answered, with an error
            └── ParseError         the device's output is not what we understand (command + line)

Drivers raise only ``DriverError`` subclasses and chain the library error (``raise ... from exc``).
Messages never contain secrets.
"""

from __future__ import annotations


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


class DriverError(ChassisdError):
    """A failure talking to one chassis manager or BMC."""

    def __init__(self, message: str, *, chassis: str = "", driver: str = "") -> None:
        self.chassis = chassis
        self.driver = driver
        self.reason = message
        prefix = "/".join(part for part in (driver, chassis) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)


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
    """The device's host key or certificate is not trusted (unknown, or it changed)."""


class UnsupportedError(PermanentError):
    """The driver or the device cannot do what was asked."""


class DeviceError(PermanentError):
    """The device answered, but with an error (bad node id, command refused)."""


class ParseError(PermanentError):
    """Device output that the parser does not understand.

    ``command`` is the CLI command (or API path) whose output it was, ``line_no`` is 1-based
    within that output, ``line`` the offending text.
    """

    def __init__(
        self,
        message: str,
        *,
        command: str,
        line: str = "",
        line_no: int = 0,
        chassis: str = "",
        driver: str = "",
    ) -> None:
        self.command = command
        self.line = line
        self.line_no = line_no
        self.problem = message
        detail = f"{command!r}: {message}"
        if line_no:
            detail += f" (line {line_no}: {line!r})"
        super().__init__(detail, chassis=chassis, driver=driver)

    def with_source(self, *, chassis: str, driver: str) -> ParseError:
        """Return the same error naming the chassis and driver it came from."""
        err = ParseError(
            self.problem,
            command=self.command,
            line=self.line,
            line_no=self.line_no,
            chassis=chassis,
            driver=driver,
        )
        err.__cause__ = self.__cause__
        return err
