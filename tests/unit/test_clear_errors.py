"""Clear errors (issue 15): a field's rule said as a sentence derived from the schema, malformed JSON
with its line and column, CSV rows reported per row without swallowing the rows after a bad
quote, an unknown parent named at parent_id. No I/O beyond temporary files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec.inspect as mi
import pytest

import schemas as s
from producers.directory import OrgDirectory, UnknownOrg
from producers.emit import local_line, split_events
from producers.importer import UnreadableFile, read_rows
from producers.outcome import Result, check
from schemas.intake import EVENT_TYPES, pattern_in_words, where


def _patterns(node, seen: set[int]) -> set[str]:  # type: ignore[no-untyped-def]
    """Every string pattern reachable from a msgspec.inspect type."""
    if id(node) in seen:
        return set()
    seen.add(id(node))
    if isinstance(node, mi.StrType):
        return {node.pattern} if node.pattern else set()
    found: set[str] = set()
    for child in (getattr(node, "type", None), getattr(node, "item_type", None), *getattr(node, "types", ()),
                  *(f.type for f in getattr(node, "fields", ()))):
        if child is not None:
            found |= _patterns(child, seen)
    return found


def test_every_pattern_of_the_contract_can_be_said_in_words():
    patterns = set().union(*(_patterns(mi.type_info(cls), set()) for cls in EVENT_TYPES))
    assert len(patterns) >= 4
    for pattern in patterns:
        assert not pattern_in_words(pattern).startswith("text matching"), pattern
    assert pattern_in_words("^[a-z0-9_]{1,48}$") == "1 to 48 characters, each a-z, 0-9 or _"
    assert pattern_in_words("^[A-Za-z0-9_.:-]{1,128}$") == "1 to 128 characters, each A-Z, a-z, 0-9, _, ., : or -"
    assert pattern_in_words("^(a|b)$") == "text matching ^(a|b)$"


RAISED = {"type": "TicketRaised", "event_id": "e1", "occurred_at": "2021-06-01T09:00:00+08:00", "source": "test",
          "actor": {"role": "resident", "id": "r1"}, "org_id": "lx", "ticket_id": "T1", "category": "parking", "title": "cars"}


@pytest.mark.parametrize(("field", "value", "sentence"), [
    ("category", "Parking Lot", "`category` must be 1 to 48 characters, each a-z, 0-9 or _ (A ticket or dispute category code, e.g. parking.)"),
    ("source", "Hotline 12345", "`source` must be 1 to 40 characters, each a-z, 0-9, _ or - (The upstream system, e.g. hotline-12345.)"),
    ("org_id", "lx.g1", "`org_id` must be 1 to 64 characters, each A-Z, a-z, 0-9, _ or - (An org unit id; one NATS subject token.)"),
])
def test_a_field_constraint_is_a_sentence_not_a_regex(field: str, value: str, sentence: str):
    failure = check(json.dumps({**RAISED, field: value}).encode())
    assert isinstance(failure, Result) and failure.field == field
    assert failure.reason == f"invalid_field: {sentence}"
    assert "regex" not in (failure.reason or "")


def test_malformed_json_names_its_line_and_column():
    text = '{"type": "TicketRaised",\n  "title": "路灯", "event_id": e1}'.encode()
    with pytest.raises(s.DecodeFailure) as caught:
        s.decode(text)
    assert caught.value.code == "malformed_json" and caught.value.detail.endswith("at line 2, column 30")
    assert where(text, caught.value.offset or 0) == (2, 30)  # columns count characters, not UTF-8 bytes


def test_emit_names_the_file_line_and_column_of_each_local_refusal():
    text = (json.dumps(RAISED) + "\n\n" + '{"type": "TicketRaised", "event_id": x}' + "\n"
            + json.dumps({**RAISED, "category": "Bad"}) + "\n").encode()
    items = list(split_events(text))
    assert [i.line for i in items] == [1, 3, 4]
    results = [check(i.data) for i in items]
    assert not isinstance(results[0], Result)
    lines = [local_line(i, r, text) for i, r in zip(items[1:], results[1:]) if isinstance(r, Result)]
    assert lines[0] == "refused  ?: line 3, column 38: malformed_json: JSON is malformed: invalid character"
    assert lines[1] == ("refused  e1: line 4: invalid_field (category): `category` must be 1 to 48 characters, each a-z, "
                        "0-9 or _ (A ticket or dispute category code, e.g. parking.)")
    array = b'\n\n[{"type": "TicketRaised",\n "event_id": }]'
    (whole,) = split_events(array)  # a broken array cannot be split: where it breaks, in the file
    assert whole.failure is not None
    assert local_line(whole, whole.failure, array) == "refused  ?: line 4, column 14: malformed_json: JSON is malformed: invalid character"


HEADER = "ticket_id,org_id,category,raised_at,title\n"


def rows(tmp_path: Path, text: str, name: str = "rows.csv") -> list[tuple[int, dict]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return list(read_rows(path, "jsonl" if name.endswith(".jsonl") else "csv"))


def test_an_unclosed_quote_is_reported_at_its_line_and_the_rows_after_it_are_read(tmp_path):
    got = rows(tmp_path, HEADER + 'T1,lx,parking,2021-03-01 09:00,ok\nT2,lx,parking,2021-03-01 09:00,"no end\n'
                                  'T3,lx,parking,2021-03-01 09:00,fine\nT4,nk,parking,2021-03-01 09:00,also fine\n')
    assert [(line, row.get("ticket_id") or row["__error__"][:30]) for line, row in got] == [
        (2, "T1"), (3, "not a CSV row (unexpected end "), (4, "T3"), (5, "T4")]
    assert "quote" in got[1][1]["__error__"]


def test_a_stray_quote_mid_file_and_multi_line_cells(tmp_path):
    got = rows(tmp_path, HEADER + 'T1,lx,parking,2021-03-01 09:00,"no end\nT2,lx,parking,2021-03-01 09:00,"two\nlines"\n'
                                  'T3,lx,parking,2021-03-01 09:00,x\n')
    assert [(line, row.get("ticket_id")) for line, row in got] == [(2, None), (3, "T2"), (5, "T3")]
    assert got[1][1]["title"] == "two\nlines"


def test_a_row_that_runs_on_into_more_cells_than_the_header_is_one_problem(tmp_path):
    got = rows(tmp_path, HEADER + 'T1,lx,parking,2021-03-01 09:00,"runs on\nT2,lx,parking,",2021-03-01,x,y\n'
                                  'T3,lx,parking,2021-03-01 09:00,x\n')
    assert [(line, row.get("ticket_id")) for line, row in got][-1] == (4, "T3")
    assert "quote not closed" in got[0][1]["__error__"]


def test_json_lines_errors_have_line_and_column_and_other_files_a_sentence(tmp_path):
    got = rows(tmp_path, '{"ticket_id": "T1"}\n{"ticket_id": "T2",}\n', "rows.jsonl")
    assert got[1] == (2, {"__error__": "not JSON: Expecting property name enclosed in double quotes at line 2, column 20"})
    (tmp_path / "gbk.csv").write_bytes(HEADER.encode() + "T1,lx,parking,2021-03-01 09:00,路灯\n".encode("gbk"))
    with pytest.raises(UnreadableFile, match="not UTF-8 text"):
        list(read_rows(tmp_path / "gbk.csv", "csv"))
    with pytest.raises(UnreadableFile, match="lacks required columns"):
        rows(tmp_path, "ticket_id,title\nT1,x\n")


def test_an_unknown_parent_is_named_at_parent_id():
    directory = OrgDirectory()
    directory.learn(s.OrgUnitRegistered(event_id="o1", occurred_at="2021-01-01T00:00:00+08:00", source="test",  # type: ignore[arg-type]
                                        actor=s.Actor(role="system", id="sys"), org_id="yn", kind="district", name="yn"))
    orphan = s.OrgUnitRegistered(event_id="o2", occurred_at="2021-01-01T00:00:00+08:00", source="test",  # type: ignore[arg-type]
                                 actor=s.Actor(role="system", id="sys"), org_id="h9", kind="hamlet", name="h9", parent_id="nowhere")
    with pytest.raises(UnknownOrg) as caught:
        asyncio.run(directory.path(orphan, local_only=True))
    assert (caught.value.field, caught.value.org_id) == ("parent_id", "nowhere")
    raised = s.TicketRaised(event_id="t1", occurred_at="2021-01-01T00:00:00+08:00", source="test",  # type: ignore[arg-type]
                            actor=s.Actor(role="resident", id="r"), org_id="nowhere", ticket_id="T", category="parking", title="x")
    with pytest.raises(UnknownOrg) as caught:
        asyncio.run(directory.path(raised, local_only=True))
    assert caught.value.field == "org_id"
