"""Standalone sync: poll the farm, keep what is known, write reservations to a directory.

Owns the output directory of ``chassisd run --config FILE``: ``state.json`` (every known node
with ``firstSeen``/``lastSeen``/``absentSince``, and the IP allocations that keep addresses
stable), one ``DhcpHosts`` YAML per pool under ``dhcphosts/``, and a dnsmasq
``dhcp-hostsfile``. Files are replaced atomically.

Nothing is lost on failure: a chassis whose poll failed keeps every node it had; a node that a
*successful* poll no longer reports keeps its reservation until its pool's grace period has
passed since it was last seen.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from chassisd.config import DEFAULT_GRACE_PERIOD, Config
from chassisd.farm import Farm, FarmView
from chassisd.model import Health, MacAddress, NodeRecord, PowerState
from chassisd.noderef import NamedNode
from chassisd.reconcile import PoolPlan, dhcphosts_object, hostsfile_line, plan_pools

STATE_FILE = "state.json"
HOSTSFILE = "dhcp-hostsfile"


@dataclass(frozen=True)
class SyncReport:
    """What one standalone sync saw and wrote."""

    view: FarmView
    nodes: tuple[NamedNode, ...]  # every node kept, including those of failed chassis
    plans: tuple[PoolPlan, ...]
    written: tuple[Path, ...]
    retained: tuple[str, ...]  # node refs kept although their chassis failed or they vanished
    removed: tuple[str, ...]  # node refs dropped after the grace period


def sync(farm: Farm, output_dir: Path, *, now: datetime | None = None) -> SyncReport:
    """Poll every chassis once and bring the output directory up to date."""
    now = now or datetime.now(UTC)
    view = farm.poll()
    state = _load_state(output_dir / STATE_FILE)
    known: dict[str, dict[str, Any]] = state.get("nodes", {})
    stamp = now.isoformat()
    polled_ok = {r.chassis for r in view.results if r.ok}
    retained: list[str] = []
    removed: list[str] = []
    seen: set[str] = set()
    for node in view.nodes:
        seen.add(node.ref)
        entry = _to_state(node)
        entry["firstSeen"] = known.get(node.ref, {}).get("firstSeen", stamp)
        entry["lastSeen"] = stamp
        known[node.ref] = entry
    configured = {c.name for c in farm.config.chassis}
    for ref, entry in list(known.items()):
        if ref in seen:
            continue
        if entry["chassis"] not in configured:
            del known[ref]
            removed.append(ref)
        elif entry["chassis"] in polled_ok:
            entry.setdefault("absentSince", stamp)
            if now - datetime.fromisoformat(entry["lastSeen"]) > _grace(farm.config, entry):
                del known[ref]
                removed.append(ref)
            else:
                retained.append(ref)
        else:
            retained.append(ref)  # its chassis could not be read: keep it unchanged
    nodes = tuple(_from_state(entry) for _ref, entry in sorted(known.items()))
    plans = plan_pools(farm.config, nodes, state.get("allocations", {}))
    written = _write_outputs(output_dir, farm.config, plans)
    state = {"nodes": known, "allocations": {p.pool.name: dict(p.allocations) for p in plans}}
    _atomic_write(output_dir / STATE_FILE, json.dumps(state, indent=1, sort_keys=True))
    return SyncReport(view, nodes, plans, written, tuple(retained), tuple(removed))


def _grace(config: Config, entry: dict[str, Any]) -> timedelta:
    """The grace period of the pool that holds this node (its own pool first, then catch-all)."""
    members = [
        p
        for p in config.pools
        if any(
            m.matches(entry["chassis"], entry["id"], entry["cartridge"], entry["node"])
            for m in p.members
        )
    ]
    pools = members or [p for p in config.pools if p.catch_all]
    return timedelta(seconds=pools[0].grace_period if pools else DEFAULT_GRACE_PERIOD)


def _write_outputs(
    output_dir: Path, config: Config, plans: tuple[PoolPlan, ...]
) -> tuple[Path, ...]:
    written: list[Path] = []
    hosts_dir = output_dir / "dhcphosts"
    hosts_dir.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for plan in plans:
        obj = dhcphosts_object(plan)
        path = hosts_dir / f"{obj['metadata']['namespace']}-{obj['metadata']['name']}.yaml"
        wanted.add(path.name)
        if _atomic_write(path, yaml.safe_dump(obj, sort_keys=False)):
            written.append(path)
    for stale in hosts_dir.glob("*.yaml"):
        if stale.name not in wanted:  # its pool was removed from the config
            stale.unlink()
    lines = [hostsfile_line(h, plan.pool) for plan in plans for h in plan.hosts]
    path = output_dir / HOSTSFILE
    if _atomic_write(path, "".join(f"{line}\n" for line in lines)):
        written.append(path)
    return tuple(written)


def _atomic_write(path: Path, text: str) -> bool:
    """Replace ``path`` with ``text`` if it differs; return whether it was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    Path(tmp).replace(path)
    return True


def _load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _to_state(node: NamedNode) -> dict[str, Any]:
    rec = node.record
    return {
        "name": node.name,
        "chassis": node.chassis,
        "id": rec.id,
        "macs": [str(m) for m in rec.macs],
        "power": rec.power.value,
        "health": rec.health.value,
        "cartridge": rec.cartridge,
        "node": rec.node,
        "macsKnown": rec.macs_known,
    }


def _from_state(entry: dict[str, Any]) -> NamedNode:
    record = NodeRecord(
        id=entry["id"],
        macs=tuple(MacAddress(m) for m in entry["macs"]),
        power=PowerState(entry["power"]),
        health=Health(entry["health"]),
        cartridge=entry["cartridge"],
        node=entry["node"],
        macs_known=entry.get("macsKnown", True),
    )
    return NamedNode(entry["name"], entry["chassis"], record)
