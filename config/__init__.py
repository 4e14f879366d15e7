"""Configuration, from the environment and flags; read once, passed down explicitly.

A leaf: it imports nothing of ours and no library that acts on it (adapters/ turn these values
into a bus connection or an event store), so every layer may take a Settings without a cycle.

CIVIC_DATA_DIR     the data folder (default ./civic-data): nats/, ledger.sqlite, keys.sqlite, nats.url
CIVIC_NATS_URL     an external NATS (JetStream) server or cluster (comma-separated URLs); without it
                   `civic up` runs its own
CIVIC_STREAM_REPLICAS  replicas of each stream (default 1; 3 on a 3-node cluster)
CIVIC_CHECKPOINT_MINUTES  how often `civic up` signs the chain head (default 10; 0 disables)
CIVIC_NATS_MONITOR_URL  nats-server's monitoring endpoint (http://host:port) for health; `civic up`
                   sets it for its own server
CIVIC_CHECKPOINT_DIR  the checkpoint signing key and the signed checkpoints, OUTSIDE the data folder
                   (default: the sibling folder DATA_DIR.checkpoints, e.g. ./civic-data.checkpoints)
CIVIC_CHECKPOINT_WITNESS  optional: another NATS server (URL) that also keeps each checkpoint
CIVIC_DATABASE_URL postgresql://user:pass@host:port/db for the event store; default SQLite in the data folder
CIVIC_INTAKE_MAX_AGE_DAYS  how long CIVIC_INTAKE and CIVIC_REJECTED keep clear data (default 7)
CIVIC_TIMEZONE     the district's time zone for dashboard days (default Asia/Shanghai)
CIVIC_NATS_CREDS   the NATS nkey seed file this process connects with (default: its identity's file in
                   the credentials folder, DIR/credentials/<identity>.nk; docs/security.md)
CIVIC_CREDENTIALS_DIR  the credentials folder (default DIR/credentials)
CIVIC_NATS_TLS_CA  a CA file: connect to NATS over TLS, trusting it (URLs tls://...)
CIVIC_WEB_TLS_CERT, CIVIC_WEB_TLS_KEY  certificate and key files: the web role serves HTTPS
                   (and its session cookie is Secure)
CIVIC_WEB_SECURE_COOKIES  1 behind a TLS-terminating proxy: the session cookie is Secure
CIVIC_DEADLINE_POLICY  the deadline policy file (default: the shipped config/deadlines.yaml)
CIVIC_CALENDAR_DIR the working-day calendar, one <year>.yaml per year (default: the shipped config/calendar/)
CIVIC_DEMO_VIEWER  set by `civic demo` only: the auditor account every browser is signed in as
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).resolve().parent
"""The files shipped with the package: deadlines.yaml and calendar/<year>.yaml."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    nats_url: str | None = None
    nats_monitor_url: str | None = None
    """nats-server's monitoring endpoint (CIVIC_NATS_MONITOR_URL): health asks it about JetStream."""
    database_url: str | None = None
    port: int = 8080
    host: str = "127.0.0.1"
    intake_max_age_days: float = 7.0
    stream_replicas: int = 1
    """Replicas of each stream: 3 on a 3-node cluster (CIVIC_STREAM_REPLICAS)."""
    checkpoint_minutes: float = 10.0
    """How often `civic up` signs the chain head (CIVIC_CHECKPOINT_MINUTES; 0: never)."""
    checkpoint_dir: Path | None = None
    """Where the checkpoint key and checkpoints live (CIVIC_CHECKPOINT_DIR); None: DATA_DIR.checkpoints."""
    checkpoint_witness: str | None = None
    """Another NATS server's URL that keeps a copy of every checkpoint (CIVIC_CHECKPOINT_WITNESS)."""
    timezone: str = "Asia/Shanghai"
    """The district's time zone: dashboard days and windows are whole days here."""
    batch_size: int = 1000
    """Most messages the ledger takes in one transaction (and the relay publishes in one go)."""
    nats_credentials: Path | None = None
    """The nkey seed file to connect with, whatever the identity (CIVIC_NATS_CREDS)."""
    credentials_dir: Path | None = None
    """Where each identity's seed is (CIVIC_CREDENTIALS_DIR; default DIR/credentials)."""
    nats_tls_ca: Path | None = None
    """CA file for NATS over TLS (CIVIC_NATS_TLS_CA)."""
    web_tls_cert: Path | None = None
    web_tls_key: Path | None = None
    """The web role's certificate and key (CIVIC_WEB_TLS_CERT, CIVIC_WEB_TLS_KEY): HTTPS when both are set."""
    secure_cookies: bool = False
    """CIVIC_WEB_SECURE_COOKIES: TLS ends at a proxy in front of the web role."""
    deadline_policy: Path | None = None
    """CIVIC_DEADLINE_POLICY: the deadline policy file; None: the shipped one."""
    calendar_dir: Path | None = None
    """CIVIC_CALENDAR_DIR: the folder of the calendar's year files; None: the shipped one."""
    demo_viewer: str | None = None
    """CIVIC_DEMO_VIEWER, set by `civic demo`: readers without a credential are this auditor account."""
    clock_name: str = "a"
    """This deadline clock instance's name (CIVIC_CLOCK_NAME; one of schemas.topology.CLOCK_INSTANCES)."""
    clock_tick: float = 1.0
    """Seconds between two looks of the clock at what is due (CIVIC_CLOCK_TICK)."""
    clock_quiet: float = 5.0
    """CIVIC_CLOCK_QUIET: seconds without a new ledger message after which the clock trusts its own now
    (until then, while history is still arriving, only the history's own time; consumers/clock_state.py)."""
    clock_now_file: Path | None = None
    """CIVIC_CLOCK_NOW_FILE: the clock reads "now" (an RFC 3339 instant) from this file instead of the
    wall clock: simulations and tests drive time without waiting for it."""
    clock_webhooks: Path | None = None
    """CIVIC_CLOCK_WEBHOOKS: a YAML file of per-unit webhooks for the clock's notifications (README, "The deadline clock")."""

    @property
    def web_secure_cookies(self) -> bool:
        """The session cookie is sent over HTTPS only (TLS here or at a proxy)."""
        return self.secure_cookies or bool(self.web_tls_cert and self.web_tls_key)

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None, **overrides: Any) -> Settings:
        env = os.environ
        settings = cls(
            data_dir=Path(data_dir or env.get("CIVIC_DATA_DIR") or "civic-data").absolute(),
            nats_url=env.get("CIVIC_NATS_URL") or None,
            nats_monitor_url=env.get("CIVIC_NATS_MONITOR_URL") or None,
            database_url=env.get("CIVIC_DATABASE_URL") or None,
            intake_max_age_days=float(env.get("CIVIC_INTAKE_MAX_AGE_DAYS", 7)),
            timezone=env.get("CIVIC_TIMEZONE", "Asia/Shanghai"),
            stream_replicas=int(env.get("CIVIC_STREAM_REPLICAS", 1)),
            checkpoint_minutes=float(env.get("CIVIC_CHECKPOINT_MINUTES", 10)),
            nats_credentials=_path(env.get("CIVIC_NATS_CREDS")),
            credentials_dir=_path(env.get("CIVIC_CREDENTIALS_DIR")),
            nats_tls_ca=_path(env.get("CIVIC_NATS_TLS_CA")),
            web_tls_cert=Path(env["CIVIC_WEB_TLS_CERT"]) if env.get("CIVIC_WEB_TLS_CERT") else None,
            web_tls_key=Path(env["CIVIC_WEB_TLS_KEY"]) if env.get("CIVIC_WEB_TLS_KEY") else None,
            secure_cookies=env.get("CIVIC_WEB_SECURE_COOKIES", "") in ("1", "true", "yes"),
            demo_viewer=env.get("CIVIC_DEMO_VIEWER") or None,
            checkpoint_dir=Path(env["CIVIC_CHECKPOINT_DIR"]).absolute() if env.get("CIVIC_CHECKPOINT_DIR") else None,
            checkpoint_witness=env.get("CIVIC_CHECKPOINT_WITNESS") or None,
            deadline_policy=_path(env.get("CIVIC_DEADLINE_POLICY")),
            calendar_dir=_path(env.get("CIVIC_CALENDAR_DIR")),
            clock_name=env.get("CIVIC_CLOCK_NAME", "a"),
            clock_tick=float(env.get("CIVIC_CLOCK_TICK", 1.0)),
            clock_quiet=float(env.get("CIVIC_CLOCK_QUIET", 5.0)),
            clock_now_file=_path(env.get("CIVIC_CLOCK_NOW_FILE")),
            clock_webhooks=_path(env.get("CIVIC_CLOCK_WEBHOOKS")),
        )
        # overrides: whichever fields the caller sets (port=...); replace() refuses unknown names.
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})



    @property
    def deadline_policy_path(self) -> Path:
        return self.deadline_policy or SHIPPED / "deadlines.yaml"

    @property
    def calendar_folder(self) -> Path:
        return self.calendar_dir or SHIPPED / "calendar"

    @property
    def nats_url_file(self) -> Path:
        return self.data_dir / "nats.url"

    def resolved_nats_url(self) -> str:
        """The configured server, or the one a running `civic up` wrote into the data folder."""
        if self.nats_url:
            return self.nats_url
        try:
            return self.nats_url_file.read_text().strip()
        except FileNotFoundError:
            raise SystemExit(
                f"No NATS server: set CIVIC_NATS_URL, or start `civic up --data {self.data_dir}` first."
            ) from None

    def nats_servers(self) -> list[str]:
        """The server list: CIVIC_NATS_URL may name a cluster, comma-separated."""
        return [u.strip() for u in self.resolved_nats_url().split(",") if u.strip()]

    @property
    def supervisor_status_path(self) -> Path:
        """Where `civic up` writes the state of its processes (restarts, who is down) for health."""
        return self.data_dir / "supervisor.json"

    @property
    def streams_identity_path(self) -> Path:
        """The identity of the streams this folder's data belongs to (adapters/identity.py)."""
        return self.data_dir / "streams.json"

    @property
    def credentials_folder(self) -> Path:
        return self.credentials_dir or self.data_dir / "credentials"

    def credentials_for(self, identity: str) -> Path | None:
        """The seed file `identity` connects with: CIVIC_NATS_CREDS if set, else its file in the
        credentials folder if there is one, else None (a server without authorization)."""
        if self.nats_credentials:
            return self.nats_credentials
        path = self.credentials_folder / f"{identity}.nk"
        return path if path.exists() else None

    @property
    def keys_path(self) -> Path:
        return self.data_dir / "keys.sqlite"

    @property
    def checkpoints_home(self) -> Path:
        """The checkpoint folder: CIVIC_CHECKPOINT_DIR, or the data folder's sibling DATA_DIR.checkpoints.
        Never inside the data folder (audit/checkpoint.py refuses it): whoever can rewrite the data
        folder must not also hold the key and the copies that would expose the rewrite."""
        return self.checkpoint_dir or self.data_dir.with_name(self.data_dir.name + ".checkpoints")

    @property
    def ledger_alarm_path(self) -> Path:
        """Written by the relay when CIVIC_LEDGER disagrees with the store; read by /healthz; cleared
        only by `civic ledger recover`."""
        return self.data_dir / "ledger-alarm.json"

    @property
    def clock_state_path(self) -> Path:
        """The deadline clock's state (its deadlines, its ledger position): one file per instance."""
        return self.data_dir / f"clock-{self.clock_name}.sqlite"

    @property
    def relay_state_path(self) -> Path:
        """The relay's high-water mark: the last position, hash and notification it saw acked."""
        return self.data_dir / "relay-state.json"


def _path(value: str | None) -> Path | None:
    return Path(value).absolute() if value else None


def nats_credentials_from_env() -> Path | None:
    """CIVIC_NATS_CREDS, for code that takes no Settings (the producer SDK)."""
    return _path(os.environ.get("CIVIC_NATS_CREDS"))
