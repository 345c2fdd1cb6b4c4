"""``chassisctl map``: every chassis drawn as its front panel, so an operator looks at a rack, not
at thousands of rows.

Owns the drawing: a Moonshot 1500's 45 cartridge slots in three rows of 15, each slot showing
the nodes of its cartridge; a device without cartridges (a BMC, a Redfish system) as one row
of its nodes; one glyph per node saying its pool, power and problems; a legend. With colour
(a terminal) the glyph is coloured too; without, the letters and marks alone say everything,
so the plain text is complete for logs and pipes. Pure: it draws a ``Listing`` it is given.

Glyphs::

    A B C …   reserved in the pool of that letter (legend); upper case powered on,
              lower case off, the letter followed by nothing else
    +  -      powered on / off, in no pool (no reservation)
    !         claimed but left out: a conflict (MAC or IP twice, range full)
    ~         no MAC known: nothing to reserve
    _         absent: no longer reported, kept for the pool's grace period
    ?         power unknown
    .         empty slot
    whole chassis marked UNREAD when it could not be read (its nodes as last known)
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from chassisd.listing import ChassisProblem, Listing, NodeRow
from chassisd.model import PowerState

SLOTS = 45
SLOTS_PER_ROW = 15
CELL = 4  # glyphs per slot: a cartridge holds at most 4 nodes on known Moonshot models

_RESET = "\x1b[0m"
_POOL_COLOURS = ("42", "44", "45", "46", "43", "102", "104", "105", "106", "103")  # backgrounds
_MARK_COLOURS = {"!": "41;97", "~": "33", "_": "2", "?": "35", "+": "97", "-": "2", ".": "2"}


@dataclass(frozen=True)
class _Glyph:
    char: str
    colour: str  # ANSI SGR parameters, "" for none


def draw(listing: Listing, *, colour: bool) -> str:
    """The map of every chassis in ``listing`` (read or not), then the legend."""
    letters = _pool_letters(listing.rows)
    problems = {(p.namespace, p.chassis): p for p in listing.problems}
    rows_by_chassis: dict[tuple[str, str], list[NodeRow]] = {}
    for row in listing.rows:
        rows_by_chassis.setdefault((row.namespace, row.node.chassis), []).append(row)
    chassis = list(listing.chassis) or sorted(rows_by_chassis)
    out: list[str] = []
    for key in chassis:
        out += _panel(key, rows_by_chassis.get(key, []), problems.get(key), letters, colour)
        out.append("")
    out += _legend(letters, colour)
    return "\n".join(out) + "\n"


def _pool_letters(rows: Sequence[NodeRow]) -> dict[str, str]:
    pools = sorted({row.pool for row in rows if row.pool})
    alphabet = string.ascii_uppercase
    return {pool: alphabet[i % len(alphabet)] for i, pool in enumerate(pools)}


def _glyph(row: NodeRow, letters: dict[str, str]) -> _Glyph:
    power = row.node.record.power
    if row.absent:
        return _Glyph("_", _MARK_COLOURS["_"])
    if power is PowerState.UNKNOWN:
        return _Glyph("?", _MARK_COLOURS["?"])
    on = power is PowerState.ON
    if row.pool:
        letter = letters[row.pool]
        index = sorted(letters).index(row.pool) % len(_POOL_COLOURS)
        return _Glyph(letter if on else letter.lower(), f"{_POOL_COLOURS[index]};{1 if on else 2}")
    if row.left_out and not row.node.record.macs:
        return _Glyph("~", _MARK_COLOURS["~"])
    if row.left_out and row.left_out != "in no pool":
        return _Glyph("!", _MARK_COLOURS["!"])
    mark = "+" if on else "-"
    return _Glyph(mark, _MARK_COLOURS[mark])


def _paint(glyph: _Glyph, colour: bool) -> str:
    return f"\x1b[{glyph.colour}m{glyph.char}{_RESET}" if colour and glyph.colour else glyph.char


def _panel(
    key: tuple[str, str],
    rows: list[NodeRow],
    problem: ChassisProblem | None,
    letters: dict[str, str],
    colour: bool,
) -> list[str]:
    namespace, name = key
    title = f"{namespace}/{name}" if namespace else name
    state = f"  UNREAD {problem.reason}: {problem.message}" if problem else ""
    if problem and colour:
        state = f"\x1b[41;97m{state}{_RESET}"
    lines = [f"{title}  ({len(rows)} nodes){state}"]
    if not rows:
        return [*lines, "  (no nodes known)" if problem else "  (no nodes)"]
    in_slots = [r for r in rows if r.node.record.cartridge is not None]
    others = [r for r in rows if r.node.record.cartridge is None]
    if in_slots:
        by_slot: dict[int, list[NodeRow]] = {}
        for row in sorted(in_slots, key=lambda r: (r.node.record.cartridge, r.node.record.node)):
            by_slot.setdefault(int(row.node.record.cartridge or 0), []).append(row)
        for first in range(1, SLOTS + 1, SLOTS_PER_ROW):
            slots = range(first, first + SLOTS_PER_ROW)
            lines.append("  " + " ".join(f"{slot:<{CELL}}" for slot in slots).rstrip())
            cells = []
            for slot in slots:
                nodes = by_slot.get(slot, [])
                glyphs = [_paint(_glyph(r, letters), colour) for r in nodes[:CELL]]
                if not nodes:
                    glyphs = [_paint(_Glyph(".", _MARK_COLOURS["."]), colour)]
                cells.append("".join(glyphs) + " " * (CELL - max(1, len(nodes[:CELL]))))
            lines.append("  " + " ".join(cells).rstrip())
        beyond = sorted(s for s in by_slot if not 1 <= s <= SLOTS)
        if beyond:
            lines.append(f"  (slots outside 1-{SLOTS}: {', '.join(map(str, beyond))})")
    if others:
        marks = " ".join(f"{_paint(_glyph(r, letters), colour)} {r.node.record.id}" for r in others)
        lines.append(f"  {marks}")
    return lines


def _legend(letters: dict[str, str], colour: bool) -> list[str]:
    pools = "  ".join(
        f"{_paint(_Glyph(letter, f'{_POOL_COLOURS[i % len(_POOL_COLOURS)]};1'), colour)}={pool}"
        for i, (pool, letter) in enumerate(sorted(letters.items()))
    )
    marks = [("+", "on, no pool"), ("-", "off, no pool"), ("!", "left out (conflict)"),
             ("~", "no MAC known"), ("_", "absent"), ("?", "power unknown"),
             (".", "empty slot")]  # fmt: skip
    legend = "  ".join(f"{_paint(_Glyph(m, _MARK_COLOURS[m]), colour)} {text}" for m, text in marks)
    lines = ["legend: upper case on, lower case off; slots 1-15, 16-30, 31-45 in rows"]
    if pools:
        lines.append(f"  pools: {pools}")
    lines.append(f"  {legend}")
    return lines
