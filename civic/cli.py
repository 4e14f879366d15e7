"""The `civic` command."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from collections.abc import Coroutine
from typing import Annotated, Any, Optional, TypeVar


import typer

from config import Settings

app = typer.Typer(help="civic-ledger: the event-sourced backbone for grassroots governance work.", no_args_is_help=True)
ledger_app = typer.Typer(help="Read what is in the ledger.", no_args_is_help=True)
audit_app = typer.Typer(help="Prove the ledger is what was written.", no_args_is_help=True)
schema_app = typer.Typer(help="The wire contract.", no_args_is_help=True)
projections_app = typer.Typer(help="Read models built from the ledger.", no_args_is_help=True)
gateway_app = typer.Typer(help="The HTTP ingest gateway.", no_args_is_help=True)
users_app = typer.Typer(help="Who may read the web: staff, auditors, admins; their tokens; the access log.", no_args_is_help=True)
ops_app = typer.Typer(help="Operators' answers to what health reports.", no_args_is_help=True)
privacy_app = typer.Typer(help="Residents' personal data.", no_args_is_help=True)
producer_app = typer.Typer(help="Upstream systems: their NATS keys and gateway tokens.", no_args_is_help=True)
bus_app = typer.Typer(help="The bus: credentials and streams, for a NATS server of one's own.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")
app.add_typer(schema_app, name="schema")
app.add_typer(projections_app, name="projections")
app.add_typer(gateway_app, name="gateway")
app.add_typer(producer_app, name="producer")
app.add_typer(bus_app, name="bus")
app.add_typer(users_app, name="users")
app.add_typer(ops_app, name="ops")

def _settings(data: Optional[Path], identity: str, *, must_answer: bool = True) -> Settings:
    """Settings whose NATS server is proven to hold this folder's streams (adapters/identity.py),
    asked as the command's own `identity` (emit, auditor, checkpoint, projector: the one it then
    connects as): a stale DIR/nats.url is refused with a sentence (exit 2), never followed. `must_answer`:
    a server that does not answer is exit 2 too (an audit cannot answer without it); producers
    pass False and handle it themselves (they can spool)."""
    from dataclasses import replace

    from adapters.identity import WrongStreams, check_url
    from producers.outcome import CONNECT_ERRORS

    settings = Settings.from_env(data)
    try:
        url = asyncio.run(check_url(settings, identity))
    except WrongStreams as e:
        typer.echo(f"refused: {e}", err=True)
        raise typer.Exit(2) from None
    except CONNECT_ERRORS as e:
        if not must_answer:
            return settings
        typer.echo(f"cannot answer: NATS at {settings.resolved_nats_url()} does not answer ({e or type(e).__name__}); "
                   f"is `civic up --data {settings.data_dir}` running?", err=True)
        raise typer.Exit(2) from None
    return replace(settings, nats_url=url)


T = TypeVar("T")
DataOpt = Annotated[
Optional[Path], typer.Option("--data", help="Data folder (default $CIVIC_DATA_DIR or ./civic-data).")]


@app.command()
def up(
    data: DataOpt = None,
    port: Annotated[int, typer.Option(help="HTTP port for /healthz and the API.")] = 8080,
    nats_port: Annotated[int, typer.Option(help="Port of the embedded nats-server (0: any free port).")] = 0,
) -> None:
    """Run the whole service on its embedded default: nats-server, ledger, relay, web."""
    from civic.supervisor import Supervisor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s up     %(levelname)s %(name)s: %(message)s")
    raise typer.Exit(Supervisor(Settings.from_env(data, port=port), nats_port=nats_port).run())


WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the ledger's verdict on each event (accepted at a position, or refused and why).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.0, help="Stop waiting after this many seconds without a new verdict; events still undecided are listed as pending.")]


@app.command()
def emit(
    file: Annotated[str, typer.Argument(help="A JSON event, a JSON array, or JSON Lines; - for stdin.")],
    wait: WaitOpt = True,
    timeout: TimeoutOpt = 30.0,
    data: DataOpt = None,
) -> None:
    """Publish events to intake, each validated locally first, then print the ledger's verdict on
    each: accepted at position N, or refused: reason (field): sentence. Exit 0 only when every
    event was accepted; 1 if any was refused or is still pending; 2 if nothing could be sent."""
    from dashboards.masking import mask
    from producers.emit import emit_file
    from producers.verdicts import index_reader

    text = sys.stdin.buffer.read() if file == "-" else _read_input(Path(file))
    settings = _settings(data, "emit", must_answer=False)
    tally = _producing(emit_file(settings.resolved_nats_url(), text, typer.echo, wait=timeout if wait else None,
                                 index=index_reader(settings.data_dir, settings.database_url), mask=mask,
                                 **producing_as(settings)), spool_hint=False)
    typer.echo(tally.summary())
    raise typer.Exit(1 if tally.failed else 0)


def _read_input(path: Path) -> bytes:
    """A file the user named; a missing or unreadable one is a sentence and exit 2, not a traceback."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        reason = "no such file"
    except IsADirectoryError:
        reason = "a folder, not a file"
    except PermissionError:
        reason = "not readable (permission denied)"
    typer.echo(f"cannot read {path}: {reason}", err=True)
    raise typer.Exit(2)


