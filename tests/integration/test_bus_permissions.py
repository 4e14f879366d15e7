"""The bus's closed doors (schemas/permissions.py), on a real nats-server with the rendered
authorization: every process does its normal work as its own identity, and every forbidden action
is refused by the server with a permissions violation, leaving the streams as they were."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig, StreamConfig

import schemas as s
from adapters.bus import connect_options, credential_options, ensure_bus
from adapters.credentials import Credentials, new_seed
from adapters.natsserver import NatsServer
from config import Settings
from dashboards.health import HealthProbe
from producers.sdk import Producer
from schemas import permissions, topology
from schemas.topology import INTAKE, LEDGER, REJECTED
from projections.dashboard import NAME
from projections.store import Versions
from tests.conftest import running_pipeline
from tests.support import small_district, stream_count, wait_for

pytestmark = pytest.mark.integration

VILLAGE, OTHER_VILLAGE = "nk", "lx"  # small_district: yn > pm > {lx, nk}; nk > nk-h1


@pytest.fixture
def bus(tmp_path: Path, nats_server: NatsServer) -> Settings:
    """Settings whose processes connect with their own keys (the plain URL, no admin password),
    and an upstream system allowed village nk's subtree only."""
    creds = Credentials(nats_server.credentials.folder)
    creds.add_producer("village-nk", [VILLAGE])
    nats_server.reload()
    return Settings(data_dir=tmp_path / "data", nats_url=nats_server.plain_url, batch_size=500, credentials_dir=creds.folder)


class Attempts:
    """One identity's connection, collecting the server's permission errors."""

    def __init__(self, settings: Settings, identity: str):
        self.settings, self.identity, self.errors = settings, identity, []

    async def __aenter__(self) -> Attempts:
        async def on_error(e: Exception) -> None:
            self.errors.append(str(e).lower())

        self.nc = await nats.connect(**connect_options(self.settings, self.identity), error_cb=on_error,
                                     allow_reconnect=False)
        self.js = self.nc.jetstream(timeout=0.7)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.nc.close()

    async def refused(self, tries: dict) -> None:
        """Each try (a coroutine -> the subject the server refuses) fails, with a violation."""
        outcomes = await asyncio.gather(*tries, return_exceptions=True)
        await self.nc.flush()
        await asyncio.sleep(0.1)
        for outcome, subject in zip(outcomes, tries.values()):
            assert isinstance(outcome, Exception), f"{self.identity} could act on {subject}"
            assert any(f'permissions violation for {subject.lower()}' in e for e in self.errors), \
                (self.identity, subject, self.errors)


def ticket_at(org: str, script) -> tuple[s.TicketRaised, str]:  # type: ignore[no-untyped-def]
    path = script.paths[org]
    event = s.TicketRaised(event_id=f"x-{org}", occurred_at=script.clock, source="village-nk",
                           actor=s.Actor(role="resident", id="r9"), org_id=org, ticket_id=f"X-{org}", category="parking",
                           title="a lamp is out")
    return event, topology.intake_subject(event, path)


async def test_every_process_works_as_itself(bus: Settings, tmp_path: Path) -> None:
    """Ledger, relay and projector (in-process), the local producer, an upstream system inside its
    scope, the web's health probe and an auditor's verify: each with its own key only."""
    from audit.show import run_verify

    script = small_district(4)
    await ensure_bus(bus)
    async with running_pipeline(bus, projector=True) as pipeline:
        async with await Producer.connect(bus.nats_url, credentials=bus.credentials_for("emit")) as local:
            results = await local.publish_many([event for event, _ in script.events])
        assert all(r.accepted for r in results), [r.line() for r in results if not r.accepted]
        seed = bus.credentials_folder / "producer-village-nk.nk"
        async with await Producer.connect(bus.nats_url, credentials=seed) as village:
            raised, _ = ticket_at("nk-h1", script)  # a hamlet of nk: inside its subtree
            assert (await village.publish(raised)).accepted
        total = len(script.events) + 1
        admin = await nats.connect(**connect_options(bus, "admin"))
        await caught_up(bus, admin.jetstream(), total)
        await admin.close()
        probe = HealthProbe(bus.nats_url, options=connect_options(bus, "web"))
        await probe.connect()
        health = await probe.check()
        await probe.close()
        assert health.nats_connected and {h.name for h in health.streams} >= {INTAKE, LEDGER, REJECTED}, health
    report = await run_verify(replace(bus, nats_credentials=None), with_store=True)  # as the auditor
    assert report.ok and report.events == total, report.summary()


