"""The README as a test: its code blocks, what each kind means, and how outputs are compared.

How README.md marks its blocks (the fence's info string: a language, then attributes):

    ```console            a session: each `$ ` line is a command, typed by tests/e2e/test_readme_runs.py
                          into one bash, in README order, in one fresh folder (shown as
                          ~/civic-ledger); the lines after it, up to the next `$ `, are what it
                          must print (compared after `normalise`). Variables and background jobs
                          carry over, as in a terminal. A command ending in `&` runs in the
                          background, its output to .readme-bg-N.log (shown when the test fails).
    ```console exit=1     ... and the block's last command exits 1 (every other command exits 0)
    ```console retry=30   ... each command is run again, for up to 30 s, until its output matches
                          (a reading that waits for the ledger to catch up)
    ```json file=NAME     an example that is also appended, in README order, as one line of NAME
                          in the session's folder, before the next console block runs
    ```jsonl file=NAME    ... each line of the block appended to NAME
    ```yaml file=NAME     the block written as NAME (also ```csv file=NAME)
    ```json               an example only (the event catalogue's are decoded by tests/unit/test_readme.py)
    ```sh / ```bash       system commands, not run: `bash -n` checks them, and every `civic ...` in
                          them must parse against the CLI (the command and its options exist)
    ```yaml compose       a docker-compose snippet, an override of docker-compose.yml: `docker-compose
                          config` checks the two merged
    ```text               not code: diagrams, formulas

Every fence names a language: a bare ``` fails tests/unit/test_readme.py, so a new block is
classified by whoever adds it. The `civic` commands of console blocks and inline `civic ...` spans
in the prose must parse against the CLI too.

Ports: 8080-8099 in a command are free ports of the test (the same README port, the same free
port), and `civic up`/`civic demo` without --port get 8080's. Outputs: progress bars are left out;
instants, run-time ids, hashes, speeds, ports, keys, tokens and the OS user are normalised (RULES).
The shell has the test's venv first on PATH (`civic`, `python`), the clone's root on PYTHONPATH
(`python -m tests.scenario` works as from the root), TZ=Asia/Shanghai, COLUMNS=120.

After a deliberate change (a command's output, a new block), re-capture every output with
    CIVIC_README_UPDATE=1 .venv/bin/python -m pytest tests/e2e/test_readme_runs.py
which rewrites each console block's output with what its commands printed; read the diff.
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
LANGUAGES = {"console", "json", "jsonl", "csv", "sh", "bash", "yaml", "text"}
FENCE = re.compile(r"^```(.*)$")


@dataclass
class Block:
    line: int
    """1-based line of the opening fence."""
    language: str
    attributes: dict[str, str]
    text: str
    end: int
    """1-based line of the closing fence."""
    heading: str


@dataclass
class Command:
    line: int
    command: str
    expected: list[str] = field(default_factory=list)


def blocks(text: str) -> list[Block]:
    out: list[Block] = []
    lines = text.splitlines()
    heading, i = "", 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i].lstrip("#").strip()
        match = FENCE.match(lines[i])
        if match:
            words = shlex.split(match.group(1))
            start = i
            i += 1
            while i < len(lines) and lines[i] != "```":
                i += 1
            language = words[0] if words else ""
            attributes = dict(w.split("=", 1) if "=" in w else (w, "") for w in words[1:])
            out.append(Block(start + 1, language, attributes, "\n".join(lines[start + 1:i]), i + 1, heading))
        i += 1
    return out


def commands(block: Block) -> list[Command]:
    """A console block's commands, each with the output lines shown after it."""
    out: list[Command] = []
    for n, line in enumerate(block.text.splitlines(), start=block.line + 1):
        if line.startswith("$ "):
            out.append(Command(n, line[2:]))
        elif out:
            out[-1].expected.append(line)
        elif line.strip():
            raise ValueError(f"README.md:{n}: a console block starts with output, not a `$ ` command")
    return out


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?"), "<TIME>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<UUID>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<HASH>"),
    (re.compile(r"\b[0-9a-f]{12,16}\b"), "<HASH>"),
    (re.compile(r"\bcli:[\w.-]+"), "cli:<USER>"),
    (re.compile(r"\b[0-9][0-9,]*(\.[0-9]+)? events/s\b"), "<N> events/s"),
    (re.compile(r"\bin [0-9]+(\.[0-9]+)?\s?s\b"), "in <S>s"),
    (re.compile(r"\b(127\.0\.0\.1|localhost):[0-9]+"), "<HOST>:<PORT>"),
    (re.compile(r"\b[A-Z2-7]{56}\b"), "<NKEY>"),
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"), "<TOKEN>"),  # \b misses a token starting with -
]
"""What differs from run to run and is not the README's point: instants, ids minted at run time,
hashes over them, speeds, ports, keys and tokens. Applied to the README's text and to the output
alike, so the README shows real-looking values."""


