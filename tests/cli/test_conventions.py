"""kubectl's conventions and the one exit-code table, end to end in standalone mode: the installed
``chassisctl`` and ``chassisd`` console scripts against simulated chassis."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Run

BIN = Path(sys.executable).parent


def _edit(config_file: Path, change: str) -> None:
    """Apply one named mistake to the farm's config (documents: creds, hostkeys, m1, m2, pools)."""
    docs = list(yaml.safe_load_all(config_file.read_text()))
    if change == "unknown-driver":
        docs[3]["spec"]["driver"] = "no-such-driver"
    elif change == "missing-secret":
        docs[3]["spec"]["credentialsSecretRef"] = {"name": "no-such-secret"}
    elif change == "all-unreachable":
        for doc in docs[2:4]:
            doc["spec"]["address"] = "127.0.0.1:1"
    elif change == "range-exhausted":
        docs[4]["spec"]["addressing"]["range"] = {"start": "10.0.0.10", "end": "10.0.0.11"}
    config_file.write_text(yaml.safe_dump_all(docs))


def _run_once(config_file: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chassisd"), "run", "--config", str(config_file), "--output-dir", str(out),
         "--once"],
        text=True, capture_output=True, timeout=90, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "code"),
    [("unknown-driver", 2), ("missing-secret", 2), ("all-unreachable", 4),
     ("range-exhausted", 6)],
)  # fmt: skip
def test_one_exit_code_for_nodes_sync_and_run_once(
    chassisctl: Run, config_file: Path, tmp_path: Path, change: str, code: int
) -> None:
    """The same fault gives the same exit code from `nodes` (where it applies), `sync` and
    `chassisd run --once`: configuration 2, unreadable chassis 4, nodes left out 6."""
    _edit(config_file, change)
    sync = chassisctl("sync", "--config", str(config_file), "--output-dir", str(tmp_path / "a"),
                      timeout=90)  # fmt: skip
    once = _run_once(config_file, tmp_path / "b")
    assert (sync.returncode, once.returncode) == (code, code), (sync.stderr, once.stderr)
    if code != 6:  # a full range is a reservation matter: `nodes` lists the node, IP <none>
        nodes = chassisctl("nodes", "--config", str(config_file), timeout=90)
        assert nodes.returncode == code, nodes.stderr
        assert "chassisctl: chassis m" in nodes.stderr


def test_flags_after_the_subcommand_and_output_name(chassisctl: Run, config_file: Path) -> None:
    """--config after the subcommand works as before it; -o name prints CHASSIS/ID refs that
    power accepts; --no-headers drops the header; --chassis limits the chassis polled."""
    names = chassisctl("nodes", "--config", str(config_file), "-o", "name", "--chassis", "m1")
    assert names.returncode == 0, names.stderr
    refs = names.stdout.splitlines()
    assert refs and all(r.startswith("m1/") for r in refs)
    status = chassisctl("power", "status", refs[0], "--config", str(config_file))
    assert status.returncode == 0 and f"({refs[0]}): on" in status.stdout
    plain = chassisctl("nodes", "--no-headers", "--config", str(config_file), "--pool", "rest")
    lines = plain.stdout.splitlines()
    assert lines and all(line.split()[1] == "m2" and line.split()[6] == "rest" for line in lines)


def test_label_selector_in_standalone_mode(chassisctl: Run, config_file: Path) -> None:
    """-l matches the Chassis documents' metadata.labels; no match says "No resources found"."""
    docs = list(yaml.safe_load_all(config_file.read_text()))
    docs[3]["metadata"]["labels"] = {"rack": "r2"}
    config_file.write_text(yaml.safe_dump_all(docs))
    r2 = chassisctl("nodes", "-l", "rack=r2", "-o", "name", "--config", str(config_file))
    assert r2.returncode == 0 and {ref.split("/")[0] for ref in r2.stdout.split()} == {"m2"}
    none = chassisctl("nodes", "-l", "rack=r9", "--config", str(config_file))
    assert (none.returncode, none.stdout) == (0, "")
    assert none.stderr.strip() == "No resources found in the config file."
    bad = chassisctl("nodes", "-l", "rack=r2=x", "--config", str(config_file))
    assert bad.returncode == 2 and "label selector" in bad.stderr


