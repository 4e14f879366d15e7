"""Reading the deadline policy and the calendar's year files (config/deadlines.yaml,
config/calendar/<year>.yaml, or the files Settings names), with errors that name the file, the
key and the reason. The shapes and the arithmetic are schemas/policy.py and schemas/calendar.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import yaml

from config import SHIPPED, Settings
from schemas.calendar import WorkingCalendar, YearSchedule
from schemas.policy import DeadlinePolicy, DeadlineRules

YEAR_FILE = re.compile(r"^(\d{4})\.yaml$")


class PolicyError(ValueError):
    """A policy or calendar file that cannot be used: which file, which key, why."""

    def __init__(self, file: Path, key: str, reason: str):
        self.file, self.key, self.reason = file, key, reason
        super().__init__(f"{file}: {key or '(top)'}: {reason}")


def _read(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PolicyError(path, "", f"cannot read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(path, where, f"not valid YAML: {getattr(e, 'problem', None) or e}") from None


_AT = re.compile(r"^(.*?)(?: - at `\$\.?([^`]*)`)?$", re.S)


def _convert(path: Path, data: object, into: type[msgspec.Struct]) -> msgspec.Struct:
    try:
        return msgspec.convert(data, into)
    except msgspec.ValidationError as e:
        m = _AT.match(str(e))
        assert m is not None  # the pattern matches any text
        raise PolicyError(path, m.group(2) or "", m.group(1)) from None


def load_policy(path: Path) -> DeadlinePolicy:
    policy = _convert(path, _read(path), DeadlinePolicy)
    assert isinstance(policy, DeadlinePolicy)
    return policy


def load_year(path: Path) -> YearSchedule:
    schedule = _convert(path, _read(path), YearSchedule)
    assert isinstance(schedule, YearSchedule)
    m = YEAR_FILE.match(path.name)
    if m is None or int(m.group(1)) != schedule.year:
        raise PolicyError(path, "year", f"{schedule.year} in a file named {path.name}")
    return schedule


def load_calendar(folder: Path, policy: DeadlinePolicy, timezone: str) -> WorkingCalendar:
    """Every <year>.yaml in `folder` (none is fine: weekends only, and `missing()` says so)."""
    if not folder.is_dir():
        raise PolicyError(folder, "", "no such calendar folder")
    years = [load_year(p) for p in sorted(folder.iterdir()) if YEAR_FILE.match(p.name)]
    return WorkingCalendar(years, policy.office_spans, timezone)


def load_rules(settings: Settings) -> DeadlineRules:
    """The policy and calendar Settings name (the shipped ones by default)."""
    policy = load_policy(settings.deadline_policy_path)
    return DeadlineRules(policy, load_calendar(settings.calendar_folder, policy, settings.timezone))


def shipped_rules(timezone: str = "Asia/Shanghai") -> DeadlineRules:
    """The policy and calendar shipped with the package."""
    return load_rules(Settings(data_dir=SHIPPED, timezone=timezone))
