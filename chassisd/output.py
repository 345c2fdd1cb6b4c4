"""``chassisctl``'s output formats, as kubectl spells them: ``-o table|wide|name|json|yaml|
jsonpath=TEMPLATE`` and ``--no-headers``.

Owns the columns of the node table, the keys of a node in JSON/YAML (every key present, empty
values as ``null``/``""``/``[]``), the kubectl-style ``List`` that wraps them, and aligning a
table. Returns text; printing is the caller's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from chassisd.errors import ConfigError
from chassisd.jsonpath import render
from chassisd.listing import NodeRow
from chassisd.noderef import node_to_dict

#: Every ``-o`` value (``jsonpath=`` takes a template after the sign).
OUTPUT_FORMATS = ("table", "wide", "name", "json", "yaml", "jsonpath=TEMPLATE")
NONE = "<none>"


def check_output(text: str) -> str:
    """``text`` if it is an ``-o`` value, else a ``ConfigError`` naming the choices."""
    name, sep, template = text.partition("=")
    if name in ("table", "wide", "name", "json", "yaml") and not sep:
        return text
    if name == "jsonpath" and sep and template:
        return text
    raise ConfigError(
        f"output format {text!r} is not one of {', '.join(OUTPUT_FORMATS)}", path="--output"
    )


def node_item(row: NodeRow) -> dict[str, Any]:
    """A node as ``-o json|yaml|jsonpath`` shows it (every key present)."""
    empty = {"cartridge": None, "node": None, "product": "", "serial": ""}
    item: dict[str, Any] = {"chassis": row.node.chassis, **empty, **node_to_dict(row.node)}
    if row.namespace:
        item = {"namespace": row.namespace, **item}
    item["ref"] = row.node.ref
    item["pool"] = row.pool or None
    item["ip"] = row.ip or None
    item["hostname"] = row.hostname or None
    item["notReserved"] = row.left_out or None
    return item


def as_list(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """kubectl's ``List`` around ``items``."""
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": list(items)}  # fmt: skip


def render_nodes(
    rows: Sequence[NodeRow], output: str, *, no_headers: bool = False, namespaced: bool = False
) -> str:
    """``rows`` in the ``output`` format (checked by ``check_output``), ending in a newline
    unless empty."""
    if output == "name":
        return "".join(f"{row.node.ref}\n" for row in rows)
    if output in ("json", "yaml") or output.startswith("jsonpath="):
        document = as_list([node_item(row) for row in rows])
        if output == "json":
            return json.dumps(document, indent=2) + "\n"
        if output == "yaml":
            return str(yaml.safe_dump(document, sort_keys=False))
        return render(output.partition("=")[2], document)
    if not rows:
        return ""
    header = ["NAME", "CHASSIS", "ID", "MACS", "POWER", "HEALTH", "POOL", "IP"]
    if output == "wide":
        header += ["HOSTNAME", "PRODUCT", "SERIAL"]
    if namespaced:
        header.insert(0, "NAMESPACE")
    table = [] if no_headers else [header]
    for row in rows:
        rec = row.node.record
        cells = [row.node.name, row.node.chassis, rec.id,
                 ",".join(str(m) for m in rec.macs) or NONE, rec.power.value, rec.health.value,
                 row.pool or NONE, row.ip or NONE]  # fmt: skip
        if output == "wide":
            hostname = row.hostname or (f"<none: {row.left_out}>" if row.left_out else NONE)
            cells += [hostname, rec.product or NONE, rec.serial or NONE]
        if namespaced:
            cells.insert(0, row.namespace)
        table.append(cells)
    return align(table)


def align(table: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    if not table:
        return ""
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n"
        for r in table
    )