SHOWN_FOLDER = "~/civic-ledger"
"""Where the README's sessions say they ran: the harness's fresh folder is shown as this."""
PROGRESS = re.compile(r"━.*\b\d+/(\d+|\?)\b|\b\d+/(\d+|\?)\s+[0-9,.]+ events/s")
"""A progress bar's line (rich draws its last state even when not on a terminal): not shown."""


def displayed(lines: list[str], folder: Path | None = None) -> list[str]:
    """What the README shows of an output: no progress bars, no trailing blanks, the folder as SHOWN_FOLDER."""
    out = [ANSI.sub("", line).rstrip() for line in lines if not PROGRESS.search(line)]
    if folder is not None:
        out = [line.replace(str(folder), SHOWN_FOLDER) for line in out]
    while out and not out[-1]:
        out.pop()
    return out


def normalise(lines: list[str], folder: Path | None = None, today: date | None = None) -> list[str]:
    out = []
    days = [] if today is None else [today.isoformat(), (today - timedelta(days=1)).isoformat()]
    for line in displayed(lines, folder):
        line = line.replace(SHOWN_FOLDER, "<DIR>")
        for pattern, replacement in RULES:
            line = pattern.sub(replacement, line)
        for day in days:
            line = line.replace(day, "<DAY>")
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    # A table's width follows its widest cell; normalised cells differ in width, so runs of the
    # box-drawing and padding characters count as one.
    return [re.sub(r"([ ─━═┈])\1+", r"\1", line) for line in out]


CIVIC_CALL = re.compile(r"(?:^|[;|&(]|\$\()\s*(?:\w+=(?:'[^']*'|\"[^\"]*\"|\S+)\s+)*(civic\s[^;|&)<>#]*)")
"""A `civic` command in a shell line: at its start or after an operator or `$(`, after any
VAR=value assignments, up to the next operator, redirection or comment."""


def civic_lines(text: str) -> list[str]:
    """The `civic ...` commands in shell text (continuation lines folded, comments dropped)."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#"):
            continue
        out += [m.group(1).strip() for m in CIVIC_CALL.finditer(line)]
    return out


@functools.cache
def _cli():  # type: ignore[no-untyped-def]
    import typer

    from civic.cli import app

    return typer.main.get_command(app)


def cli_problem(line: str) -> str | None:
    """Why `civic ...` would not parse (an unknown command or option, an extra argument), or None.

    Parsed by the CLI's own (click) commands, resiliently: missing values (placeholders the reader
    fills in, passwords it would ask for) are not the README's fault; unknown names are. Typer
    vendors its click, so groups are told by what they do, not by their class."""
    words = shlex.split(line)[1:]
    command = _cli()
    path = ["civic"]
    while hasattr(command, "get_command") and words and not words[0].startswith("-"):
        ctx = command.make_context(" ".join(path), [], resilient_parsing=True)
        sub = command.get_command(ctx, words[0])
        if sub is None:
            return f"`{' '.join(path)}` has no command {words[0]!r}"
        path.append(words.pop(0))
        command = sub
    if hasattr(command, "get_command"):
        return None if not words else f"`{' '.join(path)}` has no command {words[0]!r}"
    try:
        command.make_context(" ".join(path), list(words))
    except Exception as e:  # click's UsageError
        message = getattr(e, "format_message", lambda: str(e))()
        # A placeholder (FILE, N) is not a valid value, and an example may leave an argument out;
        # an option or argument the command does not have is the README's fault.
        if "No such option" in message or "extra argument" in message:
            return f"`{' '.join(path)}`: {message}"
    return None


INLINE = re.compile(r"`(civic [^`]+)`")


def inline_commands(text: str) -> list[tuple[int, str]]:
    """`civic ...` spans in the prose, one per alternative (`civic ledger show/tail` is two),
    optional parts ([--org ID]) kept without their brackets."""
    out = []
    for match in INLINE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        span = " ".join(match.group(1).replace("[", " ").replace("]", " ").split())
        words = span.split()
        if len(words) > 1 and "/" in words[1]:
            out += [(line, " ".join(["civic", alt, *words[2:]])) for alt in words[1].split("/")]
        elif len(words) > 2 and "/" in words[2] and not words[2].startswith(("-", "DIR", ".")):
            out += [(line, " ".join(["civic", words[1], alt, *words[3:]])) for alt in words[2].split("/")]
        else:
            out.append((line, span))
    return out