def test_usage_errors_exit_2(chassisctl: Run, config_file: Path) -> None:
    """A bad -o, or a cluster-only flag in standalone mode, is a usage error."""
    output = chassisctl("nodes", "-o", "csv", "--config", str(config_file))
    assert output.returncode == 2 and "jsonpath=TEMPLATE" in output.stderr
    namespace = chassisctl("nodes", "-n", "farm", "--config", str(config_file))
    assert namespace.returncode == 2 and "cluster mode" in namespace.stderr


def test_version_on_both_tools() -> None:
    """--version prints the installed version, exit 0."""
    for tool in ("chassisctl", "chassisd"):
        result = subprocess.run([str(BIN / tool), "--version"], text=True, capture_output=True,
                                timeout=30, check=False)  # fmt: skip
        assert (result.returncode, result.stdout) == (0, f"{tool} {version('chassisd')}\n")


def test_help_explains_every_power_verb_and_shows_defaults(chassisctl: Run) -> None:
    """`power --help` says what each verb does, and the timeout's default."""
    text = chassisctl("power", "--help").stdout
    for verb in ("on", "off", "shutdown", "cycle", "reset", "status", "cancel"):
        assert f"\n  {verb} " in text
    assert "(default: 120.0)" in text and "exit codes" in text


def test_bash_completion_completes_commands_and_options(chassisctl: Run) -> None:
    """The bash script, sourced into a real bash, completes command names and their flags."""
    script = chassisctl("completion", "bash").stdout

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        probe = (
            f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _chassisctl; "
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        result = subprocess.run(["bash", "-c", probe], text=True, capture_output=True,
                                timeout=30, check=True)  # fmt: skip
        return result.stdout.split()

    assert complete("chassisctl", "no") == ["nodes"]
    assert "--no-headers" in complete("chassisctl", "nodes", "--no")
    assert complete("chassisctl", "power", "cy") == ["cycle"]


def test_map_draws_each_chassis_as_its_front_panel(chassisctl: Run, config_file: Path) -> None:
    """Plain text (stdout is a pipe): 45 slots in rows of 15 under their numbers, one letter
    per node for its pool (upper case: on), '.' for an empty slot, a legend naming the pools;
    an unreadable chassis is marked UNREAD, named on stderr, exit 4."""
    docs = list(yaml.safe_load_all(config_file.read_text()))
    down = yaml.safe_load(yaml.safe_dump(docs[3]))
    down["metadata"]["name"], down["spec"]["address"] = "m3", "127.0.0.1:1"
    config_file.write_text(yaml.safe_dump_all([*docs[:4], down, *docs[4:]]))
    result = chassisctl("map", "--config", str(config_file))
    assert result.returncode == 4
    assert "chassisctl: chassis m3: Unreachable" in result.stderr
    assert "\x1b[" not in result.stdout
    lines = result.stdout.splitlines()
    m1 = lines.index(next(line for line in lines if line.startswith("m1 ")))
    numbers, cells = lines[m1 + 1], lines[m1 + 2]
    assert numbers.split() == [str(n) for n in range(1, 16)]
    names = chassisctl("nodes", "-o", "name", "--chassis", "m1", "--config", str(config_file))
    slots = {int(ref.split("/c")[1].split("n")[0]) for ref in names.stdout.split()}
    for slot in range(1, 16):  # the glyph sits under its slot number
        glyph = cells[numbers.index(str(slot)) if slot > 9 else numbers.index(f" {slot} ") + 1]
        assert glyph == ("A" if slot in slots else "."), (slot, numbers, cells)
    assert any(line.startswith("m3 ") and "UNREAD Unreachable" in line for line in lines)
    assert "pools: A=pool-a  B=rest" in result.stdout and "empty slot" in result.stdout


def test_map_is_coloured_on_a_terminal_unless_told_not_to(config_file: Path) -> None:
    """On a terminal the glyphs carry ANSI colours; --no-color gives the plain text."""
    import os
    import pty

    def on_tty(*args: str) -> str:
        leader, follower = pty.openpty()
        with subprocess.Popen(
            [str(BIN / "chassisctl"), "map", "--config", str(config_file), *args],
            stdout=follower, stderr=subprocess.DEVNULL,
        ) as process:  # fmt: skip
            os.close(follower)
            chunks = []
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            assert process.wait(timeout=60) == 0
        os.close(leader)
        return b"".join(chunks).decode()

    coloured = on_tty()
    assert "\x1b[" in coloured and "m1 " in coloured
    assert "\x1b[" not in on_tty("--no-color")
