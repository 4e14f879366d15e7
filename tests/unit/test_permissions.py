"""The bus's permissions table (schemas/permissions.py) against its rules, matched the way
nats-server matches subjects; the rendered server configuration; docs/security.md equal to it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from adapters.credentials import Credentials, render_authorization
from schemas import permissions
from schemas.permissions import IDENTITIES, producer
from schemas.topology import DASHBOARD_STATUS_KEY, INTAKE, LEDGER, REJECTED, status_subject

ROOT = Path(__file__).resolve().parents[2]


def matches(grant: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` one or more trailing tokens."""
    g, s = grant.split("."), subject.split(".")
    for i, token in enumerate(g):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(g) == len(s)


def may_publish(identity: permissions.Identity, subject: str) -> bool:
    return identity.unrestricted or any(matches(g, subject) for g in identity.publish)


RUNTIME = [i for i in IDENTITIES if not i.unrestricted] + [producer("village", ["nk"])]


def test_matching_is_nats_matching() -> None:
    assert matches("civic.intake.>", "civic.intake.T.yn") and not matches("civic.intake.>", "civic.intake")
    assert matches("civic.intake.*.nk", "civic.intake.T.nk") and not matches("civic.intake.*.nk", "civic.intake.T.nk.h1")


def test_only_the_relay_publishes_to_the_ledger() -> None:
    publishers = {i.name for i in RUNTIME if may_publish(i, "civic.ledger.TicketRaised.yn.pm")}
    assert publishers == {"relay"}


@pytest.mark.parametrize("action", ["STREAM.DELETE", "STREAM.PURGE", "STREAM.UPDATE", "STREAM.CREATE", "STREAM.MSG.DELETE"])
def test_no_runtime_identity_changes_the_ledger_stream(action: str) -> None:
    assert not [i.name for i in RUNTIME if may_publish(i, f"$JS.API.{action}.{LEDGER}")]


def test_no_runtime_identity_deletes_or_reconfigures_any_stream() -> None:
    for stream in (INTAKE, LEDGER, REJECTED, permissions.ORG_DIRECTORY_STREAM):
        for action in ("STREAM.DELETE", "STREAM.PURGE", "STREAM.UPDATE", "STREAM.CREATE"):
            assert not [i.name for i in RUNTIME if may_publish(i, f"$JS.API.{action}.{stream}")], (action, stream)


def test_only_the_eraser_deletes_intake_and_rejected_messages() -> None:
    for stream in (INTAKE, REJECTED):
        assert {i.name for i in RUNTIME if may_publish(i, f"$JS.API.STREAM.MSG.DELETE.{stream}")} == {"eraser"}


def test_an_auditor_reads_the_ledger_and_nothing_else() -> None:
    auditor = permissions.AUDITOR
    assert may_publish(auditor, f"$JS.API.STREAM.MSG.GET.{LEDGER}")
    # the ledger, and the server's instance id (a stale address is refused): nothing else
    assert all(LEDGER in grant or grant in permissions.reads_instance() for grant in auditor.publish), auditor.publish
    assert not any(INTAKE in grant or REJECTED in grant for grant in auditor.publish), auditor.publish
    assert not any(g.startswith("civic.") for g in auditor.publish)


def test_a_producer_publishes_only_inside_its_org_subtrees() -> None:
    village = producer("village", ["nk"])
    for inside in ("civic.intake.TicketRaised.nk", "civic.intake.TicketRaised.yn.pm.nk", "civic.intake.TicketRaised.yn.pm.nk.nk-h1"):
        assert may_publish(village, inside), inside
    for outside in ("civic.intake.TicketRaised.yn.pm.lx", "civic.intake.TicketRaised.yn.pm", "civic.intake.TicketRaised.yn",
                    "civic.intake.TicketRaised.yn.pm.nkx", "civic.ledger.TicketRaised.yn.pm.nk", "civic.rejected.poison.T.nk",
                    f"$JS.API.STREAM.INFO.{INTAKE}", f"$JS.API.CONSUMER.CREATE.{INTAKE}", f"$JS.API.STREAM.MSG.GET.{LEDGER}"):
        assert not may_publish(village, outside), outside
    assert may_publish(producer("hotline", ["*"]), "civic.intake.TicketRaised.yn.pm.lx")
    with pytest.raises(ValueError):
        producer("bad name", ["nk"])
    with pytest.raises(ValueError):
        producer("village", ["nk.>"])


def test_each_identity_replies_on_its_own_inbox_only() -> None:
    for identity in RUNTIME:
        inboxes = [s for s in identity.subscriptions() if s.startswith("_INBOX")]
        assert inboxes == [f"_INBOX.{identity.name}.>"], identity.name


def test_the_credentials_folder_is_owner_only_and_kept(tmp_path: Path) -> None:
    creds = Credentials(tmp_path / "credentials").ensure()
    assert stat.S_IMODE(creds.folder.stat().st_mode) == 0o700
    files = sorted(creds.folder.iterdir())
    assert {f.name for f in files} == {f"{i.name}.nk" for i in IDENTITIES} | {"roles.json"}
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    before = creds.roles().identities
    assert Credentials(creds.folder).ensure().roles().identities == before, "a second start keeps the keys"


def test_the_rendered_authorization_has_a_user_per_identity_and_no_anonymous_one(tmp_path: Path) -> None:
    creds = Credentials(tmp_path / "credentials").ensure()
    creds.add_producer("village", ["nk"])
    text = render_authorization(creds.roles())
    assert text.count("{nkey:") == len(IDENTITIES) + 1
    assert "no_auth_user" not in text and "password" not in text
    assert text.count("permissions:") == len(IDENTITIES)  # all but admin


def test_the_health_buckets_are_granted_exactly() -> None:
    status_put = "$KV.CIVIC_STATUS.ledger"
    assert {i.name for i in RUNTIME if may_publish(i, status_put)} == {"ledger"}
    assert {i.name for i in RUNTIME if may_publish(i, "$JS.API.DIRECT.GET.KV_CIVIC_STATUS.$KV.CIVIC_STATUS.ledger")} == {"ledger", "web", "emit"}
    instance = "$JS.API.DIRECT.GET.KV_CIVIC_INSTANCE.$KV.CIVIC_INSTANCE.id"
    assert {i.name for i in RUNTIME if may_publish(i, instance)} == {i.name for i in RUNTIME} - {"producer-village"}
    for bucket in ("KV_CIVIC_STATUS", "KV_CIVIC_INSTANCE"):
        for action in ("STREAM.DELETE", "STREAM.PURGE", "STREAM.UPDATE", "STREAM.CREATE"):
            assert not [i.name for i in RUNTIME if may_publish(i, f"$JS.API.{action}.{bucket}")], (action, bucket)
    assert not [i.name for i in RUNTIME if may_publish(i, "$KV.CIVIC_INSTANCE.id")]


def test_only_the_projector_announces_the_read_models_position_and_the_web_hears_it() -> None:
    # A forged lower position would have the web serve older answers (projections/readside.py).
    subject = status_subject(DASHBOARD_STATUS_KEY)
    assert {i.name for i in RUNTIME if may_publish(i, subject)} == {"projector"}
    assert {i.name for i in RUNTIME if any(matches(g, subject) for g in i.subscriptions())} == {"web"}


def test_docs_security_shows_the_table() -> None:
    doc = (ROOT / "docs" / "security.md").read_text()
    section = doc.split("<!-- permissions:begin -->\n", 1)[1].split("<!-- permissions:end -->", 1)[0]
    assert section == permissions.markdown(), "docs/security.md is out of date: paste schemas.permissions.markdown() in"
