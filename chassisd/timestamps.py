"""The time stamps chassisd writes into statuses and its state file: RFC 3339, UTC, seconds.

Owns formatting and parsing them. Pure.
"""

from __future__ import annotations

from datetime import datetime


def stamp(moment: datetime) -> str:
    """``moment`` as the Kubernetes API's second-precision RFC 3339 UTC time."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """The inverse of ``stamp`` (any RFC 3339 time with a zone; None for an empty value)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
