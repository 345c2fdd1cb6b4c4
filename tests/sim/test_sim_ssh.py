"""The simulator's SSH side with paramiko and asyncssh clients: login, host key, exec, shell."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

import asyncssh
import paramiko
import pytest

from chassisd.sim.moonshot import MoonshotSimulator, SimHandle
from chassisd.sim.moonshot.model import CommandKind, Faults
from chassisd.testing import wait_until
from tests.sim.moonshot_sim_helpers import (
    PASSWORD,
    TIMEOUT,
    ClientKey,
    Shell,
    exec_once,
    paramiko_client,
    run_exec,
    small_spec,
)

# asyncssh computes sha1 finite-field DH through `cryptography`, which deprecates it; the
# legacy-only mode exists to offer exactly that kex, as old chassis firmware does (cli §3.1).
LEGACY_DH_WARNING = pytest.mark.filterwarnings(
    "ignore:Diffie-Hellman over finite fields:cryptography.utils.CryptographyDeprecationWarning"
)

# The server sends DISCONNECT and closes; if the client's next packet was still unread, the
# kernel answers it with a reset that can overtake the DISCONNECT, so either error may surface.
KEX_REFUSED = (asyncssh.KeyExchangeFailed, asyncssh.ConnectionLost)


def test_exec_answers_one_command_and_closes(sim: SimHandle) -> None:
    """An exec request gets the echo, the output and exit status 0, then the channel closes."""
    result = exec_once(sim, "show node list")
    assert result.exit_status == 0
    text = result.output.decode()
    assert text.startswith("show node list\r\r\nSlot ID    Proc Manufacturer")
    assert "  3  c3n4  Intel Corporation" in text  # multi-node cart: one row per node
    assert text.endswith(" \r\n\r\n")


def test_keywords_are_case_insensitive_and_specs_take_cartridge_lists(sim: SimHandle) -> None:
    """`SHOW NODE POWER C5,1,3N1` answers a block per node, in slot order."""
    text = exec_once(sim, "SHOW NODE POWER C5,1,3N1").output.decode()
    assert text == (
        "SHOW NODE POWER C5,1,3N1\r\r\n\r\n"
        "Cartridge #1\r\n  Node #1\r\n        Power State: On\r\n\r\n"
        "Cartridge #3\r\n  Node #1\r\n        Power State: On\r\n\r\n"
        "Cartridge #5\r\n  Node #1\r\n        Power State: Off\r\n"
    )


def test_macaddr_all_lists_every_node_with_na_for_missing_nics(sim: SimHandle) -> None:
    """`show node macaddr all`: one row per node, 2-NIC nodes filled with N/A."""
    lines = exec_once(sim, "show node macaddr all").output.decode().split("\r\n")
    assert lines[1] == (
        "Slot ID    NIC 1 (Switch A)  NIC 2 (Switch B)  NIC 3 (Switch A)  NIC 4 (Switch B)"
    )
    assert lines[3] == "  1  c1n1  a0:1d:48:b5:04:34 a0:1d:48:b5:04:35 N/A               N/A"
    assert [line.split()[1] for line in lines[3:9]] == [
        "c1n1",
        "c3n1",
        "c3n2",
        "c3n3",
        "c3n4",
        "c5n1",
    ]
    assert lines[9:] == ["", "", ""]


def test_bad_node_ids_and_unknown_commands_answer_an_error_line(sim: SimHandle) -> None:
    """Empty slots, absent nodes, slots over 45 and unknown words get the configured texts."""
    for spec in ("c2n1", "c1n2", "c46n1", "c1,2n1", "x1n1", "c1-3n1"):
        output = exec_once(sim, f"show node power {spec}").output.decode()
        assert output == f"show node power {spec}\r\r\nError: Invalid node specification.\r\n"
    assert (
        exec_once(sim, "reboot everything").output == b"reboot everything\r\r\nInvalid command\r\n"
    )
    assert exec_once(sim, "show node list extra").output.endswith(b"Invalid command\r\n")


def test_set_commands_change_state_and_answer_briefly(sim: SimHandle) -> None:
    """Power and bootonce commands reply one short line per node and change the chassis."""
    off = exec_once(sim, "set node power off force c1n1").output.decode()
    assert off == "set node power off force c1n1\r\r\nc1n1: power off (force) requested\r\n"
    assert not sim.is_powered_on("c1n1")
    boot = exec_once(sim, "set node bootonce pxe c1n1").output.decode()
    assert "bootonce: PXE" in boot
    assert sim.bootonce_pending("c1n1")
    exec_once(sim, "set node power on c1n1")
    assert sim.is_powered_on("c1n1")
    assert not sim.bootonce_pending("c1n1")
    assert sim.stats.pxe_boots == 1
    exec_once(sim, "set node power off all")
    assert not any(node.power_on for _, node in sim.spec.nodes())


def test_node_info_prints_one_block_per_cartridge(sim: SimHandle) -> None:
    """`show node info c3n2` names the cartridge's product."""
    text = exec_once(sim, "show node info c3n2").output.decode()
    assert text == (
        "show node info c3n2\r\r\n\r\nCartridge #3 \r\n  Type: Compute\r\n"
        "  Manufacturer: HP\r\n  Product Name: ProLiant m350 Server Cartridge\r\n"
    )


