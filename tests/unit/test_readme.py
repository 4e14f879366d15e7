"""The README: its event catalogue (one example per event type, each a valid event) and its code
blocks, each marked with what it is (tests/readme.py): system commands pass `bash -n`, every
`civic ...` it names parses against the CLI. tests/e2e/test_readme_runs.py runs the console blocks."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import schemas as s
from tests.readme import LANGUAGES, README, blocks, civic_lines, cli_problem, commands, inline_commands, normalise


def catalogue_examples() -> dict[str, bytes]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Event catalogue", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2).encode() for m in re.finditer(r"#### `(\w+)`.*?```json[^\n]*\n(.*?)\n```", section, re.S)}


def test_every_event_type_has_an_example_that_decodes() -> None:
    examples = catalogue_examples()
    assert sorted(examples) == sorted(s.EVENTS_BY_TYPE)
    for name, data in examples.items():
        assert s.decode(data).type == name


def test_the_reason_table_lists_every_reason_code() -> None:
    from schemas.rejected import REASONS

    text = README.read_text(encoding="utf-8")
    assert all(f"| `{code}` |" in text for code in REASONS)


def test_every_block_says_what_it_is() -> None:
    for block in blocks(README.read_text(encoding="utf-8")):
        assert block.language in LANGUAGES, f"README.md:{block.line}: a ``` block needs one of {sorted(LANGUAGES)} (tests/readme.py)"
        if block.language == "console":
            assert commands(block), f"README.md:{block.line}: a console block without a `$ ` command"
        if "file" in block.attributes:
            assert block.language in ("json", "jsonl", "yaml", "csv"), f"README.md:{block.line}: file= on a {block.language} block"


def test_system_commands_are_valid_shell() -> None:
    assert subprocess.run(["bash", "-n"], input="for x in; do (", text=True, capture_output=True).returncode != 0
    for block in blocks(README.read_text(encoding="utf-8")):
        if block.language in ("sh", "bash"):
            checked = subprocess.run(["bash", "-n"], input=block.text, text=True, capture_output=True)
            assert checked.returncode == 0, f"README.md:{block.line}: {checked.stderr}"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed (scripts/test installs it)")
def test_compose_snippets_are_valid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A compose snippet is an override of docker-compose.yml: checked merged with it."""
    snippets = [b for b in blocks(README.read_text(encoding="utf-8")) if b.language == "yaml" and "compose" in b.attributes]
    assert snippets, "README.md shows no compose snippet (```yaml compose)"
    for block in snippets:
        override = tmp_path / f"override-{block.line}.yml"
        override.write_text(block.text, encoding="utf-8")
        checked = subprocess.run(["docker-compose", "-f", str(README.parent / "docker-compose.yml"), "-f", str(override),
                                  "--project-directory", str(README.parent), "config", "-q"], text=True, capture_output=True)
        assert checked.returncode == 0, f"README.md:{block.line}: {checked.stderr}"
        broken = tmp_path / "broken.yml"
        broken.write_text(block.text.replace("services:", "servics:"), encoding="utf-8")
        assert subprocess.run(["docker-compose", "-f", str(README.parent / "docker-compose.yml"), "-f", str(broken),
                               "config", "-q"], capture_output=True).returncode != 0  # the check can fail


def test_every_civic_command_named_parses() -> None:
    """In shell and console blocks and in the prose: the commands and options exist."""
    text = README.read_text(encoding="utf-8")
    named = [(b.line, c) for b in blocks(text) if b.language in ("sh", "bash") for c in civic_lines(b.text)]
    named += [(c.line, line) for b in blocks(text) if b.language == "console" for c in commands(b)
              for line in civic_lines(c.command)]
    named += inline_commands(text)
    assert len(named) > 50
    problems = [f"README.md:{line}: {problem}" for line, command in named if (problem := cli_problem(command))]
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_are_for() -> None:
    """The harness's own parts, against known answers (a check that cannot fail is no check)."""
    assert cli_problem("civic emit events.jsonl --data civic-data") is None
    assert "no command" in (cli_problem("civic ledger shwo") or "")
    assert "No such option" in (cli_problem("civic emit x --nats-prot 4222") or "")
    assert "extra argument" in (cli_problem("civic audit verify now") or "")
    assert cli_problem("civic users add NAME --role staff --org ID") is None  # placeholders are the reader's
    text = "```console retry=5\n$ civic audit verify --data d\nledger ok: 3 events\n$ true\n```\n```text\nx\n```\n"
    console, other = blocks(text)
    assert console.attributes == {"retry": "5"} and other.language == "text"
    assert [(c.command, c.expected) for c in commands(console)] == [("civic audit verify --data d", ["ledger ok: 3 events"]), ("true", [])]
    line = "ledger ok: 7 events, head 9f813120b5f889a25e5870185519d8bcd0a7f0fd5ad3e91c4e0b61f7b9d1a1b4 at 2026-11-26T13:00:54+08:00"
    assert normalise([line]) == ["ledger ok: 7 events, head <HASH> at <TIME>"]
    assert normalise(["in 0.0s, 6,757 events/s  "]) == ["in <S>s, <N> events/s"]
    assert normalise(["a", ""]) == ["a"] and normalise(["7 events"]) != normalise(["8 events"])


def test_every_catalogue_example_is_in_the_story() -> None:
    """Each example of the catalogue (but the pipeline's two, which only the ledger records) goes
    into catalogue.jsonl, which the README's test emits into a fresh service: all must be accepted."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Event catalogue")
    pipeline = text.index("### The pipeline itself", start)
    first_line, pipeline_line = text.count("\n", 0, start) + 1, text.count("\n", 0, pipeline) + 1
    examples = [b for b in blocks(text) if b.language in ("json", "jsonl") and first_line < b.line < pipeline_line]
    assert len(examples) > 20
    missing = [b.line for b in examples if b.attributes.get("file") != "catalogue.jsonl"]
    assert not missing, f"README.md lines {missing}: mark the example ```json file=catalogue.jsonl and keep the story in order"


RUN_ELSEWHERE = {
    "civic demo": "tests/e2e/test_civic_demo.py",
    "civic simulate": "tests/integration/test_simulate.py",
    "civic bench": ".ci/run",
}
"""The commands of the README's shell blocks that its console sessions do not run (a service of
their own, minutes of work), and where they are run instead."""


def test_every_command_of_the_shell_blocks_is_run() -> None:
    """Each `civic` command a shell block lists is run by a console block of the README, or by the
    test named in RUN_ELSEWHERE (which must run it)."""
    text = README.read_text(encoding="utf-8")
    run = {_command_path(line) for b in blocks(text) if b.language == "console" for c in commands(b)
           for line in civic_lines(c.command)}
    listed = {_command_path(line) for b in blocks(text) if b.language in ("sh", "bash") for line in civic_lines(b.text)}
    root = README.parent
    for command in sorted(listed - run):
        assert command in RUN_ELSEWHERE, f"README.md lists `{command}`, which no console block runs"
        where = (root / RUN_ELSEWHERE[command]).read_text(encoding="utf-8")
        assert command.split()[-1] in where, f"{RUN_ELSEWHERE[command]} does not run `{command}`"


def _command_path(line: str) -> str:
    """`civic users add NAME --role x` -> `civic users add`: the words before the first argument."""
    from tests.readme import _cli

    words, command, path = line.split()[1:], _cli(), ["civic"]
    while hasattr(command, "get_command") and words:
        sub = command.get_command(command.make_context("civic", [], resilient_parsing=True), words[0])
        if sub is None:
            break
        path.append(words.pop(0))
        command = sub
    return " ".join(path)
