"""What the two HTTPS drivers share: one ``HttpSession`` per conversation, opened and closed once.

Owns: the ``open``/``close`` lifecycle (a failed ``open`` cleans up after itself, so no session
or socket leaks even though ``__exit__`` never runs), the "unsupported" errors of power
requests, and choosing a ``ResetType`` from a preference table and a system's allow-list.

Must not: know Redfish or Moonshot paths (the subclasses do), sleep, retry or log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chassisd.driver import ChassisTarget, Driver
from chassisd.errors import UnsupportedError
from chassisd.model import PowerAction
from chassisd_redfish.http import HttpSession
from chassisd_redfish.resources import pick_reset_type


class HttpDriver(Driver):
    """A driver that talks to its device over one HTTPS session (see ``http.HttpSession``)."""

    def __init__(self, target: ChassisTarget) -> None:
        super().__init__(target)
        self._http = HttpSession(target)

    def open(self) -> None:
        with self.located():
            try:
                self._http.connect()
                self._login()
            except BaseException:
                self._http.close()  # log out if the session was made; close sockets either way
                raise

    def close(self) -> None:
        self._http.close()

    def _login(self) -> None:
        """Authenticate the session (subclasses: session login, or Basic as the fallback)."""
        raise NotImplementedError

    def _preferences(
        self, table: Mapping[PowerAction, tuple[str, ...]], action: PowerAction
    ) -> tuple[str, ...]:
        """The ResetTypes that carry out ``action``; ``UnsupportedError`` for other actions."""
        preferences = table.get(action)
        if not preferences:
            raise UnsupportedError(
                f"{action.value} is not a power action of this driver "
                f"(it sends {', '.join(a.value for a in table)})"
            )
        return preferences

    def _reset_type(
        self,
        table: Mapping[PowerAction, tuple[str, ...]],
        action: PowerAction,
        allowed: Sequence[str] | None,
        node_id: str,
    ) -> str:
        """The ResetType to send for ``action``, or ``UnsupportedError`` saying why not."""
        preferences = self._preferences(table, action)
        reset_type = pick_reset_type(preferences, allowed)
        if reset_type is None:
            raise UnsupportedError(
                f"{node_id}: {action.value} needs ResetType {' or '.join(preferences)}, but the "
                f"system allows only {', '.join(allowed or ()) or 'nothing'}"
            )
        return reset_type
