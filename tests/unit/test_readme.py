"""The README's event catalogue: one example per event type, each a valid event."""

from __future__ import annotations

import re
from pathlib import Path

import schemas as s

README = Path(__file__).parents[2] / "README.md"


def catalogue_examples() -> dict[str, bytes]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Event catalogue", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2).encode() for m in re.finditer(r"#### `(\w+)`.*?```json\n(.*?)\n```", section, re.S)}


def test_every_event_type_has_an_example_that_decodes() -> None:
    examples = catalogue_examples()
    assert sorted(examples) == sorted(s.EVENTS_BY_TYPE)
    for name, data in examples.items():
        assert s.decode(data).type == name


def test_the_reason_table_lists_every_reason_code() -> None:
    from schemas.rejected import REASONS

    text = README.read_text(encoding="utf-8")
    assert all(f"| `{code}` |" in text for code in REASONS)
