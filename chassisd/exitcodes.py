"""The exit codes of ``chassisd`` and ``chassisctl``: one table, true for every command and mode.

Owns the codes, the order in which they outrank each other when one command meets several
outcomes, and the mapping from a failed chassis (its error class, or in cluster mode the reason
the agent wrote) to a code. Pure: no I/O, no printing.

::

    0  OK          done; every chassis asked about was read
    2  USAGE       bad arguments, or invalid configuration: a config document or Chassis spec,
                   an unknown driver, a missing Secret or key, no usable kubeconfig
    3  NOT_FOUND   a node reference matched no node, or several (nothing was done)
    4  DEVICE      a chassis could not be read (unreachable, credentials or host key refused,
                   unparsable output, in cluster mode also not polled yet), a power request
                   failed or was not started in time, or the Kubernetes API failed
    5  UNKNOWN     a power request was sent and its outcome is unknown (never re-sent)
    6  INCOMPLETE  reservations were written but some claims were left out (a MAC, IP or node
                   claimed twice, the pool's address range exhausted); a node with no MAC known
                   is a warning about that node, not a conflict, and does not count

When several apply, the one an operator must fix first wins: USAGE, then NOT_FOUND, UNKNOWN,
DEVICE, INCOMPLETE (``worst``). ``chassisctl sync`` and ``chassisd run --once`` share
``sync_exit``, so the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from chassisd.errors import ChassisdError, ConfigError

OK, USAGE, NOT_FOUND, DEVICE, UNKNOWN, INCOMPLETE = 0, 2, 3, 4, 5, 6

#: The table as both tools' ``--help`` print it.
HELP = """\
exit codes (every command, both modes):
  0  done; every chassis asked about was read
  2  usage or configuration error: bad arguments, invalid config or Chassis spec, unknown
     driver, missing Secret or key, no usable kubeconfig
  3  a node reference matched no node, or several (nothing was done)
  4  a chassis could not be read (unreachable, refused, unparsable, in cluster mode also not
     polled yet), a power request failed, or the Kubernetes API failed
  5  a power request was sent and its outcome is unknown (never re-sent)
  6  sync: reservations written, but some nodes were left out (conflict, range full)
"""

#: Lowest to highest precedence.
_PRECEDENCE = (OK, INCOMPLETE, DEVICE, UNKNOWN, NOT_FOUND, USAGE)

#: Chassis status reasons (``Reachable`` condition) that mean the configuration is wrong.
CONFIG_REASONS = frozenset({"InvalidConfig", "InvalidSpec"})


def worst(*codes: int) -> int:
    """The code that outranks the others (``OK`` for none)."""
    return max((OK, *codes), key=_PRECEDENCE.index)


def error_exit(error: ChassisdError | None) -> int:
    """The code for one chassis's poll error (``OK`` for none)."""
    if error is None:
        return OK
    return USAGE if isinstance(error, ConfigError) else DEVICE


def reason_exit(reason: str) -> int:
    """The code for a chassis whose ``Reachable`` condition is False with ``reason``."""
    return USAGE if reason in CONFIG_REASONS else DEVICE


def sync_exit(errors: Iterable[ChassisdError | None], left_out: int) -> int:
    """The code of one sync: the worst chassis error, else ``INCOMPLETE`` if a node was left
    out of the reservations, else ``OK``."""
    return worst(*(error_exit(e) for e in errors), INCOMPLETE if left_out else OK)
