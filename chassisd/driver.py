"""The driver contract: how chassisd talks to one chassis manager or BMC.

Owns ``ChassisTarget`` (what a driver needs to reach a device), ``Credentials``, ``Timeouts``,
``Limits`` and ``Driver``, the base class every driver extends. A driver turns one chassis into
model values and carries out power requests. It never sleeps, retries, logs or talks to Kubernetes:
the poller and the power service decide about retries, by error class.

Lifecycle: a driver object is one conversation with one device::

    with registry.create("moonshot", target) as driver:   # connects (one SSH session)
        inventory = driver.inventory()
        driver.set_power("c1n1", PowerAction.ON)
                                                            # disconnects on exit

Optional capabilities raise ``UnsupportedError`` by default; a driver declares in ``features``
exactly what it overrides (a contract test checks both directions).

Errors name their source in one place: a driver raises plain ``DriverError``s and runs each
public method (``open`` and the feature methods) inside ``with self.located():``, which stamps
this chassis and driver onto whatever leaves it (``chassisd.errors.located``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar, NoReturn, Self

from chassisd import errors
from chassisd.errors import PermanentError, UnsupportedError
from chassisd.model import Feature, Inventory, NodeDetails, PowerAction, PowerState


@dataclass(frozen=True)
class Credentials:
    """Secrets to log in with. ``repr`` never shows them."""

    username: str
    password: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)  # PEM/OpenSSH text, SSH drivers only


@dataclass(frozen=True)
class Timeouts:
    """Network timeouts in seconds, each a total (enforced by ``chassisd.alarm``, not per read).

    Defaults follow what production clients of slow chassis managers use (fence-agents: login
    5 s, shell 3 s; Mozilla's scripts allow 30 s and more per command,
    ``docs/moonshot-cli.md`` §3.5);
    a Moonshot ``show node macaddr all`` on a full chassis is the slowest read.
    """

    connect: float = 10.0  # TCP connect + SSH handshake + authentication
    command: float = 60.0  # one command, from sending it to the end of its output
    #: One whole conversation (a poll cycle, retries included): room for a login, two slow
    #: commands and a retry's back-off (10 + 60 + 60 + 3 s), and below the default 5 m poll
    #: interval, so a poll against a dripping or hanging device ends before the next is due.
    poll: float = 180.0


#: Bytes one command's output or one HTTP response body may have (``spec.maxOutputSize``).
#: The largest real answers are tens of KiB (``show node macaddr all`` of a full Moonshot,
#: about 180 lines; an iLO 5 ComputerSystem, about 20 KiB: tests/fixtures/ilo5/system.json), so
#: 4 MiB is a hundred times that, while 16 poll workers each holding a capped answer (plus its
#: decoded copy) stay far below the chart's 512 Mi memory limit.
DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much one device may send: enforced while reading, never after."""

    output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES  # one command's output or one HTTP body


@dataclass(frozen=True)
class ChassisTarget:
    """Everything a driver needs to reach one device: address, secrets, trust, timeouts."""

    name: str
    address: str  # host or host:port
    credentials: Credentials
    known_hosts: str = field(default="", repr=False)  # OpenSSH known_hosts text (SSH drivers)
    ca_bundle: str = field(default="", repr=False)  # PEM CA certificates (HTTPS drivers)
    certificate_fingerprint: str = ""  # pinned SHA-256 of the server certificate (HTTPS drivers)
    insecure_skip_verify: bool = False  # explicit opt-in only
    allow_legacy_algorithms: bool = True  # used only when the device offers nothing better
    timeouts: Timeouts = Timeouts()
    limits: Limits = Limits()

    def host_port(self, default_port: int) -> tuple[str, int]:
        """Split ``address`` into host and port (``[v6]:port`` and bare hosts accepted);
        ``PermanentError`` for a port that is not a number from 1 to 65535."""
        address = self.address.strip()
        host, port = address, ""
        if address.startswith("["):
            host, _, rest = address[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else rest
        elif address.count(":") == 1:
            host, port = address.split(":")
        if not port:
            return host, default_port
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise PermanentError(f"address {address!r}: port {port!r} is not 1 to 65535")
        return host, int(port)


class Driver:
    """Base class of every driver. Subclasses set ``name`` and ``features``.

    ``power_actions`` lists the actions ``set_power`` carries out natively; the power service
    composes the others (``cycle`` as off-confirm-on) or refuses them.
    """

    name: ClassVar[str] = ""
    features: ClassVar[frozenset[Feature]] = frozenset()
    power_actions: ClassVar[frozenset[PowerAction]] = frozenset()

    def __init__(self, target: ChassisTarget) -> None:
        self.target = target

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def located(self) -> errors.located:
        """A block whose ``DriverError``s name this chassis and driver (``errors.located``)."""
        return errors.located(chassis=self.target.name, driver=self.name)

    def open(self) -> None:
        """Connect and log in. Drivers without a session do nothing."""

    def close(self) -> None:
        """Log out and disconnect; never raises."""

    def inventory(self) -> Inventory:
        """Read every node, its MACs and power state."""
        self._unsupported(Feature.INVENTORY)

    def describe(self, node_ids: Collection[str]) -> dict[str, NodeDetails]:
        """Read product and serial of the nodes ``inventory`` left ``Details.DEFERRED``, by
        native id; a node the device said nothing about is left out. Called by the poller in
        the same conversation, only for the nodes its caller says are due. A driver whose
        inventory reads them (``Details.CURRENT``) is never asked, and answers nothing."""
        return {}

    def power_state(self, node_id: str) -> PowerState:
        """Read one node's power state."""
        self._unsupported(Feature.POWER_STATE)

    def set_power(self, node_id: str, action: PowerAction) -> None:
        """Send one power request (an action in ``power_actions``); does not wait for it."""
        self._unsupported(Feature.POWER_SET)

    def pxe_once(self, node_id: str) -> None:
        """Make the node boot from the network at its next boot only."""
        self._unsupported(Feature.PXE_ONCE)

    def _unsupported(self, feature: Feature) -> NoReturn:
        with self.located():
            raise UnsupportedError(f"driver does not support {feature.value}")


#: Which method implements which feature; the contract test and the registry use it.
FEATURE_METHODS: dict[Feature, str] = {
    Feature.INVENTORY: "inventory",
    Feature.POWER_STATE: "power_state",
    Feature.POWER_SET: "set_power",
    Feature.PXE_ONCE: "pxe_once",
}


def implemented_features(driver_class: type[Driver]) -> frozenset[Feature]:
    """Return the features whose method ``driver_class`` overrides."""
    return frozenset(
        feature
        for feature, method in FEATURE_METHODS.items()
        if getattr(driver_class, method) is not getattr(Driver, method)
    )
