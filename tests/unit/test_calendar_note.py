"""What the deadline pages say about the rules they count with (dashboards/deadlines.py): the
policy's version, the years whose holiday schedule is loaded, and the years around now that count
weekends only; a policy that cannot be read is said, not hidden."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from config import Settings
from dashboards.deadlines import Calendar

CST = ZoneInfo("Asia/Shanghai")


def test_the_years_without_a_schedule_are_said(tmp_path: Path) -> None:
    shipped = Settings(data_dir=tmp_path)
    folder = tmp_path / "calendar"
    folder.mkdir()
    shutil.copy(shipped.calendar_folder / "2026.yaml", folder / "2026.yaml")
    calendar = Calendar(Settings(data_dir=tmp_path, calendar_dir=folder))
    note = calendar.note(datetime(2026, 12, 1, tzinfo=CST))
    assert (note.years, note.missing, note.problem) == ([2026], [2027], None)
    assert note.policy_version and note.policy_version == calendar.rules.policy.version  # type: ignore[union-attr]
    assert calendar.note(datetime(2026, 3, 1, tzinfo=CST)).missing == [2027]
    assert Calendar(shipped).note(datetime(2021, 6, 1, tzinfo=CST)).missing == [], "2021 and 2022 are shipped"


def test_a_policy_that_cannot_be_read_is_said(tmp_path: Path) -> None:
    bad = tmp_path / "deadlines.yaml"
    bad.write_text("version: [", encoding="utf-8")
    note = Calendar(Settings(data_dir=tmp_path, deadline_policy=bad)).note()
    assert note.policy_version is None and note.problem is not None and "deadlines.yaml" in note.problem
