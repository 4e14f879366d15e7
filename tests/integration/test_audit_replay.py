"""`civic audit replay`, `trail` and `diff` against the live service: the real pipeline (NATS,
ledger, relay, projector) and the HTTP API answering from the live read model."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from audit.trail import scan, trail
from bench.replay import measure
from config import Settings
from schemas.topology import LEDGER
from civic.web import create_app
from schemas.topology import intake_subject
from tests.conftest import running_pipeline
from tests.integration.test_audit_ledger import civic
from tests.scenario import later, scenario
from tests.support import bearer, publish_applied

pytestmark = pytest.mark.integration


@pytest.fixture
async def live(tmp_path: Path, nats_server):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, batch_size=500)
    async with running_pipeline(settings, projector=True) as running:
        async with AsyncTestClient(create_app(settings)) as client:
            client.headers.update(bearer(settings.data_dir))  # an auditor: reads every unit
            client.settings, client.js = settings, running.projector.js  # type: ignore[attr-defined]
            await publish_applied(client, scenario())
            yield client


def at(live) -> tuple[str, Path]:  # type: ignore[no-untyped-def]
    return live.settings.nats_url, live.settings.data_dir


def later_ticket() -> list[tuple[s.Event, str]]:
    """T10 at community c1, raised and rated dissatisfied in March: it changes the March figures."""
    return later()


async def test_replay_as_of_a_moment_equals_what_the_api_said_then(live, tmp_path: Path) -> None:
    then = {org: (await live.get(f"/api/orgs/{org}/dashboard")).json() for org in ("yn", "ta", "hz")}
    moment = datetime.now(timezone.utc)
    stored = (await live.js.get_msg(LEDGER, seq=then["yn"]["position"])).time
    assert then["yn"]["position"] == len(scenario()) and stored is not None
    await asyncio.sleep(0.05)  # the next events are stored strictly after the moment
    await publish_applied(live, later_ticket())
    now = (await live.get("/api/orgs/yn/dashboard")).json()
    assert now["tickets"]["raised"] == then["yn"]["tickets"]["raised"] + 1 and now["position"] > then["yn"]["position"]

    for org in then:
        out = tmp_path / f"{org}.json"
        code, output = await asyncio.to_thread(civic, *at(live), "audit", "replay", "--as-of", moment.isoformat(),
                                               "--org", org, "--out", str(out))
        assert code == 0, output
        assert json.loads(out.read_text()) == then[org]
    code, output = await asyncio.to_thread(civic, *at(live), "audit", "replay", "--org", "yn", "--out", str(tmp_path / "now.json"))
    assert code == 0 and json.loads((tmp_path / "now.json").read_text()) == now
    assert "KPI definitions v1" in output and f"ledger position {now['position']}" in output

    before_anything = (moment - timedelta(days=1)).isoformat()
    code, output = await asyncio.to_thread(civic, *at(live), "audit", "replay", "--as-of", before_anything, "--org", "yn")
    assert code == 2 and "no org unit yn" in output, "the district did not exist yet"
    code, output = await asyncio.to_thread(civic, *at(live), "audit", "replay", "--kpi-version", "2")
    assert code == 2 and "KPI definitions version 2 does not exist" in output
    code, output = await asyncio.to_thread(civic, *at(live), "audit", "replay", "--org", "yn", "--as-of", "last week")
    assert code == 2 and "is not a date" in output


async def test_trail_from_the_ledger_matches_the_ticket_timeline(live) -> None:
    api = (await live.get("/api/tickets/T2")).json()
    positions = await scan(live.js, "ticket", "T2")
    assert positions == [e["position"] for e in api["events"]]
    history = await trail(live.js, "ticket", "T2", positions, "a full scan")
    assert history.ok and all(step.linked for step in history.steps)
    assert [(x.type, x.actor, x.hours_since_previous) for x in history.steps] == [
        (e["type"], f"{e['actor_role']}:{e['actor_id']}", e["hours_since_previous"]) for e in api["events"]]
    assert history.hours_in_stage == {x["stage"]: x["hours"] for x in api["time_in_stage"]}
    assert all("Resident One" not in str(step.detail) for step in history.steps)

    code, output = await asyncio.to_thread(civic, *at(live), "audit", "trail", "T2")
    assert code == 0 and "found by the dashboard read model's index" in output
    assert output.count(" ok\n") == len(positions) and "hours in each stage: raised 0.25" in output
    code, output = await asyncio.to_thread(civic, *at(live), "audit", "trail", "--dispute", "D2", "--scan")
    assert code == 0 and "found by a full scan" in output and "DisputeConcluded" in output and "outcome=failed" in output
    code, output = await asyncio.to_thread(civic, *at(live), "audit", "trail", "T404")
    assert code == 1 and "no event about ticket T404" in output
    # The read model's index is a shortcut, not an authority: a wrong entry is caught by the ledger.
    wrong = await trail(live.js, "ticket", "T2", [*positions, positions[-1] + 1], "a doctored index")
    assert not wrong.ok and "is not about ticket T2" in wrong.faults[0]


SEED_STYLE = """title: Yongning micro-list, March 2026
org: yn
from: 2026-03-01
to: 2026-03-31
figures:
  collected: 7
  resolved: 4
  satisfaction_rate: 100 %
  disputes_mediated: 2
  dispute_success_rate: 100 %
"""


async def test_diff_refutes_a_seed_style_report_with_the_tickets_behind_it(live, tmp_path: Path) -> None:
    report = tmp_path / "march.yaml"
    report.write_text(SEED_STYLE)
    code, output = await asyncio.to_thread(civic, *at(live), "audit", "diff", str(report))
    assert code == 1 and "1 of 5 figures refuted: dispute_success_rate" in output
    assert "failed: D2" in output and "basically satisfied (counted as satisfied): T2" in output

    published_at = datetime.now(timezone.utc).isoformat()
    await asyncio.sleep(0.05)
    await publish_applied(live, later_ticket())
    code, output = await asyncio.to_thread(civic, *at(live), "audit", "diff", str(report))
    assert code == 1 and "4 of 5 figures refuted: collected, resolved, satisfaction_rate, dispute_success_rate" in output
    assert "dissatisfied (latest rating): T10" in output and "75.0 % (3 of 4)" in output
    # As the ledger stood when the report was published, only the dispute rate is wrong.
    report.write_text(SEED_STYLE + f"published_at: '{published_at}'\n")
    code, output = await asyncio.to_thread(civic, *at(live), "audit", "diff", str(report))
    assert code == 1 and "1 of 5 figures refuted: dispute_success_rate" in output


async def test_replay_rate_beside_the_raw_ordered_read(live) -> None:
    rates = await measure(live.js)
    assert rates.events == len(scenario()) and rates.raw_read_decode > 0 and rates.replay > 0
