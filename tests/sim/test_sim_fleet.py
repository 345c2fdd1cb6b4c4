"""Many simulated chassis in one process: distinct ports, unique MACs, independent state."""

from __future__ import annotations

import time

from chassisd.sim.moonshot.fleet import MoonshotFleet
from chassisd.sim.moonshot.model import ChassisSpec, CommandKind, Faults
from tests.sim.moonshot_sim_helpers import PASSWORD, ClientKey, exec_once, paramiko_client, run_exec


def test_fleet_of_50_serves_each_chassis_on_its_own_port(client_key: ClientKey) -> None:
    """50 chassis get 50 ports, one shared host key, fleet-unique MACs and their own answers."""
    fleet = MoonshotFleet.generate(
        50, seed=3, users={"admin": PASSWORD}, authorized_keys=[client_key.public_line]
    )
    with fleet.running() as handles:
        assert len(handles) == 50
        assert len({handle.port for handle in handles}) == 50
        assert {handle.host for handle in handles} == {"127.0.0.1"}
        assert len({handle.host_public_key for handle in handles}) == 1
        macs = [mac for handle in handles for mac in handle.spec.macs()]
        assert len(macs) == len(set(macs)) > 50 * 20
        assert handles.known_hosts_text().count("\n") == 50

        for handle in (handles[0], handles[24], handles[49]):
            listed = exec_once(handle, "show node macaddr all").output.decode()
            assert all(mac in listed for mac in handle.spec.macs())
        other = handles.by_name("moonshot2")
        assert other.stats.commands == 0  # counters are per chassis

        handles[7].set_faults(Faults(refuse_macaddr_all=True))
        refused = exec_once(handles[7], "show node macaddr all").output
        assert refused.endswith(b"Invalid node specification.\r\n")
        assert b"Slot ID" in exec_once(handles[8], "show node macaddr all").output
        counts = [stats.count(CommandKind.NODE_MACADDR_ALL) for stats in handles.stats()]
        assert counts[:9] == [1, 0, 0, 0, 0, 0, 0, 1, 1]


def test_fleet_of_200_starts_quickly_and_answers(client_key: ClientKey) -> None:
    """200 chassis listen within a couple of seconds; a key login works on the last one."""
    fleet = MoonshotFleet.generate(200, seed=1, authorized_keys=[client_key.public_line])
    started = time.monotonic()
    with fleet.running() as handles:
        elapsed = time.monotonic() - started
        client = paramiko_client(handles[199], pkey=client_key.paramiko_key())
        try:
            output = run_exec(client, "show node list").output.decode()
        finally:
            client.close()
    assert elapsed < 5.0
    assert output.startswith("show node list\r\r\nSlot ID")
    assert handles[199].name == "moonshot200"


def test_generated_macs_are_unique_across_1000_chassis() -> None:
    """The MAC scheme keeps a 1000-chassis fleet (full slots, 4-node carts) collision-free."""
    seen: set[str] = set()
    total = 0
    for index in range(1000):
        spec = ChassisSpec.generate(f"m{index}", 42, chassis_index=index, fill=1.0, multi_node=0.3)
        macs = spec.macs()
        total += len(macs)
        seen.update(macs)
    assert len(seen) == total > 1000 * 45 * 2
