"""The AsyncAPI description FastStream generates for the clock app says what the project's exported
contract says (schemas/export.py `asyncapi()` and the JSON Schema files): the same channels, the
same direction, the same payload schema for every event type the clock reads or publishes; and
the clock publishes only where its identity may (schemas/permissions.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from consumers.clock import CLOCK_TYPES, READ_TYPES, Clock, ClockConfig, build, inlined
from consumers.clock_state import ClockState, FixedEscalation
from schemas import encode, topology
from schemas.clock import Deadline, step_event
from schemas.export import asyncapi, export
from schemas.permissions import CLOCK

TERMS = FixedEscalation(timedelta(hours=1), (timedelta(hours=1),), timedelta(hours=4), ("street",))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    broker = NatsBroker()
    clock = Clock(ClockState(tmp_path_factory.mktemp("clock") / "c.sqlite"), ClockConfig(name="a", escalation=lambda c, k: TERMS))
    build(broker, clock, 0)
    doc: dict[str, Any] = AsyncAPI(broker, schema_version="3.0.0").to_specification().to_jsonable()
    return doc


@pytest.fixture(scope="module")
def contract_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("contract")
    export(folder)
    return folder


def file_schema(folder: Path, tag: str) -> dict[str, Any]:
    return inlined(json.loads((folder / f"{tag}.schema.json").read_text(encoding="utf-8")))


def untitled(schema: dict[str, Any]) -> dict[str, Any]:
    """FastStream names a payload after its channel: compare everything else."""
    return {k: v for k, v in schema.items() if k != "title"}


def payload(doc: dict[str, Any], channel: str) -> dict[str, Any]:
    (ref,) = [m["$ref"] for m in doc["channels"][channel]["messages"].values()]
    message = doc["components"]["messages"][ref.split("/")[-1]]
    schema: dict[str, Any] = doc["components"]["schemas"][message["payload"]["$ref"].split("/")[-1]]
    return schema


def test_the_same_channels_in_the_same_directions(generated: dict[str, Any]) -> None:
    contract = asyncapi()
    action = {op["channel"]["$ref"].split("/")[-1]: op["action"] for op in contract["operations"].values()}
    ours = {name: generated["operations"][name]["action"] for name in generated["channels"]}
    addresses = {name: channel["address"] for name, channel in generated["channels"].items()}
    assert addresses == {"ledger": topology.LEDGER_SUBJECTS,
                         **{f"intake:{t}": topology.subject("intake", t, [">"]) for t in CLOCK_TYPES}}
    # The ledger channel is the contract's CIVIC_LEDGER (civic.ledger.{type}.{orgPath}), received;
    # each publisher is the contract's CIVIC_INTAKE for its type, sent.
    assert contract["channels"][topology.LEDGER]["address"].startswith(topology.LEDGER_PREFIX)
    assert ours["ledger"] == action[topology.LEDGER] == "receive"
    intake_types = contract["channels"][topology.INTAKE]["parameters"]["type"]["enum"]
    for t in CLOCK_TYPES:
        assert t in intake_types and t in contract["channels"][topology.INTAKE]["messages"]
        assert ours[f"intake:{t}"] == action[topology.INTAKE] == "send"


def test_the_payloads_are_the_contracts(generated: dict[str, Any], contract_files: Path) -> None:
    contract = asyncapi()
    for t in CLOCK_TYPES:
        assert contract["components"]["messages"][t]["payload"] == {"$ref": f"{t}.schema.json"}
        assert untitled(payload(generated, f"intake:{t}")) == untitled(file_schema(contract_files, t))
    read = payload(generated, "ledger")["anyOf"]
    assert [untitled(s) for s in read] == [untitled(file_schema(contract_files, t)) for t in READ_TYPES]
    assert set(CLOCK_TYPES) <= set(READ_TYPES)  # the clock reads its own events back (to notify)


def test_an_event_the_clock_publishes_validates_against_both(generated: dict[str, Any], contract_files: Path) -> None:
    due = datetime(2026, 3, 2, 13, tzinfo=timezone(timedelta(hours=8)))
    deadline = Deadline(1, "c1", "lead", "resolve", due)
    for planned in TERMS.plan(deadline):
        event = step_event(planned, deadline, ticket_id="T1", org_id="c1", chased_by="c1", escalated_to="s1")
        body = json.loads(encode(event))
        jsonschema.validate(body, payload(generated, f"intake:{event.type}"))
        jsonschema.validate(body, json.loads((contract_files / f"{event.type}.schema.json").read_text(encoding="utf-8")))


def test_the_clock_publishes_only_where_its_identity_may(generated: dict[str, Any]) -> None:
    for name, channel in generated["channels"].items():
        if generated["operations"][name]["action"] == "send":
            assert channel["address"] in CLOCK.publish
    assert topology.INTAKE_SUBJECTS not in CLOCK.publish