def producing_as(settings: Settings, identity: str = "emit") -> dict:
    """The local producers' credential (emit, import, simulate, the demo's feed)."""
    return {"credentials": settings.credentials_for(identity), "tls_ca": settings.nats_tls_ca}


@ops_app.command("ack-gap")
def ops_ack_gap(
    gap: Annotated[int, typer.Argument(help="The gap's first missing intake sequence, as /healthz names it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the gap may stand, e.g. what was re-sent.")],
    operator: Annotated[str, typer.Option(help="Who acknowledges: a pseudonym, recorded in the ledger.")] = "operator",
    data: DataOpt = None,
) -> None:
    """Acknowledge an intake gap: publishes IntakeGapAcknowledged through intake, into the ledger."""
    import uuid
    from datetime import timezone

    from producers.emit import emit_file
    from schemas import Actor, IntakeGapAcknowledged, encode
    from schemas.pipeline import LEDGER_ORG

    event = IntakeGapAcknowledged(event_id=f"ack-gap-{gap}-{uuid.uuid4().hex[:12]}", occurred_at=datetime.now(timezone.utc),
                                  source="ops", actor=Actor(role="system", id=operator), org_id=LEDGER_ORG,
                                  gap_id=str(gap), reason=reason)
    from dashboards.masking import mask
    from producers.verdicts import index_reader

    settings = _settings(data, "emit", must_answer=False)
    tally = _producing(emit_file(settings.resolved_nats_url(), encode(event), typer.echo, mask=mask,
                                 index=index_reader(settings.data_dir, settings.database_url), **producing_as(settings)),
                       spool_hint=False)
    raise typer.Exit(1 if tally.failed else 0)


