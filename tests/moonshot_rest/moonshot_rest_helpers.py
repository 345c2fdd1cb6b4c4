"""Helpers for the moonshot-rest tests: targets for a running REST simulator."""

from __future__ import annotations

from typing import Any

from chassisd.driver import ChassisTarget, Credentials, Timeouts
from chassisd.sim.moonshot.rest import RestSimHandle


def target_for(handle: RestSimHandle, **changes: Any) -> ChassisTarget:
    """A target that reaches ``handle`` and trusts it through its CA bundle."""
    values: dict[str, Any] = {
        "name": "moonshot-r",
        "address": handle.address,
        "credentials": Credentials("admin", "password"),
        "ca_bundle": handle.ca_pem,
        "timeouts": Timeouts(connect=3.0, command=3.0),
    }
    values.update(changes)
    return ChassisTarget(**values)
