"""What a writer publishes about itself in the CIVIC_STATUS bucket (schemas/topology.py), so
that health can tell "recording" from "stuck" without asking the writer: its last commit, its
last error and the conditions only it can see."""

from __future__ import annotations

import msgspec


class WriterStatus(msgspec.Struct, kw_only=True):
    writer: str
    """Who writes: "ledger" (the event store's only writer)."""
    pid: int
    started_at: float
    """Unix time the writer (this process) started."""
    committed_at: float | None = None
    """Unix time of its last successful commit (None: none since it started)."""
    position: int = 0
    """The intake position stored with its last commit."""
    store_head: int | None = None
    """The event store's last notification id after that commit (the relay's target)."""
    error: str | None = None
    """A short code of its last store error since its last commit ("readonly", "disk_full",
    "unreachable", "store"), None once a commit succeeds. Never a message text: /healthz shows it."""
    error_at: float | None = None
    failures: int = 0
    """Consecutive failed batches."""
    alarms: list[str] = []
    """Conditions only the writer can see that need an operator (health turns each into a reason)."""


class ReadModelStatus(msgspec.Struct, kw_only=True):
    """What the projector announces after each commit into a read model (and at start), under the
    read model's key (schemas/topology.py DASHBOARD_STATUS_KEY): the web remembers its answers per
    read-model position, and learns the position from here instead of asking the database."""

    name: str
    """The read model ("dashboard")."""
    version: int
    """The version the projector writes (a rebuild makes a new one; readers follow `current`)."""
    position: int
    """The ledger position applied and committed in that version."""


class ProcessStatus(msgspec.Struct, kw_only=True):
    pid: int | None = None
    """None while it is down, waiting out its restart backoff."""
    restarts: int = 0
    last_exit: int | None = None
    backoff: float = 0.0


class SupervisorStatus(msgspec.Struct, kw_only=True):
    """What `civic up` writes into DIR/supervisor.json whenever a process starts or stops."""

    pid: int
    processes: dict[str, ProcessStatus] = {}
    """By role name, and "nats-server" for the embedded server."""
    nats_problem: str | None = None
    """What nats-server's monitoring last said was wrong (adapters/natsserver.jetstream_problem)."""


encode = msgspec.json.encode
decode = msgspec.json.Decoder(WriterStatus).decode
decode_read_model = msgspec.json.Decoder(ReadModelStatus).decode
decode_supervisor = msgspec.json.Decoder(SupervisorStatus).decode