async def caught_up(settings: Settings, js, events: int) -> None:  # type: ignore[no-untyped-def]
    """The ledger holds `events` and the dashboard read model has applied them all."""
    from projections.queries import DashboardQueries

    async def relayed() -> bool:
        return await stream_count(js, LEDGER) >= events

    async def projected() -> bool:
        versions = Versions(NAME, settings.data_dir, None)
        if (version := versions.current()) is None:
            return False
        db = versions.open(version, readonly=True)
        try:
            return DashboardQueries(db).position() >= events
        finally:
            db.close()
    await wait_for(relayed, timeout=30)
    await wait_for(projected, timeout=30)


async def test_no_anonymous_or_unknown_client(bus: Settings) -> None:
    for options in ({}, {"nkeys_seed_str": new_seed().decode()}):  # no credential; a key the server does not know
        for _ in range(5):
            try:
                client = await nats.connect(bus.nats_url, allow_reconnect=False, connect_timeout=2, **options)
            except ConnectionResetError:
                # The server sends -ERR and closes the socket at once; now and then the client's
                # next write meets the closed socket before it has read the -ERR (CI, once).
                continue
            except nats.errors.Error as e:
                assert "Authorization Violation" in str(e), e
                break
            await client.close()
            pytest.fail(f"connected with {options or 'no credential'}")
        else:
            pytest.fail("the server never said why it refused the connection")


async def test_only_the_relay_publishes_to_the_ledger(bus: Settings) -> None:
    await ensure_bus(bus)
    async def forge(identity: str) -> None:
        async with Attempts(bus, identity) as a:
            await a.refused({a.js.publish("civic.ledger.TicketRaised.yn", b'{"forged":true}'):
                             'publish to "civic.ledger.TicketRaised.yn"'})
    await asyncio.gather(*map(forge, [i.name for i in permissions.IDENTITIES if i.name not in ("admin", "relay")] + ["producer-village-nk"]))
    admin = await nats.connect(**connect_options(bus, "admin"))
    assert (await admin.jetstream().stream_info(LEDGER)).state.messages == 0
    await admin.close()


async def test_no_runtime_identity_deletes_purges_or_reconfigures_a_stream(bus: Settings) -> None:
    await ensure_bus(bus)
    runtime = [i.name for i in permissions.IDENTITIES if not i.unrestricted] + ["producer-village-nk"]

    async def vandalise(identity: str) -> None:
        async with Attempts(bus, identity) as a:
            await a.refused({
                a.js.delete_stream(LEDGER): f'publish to "$JS.API.STREAM.DELETE.{LEDGER}"',
                a.js.purge_stream(LEDGER): f'publish to "$JS.API.STREAM.PURGE.{LEDGER}"',
                a.js.delete_msg(LEDGER, 1): f'publish to "$JS.API.STREAM.MSG.DELETE.{LEDGER}"',
                a.js.update_stream(StreamConfig(name=LEDGER, subjects=[topology.LEDGER_SUBJECTS], deny_delete=False)):
                    f'publish to "$JS.API.STREAM.UPDATE.{LEDGER}"',
                a.js.delete_stream(INTAKE): f'publish to "$JS.API.STREAM.DELETE.{INTAKE}"',
                a.js.purge_stream(INTAKE): f'publish to "$JS.API.STREAM.PURGE.{INTAKE}"',
                a.js.add_stream(StreamConfig(name="COPY", subjects=["copy.>"])): 'publish to "$JS.API.STREAM.CREATE.COPY"',
            })
    await asyncio.gather(*map(vandalise, runtime))  # each refusal waits out a timeout: all at once
    admin = await nats.connect(**connect_options(bus, "admin"))
    ledger = await admin.jetstream().stream_info(LEDGER)
    assert ledger.config.deny_delete and ledger.config.deny_purge
    await admin.close()


