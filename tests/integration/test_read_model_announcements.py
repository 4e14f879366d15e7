"""The projector announces the dashboard read model's position on the status bucket after each
commit (projections/projector.py), and the web hears it (dashboards/app.py), so a remembered
answer costs no query (projections/readside.py). On a real nats-server with the rendered
authorization: the announcement reaches the web's key after a batch; no one else may publish it,
no one but the web may hear it; and with the web running, a new event changes the answer through
the announcement alone."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
from litestar.testing import AsyncTestClient

import schemas as s
from adapters.bus import connect_options, ensure_bus
from adapters.credentials import Credentials
from adapters.natsserver import NatsServer
from config import Settings
from projections import readside
from projections.dashboard import NAME
from projections.store import Versions
from schemas import permissions
from schemas import status as status_wire
from schemas.status import ReadModelStatus, decode_read_model
from schemas.topology import DASHBOARD_STATUS_KEY, STATUS, status_subject
from tests.conftest import running_pipeline
from tests.support import bearer, caught_up, small_district, wait_for

pytestmark = pytest.mark.integration

SUBJECT = status_subject(DASHBOARD_STATUS_KEY)


@pytest.fixture
def bus(tmp_path: Path, nats_server: NatsServer) -> Settings:
    """Settings whose processes connect with their own keys (the plain URL, no admin password)."""
    creds = Credentials(nats_server.credentials.folder)
    creds.add_producer("village-nk", ["nk"])
    nats_server.reload()
    return Settings(data_dir=tmp_path / "data", nats_url=nats_server.plain_url, batch_size=500, credentials_dir=creds.folder)


async def test_the_projectors_position_reaches_the_web_after_each_batch(bus: Settings) -> None:
    script = small_district(3)
    await ensure_bus(bus)
    web = await nats.connect(**connect_options(bus, "web"), allow_reconnect=False)
    heard: list[ReadModelStatus] = []

    async def hear(msg) -> None:  # type: ignore[no-untyped-def]
        heard.append(decode_read_model(msg.data))
    await web.subscribe(SUBJECT, cb=hear)
    await web.flush()
    async with running_pipeline(bus, projector=True):
        async def started() -> bool:
            return bool(heard)
        await wait_for(started)
        assert heard[0] == ReadModelStatus(name=NAME, version=1, position=0)  # at start: its stored position
        admin = await nats.connect(**connect_options(bus, "admin"))
        js = admin.jetstream()
        for event, subject in script.events:
            await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id})
        seen = await caught_up(bus, js, intake=len(script.events), projector=True)

        async def announced() -> bool:
            return bool(heard) and heard[-1].position == seen.relayed
        await wait_for(announced)
        positions = [h.position for h in heard]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)  # one per commit, onwards
        assert {(h.name, h.version) for h in heard} == {(NAME, 1)} and Versions(NAME, bus.data_dir).current() == 1
        kept = await (await js.key_value(STATUS)).get(DASHBOARD_STATUS_KEY)  # the bucket keeps the last, as the ledger's
        assert decode_read_model(kept.value or b"") == heard[-1]
        await admin.close()
    await web.close()


async def test_only_the_projector_announces_and_only_the_web_hears(bus: Settings) -> None:
    """A forged lower position would have the web serve older answers: every other identity's
    publish is refused, and the web, listening, hears only the projector's."""
    await ensure_bus(bus)
    errors: dict[str, list[str]] = {}

    async def as_identity(identity: str) -> nats.NATS:
        async def on_error(e: Exception) -> None:
            errors.setdefault(identity, []).append(str(e).lower())
        return await nats.connect(**connect_options(bus, identity), error_cb=on_error, allow_reconnect=False)

    web = await as_identity("web")
    heard: list[ReadModelStatus] = []

    async def hear(msg) -> None:  # type: ignore[no-untyped-def]
        heard.append(decode_read_model(msg.data))
    await web.subscribe(SUBJECT, cb=hear)
    await web.flush()
    forgers = [i.name for i in permissions.IDENTITIES if i.name not in ("admin", "projector")] + ["producer-village-nk"]
    forged = status_wire.encode(ReadModelStatus(name=NAME, version=1, position=1))
    connections = [await as_identity(name) for name in forgers]
    for nc in connections:
        await nc.publish(SUBJECT, forged)
        await nc.flush()
    listeners = {name: await as_identity(name) for name in ("auditor", "emit", "ledger", "producer-village-nk")}
    for nc in listeners.values():
        await nc.subscribe(SUBJECT)

    async def refused() -> bool:
        return all(any(f'permissions violation for publish to "{SUBJECT.lower()}"' in e for e in errors.get(n, [])) for n in forgers) \
            and all(any(f'permissions violation for subscription to "{SUBJECT.lower()}"' in e for e in errors.get(n, [])) for n in listeners)
    await wait_for(refused, timeout=10)
    # Each refusal was decided before its -ERR came back; the projector's publish after them is
    # delivered after anything they could have put in the web's queue: the barrier.
    projector = await as_identity("projector")
    await projector.publish(SUBJECT, status_wire.encode(ReadModelStatus(name=NAME, version=1, position=7)))

    async def the_projectors() -> bool:
        return bool(heard)
    await wait_for(the_projectors, timeout=10)
    await web.flush()
    assert [h.position for h in heard] == [7], heard
    assert "projector" not in errors and "web" in errors  # the web: refused its publish, never its subscription
    assert not any("subscription" in e for e in errors["web"])
    for nc in (*connections, *listeners.values(), projector, web):
        await nc.close()


async def test_a_new_event_changes_the_answer_through_the_announcement(full_pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """The web role's app, running: the first answer is read, then the database is never asked
    where the read model is again (a known position trusted for an hour here), so only the
    projector's announcement, heard by the web, can bring the new event's answer."""
    from dashboards.app import Web

    monkeypatch.setattr(readside, "FRESH_SECONDS", 3600.0)
    settings = full_pipeline.settings
    script = small_district(2)
    web = Web(settings)
    window = {"from": "2026-03-01", "to": "2026-03-31"}
    async with AsyncTestClient(web.app()) as client:
        client.headers.update(bearer(settings.data_dir))
        assert web.hearing is not None
        await web.hearing  # subscribed (the app starts hearing at startup)
        js = full_pipeline.projector.js
        for event, subject in script.events:
            await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id})
        await caught_up(settings, js, intake=len(script.events), projector=True)

        async def board() -> dict:
            response = await client.get("/api/orgs/yn/dashboard", params=window)
            assert response.status_code == 200, response.text
            return response.json()

        first = await board()  # read from the database (nothing known yet), its position remembered
        assert first["tickets"]["raised"] == 2 and await board() == first
        published = len(script.events)
        script.ticket_lifecycle("T9", "lx")
        for event, subject in script.events[published:published + 1]:  # T9 raised
            assert isinstance(event, s.TicketRaised)
            await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id})

        async def fresh() -> dict | None:
            answer = await board()
            return answer if answer != first else None
        after = await wait_for(fresh, timeout=30)
        assert after["tickets"]["raised"] == 3 and after["tickets"]["open"] == first["tickets"]["open"] + 1
