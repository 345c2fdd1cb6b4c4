"""The ``fake`` driver: reads and powers the nodes of an in-memory ``Farm``.

Owns: turning farm answers into model values and the farm's plain exceptions into chassisd
errors, exactly as a real driver turns a protocol library's: ``DeviceUnreachable`` →
``TransientError``, ``LoginRefused`` → ``AuthError``, ``GarbledReply`` → ``ParseError``,
``ReplyLost`` → ``AmbiguousOutcome``, ``NoSuchNode`` → ``DeviceError``, each chained.

Must not: sleep, retry or log (the poller and the power service do), or change the farm except
through the farm's device-side methods (so every command is counted and logged there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

from chassisd.driver import ChassisTarget, Driver
from chassisd.errors import (
    AmbiguousOutcome,
    AuthError,
    DeviceError,
    ParseError,
    TransientError,
)
from chassisd.model import (
    Feature,
    Health,
    Inventory,
    MacAddress,
    NodeId,
    NodeRecord,
    PowerAction,
    PowerState,
)
from chassisd_fake.farm import (
    DeviceUnreachable,
    Farm,
    GarbledReply,
    LoginRefused,
    NodeView,
    NoSuchNode,
    ReplyLost,
    find_farm,
)

T = TypeVar("T")

MODEL = "chassisd fake chassis"
FIRMWARE = "fake-1"


class FakeDriver(Driver):
    """A chassis of a registered in-memory ``Farm``, at ``fake://<farm>/<chassis>``."""

    name: ClassVar[str] = "fake"
    features: ClassVar[frozenset[Feature]] = frozenset(
        {Feature.INVENTORY, Feature.POWER_STATE, Feature.POWER_SET, Feature.PXE_ONCE}
    )
    power_actions: ClassVar[frozenset[PowerAction]] = frozenset(
        {PowerAction.ON, PowerAction.OFF, PowerAction.SHUTDOWN}
    )

    def __init__(self, target: ChassisTarget) -> None:
        super().__init__(target)
        self._session: tuple[Farm, str] | None = None

    def open(self) -> None:
        """Find the farm and log in to the chassis (one session, as an SSH driver keeps)."""
        if self._session is not None:
            return
        with self._errors("login"):
            farm, chassis = find_farm(self.target.address)
            credentials = self.target.credentials
            farm.login(chassis, credentials.username, credentials.password)
        self._session = farm, chassis

    def close(self) -> None:
        self._session = None

    def inventory(self) -> Inventory:
        views = self._call("list nodes", lambda farm, chassis: farm.read_nodes(chassis))
        return Inventory(
            chassis=self.target.name,
            driver=self.name,
            nodes=tuple(self._record(view) for view in views),
            taken_at=datetime.now(UTC),
            model=MODEL,
            firmware=FIRMWARE,
        )

    def power_state(self, node_id: str) -> PowerState:
        on = self._call(
            f"power status {node_id}", lambda farm, chassis: farm.read_power(chassis, node_id)
        )
        return PowerState.ON if on else PowerState.OFF

    def set_power(self, node_id: str, action: PowerAction) -> None:
        if action not in self.power_actions:
            raise self._unsupported(Feature.POWER_SET)
        self._call(
            f"power {action.value} {node_id}",
            lambda farm, chassis: farm.send_power(chassis, node_id, action),
        )

    def pxe_once(self, node_id: str) -> None:
        self._call(
            f"bootonce pxe {node_id}", lambda farm, chassis: farm.send_pxe_once(chassis, node_id)
        )

    # -- helpers ----------------------------------------------------------------------------------

    def _call(self, command: str, request: Callable[[Farm, str], T]) -> T:
        self.open()  # a driver used without ``with`` logs in at its first request
        assert self._session is not None
        farm, chassis = self._session
        with self._errors(command):
            return request(farm, chassis)

    @contextmanager
    def _errors(self, command: str) -> Iterator[None]:
        """Classify the farm's exceptions; each chassisd error names this chassis and driver."""
        with self.located():
            try:
                yield
            except DeviceUnreachable as exc:
                raise TransientError(f"{command}: {exc}") from exc
            except LoginRefused as exc:
                raise AuthError(f"{command}: credentials refused") from exc
            except GarbledReply as exc:
                raise ParseError(
                    "unreadable reply", command=exc.command, line=exc.text, line_no=1
                ) from exc
            except ReplyLost as exc:
                raise AmbiguousOutcome(f"{command}: sent, no reply") from exc
            except NoSuchNode as exc:
                raise DeviceError(f"{command}: {exc}") from exc

    @staticmethod
    def _record(view: NodeView) -> NodeRecord:
        try:
            native: NodeId | None = NodeId.parse(view.id)
        except ValueError:
            native = None
        return NodeRecord(
            id=view.id,
            macs=tuple(MacAddress(mac) for mac in view.macs),
            power=PowerState.ON if view.power_on else PowerState.OFF,
            health=Health.OK,
            product="fake node",
            serial=f"FAKE-{view.id}",
            cartridge=native.cartridge if native else None,
            node=native.node if native else None,
        )
