"""Node names and node references.

Owns the naming template (``{chassis}``, ``{cartridge}``, ``{node}``, ``{id}``) and resolving
what an operator types (``c1n43-1``, ``moonshot-1/c43n1``, ``c43n1``) to exactly one node. A
reference that matches nothing or several nodes is a ``NodeRefError`` that lists candidates.
Pure: works on inventories it is given, does no I/O.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chassisd.errors import NodeRefError
from chassisd.model import Health, MacAddress, NodeRecord, PowerState
from chassisd.names import render


@dataclass(frozen=True, slots=True)
class NamedNode:
    """A node with the name its chassis's template gives it.

    ``ref`` is the unambiguous ``chassis/native-id`` form, made once and interned: it keys the
    node memory, the reconcile plans and the pool allocations, which then share one string
    instead of holding a copy each (four per node, measured at 200 chassis).
    """

    name: str
    chassis: str
    record: NodeRecord
    ref: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ref", sys.intern(f"{self.chassis}/{self.record.id}"))


def node_name(template: str, chassis: str, record: NodeRecord) -> str:
    """Render a node name; ``{cartridge}``/``{node}`` are empty for devices without them, and
    ``{id}`` is the native id lower-cased with ``.``, ``_``, ``:`` as ``-``. The result may
    still be invalid (a long chassis name, an odd id): ``chassisd.names.label_problem`` says,
    and reconcile leaves such a node out."""
    return render(
        template,
        chassis=chassis,
        native_id=record.id,
        cartridge=record.cartridge,
        node=record.node,
    )


def node_to_dict(node: NamedNode) -> dict[str, Any]:
    """A node as a Chassis status (and the standalone state file) records it; empty fields are
    left out."""
    rec = node.record
    data: dict[str, Any] = {
        "id": rec.id,
        "name": node.name,
        "macs": [str(m) for m in rec.macs],
        "macsKnown": rec.macs_known,
        "power": rec.power.value,
        "health": rec.health.value,
    }
    optional = {"cartridge": rec.cartridge, "node": rec.node, "product": rec.product,
                "serial": rec.serial}  # fmt: skip
    data.update({k: v for k, v in optional.items() if v not in (None, "")})
    return data


def node_from_dict(chassis: str, entry: Mapping[str, Any]) -> NamedNode:
    """The inverse of ``node_to_dict``, for a node of ``chassis``."""
    record = NodeRecord(
        id=entry["id"],
        macs=tuple(MacAddress(m) for m in entry.get("macs") or []),
        power=PowerState(entry.get("power", "unknown")),
        health=Health(entry.get("health", "unknown")),
        product=entry.get("product", ""),
        serial=entry.get("serial", ""),
        cartridge=entry.get("cartridge"),
        node=entry.get("node"),
        macs_known=entry.get("macsKnown", True),
    )
    return NamedNode(entry.get("name") or record.id, chassis, record)


def resolve(reference: str, nodes: Sequence[NamedNode]) -> NamedNode:
    """Return the one node ``reference`` names.

    ``CHASSIS/ID`` is taken apart first and matches only that chassis's node (node names never
    contain ``/``). Anything else is looked up both as a node name and as a native id: it must
    name exactly one node either way — a name of one node that is another node's native id is
    ambiguous, never silently taken as the name.
    """
    ref = reference.strip()
    if "/" in ref:
        chassis, _, native = ref.partition("/")
        on_chassis = [n for n in nodes if n.chassis == chassis]
        if not on_chassis:
            known = sorted({n.chassis for n in nodes})
            raise NodeRefError(
                f"no chassis {chassis!r} in the inventory (chassis: {', '.join(known) or 'none'})",
                reference=ref,
                candidates=tuple(known),
            )
        matches = [n for n in on_chassis if n.record.id.lower() == native.lower()]
        if matches:
            return _one(ref, matches, "chassis/id")
        close = difflib.get_close_matches(ref, sorted(n.ref for n in on_chassis), n=5, cutoff=0.6)
        hint = f"; did you mean: {', '.join(close)}" if close else ""
        raise NodeRefError(
            f"chassis {chassis!r} has no node {native!r}{hint}",
            reference=ref,
            candidates=tuple(close),
        )
    by_name = [n for n in nodes if n.name == ref]
    by_id = [n for n in nodes if n.record.id.lower() == ref.lower()]
    matches = list({n.ref: n for n in [*by_name, *by_id]}.values())
    if matches:
        how = "name" if not by_id else "native id" if not by_name else "name or native id"
        return _one(ref, matches, how)
    close = _suggestions(ref, nodes)
    hint = f"; did you mean: {', '.join(close)}" if close else ""
    raise NodeRefError(f"no node matches {ref!r}{hint}", reference=ref, candidates=tuple(close))


def _one(ref: str, matches: list[NamedNode], how: str) -> NamedNode:
    if len(matches) == 1:
        return matches[0]
    candidates = tuple(sorted(f"{m.name} ({m.ref})" for m in matches))
    raise NodeRefError(
        f"{ref!r} is ambiguous ({how} of {len(matches)} nodes): {', '.join(candidates)}; "
        "use CHASSIS/ID",
        reference=ref,
        candidates=candidates,
    )


def _suggestions(ref: str, nodes: Iterable[NamedNode]) -> list[str]:
    """Close names and ``CHASSIS/ID`` forms; for a reference shaped like the farm's native ids,
    first the ``CHASSIS/ID`` of close native ids (a typo in ``c43n1`` is about an id, and a
    bare id may be on several chassis)."""
    nodes = list(nodes)
    by_id: dict[str, list[str]] = {}
    words: set[str] = set()
    for n in nodes:
        by_id.setdefault(n.record.id.lower(), []).append(n.ref)
        words.update((n.name, n.ref))
    by_name = difflib.get_close_matches(ref, sorted(words), n=5, cutoff=0.6)
    if not _looks_like_native_id(ref, by_id):
        return by_name
    close_ids = difflib.get_close_matches(ref.lower(), sorted(by_id), n=3, cutoff=0.6)
    by_native = sorted(r for native in close_ids for r in by_id[native])[:5]
    return list(dict.fromkeys([*by_native, *by_name]))


def _looks_like_native_id(ref: str, ids: Mapping[str, object]) -> bool:
    """Whether ``ref`` is shaped like the farm's native ids (the same letters, other digits)."""

    def shape(text: str) -> str:
        return re.sub(r"\d+", "9", text.lower())

    return shape(ref) in {shape(native) for native in ids}
