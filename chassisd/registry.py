"""The driver registry: names → driver classes, loaded lazily from entry points.

Owns the lookup of the ``chassisd.drivers`` entry-point group. A driver module is imported only
when a chassis names it, so a broken or slow third-party driver cannot affect the others.
Tests can register classes directly.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from chassisd.driver import ChassisTarget, Driver, implemented_features
from chassisd.errors import ConfigError

ENTRY_POINT_GROUP = "chassisd.drivers"


class Registry:
    """Maps driver names to classes. Entry points are read once and imported on first use."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self._group = group
        self._entry_points: dict[str, EntryPoint] | None = None
        self._classes: dict[str, type[Driver]] = {}

    def _points(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            self._entry_points = {ep.name: ep for ep in entry_points(group=self._group)}
        return self._entry_points

    def names(self) -> list[str]:
        """All driver names known, registered or installed, sorted."""
        return sorted(set(self._points()) | set(self._classes))

    def register(self, driver_class: type[Driver]) -> None:
        """Add a class directly (tests, embedded use)."""
        _check_features(driver_class)
        self._classes[driver_class.name] = driver_class

    def get(self, name: str) -> type[Driver]:
        """Return the class for ``name``, importing it on first use."""
        if name in self._classes:
            return self._classes[name]
        point = self._points().get(name)
        if point is None:
            raise ConfigError(
                f"unknown driver {name!r}; installed drivers: {', '.join(self.names()) or 'none'}",
                path="spec.driver",
            )
        loaded = point.load()
        if not (isinstance(loaded, type) and issubclass(loaded, Driver)):
            raise ConfigError(f"entry point {point.value!r} is not a chassisd Driver class")
        _check_features(loaded)
        self._classes[name] = loaded
        return loaded

    def create(self, name: str, target: ChassisTarget) -> Driver:
        """Build a driver for one conversation with ``target`` (not yet connected)."""
        return self.get(name)(target)


def _check_features(driver_class: type[Driver]) -> None:
    declared, implemented = driver_class.features, implemented_features(driver_class)
    if declared != implemented:
        raise ConfigError(
            f"driver {driver_class.name!r} declares {sorted(f.value for f in declared)} "
            f"but implements {sorted(f.value for f in implemented)}"
        )
