"""SSH sessions of the simulated chassis manager: exec requests and the interactive shell.

Owns: running one CLI command per exec request or typed line (echo, prompt, line discipline),
and the transport-level faults and latency that apply per command (hang, disconnect
mid-output, and the hostile ones: a cut table, a flood or endless stream of junk, a drip of one
byte at a time).

Must not: parse or render CLI text itself (``cli_commands`` / ``render`` do), or accept
connections (``ssh_server`` does).

Exit status is 0 for every command, errors included: nothing shows what the CM returns, so a
client must read the text, not the status [cli §3.2].
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import asyncssh

from chassisd.sim.moonshot import cli_commands, render
from chassisd.sim.moonshot.model import CommandKind, Faults
from chassisd.sim.moonshot.render import Reply

if TYPE_CHECKING:
    from chassisd.sim.moonshot.simulator import MoonshotSimulator


async def _stall(
    sim: MoonshotSimulator,
    process: asyncssh.SSHServerProcess[str],
    kind: CommandKind,
    faults: Faults,
) -> bool:
    """Apply the hang fault (returns True once the client gave up) or the command's latency."""
    await process.stdout.drain()
    if faults.hang and faults.applies_to(kind):
        await process.channel.wait_closed()
        return True
    latency = sim.state.timing.latency_for(kind)
    if latency > 0:
        await asyncio.sleep(latency)
    return False


def _reply(sim: MoonshotSimulator, command: cli_commands.Command, faults: Faults) -> Reply:
    reply = cli_commands.execute(command, sim.state, sim.profile, faults)
    if faults.garbage_line is not None and faults.applies_to(command.kind):
        reply = reply.with_line_inserted(faults.garbage_line)
    if faults.keep_rows is not None and faults.applies_to(command.kind):
        reply = reply.with_rows_kept(faults.keep_rows)
    return reply


async def _flood(process: asyncssh.SSHServerProcess[str], faults: Faults) -> bool:
    """Send the hostile junk of ``flood_bytes``/``endless`` in pieces of at most 64 KiB, a
    newline every ``flood_line`` bytes, never holding it all (``drain`` waits for the client's
    SSH window); False once the client went away."""
    left = faults.flood_bytes
    column = 0  # bytes of the current junk line already sent
    try:
        while faults.endless or left > 0:
            size = _FLOOD_PIECE if faults.endless else min(_FLOOD_PIECE, left)
            to_newline = faults.flood_line - 1 - column
            if to_newline < size:
                piece = "x" * to_newline + "\n"
                column = 0
            else:
                piece = "x" * size
                column += size
            left -= len(piece)
            process.stdout.write(piece)
            await process.stdout.drain()
    except (OSError, asyncssh.Error):
        return False
    return not process.channel.is_closing()


_FLOOD_PIECE = 65536


async def _drip(process: asyncssh.SSHServerProcess[str], text: str, interval: float) -> bool:
    """Send ``text`` one character every ``interval`` seconds; False once the client left."""
    try:
        for char in text:
            if process.channel.is_closing():
                return False
            process.stdout.write(char)
            await process.stdout.drain()
            await asyncio.sleep(interval)
    except (OSError, asyncssh.Error):
        return False
    return True


async def _send(
    process: asyncssh.SSHServerProcess[str], text: str, kind: CommandKind, faults: Faults
) -> bool:
    """Write ``text``; with the disconnect fault write half and close the channel (-> False)."""
    if faults.disconnect_mid_output and faults.applies_to(kind):
        process.stdout.write(text[: len(text) // 2])
        await process.stdout.drain()
        process.channel.close()  # no exit status, no EOF: as if the CM dropped the session
        return False
    if faults.applies_to(kind) and faults.drip_interval > 0:
        if not await _drip(process, text, faults.drip_interval):
            return False
    else:
        process.stdout.write(text)
        await process.stdout.drain()
    if faults.applies_to(kind) and (faults.flood_bytes or faults.endless):
        return await _flood(process, faults)
    return True


async def run_exec(
    sim: MoonshotSimulator, process: asyncssh.SSHServerProcess[str], line: str, login: int = 0
) -> None:
    """One exec request: echo, (latency), output, exit status 0, channel closes [cli §3.2].
    ``login`` numbers the connection's login since the faults were set (``Faults.logins``)."""
    command = cli_commands.parse(line)
    sim.state.record_command(command.kind)
    faults = sim.state.session_faults(login)
    process.stdout.write(render.exec_echo(line, sim.profile))
    if await _stall(sim, process, command.kind, faults):
        return
    reply = _reply(sim, command, faults)
    if await _send(process, render.exec_rest(reply), command.kind, faults):
        process.exit(0)


class Shell:
    """Interactive session: banner, prompt, echo of typed characters, one command per line.

    Line discipline: printable characters are echoed; Enter is CR, LF or CRLF (clients use all
    three [cli §3.2]) and echoes CRLF; Backspace/DEL erase (``\\b \\b``); Ctrl-C drops the line;
    Ctrl-D on an empty line or ``exit`` ends the session with status 0; escape sequences (arrow
    keys) are swallowed. None of this beyond echo + CRLF is documented for the real CLI.
    """

    def __init__(
        self, sim: MoonshotSimulator, process: asyncssh.SSHServerProcess[str], login: int = 0
    ) -> None:
        self._sim = sim
        self._process = process
        self._login = login
        self._line: list[str] = []
        self._after_cr = False
        self._in_escape = False

    async def run(self) -> None:
        out = self._process.stdout
        out.write(render.banner(self._sim.profile))
        while True:
            try:
                data = await self._process.stdin.read(4096)
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            if not data:  # client sent EOF
                self._process.exit(0)
                return
            for char in data:
                if not await self._feed(char):
                    return

    async def _feed(self, char: str) -> bool:
        """Handle one typed character; False once the session is over."""
        out = self._process.stdout
        after_cr, self._after_cr = self._after_cr, char == "\r"
        if self._in_escape:
            # ESC [ ... final byte (a letter or ~) ends a CSI sequence; ESC x ends a short one.
            self._in_escape = not (char.isalpha() or char == "~")
            return True
        if char == "\n" and after_cr:
            return True  # the LF of a CRLF
        if char in "\r\n":
            out.write("\r\n")
            text = "".join(self._line)
            self._line.clear()
            if not text.strip():
                out.write(self._sim.profile.prompt)
                return True
            return await self._command(text)
        if char in "\x7f\b":
            if self._line:
                self._line.pop()
                out.write("\b \b")
        elif char == "\x03":
            self._line.clear()
            out.write("^C\r\n" + self._sim.profile.prompt)
        elif char == "\x04" and not self._line:
            self._process.exit(0)
            return False
        elif char == "\x1b":
            self._in_escape = True
        elif char.isprintable():
            self._line.append(char)
            out.write(char)
        return True

    async def _command(self, line: str) -> bool:
        sim = self._sim
        command = cli_commands.parse(line)
        sim.state.record_command(command.kind)
        if command.kind is CommandKind.EXIT:
            self._process.exit(0)
            return False
        faults = sim.state.session_faults(self._login)
        if await _stall(sim, self._process, command.kind, faults):
            return False
        reply = _reply(sim, command, faults)
        return await _send(
            self._process, render.shell_rest(reply, sim.profile), command.kind, faults
        )