def test_shell_session_has_banner_prompt_echo_and_exit(sim: SimHandle) -> None:
    """The shell prints the banner and prompt, echoes input, answers, and `exit` ends it (0)."""
    client = paramiko_client(sim)
    try:
        shell = Shell(client)
        banner = shell.read_until(b"hpiLO-> ").decode()
        assert banner == (
            "Type 'HELP HELP' to display more detailed information about the help system.\r\n"
            "\r\n"
            "Visit http://www.hpe.com/info/moonshot/docs for current product documentation.\r\n"
            "\r\n"
            "hpiLO-> "
        )
        shell.send("show node power c1n1\r")
        assert shell.read_until(b"hpiLO-> ") == (
            b"show node power c1n1\r\n\r\nCartridge #1\r\n  Node #1\r\n"
            b"        Power State: On\r\n\r\nhpiLO-> "
        )
        shell.send("exit\r")
        assert shell.read_to_eof() == b"exit\r\n"
        assert shell.channel.recv_exit_status() == 0
    finally:
        client.close()


def test_shell_line_discipline(sim: SimHandle) -> None:
    """LF and CRLF end lines too; backspace edits; Ctrl-C drops a line; empty lines re-prompt."""
    client = paramiko_client(sim)
    try:
        shell = Shell(client)
        shell.read_until(b"hpiLO-> ")
        shell.send("\r")
        assert shell.read_until(b"hpiLO-> ") == b"\r\nhpiLO-> "
        shell.send("show node powx\x7fer c1n1\r\n")
        assert b"Power State: On" in shell.read_until(b"hpiLO-> ")
        shell.send("garbage\x03")
        assert shell.read_until(b"hpiLO-> ") == b"garbage^C\r\nhpiLO-> "
        shell.send("show node power c5n1\n")
        assert b"Power State: Off" in shell.read_until(b"hpiLO-> ")
        shell.send("\x1b[Aexit\r")
        assert shell.read_to_eof() == b"exit\r\n"
    finally:
        client.close()
    assert sim.stats.commands_by_kind == {CommandKind.NODE_POWER: 2, CommandKind.EXIT: 1}


def test_public_key_login(sim: SimHandle, client_key: ClientKey) -> None:
    """An authorised key logs in without a password."""
    client = paramiko_client(sim, pkey=client_key.paramiko_key())
    try:
        assert run_exec(client, "show node power c1n1").exit_status == 0
    finally:
        client.close()
    assert sim.stats.logins == 1


def test_key_only_account_refuses_passwords(
    running: Callable[..., SimHandle], client_key: ClientKey
) -> None:
    """A user whose password is None can only log in with a key."""
    handle = running(users={"admin": None})
    with pytest.raises(paramiko.AuthenticationException):
        paramiko_client(handle, password=PASSWORD).close()
    paramiko_client(handle, pkey=client_key.paramiko_key()).close()


@pytest.mark.parametrize(
    ("username", "password"), [("admin", "wrong"), ("root", PASSWORD), ("Admin", PASSWORD)]
)
def test_wrong_credentials_are_refused(sim: SimHandle, username: str, password: str) -> None:
    """A wrong password or an unknown user fails authentication and is counted."""
    with pytest.raises(paramiko.AuthenticationException):
        paramiko_client(sim, username=username, password=password)
    assert sim.stats.logins == 0
    assert sim.stats.failed_logins >= 1