@ops_app.command("deadlines")
def ops_deadlines(
    category: Annotated[Optional[str], typer.Option(help="A ticket category: show the deadlines a dispatch would get.")] = None,
    level: Annotated[Optional[str], typer.Option(help="The kind of the lead unit (community, grid, town, ...).")] = None,
    start: Annotated[Optional[datetime], typer.Option("--from", help="When the dispatch happens (default: now).",
                                                      formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"])] = None,
    data: DataOpt = None,
) -> None:
    """Check the deadline policy and the calendar Settings name (CIVIC_DEADLINE_POLICY, CIVIC_CALENDAR_DIR),
    as the ledger reads them at its start; with --category, the deadlines a dispatch would get."""
    from datetime import timezone

    from adapters.deadlines import PolicyError, load_rules
    from schemas.policy import STAGES

    settings = Settings.from_env(data)
    try:
        rules = load_rules(settings)
    except PolicyError as e:
        typer.echo(f"refused: {e}", err=True)
        raise typer.Exit(2) from None
    now = datetime.now(timezone.utc)
    years = sorted(rules.calendar.years)
    typer.echo(f"policy {rules.version} ({settings.deadline_policy_path}), {len(rules.policy.rules)} rules")
    typer.echo(f"calendar {years[0]}-{years[-1]} ({settings.calendar_folder})" if years else
               f"calendar: no year files in {settings.calendar_folder}")
    for year in rules.calendar.missing_near(now):
        typer.echo(f"calendar for {year} missing: its working days count weekends only")
    if category is not None:
        at = (start or now).astimezone(rules.calendar.tz)
        terms = rules.terms(category, level)
        for stage in STAGES:
            allowance = terms.allowance(stage)
            typer.echo(f"{stage:<14} {str(allowance):<18} due {rules.due(at, allowance).isoformat()}")


def _producing(work: Coroutine[Any, Any, T], spool_hint: bool = True) -> T:
    """Run a producer command; NATS out of reach is a message, not a traceback. Rerunning is
    safe: event ids make whatever was already stored a duplicate."""
    from producers.outcome import CONNECT_ERRORS, PublishFailed

    spool = " Or pass --spool FILE." if spool_hint else ""
    try:
        return asyncio.run(work)
    except PublishFailed as e:
        typer.echo(f"stopped: {e}. Run it again (nothing is stored twice).{spool}", err=True)
    except CONNECT_ERRORS as e:
        typer.echo(f"NATS unreachable ({e or type(e).__name__}): is `civic up` running?{spool}", err=True)
    raise typer.Exit(2)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines, one row per ticket (columns: docs/import.md).", exists=True, dir_okay=False)],
    format: Annotated[Optional[str], typer.Option("--format", help="csv or jsonl (default: from the file name).")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Where to write the rows not imported (default FILE.report.csv).")] = None,
    source: Annotated[Optional[str], typer.Option(help="The file's stable name in event ids (default: its file name).")] = None,
    spool: Annotated[Optional[Path], typer.Option(help="Spool file for events NATS cannot take now.")] = None,
    pseudonym_key: Annotated[str, typer.Option(envvar="CIVIC_PSEUDONYM_KEY", help="Secret for residents' pseudonyms.")] = "",
    wait: WaitOpt = True,
    timeout: TimeoutOpt = 30.0,
    data: DataOpt = None,
) -> None:
    """Import historical micro-list items and their outcomes; running it again adds nothing. A row
    counts as imported once the ledger has accepted all its events (unless --no-wait); the rows
    it refused are in the report with the reason."""
    from producers.importer import UnreadableFile, import_file
    from producers.verdicts import index_reader

    if format not in (None, "csv", "jsonl"):
        raise typer.BadParameter("--format is csv or jsonl")
    settings = _settings(data, "emit", must_answer=False)
    try:
        result = _producing(import_file(settings.resolved_nats_url(), file, fmt=format, source=source,
                                    report_path=report, spool_path=spool,
                                    mapper_options={"pseudonym_key": pseudonym_key.encode()},
                                    wait=timeout if wait else None, index=index_reader(settings.data_dir, settings.database_url),
                                    **producing_as(settings)))
    except UnreadableFile as e:
        typer.echo(f"cannot import: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result.summary())
    if result.problems:
        typer.echo(f"report: {report or file.with_name(file.name + '.report.csv')}")
    raise typer.Exit(1 if result.problems else 0)


def _instant(value: Optional[str], name: str, tz: str, end_of_day: bool = False) -> Optional[datetime]:
    """An ISO date-time (district time zone if no offset) or a date (its start; with end_of_day,
    the next day's start); a bad value is a sentence and exit 2."""
    from datetime import date, timedelta
    from zoneinfo import ZoneInfo

    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end_of_day else 0)
            return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
        instant = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(f"--{name} {value!r} is neither a date (YYYY-MM-DD) nor an ISO date-time", err=True)
        raise typer.Exit(2) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=ZoneInfo(tz))


@app.command()
def rejections(
    reason: Annotated[Optional[str], typer.Option(help="Only this reason code, e.g. ticket_finished (schemas/rejected.py lists them).")] = None,
    org: Annotated[Optional[str], typer.Option(help="Only refusals of events in this unit's subtree.")] = None,
    since: Annotated[Optional[str], typer.Option(help="From this date or ISO date-time on (district time if no offset).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Before this date-time, or up to the end of this date.")] = None,
    event_id: Annotated[Optional[str], typer.Option("--event-id", help="Only refusals of this event id.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1 to 1,000), newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON (one array), for scripts, instead of a table.")] = False,
    data: DataOpt = None,
) -> None:
    """The ledger's refusals, newest first: reason, field, what was wrong (phone and ID numbers
    masked), at which unit and when (district time); from the event index the projector keeps.
    --json has each refusal whole (the unit's org path, the reason's sentence, UTC time)."""
    import msgspec

    from dashboards.masking import mask
    from projections import event_index
    from projections.store import Versions

    settings = Settings.from_env(data)
    try:
        query = event_index.refusal_query(reason=reason, org=org, since=_instant(since, "since", settings.timezone),
                                          until=_instant(until, "until", settings.timezone, end_of_day=True),
                                          event_id=event_id, limit=limit)
    except event_index.BadFilter as e:
        typer.echo(f"--{e.field}: {e}", err=True)
        raise typer.Exit(2) from None
    with Versions(event_index.NAME, settings.data_dir, settings.database_url) as versions:
        version = versions.current()
    if version is None:
        typer.echo(f"no event index in {settings.data_dir} yet: is `civic up --data {settings.data_dir}` running?", err=True)
        raise typer.Exit(2)
    db = versions.open(version, readonly=True)
    try:
        found = event_index.refusals(db, query, None, mask)
    finally:
        db.close()
    if as_json:
        typer.echo(msgspec.json.encode(found).decode())
        return
    from zoneinfo import ZoneInfo

    from rich.console import Console
    from rich.table import Table

    district = ZoneInfo(settings.timezone)
    noun = "refusal" if len(found) == 1 else "refusals"
    table = Table(title=f"{len(found)} {noun}" + (" (the newest; --limit for more)" if len(found) == limit else ""))
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("refused at", no_wrap=True)
    table.add_column("unit", overflow="fold")
    table.add_column("reason", no_wrap=True)
    fields = any(r.field for r in found)
    if fields:
        table.add_column("field", overflow="fold")
    table.add_column("event id", no_wrap=True)  # whole, to copy: the column that gives way is the last
    table.add_column("what was wrong", min_width=20)
    for r in found:
        at = datetime.fromisoformat(r.at).astimezone(district).strftime("%Y-%m-%d %H:%M:%S") if r.at else ""
        table.add_row(str(r.intake_sequence), at, r.org_path[-1] if r.org_path else "", r.reason,
                      *([r.field or ""] if fields else []), r.event_id or "?",
                      r.detail if r.detail and r.detail != r.sentence else r.sentence)
    Console().print(table)


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="Same seed, same events, byte for byte.")] = 1,
    tickets: Annotated[int, typer.Option(help="Micro-list items to simulate (the seed's district: 2,647).")] = 2647,
    rate: Annotated[Optional[float], typer.Option(help="At most this many events a second (default: as fast as acks allow).")] = None,
    days: Annotated[float, typer.Option(help="Simulated days, ending at --end.")] = 365.0,
    end: Annotated[Optional[datetime], typer.Option(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d"],
                                                    help="The period's last instant (a day alone: 18:00 that day, +08:00). Default: 2021-12-31 18:00 +08:00.")] = None,
    article: Annotated[bool, typer.Option("--article", help="Shape the year to the seed article's figures (docs/simulator.md).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the events as JSON Lines instead of publishing.")] = False,
    spool: Annotated[Optional[Path], typer.Option(help="Spool file for events NATS cannot take now.")] = None,
    data: DataOpt = None,
) -> None:
    """Publish a simulated Yongning district: its org tree, then tickets, disputes and topics."""
    from producers.simulator import END, Plan, simulate as events_of

    try:
        plan = Plan(seed=seed, tickets=tickets, days=days, end=_period_end(end) if end else END, article=article)
        events = events_of(plan)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    if dry_run:
        from schemas import encode

        out = sys.stdout.buffer
        for event in events:
            out.write(encode(event) + b"\n")
        return
    from producers.feed import feed_url

    settings = _settings(data, "emit", must_answer=False)
    fed = _producing(feed_url(settings.resolved_nats_url(), events, rate=rate, spool_path=spool,
                              label=f"district seed {seed}", **producing_as(settings)))
    typer.echo(fed.summary())
    for result in fed.refused[:10]:
        typer.echo(result.line())
    raise typer.Exit(1 if fed.refused else 0)