async def test_a_village_producer_stays_in_its_village_and_reads_nothing(bus: Settings) -> None:
    await ensure_bus(bus)
    script = small_district(0)
    foreign, foreign_subject = ticket_at(OTHER_VILLAGE, script)
    async with Attempts(bus, "producer-village-nk") as a:
        await a.refused({
            a.js.publish(foreign_subject, s.encode(foreign)): f'publish to "{foreign_subject}"',
            a.js.publish("civic.intake.TicketRaised.yn.pm", b"{}"): 'publish to "civic.intake.TicketRaised.yn.pm"',
            a.js.stream_info(LEDGER): f'publish to "$JS.API.STREAM.INFO.{LEDGER}"',
            a.js.get_msg(INTAKE, 1): f'publish to "$JS.API.STREAM.MSG.GET.{INTAKE}"',
            a.js.subscribe(topology.LEDGER_SUBJECTS, stream=LEDGER, ordered_consumer=True):
                f'publish to "$JS.API.CONSUMER.CREATE.{LEDGER}',
            a.js.subscribe(topology.INTAKE_SUBJECTS, stream=INTAKE, ordered_consumer=True):
                f'publish to "$JS.API.CONSUMER.CREATE.{INTAKE}',
        })
        # Core NATS too: no listening in on intake, on the ledger, or on another identity's replies.
        for subject in (topology.INTAKE_SUBJECTS, topology.LEDGER_SUBJECTS, "_INBOX.>", "_INBOX.ledger.>"):
            await a.nc.subscribe(subject)
        await a.nc.flush()
        await asyncio.sleep(0.2)
        for subject in (topology.INTAKE_SUBJECTS, topology.LEDGER_SUBJECTS, "_INBOX.>", "_INBOX.ledger.>"):
            assert any(f'permissions violation for subscription to "{subject.lower()}"' in e for e in a.errors), (subject, a.errors)
    admin = await nats.connect(**connect_options(bus, "admin"))
    assert (await admin.jetstream().stream_info(INTAKE)).state.messages == 0
    await admin.close()


async def test_an_auditor_reads_the_ledger_and_nothing_else(bus: Settings) -> None:
    await ensure_bus(bus)
    admin = await nats.connect(**connect_options(bus, "admin"))
    await admin.jetstream().publish("civic.ledger.TicketRaised.yn", b"{}")  # something to read (and to try to divert)
    async with Attempts(bus, "auditor") as a:
        assert (await a.js.stream_info(LEDGER)).state.messages == 1
        await a.refused({
            a.js.publish("civic.intake.TicketRaised.yn", b"{}"): 'publish to "civic.intake.TicketRaised.yn"',
            a.js.publish("civic.rejected.poison.TicketRaised.yn", b"{}"): 'publish to "civic.rejected.poison.TicketRaised.yn"',
            a.js.stream_info(INTAKE): f'publish to "$JS.API.STREAM.INFO.{INTAKE}"',
            a.js.get_msg(REJECTED, 1): f'publish to "$JS.API.STREAM.MSG.GET.{REJECTED}"',
            a.js.subscribe(topology.INTAKE_SUBJECTS, stream=INTAKE, ordered_consumer=True):
                f'publish to "$JS.API.CONSUMER.CREATE.{INTAKE}',
        })
        # A consumer of the ledger delivering into intake's subjects does not put anything there.
        await a.js.add_consumer(LEDGER, ConsumerConfig(deliver_subject="civic.intake.TicketRaised.yn"))
        await asyncio.sleep(0.5)
    assert (await admin.jetstream().stream_info(INTAKE)).state.messages == 0
    await admin.close()