def test_unauthorised_key_is_refused(sim: SimHandle) -> None:
    """A key that is not in authorized_keys cannot log in."""
    stranger_pem = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    stranger = paramiko.Ed25519Key.from_private_key(io.StringIO(stranger_pem))
    with pytest.raises(paramiko.AuthenticationException):
        paramiko_client(sim, pkey=stranger)


def test_reject_all_logins_fault_is_switchable(sim: SimHandle, client_key: ClientKey) -> None:
    """With reject_all_logins even the right password and key fail; clearing it restores login."""
    sim.set_faults(Faults(reject_all_logins=True))
    with pytest.raises(paramiko.AuthenticationException):
        paramiko_client(sim)
    with pytest.raises(paramiko.AuthenticationException):
        paramiko_client(sim, pkey=client_key.paramiko_key())
    sim.set_faults(Faults())
    assert exec_once(sim, "show node power c1n1").exit_status == 0


def test_known_hosts_line_and_fingerprint_describe_the_served_key(sim: SimHandle) -> None:
    """The known_hosts line uses the [host]:port form and matches the key the server presents."""
    assert sim.known_hosts_line.startswith(f"[127.0.0.1]:{sim.port} ssh-ed25519 AAAA")
    assert sim.known_hosts_line.split(" ", 1)[1] == sim.host_public_key
    client = paramiko_client(sim)  # RejectPolicy: would fail on any other key
    try:
        transport = client.get_transport()
        assert transport is not None
        served = transport.get_remote_server_key()
    finally:
        client.close()
    assert served.get_base64() == sim.host_public_key.split()[1]
    assert sim.host_key_fingerprint == "SHA256:" + served.fingerprint.split(":", 1)[1]


def test_rsa_host_key(running: Callable[..., SimHandle]) -> None:
    """The host key type is configurable; an RSA key is served and verifiable."""
    handle = running(host_key_type="ssh-rsa")
    assert handle.known_hosts_line.split()[1] == "ssh-rsa"
    assert exec_once(handle, "show node power c1n1").exit_status == 0


