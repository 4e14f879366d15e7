"""The README runs: every console block of README.md, in README order, typed into one bash on a
fresh folder, against the one `civic up` the README starts; each command's output compared with
what the README shows (normalised: tests/readme.py says how blocks are marked and what is normalised).

CIVIC_README_UPDATE=1 rewrites the README's outputs with what the commands printed, for a change
made on purpose; read the diff before committing it.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.readme import README, Block, Command, blocks, commands, displayed, normalise

pytestmark = pytest.mark.integration
UPDATE = os.environ.get("CIVIC_README_UPDATE") == "1"
README_PORT = "8080"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Shell:
    """One bash for the whole README, as a reader's terminal: variables and background jobs
    carry from one command to the next. Each command reads /dev/null, never the script."""

    def __init__(self, folder: Path):
        self.folder, self.background = folder, 0
        self.ports: dict[str, int] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
        # `civic` and `python` are this tree's: the venv running the tests (an editable install of
        # this worktree), and `python -m tests.scenario` finds the clone as it does from its root.
        env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", COLUMNS="120", NO_COLOR="1",
                   TERM="dumb", TZ="Asia/Shanghai", PYTHONUNBUFFERED="1", PYTHONPATH=str(README.parent))
        # Its own process group: whatever the README leaves running goes with it, even after a hang.
        self.process = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=folder, env=env, text=True, bufsize=1,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def rewrite(self, command: str) -> str:
        """The README's ports (8080-8099) are free ones here; a background job writes to a log."""
        if command.startswith(("civic up", "civic demo")) and "--port" not in command:
            command = re.sub(r"^civic (up|demo)", rf"civic \1 --port {README_PORT}", command)
        command = re.sub(r"(?<=:|\s)(80[89]\d)\b", lambda m: str(self.ports.setdefault(m.group(1), free_port())), command)
        if command.rstrip().endswith("&") and not command.rstrip().endswith("&&"):
            self.background += 1
            command = f"{command.rstrip()[:-1].rstrip()} > .readme-bg-{self.background}.log 2>&1 &"
        return command

    def run(self, command: str, timeout: float = 180) -> tuple[list[str], int]:
        assert self.process.stdin is not None
        mark = f"__readme_{uuid.uuid4().hex}__"
        self.process.stdin.write(f"{{ {self.rewrite(command)}\n}} < /dev/null; __rc=$?; printf '\\n%s %d\\n' {mark} \"$__rc\"\n")
        self.process.stdin.flush()
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"`{command}` did not finish in {timeout}s; so far:\n" + "".join(out)) from None
            if line.startswith(mark):
                if out and out[-1] == "\n":
                    out.pop()
                return [x.rstrip("\n") for x in out], int(line.split()[1])
            out.append(line)

    def close(self) -> None:
        """Stop what the README left running (its `civic up`s), as Ctrl-C would, then the shell;
        a shell stuck in a command is stopped with its whole process group."""
        try:
            self.run('for p in $(jobs -p); do kill -TERM "$p"; done; wait', timeout=60)
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(10)
        except (AssertionError, subprocess.TimeoutExpired, OSError):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.process.pid, sig)
                    self.process.wait(15)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue

    def logs(self) -> str:
        """The background jobs' output (the services' logs), for a failure's message."""
        return "\n".join(f"--- {log.name} (last lines):\n{log.read_text(errors='replace')[-2000:]}"
                         for log in sorted(self.folder.glob(".readme-bg-*.log")))


def run_command(shell: Shell, block: Block, command: Command, last: bool, folder: Path) -> tuple[list[str], str | None]:
    """Runs it (again, while `retry` allows and it differs); returns its output and what is wrong, if anything."""
    exit_expected = int(block.attributes.get("exit", "0")) if last else 0
    deadline = time.monotonic() + float(block.attributes.get("retry", "0"))
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    expected = normalise(command.expected, folder, today)
    while True:
        output, code = shell.run(command.command)
        shown = normalise(output, folder, today)
        problem = None
        if code != exit_expected:
            problem = f"exit {code}, the README says {exit_expected}"
        elif shown != expected:
            problem = "output differs"
        if problem is None or time.monotonic() > deadline:
            break
        time.sleep(1)
    if problem:
        import difflib
        diff = "\n".join(difflib.unified_diff(expected, shown, "README", "printed", lineterm=""))
        return output, f"README.md:{command.line}: `{command.command}`: {problem}\n{diff}\n--- printed:\n" + "\n".join(output)
    return output, None