async def test_a_producer_added_while_running_is_taken_at_once(tmp_path: Path, nats_server: NatsServer) -> None:
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_server.plain_url, credentials_dir=nats_server.credentials.folder)
    seed = Credentials(settings.credentials_folder).add_producer("hotline", ["*"], tmp_path / "handed" / "producer-hotline.nk")
    assert oct(seed.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(nats_server.plain_url, allow_reconnect=False, **credential_options([nats_server.plain_url], seed))
    nats_server.reload()
    await asyncio.sleep(0.3)
    nc = await nats.connect(nats_server.plain_url, allow_reconnect=False, **credential_options([nats_server.plain_url], seed))
    await nc.close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (it is its own CA)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "civic test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "nats.crt", folder / "nats.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_over_tls_with_the_rendered_authorization(tmp_path: Path) -> None:
    """A server of one's own as docs/security.md configures it: the rendered authorization and a
    TLS block; a client trusting the CA (CIVIC_NATS_TLS_CA) connects as its identity, a plain one cannot."""
    from adapters.credentials import render_authorization

    cert, key = self_signed(tmp_path)
    creds = Credentials(tmp_path / "credentials").ensure()
    config = tmp_path / "server.conf"
    config.write_text(render_authorization(creds.roles()) + f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n}}\n')
    server = NatsServer(tmp_path / "nats", config=config).start()
    try:
        settings = Settings(data_dir=tmp_path / "data", nats_url=f"tls://127.0.0.1:{server.port}", credentials_dir=creds.folder,
                            nats_tls_ca=cert)
        await ensure_bus(settings)
        nc = await nats.connect(**connect_options(settings, "auditor"), allow_reconnect=False)
        assert (await nc.jetstream().stream_info(LEDGER)).config.name == LEDGER
        await nc.close()
        plain = replace(settings, nats_url=f"nats://127.0.0.1:{server.port}", nats_tls_ca=None)
        with pytest.raises(Exception):
            await nats.connect(**connect_options(plain, "auditor"), allow_reconnect=False, connect_timeout=2)
    finally:
        server.stop()


async def test_the_local_producer_hears_the_ledgers_verdicts_as_itself(bus: Settings) -> None:
    """`civic emit` waits for verdicts with the emit key alone: the ledger's status subject, the
    refusals' and the ledger's headers (producers/verdicts.py), the event index from the folder."""
    from producers.emit import emit_file
    from producers.verdicts import index_reader

    script = small_district(1)
    await ensure_bus(bus)
    async with running_pipeline(bus, projector=True):
        options = {"credentials": bus.credentials_for("emit")}
        async with await Producer.connect(bus.nats_url, **options) as local:
            assert all(r.accepted for r in await local.publish_many([event for event, _ in script.events]))
        closed = next(e for e, _ in script.events if isinstance(e, s.TicketClosed))
        late = s.TicketRated(event_id="late-rating", occurred_at=closed.occurred_at, source="test", actor=s.Actor(role="resident", id="r1"),
                             org_id=closed.org_id, ticket_id=closed.ticket_id, contacted=True, resolved=True, satisfaction="satisfied")
        lines: list[str] = []
        tally = await emit_file(bus.nats_url, s.encode(late) + b"\n" + s.encode(script.events[0][0]), lines.append, wait=120,
                                index=index_reader(bus.data_dir, None), **options)
        assert (tally.accepted, tally.refused, tally.pending) == (1, 1, 0), lines
        assert lines == ["refused  late-rating: ticket_finished: The ticket is closed or voided; nothing more can happen to it. "
                         f"[ticket {closed.ticket_id} is closed]", f"accepted {script.events[0][0].event_id} at position 1"]
