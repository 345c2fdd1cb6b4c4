"""Standalone sync: poll the farm, remember what is known, write reservations to a directory.

Owns the output directory of ``chassisd run --config FILE``: ``state.json`` (every known node
with ``firstSeen``/``absentSince``, the IP allocations that keep addresses stable, and which node
holds each reserved MAC, so an established reservation keeps it through a conflict), the
``DhcpHosts`` YAML files under ``dhcphosts/`` (one per pool and chassis), kubefarm values
ConfigMaps under ``kubefarm/`` for pools that ask for them, and a dnsmasq ``dhcp-hostsfile``.
Files are replaced atomically and only when their content changes.

The rules are ``chassisd.memory``'s (shared with cluster mode): a chassis whose poll failed
keeps every node it had; a node that a *successful* poll no longer reports keeps its
reservation until its pool's grace period has passed. The nodes each chassis had are handed to
the poll, so a poll that loses many at once is confirmed by a second session first.
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
    dhcphosts_objects,
    hostsfile_line,
    kubefarm_configmap,
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


def sync(farm: Farm, output_dir: Path, *, now: datetime | None = None) -> SyncReport:
    """Poll every chassis once and bring the output directory up to date."""
    now = now or datetime.now(UTC)
    state = _load_state(output_dir / STATE_FILE)
    known = {
        ref: known_from_dict(entry["chassis"], entry, now)
        for ref, entry in state.get("nodes", {}).items()
    }
    present: dict[str, set[str]] = {}
    for entry in known.values():
        if entry.absent_since is None:
            present.setdefault(entry.node.chassis, set()).add(entry.node.record.id)
    view = farm.poll(present=present)
    polled: dict[str, list[NamedNode]] = {r.chassis: [] for r in view.results if r.ok}
    for node in view.nodes:
        polled[node.chassis].append(node)
    known, removed = remember(farm.config, known, polled, now)
    nodes = [entry.node for _ref, entry in sorted(known.items())]
    established = Established(macs=state.get("reservations", {}))
    plans = plan_pools(farm.config, nodes, state.get("allocations", {}), established)
    written = _write_outputs(output_dir, plans)
    new_state = {
        "nodes": {
            ref: known_to_dict(entry, with_chassis=True) for ref, entry in sorted(known.items())
        },
        "allocations": {p.pool.name: dict(sorted(p.allocations.items())) for p in plans},
        "reservations": dict(sorted(reserved_macs(plans).items())),
    }
    if _atomic_write(output_dir / STATE_FILE, json.dumps(new_state, indent=1, sort_keys=True)):
        written += (output_dir / STATE_FILE,)
    return SyncReport(view, tuple(known.values()), plans, written, removed)


def _write_outputs(output_dir: Path, plans: tuple[PoolPlan, ...]) -> tuple[Path, ...]:
    written: list[Path] = []
    documents: dict[Path, dict[str, Any]] = {}
    for plan in plans:
        for obj in dhcphosts_objects(plan):
            meta = obj["metadata"]
            documents[output_dir / "dhcphosts" / f"{meta['namespace']}-{meta['name']}.yaml"] = obj
        configmap = kubefarm_configmap(plan)
        if configmap is not None:
            meta = configmap["metadata"]
            documents[output_dir / "kubefarm" / f"{meta['namespace']}-{meta['name']}.yaml"] = (
                configmap
            )
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
    return tuple(written)


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
