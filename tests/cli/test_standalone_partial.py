"""Standalone mode against partial answers (`chassisd run --once` as a process): a listing cut
short in every session is a confirmed mass disappearance, reported on stderr, and the nodes it
lost keep their reservations until the grace period ends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chassisd.sim.moonshot import SimHandle
from chassisd.sim.moonshot.model import CommandKind, Faults

BIN = Path(sys.executable).parent


def run_once(config_file: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chassisd"), "run", "--config", str(config_file),
         "--output-dir", str(out), "--once"],
        text=True, capture_output=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_cut_listing_is_confirmed_reported_and_loses_no_reservation(
    tmp_path: Path, config_file: Path, farm: tuple[SimHandle, SimHandle]
) -> None:
    """After a full sync, m1's `show node list` keeps 2 rows in every session: stderr says the
    loss was confirmed by a second session, the lost nodes are marked absent, and the hostsfile
    is unchanged; a listing cut in one session only marks nothing absent."""
    one, _two = farm
    out = tmp_path / "out"
    assert run_once(config_file, out).returncode == 0
    hostsfile = (out / "dhcp-hostsfile").read_text()
    total = sum(1 for _ in one.spec.nodes())

    one.set_faults(Faults(keep_rows=2, affects=frozenset({CommandKind.NODE_LIST}), logins=1))
    result = run_once(config_file, out)
    assert result.returncode == 0, result.stderr
    assert f"left out {total - 2} of {total} nodes" in result.stderr
    state = json.loads((out / "state.json").read_text())
    assert not any(n.get("absentSince") for n in state["nodes"].values())

    one.set_faults(Faults(keep_rows=2, affects=frozenset({CommandKind.NODE_LIST})))
    result = run_once(config_file, out)
    assert result.returncode == 0, result.stderr
    assert "chassis=m1" in result.stderr
    assert f"{total - 2} of {total} nodes no longer reported, confirmed" in result.stderr
    state = json.loads((out / "state.json").read_text())
    assert sum(1 for n in state["nodes"].values() if n.get("absentSince")) == total - 2
    assert (out / "dhcp-hostsfile").read_text() == hostsfile
