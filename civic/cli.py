"""The `civic` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from civic.settings import Settings

app = typer.Typer(help="civic-ledger: the event-sourced backbone for grassroots governance work.", no_args_is_help=True)
ledger_app = typer.Typer(help="Read what is in the ledger.", no_args_is_help=True)
audit_app = typer.Typer(help="Prove the ledger is what was written.", no_args_is_help=True)
schema_app = typer.Typer(help="The wire contract.", no_args_is_help=True)
projections_app = typer.Typer(help="Read models built from the ledger.", no_args_is_help=True)
gateway_app = typer.Typer(help="The HTTP ingest gateway.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")
app.add_typer(schema_app, name="schema")
app.add_typer(projections_app, name="projections")
app.add_typer(gateway_app, name="gateway")

DataOpt = Annotated[Optional[Path], typer.Option("--data", help="Data folder (default $CIVIC_DATA_DIR or ./civic-data).")]


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


@app.command()
def emit(
    file: Annotated[str, typer.Argument(help="A JSON event, a JSON array, or JSON Lines; - for stdin.")],
    data: DataOpt = None,
) -> None:
    """Publish events to intake with acks, validating each locally first; one result per event."""
    from producers.emit import emit_file

    text = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    refused = asyncio.run(emit_file(Settings.from_env(data).resolved_nats_url(), text, typer.echo))
    raise typer.Exit(1 if refused else 0)


@ledger_app.command("show")
def ledger_show(
    start: Annotated[int, typer.Option("--from", help="First position.")] = 1,
    limit: Annotated[int, typer.Option(help="How many events at most.")] = 50,
    data: DataOpt = None,
) -> None:
    """Events from a position on, one line each."""
    from audit.show import show

    asyncio.run(show(Settings.from_env(data).resolved_nats_url(), start=start, limit=limit, echo=typer.echo))


@ledger_app.command("tail")
def ledger_tail(
    n: Annotated[int, typer.Option("-n", help="How many of the last events.")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    data: DataOpt = None,
) -> None:
    """The last events of the ledger (and, with --follow, those that arrive)."""
    from audit.show import tail

    asyncio.run(tail(Settings.from_env(data).resolved_nats_url(), n=n, follow=follow, echo=typer.echo))


@audit_app.command("verify")
def audit_verify(
    data: DataOpt = None,
    store: Annotated[bool, typer.Option(help="Also compare with the event store in the data folder / CIVIC_DATABASE_URL.")] = True,
) -> None:
    """Walk the whole ledger: positions, hash chain, schemas, and agreement with the event store."""
    from audit.show import run_verify

    report = asyncio.run(run_verify(Settings.from_env(data), with_store=store))
    typer.echo(report.summary())
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="A small run (about a minute) for CI smoke tests.")] = False,
    events: Annotated[Optional[int], typer.Option(help="How many events (default 100,000; 10,000 with --quick).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write bench.json and bench.md.")] = Path("bench-results"),
) -> None:
    """Measure the pipeline on a fresh embedded stack, each figure beside its raw baseline."""
    from bench.run import run

    asyncio.run(run(events or (10_000 if quick else 100_000), out))


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[Optional[str], typer.Argument(help="The read model (default: all of them).")] = None,
    data: DataOpt = None,
) -> None:
    """Rebuild a read model from the ledger beside the live one, then switch dashboards to it."""
    from projections.rebuild import READ_MODELS, rebuild

    settings = Settings.from_env(data)
    for model in [name] if name else list(READ_MODELS):
        done = asyncio.run(rebuild(settings, model))
        typer.echo(f"{done.name}: v{done.version} is current (was v{done.previous}); {done.events} events in "
                   f"{done.seconds:.1f}s, {done.rate:,.0f} events/s")


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


@schema_app.command("export")
def schema_export(directory: Annotated[Path, typer.Argument(help="Where to write the files.")]) -> None:
    """Write one JSON Schema per event type and the AsyncAPI document of the streams."""
    from schemas.export import export

    for path in export(directory):
        typer.echo(str(path))


if __name__ == "__main__":
    app()
