"""The power service: carries out one power request on one node, carefully.

Owns the rules of the architecture's "Power is careful":

- ``on``/``off`` are idempotent and never imply a PXE boot; ``pxe-once`` changes no power.
- ``cycle`` is the driver's native cycle if it has one; otherwise off, *confirmed* off, then on.
- A state-changing command that may have reached the device (``AmbiguousOutcome``) is never
  re-sent: the state is read back and the result says the outcome is unknown.
- A ``TransientError`` (nothing reached the device) is retried here, and only here, when
  opening the session (``chassisd.retry``).
- Routes (the chassis's driver, then its fallbacks) are tried in order only while nothing was
  sent; the result, or the error when no route could do it, lists what happened on each.
- One conversation at a time per chassis (a lock per chassis name).
- The resulting state is read back and reported.

Waiting for a state is done here (drivers never sleep): every ``settle_interval`` seconds up
to ``settle_timeout``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace

from chassisd.driver import ChassisTarget, Driver
from chassisd.errors import AmbiguousOutcome, DriverError, TransientError, UnsupportedError
from chassisd.model import (
    Feature,
    Outcome,
    PowerAction,
    PowerResult,
    PowerState,
    RouteAttempt,
    RouteResult,
)
from chassisd.registry import Registry
from chassisd.retry import Backoff, retry

_TARGET_STATE = {
    PowerAction.ON: PowerState.ON,
    PowerAction.OFF: PowerState.OFF,
    PowerAction.SHUTDOWN: PowerState.OFF,
}


@dataclass(frozen=True)
class PowerSettings:
    """Timing of power requests, in seconds.

    Production Moonshot clients poll ``show node power`` every 5 s for up to 30–60 s after a
    power change (docs/moonshot-cli.md §3.5); a graceful shutdown can take as long as the OS needs.
    Opening the session is retried like a poll (three attempts, 1 s then 2 s): an operator is
    waiting, so a dropped login is worth two quick retries but not a long wait.
    """

    settle_timeout: float = 60.0
    settle_interval: float = 2.0
    connect_attempts: int = 3  # only for failures before anything reached the device
    connect_backoff: Backoff = Backoff(initial=1.0, factor=2.0, maximum=10.0)


class PowerService:
    """Runs power requests through drivers, one conversation per chassis at a time."""

    def __init__(
        self,
        registry: Registry,
        settings: PowerSettings = PowerSettings(),
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._sleep = sleep
        self._clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, chassis: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(chassis, threading.Lock())

    def status(self, driver_name: str, target: ChassisTarget, node_id: str) -> PowerState:
        """Read one node's power state."""
        with self._lock(target.name), closing(self._open(driver_name, target)) as driver:
            return driver.power_state(node_id)

    def run(
        self, driver_name: str, target: ChassisTarget, node_id: str, action: PowerAction
    ) -> PowerResult:
        """Carry out ``action`` on one node and report the outcome and the state read back.

        Raises ``DriverError`` only when the request could not be started (unreachable,
        refused credentials, unsupported); failures after that are in the result, whose
        ``routes`` names this one route.
        """
        with self._lock(target.name), closing(self._open(driver_name, target)) as driver:
            result = self._run(driver, node_id, action)
        return replace(result, routes=(RouteAttempt(driver_name, target.name, RouteResult.USED),))

    def _run(self, driver: Driver, node_id: str, action: PowerAction) -> PowerResult:
        self._check_supported(driver, action)
        if action is PowerAction.PXE_ONCE:
            driver.pxe_once(node_id)
            return self._result(driver, node_id, action, Outcome.SUCCEEDED, "next boot: PXE")
        if action is PowerAction.CYCLE and action not in driver.power_actions:
            return self._composed_cycle(driver, node_id)
        return self._send_and_confirm(driver, node_id, action)

    def run_routes(
        self, routes: Sequence[tuple[str, ChassisTarget]], node_id: str, action: PowerAction
    ) -> PowerResult:
        """``run`` through the first route (driver, target) that can carry it out.

        The next route is tried only when nothing reached the device (``TransientError``) or
        the driver cannot do it (``UnsupportedError``): never after a command may have been
        sent, so a ``cycle`` is never sent twice. The result's ``routes`` lists the routes that
        could not do it, then the one that did. When none could, the error carries that record
        in ``routes`` and is chained from the last route's error: ``UnsupportedError`` when
        every route said it cannot do this (retrying is useless), else ``TransientError``
        (nothing reached a device; a later try may).
        """
        tried: list[RouteAttempt] = []
        last: DriverError | None = None
        for driver_name, target in routes:
            try:
                result = self.run(driver_name, target, node_id, action)
            except (TransientError, UnsupportedError) as exc:
                verdict = (
                    RouteResult.UNSUPPORTED
                    if isinstance(exc, UnsupportedError)
                    else RouteResult.NOT_REACHED
                )
                tried.append(RouteAttempt(driver_name, target.name, verdict, exc.reason))
                last = exc
                continue
            return replace(result, routes=(*tried, *result.routes))
        record = tuple(tried)
        summary = "; ".join(f"{a.driver}/{a.chassis}: {a.message}" for a in record)
        if all(a.result is RouteResult.UNSUPPORTED for a in record):
            reason = summary or "no power route configured"
            raise UnsupportedError(
                f"no route can carry out {action.value}: {reason}", routes=record
            ) from last
        raise TransientError(f"no route could carry it out: {summary}", routes=record) from last

    def _open(self, driver_name: str, target: ChassisTarget) -> Driver:
        """Open a driver session, retrying only failures where nothing reached the device."""

        def attempt() -> Driver:
            driver = self._registry.create(driver_name, target)
            driver.open()  # a driver cleans up after a failed open itself
            return driver

        return retry(
            attempt,
            attempts=self._settings.connect_attempts,
            backoff=self._settings.connect_backoff,
            retry_on=(TransientError,),
            sleep=self._sleep,
        )

    def _check_supported(self, driver: Driver, action: PowerAction) -> None:
        needed = Feature.PXE_ONCE if action is PowerAction.PXE_ONCE else Feature.POWER_SET
        native_or_composed = action in driver.power_actions or (
            action is PowerAction.CYCLE
            and {PowerAction.ON, PowerAction.OFF} <= driver.power_actions
            and Feature.POWER_STATE in driver.features
        )
        if needed not in driver.features or (
            action is not PowerAction.PXE_ONCE and not native_or_composed
        ):
            with driver.located():
                raise UnsupportedError(
                    f"{action.value} is not supported by this driver"
                    + (" (use cycle)" if action is PowerAction.RESET else "")
                )

    def _send_and_confirm(self, driver: Driver, node_id: str, action: PowerAction) -> PowerResult:
        try:
            driver.set_power(node_id, action)
        except AmbiguousOutcome as exc:
            return self._result(driver, node_id, action, Outcome.UNKNOWN, _unknown(exc))
        except (TransientError, UnsupportedError):
            raise  # nothing was sent: another route may do it
        except DriverError as exc:
            return self._result(driver, node_id, action, Outcome.FAILED, str(exc))
        wanted = _TARGET_STATE.get(action)
        if wanted is None:  # native cycle/reset: the node ends up on
            wanted = PowerState.ON
        state = self._wait_for(driver, node_id, wanted)
        if state is wanted:
            return PowerResult(
                driver.target.name, node_id, action, Outcome.SUCCEEDED, state, driver.name
            )
        return PowerResult(
            driver.target.name,
            node_id,
            action,
            Outcome.FAILED,
            state,
            driver.name,
            f"sent, but the node is {state.value} after {self._settings.settle_timeout:g} s",
        )

    def _composed_cycle(self, driver: Driver, node_id: str) -> PowerResult:
        action = PowerAction.CYCLE
        try:
            driver.set_power(node_id, PowerAction.OFF)
        except (TransientError, UnsupportedError):
            raise  # nothing was sent: another route may do it
        except AmbiguousOutcome as exc:
            # The off may have happened: go on only if the node is seen off.
            if self._wait_for(driver, node_id, PowerState.OFF) is not PowerState.OFF:
                return self._result(driver, node_id, action, Outcome.UNKNOWN, _unknown(exc))
        except DriverError as exc:
            return self._result(driver, node_id, action, Outcome.FAILED, f"off: {exc}")
        if self._wait_for(driver, node_id, PowerState.OFF) is not PowerState.OFF:
            return self._result(
                driver,
                node_id,
                action,
                Outcome.FAILED,
                "off was sent but never confirmed; on was not sent",
            )
        try:
            driver.set_power(node_id, PowerAction.ON)
        except AmbiguousOutcome as exc:
            return self._result(
                driver, node_id, action, Outcome.UNKNOWN, "off done; " + _unknown(exc)
            )
        except DriverError as exc:
            return self._result(driver, node_id, action, Outcome.FAILED, f"off done; on: {exc}")
        state = self._wait_for(driver, node_id, PowerState.ON)
        outcome = Outcome.SUCCEEDED if state is PowerState.ON else Outcome.FAILED
        message = "" if state is PowerState.ON else f"on was sent; node is {state.value}"
        return PowerResult(
            driver.target.name, node_id, action, outcome, state, driver.name, message
        )

    def _wait_for(self, driver: Driver, node_id: str, wanted: PowerState) -> PowerState:
        deadline = self._clock() + self._settings.settle_timeout
        while True:
            state = self._read_state(driver, node_id)
            if state is wanted or self._clock() >= deadline:
                return state
            self._sleep(self._settings.settle_interval)

    def _read_state(self, driver: Driver, node_id: str) -> PowerState:
        try:
            return driver.power_state(node_id)
        except DriverError:
            return PowerState.UNKNOWN

    def _result(
        self, driver: Driver, node_id: str, action: PowerAction, outcome: Outcome, message: str
    ) -> PowerResult:
        state = self._read_state(driver, node_id)
        return PowerResult(
            driver.target.name, node_id, action, outcome, state, driver.name, message
        )


def _unknown(exc: AmbiguousOutcome) -> str:
    return f"outcome unknown, not re-sent: {exc.reason}"
