"""Standalone sync: poll the farm, remember what is known, write reservations to a directory.

Owns the output directory of ``chassisd run --config FILE``: ``state.json`` (every known node
with ``firstSeen``/``absentSince``, the IP allocations that keep addresses stable, and which node
holds each reserved MAC, so an established reservation keeps it through a conflict), the
``DhcpHosts`` YAML files under ``dhcphosts/`` (one per pool and chassis), kubefarm values
ConfigMaps under ``kubefarm/`` for pools that ask for them, and a dnsmasq ``dhcp-hostsfile``.
Files are replaced atomically and only when their content changes.

The rules are ``chassisd.memory``'s (shared with cluster mode): a chassis whose poll failed
keeps every node it had; a node that a *successful* poll no longer reports keeps its
reservation until its pool's grace period has passed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from chassisd.farm import Farm, FarmView
from chassisd.memory import KnownNode, known_from_dict, known_to_dict, remember
from chassisd.noderef import NamedNode
from chassisd.reconcile import (
    Established,
    PoolPlan,
    desired_objects,
    hostsfile_line,
    plan_pools,
    reserved_macs,
)

STATE_FILE = "state.json"
HOSTSFILE = "dhcp-hostsfile"


@dataclass(frozen=True)
class SyncReport:
    """What one standalone sync saw and wrote."""

    view: FarmView
    known: tuple[KnownNode, ...]  # every node kept, including those of failed chassis
    plans: tuple[PoolPlan, ...]
    written: tuple[Path, ...]
    removed: tuple[str, ...]  # node refs dropped after their grace period
    #: Per pool: everything left out and why (the plan's conflicts, then objects it may not
    #: write because another pool writes them).
    conflicts: dict[str, tuple[str, ...]]

    @property
    def left_out(self) -> bool:
        """Whether anything was left out, or a member id matched no node: the sync's exit
        status says so."""
        return any(self.conflicts.values()) or any(p.unmatched for p in self.plans)


def sync(farm: Farm, output_dir: Path, *, now: datetime | None = None) -> SyncReport:
    """Poll every chassis once and bring the output directory up to date."""
    now = now or datetime.now(UTC)
    view = farm.poll()
    state = _load_state(output_dir / STATE_FILE)
    known = {
        ref: known_from_dict(entry["chassis"], entry, now)
        for ref, entry in state.get("nodes", {}).items()
    }
    polled: dict[str, list[NamedNode]] = {r.chassis: [] for r in view.results if r.ok}
    for node in view.nodes:
        polled[node.chassis].append(node)
    known, removed = remember(farm.config, known, polled, now)
    nodes = [entry.node for _ref, entry in sorted(known.items())]
    established = Established(macs=state.get("reservations", {}))
    plans = plan_pools(farm.config, nodes, state.get("allocations", {}), established, set(polled))
    written, refused = _write_outputs(output_dir, plans)
    new_state = {
        "nodes": {
            ref: known_to_dict(entry, with_chassis=True) for ref, entry in sorted(known.items())
        },
        "allocations": {p.pool.name: dict(sorted(p.allocations.items())) for p in plans},
        "reservations": dict(sorted(reserved_macs(plans).items())),
    }
    if _atomic_write(output_dir / STATE_FILE, json.dumps(new_state, indent=1, sort_keys=True)):
        written += (output_dir / STATE_FILE,)
    conflicts = {p.pool.name: (*p.conflicts, *refused.get(p.pool.name, ())) for p in plans}
    return SyncReport(view, tuple(known.values()), plans, written, removed, conflicts)


def _write_outputs(
    output_dir: Path, plans: tuple[PoolPlan, ...]
) -> tuple[tuple[Path, ...], dict[str, list[str]]]:
    written: list[Path] = []
    documents: dict[Path, dict[str, Any]] = {}
    refused: dict[str, list[str]] = {}
    for pool, items, not_written in desired_objects(plans):
        refused[pool] = not_written
        for item in items:
            kind, namespace, name = item.key
            folder = "kubefarm" if kind == "ConfigMap" else "dhcphosts"
            documents[output_dir / folder / f"{namespace}-{name}.yaml"] = item.obj
    for path, obj in documents.items():
        if _atomic_write(path, yaml.safe_dump(obj, sort_keys=False)):
            written.append(path)
    for folder in ("dhcphosts", "kubefarm"):
        for stale in (output_dir / folder).glob("*.yaml"):
            if stale not in documents:  # its pool or chassis is gone from the config
                stale.unlink()
    lines = [hostsfile_line(h, plan.pool) for plan in plans for h in plan.hosts]
    path = output_dir / HOSTSFILE
    if _atomic_write(path, "".join(f"{line}\n" for line in lines)):
        written.append(path)
    return tuple(written), refused


#: Mode of every file written: dnsmasq reads the hostsfile after it has dropped root (it runs
#: as ``nobody`` or ``dnsmasq``), and mkstemp's 0600 made it log "Permission denied". Nothing
#: written holds a secret.
FILE_MODE = 0o644


def _atomic_write(path: Path, text: str, mode: int = FILE_MODE) -> bool:
    """Replace ``path`` with ``text`` if it differs (a rename, so a reader sees the old or the
    new file, never half of one); return whether it was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    Path(tmp).replace(path)
    return True


def _load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
