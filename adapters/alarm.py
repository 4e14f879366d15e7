"""The ledger alarm: a small JSON file in the data folder that the relay writes when CIVIC_LEDGER
disagrees with the event store, that /healthz and /metrics read, and that only the operator's
`civic ledger recover` clears. A file, not a bus key: a client of the bus cannot hide it.

Also the relay's high-water mark (the last position it saw acked), so that a ledger stream
deleted and re-created empty is told from one that was never written.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path


@dataclass(frozen=True)
class Alarm:
    code: str
    """ledger_stream_missing, ledger_stream_emptied, ledger_foreign_message, ledger_ahead_of_store,
    ledger_disagrees: what the relay found."""
    problem: str
    """One sentence for the operator."""
    position: int
    at: str = ""

    def line(self) -> str:
        return f"LEDGER ALARM {self.code}: {self.problem}; the relay publishes nothing until an operator runs " \
               f"`civic ledger recover --republish-from-store --reason TEXT`"


def raise_alarm(path: Path, alarm: Alarm) -> Alarm:
    stamped = Alarm(alarm.code, alarm.problem, alarm.position, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _write(path, asdict(stamped))
    return stamped


def read_alarm(path: Path) -> Alarm | None:
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        return Alarm(str(fields["code"]), str(fields["problem"]), int(fields["position"]), str(fields.get("at", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return Alarm("ledger_alarm_unreadable", f"{path} exists but cannot be read", 0)


def clear_alarm(path: Path) -> None:
    path.unlink(missing_ok=True)


@dataclass(frozen=True)
class HighWater:
    position: int
    hash: str
    notification: int


def read_high_water(path: Path) -> HighWater | None:
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        return HighWater(int(fields["position"]), str(fields["hash"]), int(fields["notification"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_high_water(path: Path, mark: HighWater) -> None:
    _write(path, asdict(mark))


def _write(path: Path, fields: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(fields, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