@app.command()
def demo(
    data: DataOpt = None,
    port: Annotated[int, typer.Option(help="HTTP port for /healthz and the API.")] = 8080,
    seed: Annotated[int, typer.Option(help="The simulation's seed.")] = 1,
    tickets: Annotated[int, typer.Option(help="Micro-list items to simulate.")] = 2647,
    rate: Annotated[Optional[float], typer.Option(help="At most this many events a second.")] = None,
    nats_port: Annotated[int, typer.Option(help="Port of the embedded nats-server (0: any free port).")] = 0,
    end: Annotated[Optional[datetime], typer.Option(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d"],
                                                    help="The simulated year's last instant (default: now).")] = None,
    live: Annotated[bool, typer.Option("--live/--no-live", help="After the year, keep publishing a live trickle.")] = True,
) -> None:
    """`civic up`, fed with a simulated year ending now (shaped to the seed article's figures, which
    it writes as reports for `civic audit diff`), then a live trickle until it stops."""
    from civic.supervisor import Supervisor
    from producers.demo import Demo

    logging.basicConfig(level=logging.INFO, format="%(asctime)s demo   %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(data, port=port)
    # The demo's pages sign every browser in as a read-only district viewer (an auditor: every unit,
    # no contact details) and say so; the web role learns the account from the environment.
    settings = dataclasses.replace(settings, demo_viewer=_demo_viewer(settings))
    os.environ["CIVIC_DEMO_VIEWER"] = settings.demo_viewer or ""
    supervisor = Supervisor(settings, nats_port=nats_port)
    feeder = Demo(settings, seed=seed, tickets=tickets, rate=rate, end=_period_end(end) if end else None, live=live,
                  halted=lambda: supervisor.stopping).start()
    try:
        code = supervisor.run()
    finally:
        feeder.close()
    raise typer.Exit(code)


def _period_end(value: datetime) -> datetime:
    """A day alone is its 18:00 in the district (the simulator's custom); a time without zone is +08:00."""
    from producers.district import CST

    if value.tzinfo is None:
        value = value.replace(tzinfo=CST) if (value.hour, value.minute, value.second) != (0, 0, 0) else value.replace(hour=18, tzinfo=CST)
    return value


DEMO_VIEWER = "demo-viewer"


def _demo_viewer(settings: Settings) -> str:
    import secrets

    from dashboards.accounts import Accounts, accounts_path

    accounts = Accounts(accounts_path(settings.data_dir))
    if accounts.get(DEMO_VIEWER) is None:
        accounts.add(DEMO_VIEWER, "auditor", "*", secrets.token_urlsafe(24), "civic demo")
    accounts.close()
    return DEMO_VIEWER


@ledger_app.command("show")
def ledger_show(
    start: Annotated[int, typer.Option("--from", help="First position.")] = 1,
    limit: Annotated[int, typer.Option(help="How many events at most.")] = 50,
    data: DataOpt = None,
) -> None:
    """Events from a position on, one line each."""
    from audit.show import show

    asyncio.run(show(_settings(data, "auditor"), start=start, limit=limit, echo=typer.echo))


@ledger_app.command("tail")
def ledger_tail(
    n: Annotated[int, typer.Option("-n", help="How many of the last events.")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    data: DataOpt = None,
) -> None:
    """The last events of the ledger (and, with --follow, those that arrive)."""
    from audit.show import tail

    asyncio.run(tail(_settings(data, "auditor"), n=n, follow=follow, echo=typer.echo))


@ledger_app.command("recover")
def ledger_recover(
    reason: Annotated[str, typer.Option("--reason", help="Why: kept in recoveries.jsonl with who and when.")],
    republish_from_store: Annotated[bool, typer.Option("--republish-from-store", help="Required: rebuild what CIVIC_LEDGER lacks from the event store.")] = False,
    data: DataOpt = None,
) -> None:
    """Answer a ledger alarm: unless the store contradicts the newest checkpoint, let the relay republish from it."""
    from civic.recover import recover

    if not republish_from_store or not reason.strip():
        typer.echo("say what to do and why: --republish-from-store --reason TEXT", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s recover %(levelname)s %(name)s: %(message)s")
    done = asyncio.run(recover(Settings.from_env(data), reason))
    for line in done.lines:
        typer.echo(line)
    raise typer.Exit(0 if done.ok else 1)


@audit_app.command("verify")
def audit_verify(
    data: DataOpt = None,
    store: Annotated[bool, typer.Option(help="Also compare with the event store in the data folder / CIVIC_DATABASE_URL.")] = True,
    checkpoints: Annotated[Optional[Path], typer.Option(help="Prove the ledger extends every signed checkpoint in this file (default: those in CIVIC_CHECKPOINT_DIR and on the witness).")] = None,
    public_key: Annotated[Optional[str], typer.Option(help="The checkpoint signer's public key (hex, or a file holding it); default checkpoint.pub in CIVIC_CHECKPOINT_DIR.")] = None,
    bundle: Annotated[Optional[Path], typer.Option(help="Check an exported bundle folder instead, offline (no server).")] = None,
) -> None:
    """Walk the whole ledger: positions, hash chain, schemas, and agreement with the event store.
    Exit 0: ok; 1: faulty (the report says where); 2: cannot answer (no server, another
    instance's streams, unusable checkpoints)."""
    if bundle is not None:
        from audit.bundle import check_bundle

        checked = check_bundle(bundle)
        typer.echo(checked.summary())
        raise typer.Exit(0 if checked.ok else 1)
    from audit.checkpoint import CheckpointsUnusable
    from audit.show import run_verify

    settings = _settings(data, "auditor")
    try:
        report = asyncio.run(run_verify(settings, with_store=store, checkpoints=checkpoints, public_key=public_key))
    except CheckpointsUnusable as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    except Exception as e:  # exit 1 means "faulty": a verify that could not finish is 2, with a sentence
        typer.echo(f"cannot answer: verify stopped ({type(e).__name__}: {e})", err=True)
        raise typer.Exit(2) from None
    typer.echo(report.summary())
    raise typer.Exit(0 if report.ok else 1)


KpiVersionOpt = Annotated[Optional[int], typer.Option("--kpi-version", help="Compute with the KPI definitions of this version (default: the current one).")]
AsOfOpt = Annotated[Optional[str], typer.Option("--as-of", help="The ledger as it stood at this instant: ISO date-time (district time zone if no offset) or a date (its end).")]


@audit_app.command("replay")
def audit_replay(
    as_of: AsOfOpt = None,
    org: Annotated[Optional[str], typer.Option(help="The unit whose dashboard to show (default: every root unit).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the dashboard as JSON, the shape of GET /api/orgs/{id}/dashboard.")] = None,
    kpi_version: KpiVersionOpt = None,
    deadlines_out: Annotated[Optional[Path], typer.Option("--deadlines-out", help="Write the deadline figures as JSON, the shape of GET /api/orgs/{id}/deadlines.")] = None,
    data: DataOpt = None,
) -> None:
    """Rebuild every KPI from the ledger alone, as the dashboards stood at an instant (deadline figures too)."""
    from audit.kpi import UnknownKpiVersion
    from audit.replay import BadInstant
    from audit.run import run_replay

    try:
        raise typer.Exit(asyncio.run(run_replay(_settings(data, "auditor"), as_of, org, out, kpi_version, deadlines_out)))
    except (UnknownKpiVersion, BadInstant) as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None


@audit_app.command("trail")
def audit_trail(
    ticket: Annotated[Optional[str], typer.Argument(help="A ticket id.")] = None,
    dispute: Annotated[Optional[str], typer.Option(help="A dispute id instead.")] = None,
    topic: Annotated[Optional[str], typer.Option(help="A deliberation topic id instead.")] = None,
    scan: Annotated[bool, typer.Option(help="Read the whole ledger instead of using the read model's index.")] = False,
    data: DataOpt = None,
) -> None:
    """The complete history of one ticket, dispute or topic, from the ledger, each event's hash checked."""
    from audit.run import run_trail

    chosen = [(k, v) for k, v in (("ticket", ticket), ("dispute", dispute), ("topic", topic)) if v]
    if len(chosen) != 1:
        typer.echo("name one: a TICKET_ID, --dispute ID or --topic ID", err=True)
        raise typer.Exit(2)
    raise typer.Exit(asyncio.run(run_trail(_settings(data, "auditor"), *chosen[0], full_scan=scan)))


@audit_app.command("diff")
def audit_diff(
    report: Annotated[Path, typer.Argument(help="A published report, YAML or JSON (docs/audit.md).")],
    as_of: AsOfOpt = None,
    kpi_version: KpiVersionOpt = None,
    data: DataOpt = None,
) -> None:
    """Put each figure of a published report beside what the ledger supports; exit 1 if any is refuted."""
    from audit.kpi import UnknownKpiVersion
    from audit.replay import BadInstant
    from audit.run import run_diff

    try:
        raise typer.Exit(asyncio.run(run_diff(_settings(data, "auditor"), report, as_of, kpi_version)))
    except (UnknownKpiVersion, BadInstant) as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None


@audit_app.command("checkpoint")
def audit_checkpoint(
    key: Annotated[Optional[Path], typer.Option(help="The Ed25519 signing key (default checkpoint.key in CIVIC_CHECKPOINT_DIR, created 0600).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="The checkpoint file to append to (default checkpoints.jsonl in CIVIC_CHECKPOINT_DIR).")] = None,
    data: DataOpt = None,
) -> None:
    """Sign the chain head (position, hash) and append it to a checkpoint file kept elsewhere."""
    from audit.run import run_checkpoint

    raise typer.Exit(asyncio.run(run_checkpoint(_settings(data, "checkpoint"), key, out)))


@audit_app.command("export")
def audit_export(
    folder: Annotated[Path, typer.Argument(help="Where to write the bundle.")],
    org: Annotated[str, typer.Option(help="The unit; its whole subtree is exported.")],
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day.")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included.")],
    data: DataOpt = None,
) -> None:
    """Write a self-contained bundle of a unit's events over a window, checkable offline."""
    from audit.run import run_export

    if start > end:
        typer.echo("--from is after --to", err=True)
        raise typer.Exit(2)
    raise typer.Exit(asyncio.run(run_export(_settings(data, "auditor"), org, start.date(), end.date(), folder)))


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="A small run (about a minute) for CI smoke tests.")] = False,
    events: Annotated[Optional[int], typer.Option(help="How many events (default 1,000,000; 20,000 with --quick).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write bench.json and bench.md.")] = Path("bench-results"),
    database_url: Annotated[Optional[str], typer.Option(help="The event store and read models on this PostgreSQL (postgresql://...); default SQLite.")] = None,
    growth: Annotated[bool, typer.Option(help="Instead: the cost of an event as history grows (100k, 1M, 5M events; bench/growth.py).")] = False,
    levels: Annotated[Optional[str], typer.Option(help="With --growth: the history sizes, comma-separated (default 100000,1000000,5000000).")] = None,
) -> None:
    """Measure the pipeline on a fresh embedded stack, each figure beside its raw baseline."""
    if growth:
        import sys
        import tempfile

        from bench.growth import LEVELS, WINDOW
        from bench.growth import run as grow

        sizes = tuple(int(n) for n in levels.split(",")) if levels else LEVELS
        with tempfile.TemporaryDirectory(prefix="civic-growth-") as tmp:  # the ledger's stages: this composition root's
            grow(out, [sys.executable, "-m", "civic.growth"], Path(tmp), sizes, min(WINDOW, sizes[0] // 2))
        return
    from bench.run import run

    asyncio.run(run(events or (20_000 if quick else 1_000_000), out, quick, database_url))


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[Optional[str], typer.Argument(help="The read model (default: all of them).")] = None,
    processes: Annotated[Optional[int], typer.Option("--processes", min=1, help="Processes folding the ledger, its items split between them (default: one per core; one on PostgreSQL).")] = None,
    data: DataOpt = None,
) -> None:
    """Rebuild a read model from the ledger beside the live one, then switch dashboards to it."""
    from projections.rebuild import READ_MODELS, rebuild
    from projections.store import BuildUnderWay

    settings = _settings(data, "projector")
    for model in [name] if name else list(READ_MODELS):
        try:
            done = asyncio.run(rebuild(settings, model, shares=processes))
        except BuildUnderWay as e:
            typer.echo(f"{e}: wait for it to finish (or, if it died, start this again)", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{done.name}: v{done.version} is current (was v{done.previous}); {done.events} events in "
                   f"{done.seconds:.1f}s, {done.rate:,.0f} events/s" + (f" ({done.shares} processes)" if done.shares > 1 else ""))


@gateway_app.command("token")
def gateway_token(
    system: Annotated[str, typer.Argument(help="The upstream system: its events' `source`, e.g. hotline-12345.")],
    org: Annotated[list[str], typer.Option("--org", help="An org unit whose subtree it may write to (repeat; * for all).")],
    data: DataOpt = None,
) -> None:
    """Issue a bearer token for an upstream system; it is printed once, only its hash is kept."""
    from producers.gateway import Tokens, tokens_path

    settings = Settings.from_env(data)
    typer.echo(Tokens(tokens_path(settings.data_dir)).issue(system, org))


@producer_app.command("add")
def producer_add(
    system: Annotated[str, typer.Argument(help="The upstream system: its events' `source`, e.g. hotline-12345.")],
    org: Annotated[list[str], typer.Option("--org", help="An org unit whose subtree it may write to (repeat; * for all).")],
    out: Annotated[Optional[Path], typer.Option(help="Where to write its NATS key (default DIR/credentials/producer-SYSTEM.nk).")] = None,
    data: DataOpt = None,
) -> None:
    """Issue an upstream system's NATS key and HTTP gateway token together, with the same org scope."""
    from adapters.credentials import Credentials
    from producers.gateway import Tokens, tokens_path

    settings = Settings.from_env(data)
    try:
        seed = Credentials(settings.credentials_folder).add_producer(system, org, out)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    token = Tokens(tokens_path(settings.data_dir)).issue(system, org)
    typer.echo(f"NATS key (nkey seed, mode 0600): {seed}\n  hand it to {system}; it may publish to intake at "
               f"{', '.join(org)} and read the org directory, nothing else. A running `civic up` takes it at once.")
    typer.echo(f"HTTP gateway token (shown once, only its hash is kept): {token}")


@producer_app.command("notified")
def producer_notified(
    unit: Annotated[str, typer.Argument(help="The org unit whose clock notifications (civic.notify.UNIT) its receiver reads.")],
    out: Annotated[Optional[Path], typer.Option(help="Where to write its NATS key (default DIR/credentials/notified-UNIT.nk).")] = None,
    data: DataOpt = None,
) -> None:
    """Issue the NATS key of a unit's receiver of the deadline clock's notifications (reminders, breaches, 催办, 督办)."""
    from adapters.credentials import Credentials

    settings = Settings.from_env(data)
    try:
        seed = Credentials(settings.credentials_folder).add_notified(unit, out)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    typer.echo(f"NATS key (nkey seed, mode 0600): {seed}\n  it may subscribe to civic.notify.{unit}, nothing else. "
               "A running `civic up` takes it at once.")


@app.command("nats-config")
def nats_config(
    roles: Annotated[Path, typer.Argument(help="A roles file (DIR/credentials/roles.json): the public keys and the systems' scopes.", exists=True, dir_okay=False)],
    out: Annotated[Optional[Path], typer.Option(help="Write it here (mode 0600) instead of printing it.")] = None,
) -> None:
    """Render the NATS authorization for an external server or cluster: the same accounts and grants as `civic up`."""
    from adapters.credentials import Roles, render_authorization

    text = render_authorization(Roles.load(roles))
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.chmod(0o600)
    typer.echo(str(out))


@bus_app.command("credentials")
def bus_credentials(data: DataOpt = None) -> None:
    """Make the credentials folder: a key per identity and roles.json (what `civic up` does first)."""
    from adapters.credentials import Credentials

    settings = Settings.from_env(data)
    typer.echo(Credentials(settings.credentials_folder).ensure().roles_path)


@bus_app.command("init")
def bus_init(data: DataOpt = None) -> None:
    """As admin: create or update the streams and the org directory bucket (a one-shot for a cluster)."""
    from adapters.bus import ensure_bus

    asyncio.run(ensure_bus(Settings.from_env(data)))
    typer.echo("streams and org directory ready")


def _accounts(data: Optional[Path]):
    from dashboards.accounts import Accounts, accounts_path

    return Accounts(accounts_path(Settings.from_env(data).data_dir))


def _operator() -> str:
    """Who changed an account, for the access log: the operating-system user running the CLI."""
    import getpass

    return "cli:" + getpass.getuser()


def _password(given: Optional[str]) -> str:
    import os

    if given == "-":
        return sys.stdin.readline().rstrip("\n")
    return given or os.environ.get("CIVIC_USER_PASSWORD") or typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _refusing(work):
    from dashboards.accounts import AccountError

    try:
        return work()
    except AccountError as e:
        typer.echo(f"refused: {e}", err=True)
        raise typer.Exit(2) from None


PasswordOpt = Annotated[Optional[str], typer.Option("--password", help="- to read it from stdin; default: $CIVIC_USER_PASSWORD, else asked.")]


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The account's name, e.g. zh-v10-secretary.")],
    role: Annotated[str, typer.Option("--role", help="staff (reads its unit's subtree), auditor (reads everything, changes nothing), admin (manages users).")],
    org: Annotated[Optional[str], typer.Option("--org", help="The unit whose subtree it reads (staff: required; * = every unit).")] = None,
    password: PasswordOpt = None,
    data: DataOpt = None,
) -> None:
    """Add an account; its password is stored as an argon2id hash (accounts.sqlite, mode 0600)."""
    a = _refusing(lambda: _accounts(data).add(name, role, org, _password(password), _operator()))
    typer.echo(f"added {a.name}: {a.role} of {a.org}")