def write_files(block: Block, folder: Path) -> None:
    """A `file=NAME` block goes into the session's folder: JSON examples one line each, in order."""
    name = block.attributes.get("file")
    if not name:
        return
    path = folder / name
    if block.language in ("yaml", "csv"):
        path.write_text(block.text + "\n", encoding="utf-8")
        return
    lines = [line for line in block.text.splitlines() if line.strip()]
    if block.language == "json":
        lines = [" ".join(lines)]
    with path.open("a", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)


async def ledger_event_ids(data: Path) -> set[str]:
    """The event ids in a service's CIVIC_LEDGER, read as the auditor identity reads them."""
    from adapters.bus import connect
    from config import Settings
    from schemas import topology

    nc = await connect(Settings(data_dir=data), "auditor")
    try:
        js = nc.jetstream()
        last = (await js.stream_info(topology.LEDGER)).state.last_seq
        return {(await js.get_msg(topology.LEDGER, seq=n)).headers[topology.EVENT_ID_HEADER]  # type: ignore[index]
                for n in range(1, last + 1)}
    finally:
        await nc.close()


def refused_from(text: str, folder: Path) -> list[str]:
    """The catalogue's events (README: "every one accepted") that are not in the ledger they were emitted to.

    Checked apart from the printed output, so that re-capturing the outputs cannot make a refusal
    the README's truth."""
    emitted = re.search(r"^\$ civic emit catalogue\.jsonl --data (\S+)", text, re.M)
    assert emitted, "README.md no longer emits catalogue.jsonl: the event catalogue is not run"
    ids = [json.loads(line)["event_id"] for line in (folder / "catalogue.jsonl").read_text(encoding="utf-8").splitlines()]
    in_ledger = asyncio.run(ledger_event_ids(folder / emitted.group(1)))
    return [i for i in ids if i not in in_ledger]


def test_every_console_block_runs_and_prints_what_the_readme_shows(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    folder = tmp_path / "session"
    folder.mkdir()
    shell = Shell(folder)
    problems: list[str] = []
    outputs: dict[int, list[tuple[Command, list[str]]]] = {}
    started = time.monotonic()
    try:
        for block in blocks(text):
            write_files(block, folder)
            if block.language != "console":
                continue
            cmds = commands(block)
            outputs[block.line] = []
            for i, command in enumerate(cmds):
                output, problem = run_command(shell, block, command, i == len(cmds) - 1, folder)
                outputs[block.line].append((command, output))
                if problem:
                    problems.append(problem)
        refused = refused_from(text, folder)
    finally:
        logs = shell.logs()
        shell.close()
    assert not refused, f"catalogue.jsonl: the ledger did not take {refused}; the catalogue must tell a story a fresh service accepts"
    took = time.monotonic() - started
    if UPDATE:
        rewrite(text, outputs, folder)
        print(f"README.md: outputs re-captured from {sum(map(len, outputs.values()))} commands in {took:.0f}s")
        return
    assert outputs, "README.md has no console block"
    assert not problems, "\n\n".join(problems) + "\n\n" + logs


def rewrite(text: str, outputs: dict[int, list[tuple[Command, list[str]]]], folder: Path) -> None:
    lines = text.splitlines()
    for block in sorted((b for b in blocks(text) if b.line in outputs), key=lambda b: -b.line):
        body = [row for command, output in outputs[block.line] for row in (f"$ {command.command}", *displayed(output, folder))]
        lines[block.line:block.end - 1] = body
    README.write_text("\n".join(lines) + "\n", encoding="utf-8")
