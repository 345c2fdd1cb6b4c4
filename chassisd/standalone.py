"""Standalone sync: poll the farm, remember what is known, write reservations to a directory.

Owns the output directory of ``chassisd run --config FILE``: ``state.json`` (every known node
with ``firstSeen``/``absentSince``, the IP allocations that keep addresses stable, and which node
holds each reserved MAC, so an established reservation keeps it through a conflict), the
``DhcpHosts`` YAML files under ``dhcphosts/`` (one per pool and chassis), kubefarm values
ConfigMaps under ``kubefarm/`` for pools that ask for them, and a dnsmasq ``dhcp-hostsfile``;
optionally also a directory for dnsmasq's ``--dhcp-hostsdir`` with one file per pool and
chassis (only files named ``chassisd-*`` there are chassisd's; nothing else in it is touched).
Files are replaced atomically (a dot-file renamed into place, which dnsmasq's directory watch
ignores until the rename) and only when their content changes, with a configurable mode.

How dnsmasq picks a change up (docs/dnsmasq.md): a ``--dhcp-hostsfile`` is read again only on
a restart or SIGHUP; a ``--dhcp-hostsdir`` is watched with inotify, so new and changed files
are read by themselves, but dnsmasq only adds records that way: removed or changed ones stay
until a restart.

The rules are ``chassisd.memory``'s (shared with cluster mode): a chassis whose poll failed
keeps every node it had; a node that a *successful* poll no longer reports keeps its
reservation until its pool's grace period has passed. The nodes each chassis had are handed to
the poll, so a poll that loses many at once is confirmed by a second session first.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from chassisd.farm import Farm, FarmView
from chassisd.memory import KnownNode, details_wanted, known_from_dict, known_to_dict, remember
from chassisd.noderef import NamedNode
from chassisd.reconcile import (
    Established,
    PoolPlan,
    desired_objects,
    dhcphosts_name,
    hostsfile_line,
    plan_pools,
    reserved_macs,
)

STATE_FILE = "state.json"
HOSTSFILE = "dhcp-hostsfile"
#: Mode of every file written: dnsmasq reads the hostsfile after it has dropped root (it runs
#: as ``nobody`` or ``dnsmasq``), and mkstemp's 0600 made it log "Permission denied". Nothing
#: written holds a secret. ``--file-mode`` changes it (e.g. 0640 with a group dnsmasq is in).
FILE_MODE = 0o644
#: Files in a ``--dhcp-hostsdir`` whose names start so are chassisd's to replace and remove.
HOSTSDIR_PREFIX = "chassisd-"


@dataclass(frozen=True)
class OutputOptions:
    """How the output is written: the mode of every file, and an optional hostsdir."""

    file_mode: int = FILE_MODE
    hostsdir: Path | None = None  # one file per pool and chassis, for --dhcp-hostsdir


def file_mode(text: str) -> int:
    """An octal file mode such as ``0644`` or ``640`` (argparse ``type=``): the owner must be
    able to read and write, and nothing may be executable or set-id."""
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal mode like 0644") from None
    if mode & ~0o666 or mode & 0o600 != 0o600:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the owner must read and write (0600 bits), nothing executable or set-id"
        )
    return mode


def add_output_arguments(group: argparse._ActionsContainer) -> None:
    """The standalone output options, shared by ``chassisd run`` and ``chassisctl sync``."""
    group.add_argument(
        "--dhcp-hostsdir",
        type=Path,
        help="also write one dhcp-host file per pool and chassis here, for dnsmasq's "
        "--dhcp-hostsdir (re-read by dnsmasq by itself)",
    )
    group.add_argument(
        "--file-mode",
        type=file_mode,
        default=FILE_MODE,
        help="octal mode of every file written (default 0644: dnsmasq reads them after "
        "dropping root)",
    )


def output_options(args: argparse.Namespace) -> OutputOptions:
    """The options ``add_output_arguments`` parsed."""
    return OutputOptions(file_mode=args.file_mode, hostsdir=args.dhcp_hostsdir)


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


def sync(
    farm: Farm,
    output_dir: Path,
    *,
    now: datetime | None = None,
    options: OutputOptions | None = None,
) -> SyncReport:
    """Poll every chassis once and bring the output directory up to date."""
    now = now or datetime.now(UTC)
    options = options or OutputOptions()
    state = _load_state(output_dir / STATE_FILE)
    known = {
        ref: known_from_dict(entry["chassis"], entry, now)
        for ref, entry in state.get("nodes", {}).items()
    }
    present: dict[str, set[str]] = {}
    for entry in known.values():
        if entry.absent_since is None:
            present.setdefault(entry.node.chassis, set()).add(entry.node.record.id)
    view = farm.poll(
        present=present, details_due=lambda chassis: details_wanted(known, chassis, now)
    )
    polled: dict[str, list[NamedNode]] = {r.chassis: [] for r in view.results if r.ok}
    for node in view.nodes:
        polled[node.chassis].append(node)
    known, removed = remember(farm.config, known, polled, now)
    nodes = [entry.node for _ref, entry in sorted(known.items())]
    established = Established(macs=state.get("reservations", {}))
    plans = plan_pools(farm.config, nodes, state.get("allocations", {}), established, set(polled))
    written, refused = _write_outputs(output_dir, plans, options)
    new_state = {
        "nodes": {
            ref: known_to_dict(entry, with_chassis=True) for ref, entry in sorted(known.items())
        },
        "allocations": {p.pool.name: dict(sorted(p.allocations.items())) for p in plans},
        "reservations": dict(sorted(reserved_macs(plans).items())),
    }
    state_text = json.dumps(new_state, indent=1, sort_keys=True)
    if _atomic_write(output_dir / STATE_FILE, state_text, options.file_mode):
        written += (output_dir / STATE_FILE,)
    conflicts = {p.pool.name: (*p.conflicts, *refused.get(p.pool.name, ())) for p in plans}
    return SyncReport(view, tuple(known.values()), plans, written, removed, conflicts)


def _write_outputs(
    output_dir: Path, plans: tuple[PoolPlan, ...], options: OutputOptions
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
    mode = options.file_mode
    for path, obj in documents.items():
        if _atomic_write(path, yaml.safe_dump(obj, sort_keys=False), mode):
            written.append(path)
    for folder in ("dhcphosts", "kubefarm"):
        for stale in (output_dir / folder).glob("*.yaml"):
            if stale not in documents:  # its pool or chassis is gone from the config
                stale.unlink()
    lines = [hostsfile_line(h, plan.pool) for plan in plans for h in plan.hosts]
    path = output_dir / HOSTSFILE
    if _atomic_write(path, "".join(f"{line}\n" for line in lines), mode):
        written.append(path)
    if options.hostsdir is not None:
        written += _write_hostsdir(options.hostsdir, plans, mode)
    return tuple(written), refused


def _write_hostsdir(directory: Path, plans: tuple[PoolPlan, ...], mode: int) -> list[Path]:
    """One file per pool and chassis (named as its DhcpHosts object), then remove chassisd's
    files whose pool or chassis has no reservations any more."""
    files: dict[Path, list[str]] = {}
    for plan in plans:
        for host in plan.hosts:
            name = dhcphosts_name(plan.pool.name, host.chassis)
            files.setdefault(directory / name, []).append(hostsfile_line(host, plan.pool))
    written = [
        path
        for path, lines in sorted(files.items())
        if _atomic_write(path, "".join(f"{line}\n" for line in lines), mode)
    ]
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(f"{HOSTSDIR_PREFIX}*"):
        if stale not in files and stale.is_file():
            stale.unlink()
    return written


def _atomic_write(path: Path, text: str, mode: int = FILE_MODE) -> bool:
    """Replace ``path`` with ``text`` if it differs (a rename, so a reader sees the old or the
    new file, never half of one); return whether it was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
        return False
    # A dot-file: dnsmasq's --dhcp-hostsdir watch skips those, and sees only the rename.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.")
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


def load_allocations(output_dir: Path) -> dict[str, dict[str, str]]:
    """The IP allocations (pool → node key → IP) the last sync into ``output_dir`` kept."""
    allocations = _load_state(output_dir / STATE_FILE).get("allocations") or {}
    return allocations if isinstance(allocations, dict) else {}