@users_app.command("list")
def users_list(data: DataOpt = None) -> None:
    """Every account: name, role, scope, disabled."""
    for a in _accounts(data).list():
        typer.echo(f"{a.name}\t{a.role}\t{a.org}\t{'disabled' if a.disabled else 'active'}")


@users_app.command("disable")
def users_disable(name: str, data: DataOpt = None) -> None:
    """Disable an account at once: its sessions end and its tokens are revoked."""
    _refusing(lambda: _accounts(data).disable(name, _operator()))
    typer.echo(f"disabled {name}")


@users_app.command("enable")
def users_enable(name: str, data: DataOpt = None) -> None:
    """Enable a disabled account again (it needs new tokens)."""
    _refusing(lambda: _accounts(data).enable(name, _operator()))
    typer.echo(f"enabled {name}")


@users_app.command("passwd")
def users_passwd(name: str, password: PasswordOpt = None, data: DataOpt = None) -> None:
    """Set a new password; every session of the account ends."""
    _refusing(lambda: _accounts(data).set_password(name, _password(password), _operator()))
    typer.echo(f"password of {name} changed")


@users_app.command("role")
def users_role(
    name: str,
    role: Annotated[str, typer.Option("--role")],
    org: Annotated[Optional[str], typer.Option("--org")] = None,
    data: DataOpt = None,
) -> None:
    """Change an account's role or scope; its sessions end."""
    _refusing(lambda: _accounts(data).set_role(name, role, org, _operator()))
    typer.echo(f"{name} is now {role}")