def test_shared_host_key_is_served_as_given(running: Callable[..., SimHandle]) -> None:
    """A host key passed in (a fleet's shared key) is the one served."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    first, second = running(host_key=key), running(host_key=key)
    assert first.host_public_key == second.host_public_key
    assert first.port != second.port
    assert exec_once(second, "show node power c1n1").exit_status == 0


def test_max_sessions_refuses_the_connection_over_the_limit(
    running: Callable[..., SimHandle],
) -> None:
    """With max_sessions=2 a third concurrent login is disconnected; a slot frees on close."""
    handle = running(max_sessions=2)
    first, second = paramiko_client(handle), paramiko_client(handle)
    try:
        with pytest.raises(paramiko.SSHException):
            paramiko_client(handle)
        assert handle.stats.refused_connections == 1
        assert handle.stats.active_connections == 2
        assert run_exec(first, "show node power c1n1").exit_status == 0
    finally:
        first.close()
    assert wait_until(lambda: handle.stats.active_connections == 1, TIMEOUT), handle.stats
    third = paramiko_client(handle)
    third.close()
    second.close()
    # The server counts a login just after sending USERAUTH_SUCCESS, so it can trail the client.
    assert wait_until(lambda: handle.stats.logins == 3, TIMEOUT), handle.stats


def test_counters_count_logins_sessions_and_commands(sim: SimHandle) -> None:
    """One login with three exec channels counts 1 login, 3 sessions, commands by kind."""
    client = paramiko_client(sim)
    try:
        run_exec(client, "show node list")
        run_exec(client, "show node macaddr all")
        run_exec(client, "show node macaddr c1n1")
    finally:
        client.close()
    stats = sim.stats
    assert (stats.logins, stats.sessions, stats.commands) == (1, 3, 3)
    assert stats.count(CommandKind.NODE_LIST) == 1
    assert stats.count(CommandKind.NODE_MACADDR_ALL) == 1
    assert stats.count(CommandKind.NODE_MACADDR) == 1
    sim.reset_stats()
    assert sim.stats.commands == 0


@LEGACY_DH_WARNING
def test_legacy_only_mode_negotiates_the_old_algorithms(running: Callable[..., SimHandle]) -> None:
    """paramiko (MAAS's client) ends up on aes128-cbc + hmac-sha1 against a legacy-only chassis."""
    handle = running(legacy_algorithms_only=True)
    client = paramiko_client(handle)
    try:
        transport = client.get_transport()
        assert transport is not None
        # remote_cipher/remote_mac exist at runtime but are missing from types-paramiko.
        ciphers = (transport.local_cipher, getattr(transport, "remote_cipher", None))
        macs = (transport.local_mac, getattr(transport, "remote_mac", None))
        assert ciphers == ("aes128-cbc", "aes128-cbc")
        assert macs == ("hmac-sha1", "hmac-sha1")
        result = run_exec(client, "show node power c1n1")
        assert result.output.endswith(b"Power State: On\r\n")
    finally:
        client.close()


@LEGACY_DH_WARNING
def test_legacy_only_mode_offers_only_legacy_kex(running: Callable[..., SimHandle]) -> None:
    """A modern-only asyncssh client cannot connect; one limited to group1-sha1 can."""
    handle = running(legacy_algorithms_only=True)

    async def attempt(**algorithms: list[str]) -> str:
        async with asyncssh.connect(
            handle.host,
            handle.port,
            username="admin",
            password=PASSWORD,
            known_hosts=None,
            config=None,
            connect_timeout=TIMEOUT,
            **algorithms,
        ) as conn:
            result = await conn.run("show node power c1n1", timeout=TIMEOUT)
            assert isinstance(result.stdout, str)
            return result.stdout

    with pytest.raises(KEX_REFUSED):
        asyncio.run(attempt())
    for kex in ("diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"):
        stdout = asyncio.run(
            attempt(kex_algs=[kex], encryption_algs=["aes128-cbc"], mac_algs=["hmac-sha1"])
        )
        assert "Power State: On" in stdout


def test_default_mode_does_not_offer_legacy_algorithms(sim: SimHandle) -> None:
    """Without legacy mode, clients limited to group1-sha1 kex or to aes128-cbc are refused."""

    async def attempt(**algorithms: list[str]) -> None:
        async with asyncssh.connect(
            sim.host,
            sim.port,
            username="admin",
            password=PASSWORD,
            known_hosts=None,
            config=None,
            connect_timeout=TIMEOUT,
            **algorithms,
        ):
            pass

    with pytest.raises(KEX_REFUSED):
        asyncio.run(attempt(kex_algs=["diffie-hellman-group1-sha1"]))
    with pytest.raises(KEX_REFUSED):
        asyncio.run(attempt(encryption_algs=["aes128-cbc"]))
    asyncio.run(attempt())


def test_async_native_api_serves_on_the_callers_loop() -> None:
    """`async with sim.serving()` runs the chassis on the current loop (no thread)."""
    sim = MoonshotSimulator(small_spec(), users={"admin": PASSWORD})

    async def scenario() -> str:
        async with sim.serving() as handle:
            known = asyncssh.import_known_hosts(handle.known_hosts_line + "\n")
            async with asyncssh.connect(
                handle.host,
                handle.port,
                username="admin",
                password=PASSWORD,
                known_hosts=known,
                config=None,
            ) as conn:
                result = await conn.run("show node power c3n4", timeout=TIMEOUT)
                assert isinstance(result.stdout, str)
                return result.stdout

    assert asyncio.run(scenario()).endswith("  Node #4\r\n        Power State: On\r\n")


def test_set_node_boot_sets_the_persistent_device_as_maas_enlistment_does(sim: SimHandle) -> None:
    """`set node boot M.2 c1n1` (MAAS's CM 1.x enlistment, cli §5.1) answers one line, records
    the device and its own counter, and touches neither power nor bootonce; an unknown device
    is an invalid command."""
    assert sim.boot_device("c1n1") is None
    reply = exec_once(sim, "set node boot M.2 c1n1").output.decode()
    assert reply == "set node boot M.2 c1n1\r\r\nc1n1 boot: M.2\r\n"
    assert sim.boot_device("c1n1") == "M.2"
    assert sim.is_powered_on("c1n1")
    assert not sim.bootonce_pending("c1n1")
    assert sim.stats.count(CommandKind.NODE_BOOT) == 1
    exec_once(sim, "SET NODE BOOT PXE C1N1")
    assert sim.boot_device("c1n1") == "PXE"
    assert exec_once(sim, "set node boot floppy c1n1").output.endswith(b"Invalid command\r\n")
    assert sim.boot_device("c1n1") == "PXE"