@users_app.command("token")
def users_token(
    name: str,
    revoke: Annotated[bool, typer.Option("--revoke", help="Revoke every token of the account instead.")] = False,
    data: DataOpt = None,
) -> None:
    """Issue a bearer token for a machine reader (printed once; only its digest is kept)."""
    accounts = _accounts(data)
    if revoke:
        typer.echo(f"revoked {_refusing(lambda: accounts.revoke_tokens(name, _operator()))} tokens of {name}")
        return
    typer.echo(_refusing(lambda: accounts.issue_token(name, _operator())))


@users_app.command("log")
def users_log(
    since: Annotated[Optional[datetime], typer.Option("--since", help="From this instant on (ISO date or time).")] = None,
    data: DataOpt = None,
) -> None:
    """The access log: every read of a reporter's contact, every change to accounts and roles."""
    for e in _accounts(data).entries(int(since.timestamp()) if since else 0, limit=1_000_000):
        typer.echo(f"{datetime.fromtimestamp(e.at).astimezone().isoformat(timespec='seconds')}\t{e.who}\t{e.action}\t{e.subject}\t{e.detail}")


@privacy_app.command("erase")
def privacy_erase(
    resident: Annotated[str, typer.Argument(help="The resident's pseudonymous id (resident_id in `personal`).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the ledger: no personal data here).")],
    org: Annotated[Optional[str], typer.Option(help="The unit to record it at (default: the org tree's root).")] = None,
    actor: Annotated[str, typer.Option(help="Who orders it, a pseudonym.")] = "privacy-officer",
    data: DataOpt = None,
) -> None:
    """Erase a resident: PersonalDataErased through intake; the ledger destroys their keys, the eraser their intake messages."""
    from producers.privacy import NoRoot, request_erasure

    from producers.verdicts import Verdict, index_reader

    try:
        settings = _settings(data, "emit", must_answer=False)
        result = _producing(request_erasure(settings.resolved_nats_url(), resident, reason, org, actor,
                                            index=index_reader(settings.data_dir, settings.database_url), **producing_as(settings)))
    except NoRoot as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    typer.echo(result.line())
    raise typer.Exit(0 if (result.status == "accepted" if isinstance(result, Verdict) else result.accepted) else 1)


@schema_app.command("export")
def schema_export(directory: Annotated[Path, typer.Argument(help="Where to write the files.")]) -> None:
    """Write one JSON Schema per event type and the AsyncAPI document of the streams."""
    from schemas.export import export

    for path in export(directory):
        typer.echo(str(path))


if __name__ == "__main__":
    app()
