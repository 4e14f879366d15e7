"""The deadline policy file and the calendar's year files: the shipped ones load and agree with
the official schedules; a broken file is refused naming the file, the key and the reason; the
most specific rule wins, field by field."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import chinese_calendar
import pytest

from adapters.deadlines import PolicyError, load_calendar, load_policy, load_rules, load_year
from config import SHIPPED, Settings
from schemas.calendar import Allowance

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "calendar-years"


def generator():  # type: ignore[no-untyped-def]
    from importlib.machinery import SourceFileLoader

    loader = SourceFileLoader("calendar_years", str(SCRIPT))
    spec = importlib.util.spec_from_loader("calendar_years", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_shipped_year_files_are_what_the_package_publishes() -> None:
    expected = generator().years()
    shipped = {int(p.stem): p.read_text(encoding="utf-8") for p in (SHIPPED / "calendar").glob("*.yaml")}
    assert shipped == expected  # every year the package has, byte for byte (rerun scripts/calendar-years)
    assert max(shipped) == max(d.year for d in chinese_calendar.holidays)


def test_the_loaded_calendar_agrees_with_the_package_day_by_day() -> None:
    from datetime import date, timedelta

    calendar = load_rules(Settings(data_dir=Path("/nonexistent"))).calendar
    day = date(2004, 1, 1)
    while day.year <= max(calendar.years):
        assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_the_shipped_policy_and_its_lookup() -> None:
    rules = load_rules(Settings(data_dir=Path("/nonexistent")))
    assert rules.version == "2026.11-1"
    community = rules.terms("parking", "community")
    assert community.resolve == Allowance(working_days=5) and community.sign_for == Allowance(hours=4)
    assert community.supervise is not None and community.supervise.levels == ("street", "town", "zone", "district")
    # a level rule: towns go to the district; a grid signs for it in two hours
    town = rules.terms("parking", "town")
    assert town.supervise is not None and town.supervise.levels == ("district",)
    assert rules.terms("parking", "grid").sign_for == Allowance(hours=2)
    # a category rule is more specific than a level rule, field by field
    urgent = rules.terms("water_and_power", "grid")
    assert urgent.sign_for == Allowance(hours=1) and urgent.resolve == Allowance(hours=24)
    assert urgent.supervise is not None and urgent.supervise.after == Allowance(hours=8)
    assert rules.terms("elderly_care", "grid").sign_for == Allowance(hours=2)  # the grid's, not the default's
    assert rules.terms("elderly_care", "grid").first_contact == Allowance(hours=4)
    # an unknown category or no level: the defaults (and the level rules that match)
    assert rules.terms("a_new_category", None).resolve == Allowance(working_days=5)


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """version: "t1"
defaults:
  sign_for: {hours: 4}
  first_contact: {hours: 24}
  resolve: {working_days: 5}
  supporting: {working_days: 3}
"""


@pytest.mark.parametrize("text, key, reason", [
    (GOOD.replace("{hours: 4}", "{hours: 4, working_days: 1}"), "defaults.sign_for", "exactly one of hours or working_days"),
    (GOOD.replace("{hours: 4}", "{minutes: 4}"), "defaults.sign_for", "unknown field `minutes`"),
    (GOOD.replace("{hours: 4}", "{hours: -1}"), "defaults.sign_for", "cannot be negative"),
    (GOOD.replace("  supporting: {working_days: 3}\n", ""), "", "defaults must set supporting"),
    (GOOD + "rules:\n  - levels: [planet]\n    resolve: {hours: 1}\n", "rules[0].levels[0]", "Invalid enum value 'planet'"),
    (GOOD + 'office_hours: ["08:00-12:00", "17:00-09:00"]\n', "", "end before they start"),
    (GOOD + "office_hours: [8:00]\n", "office_hours[0]", "Expected `str`"),  # YAML 1.1 reads 8:00 as 480
    ('version: "has space"\n' + GOOD.split("\n", 1)[1], "version", "matching regex"),
    (GOOD + "rules:\n  - categories: [parking]\n    supervise: {after: {hours: 1}, levels: []}\n",
     "rules[0].supervise", "at least one level"),
    (GOOD + "  chase: {stages: [lunch]}\n", "defaults.chase.stages[0]", "Invalid enum value 'lunch'"),
    ("version: [\n", "line 2", "not valid YAML"),
])
def test_a_broken_policy_names_file_key_and_reason(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.file == path and info.value.key == key, str(info.value)
    assert reason in info.value.reason, str(info.value)
    assert str(path) in str(info.value)


def test_a_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "nope.yaml")


def test_year_files(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, GOOD))
    folder = tmp_path / "calendar"
    folder.mkdir()
    write(folder, "year: 2030\nholidays:\n  2030-10-01: National Day\nworkdays:\n  2030-09-29: National Day\n", "2030.yaml")
    calendar = load_calendar(folder, policy, "Asia/Shanghai")
    assert calendar.covers(2030) and calendar.missing([2029, 2030, 2031]) == [2029, 2031]
    write(folder, "year: 2031\nholidays: {2030-10-01: National Day}\n", "2031.yaml")
    with pytest.raises(PolicyError) as info:
        load_year(folder / "2031.yaml")
    assert info.value.key == "" and "not in 2031" in info.value.reason
    write(folder, "year: 2032\n", "2033.yaml")
    with pytest.raises(PolicyError, match="2032 in a file named 2033.yaml"):
        load_year(folder / "2033.yaml")
    with pytest.raises(PolicyError, match="no such calendar folder"):
        load_calendar(tmp_path / "none", policy, "Asia/Shanghai")


def test_settings_name_other_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    (tmp_path / "cal").mkdir()
    monkeypatch.setenv("CIVIC_DEADLINE_POLICY", str(path))
    monkeypatch.setenv("CIVIC_CALENDAR_DIR", str(tmp_path / "cal"))
    rules = load_rules(Settings.from_env(tmp_path / "data"))
    assert rules.version == "t1" and rules.calendar.years == {}


def test_civic_ops_deadlines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from civic.cli import app

    run = CliRunner().invoke(app, ["ops", "deadlines", "--data", str(tmp_path), "--category", "parking", "--level",
                                   "community", "--from", "2026-09-30T10:00+0800"])
    assert run.exit_code == 0, run.output
    lines = run.output.splitlines()
    assert lines[0].startswith("policy 2026.11-1 (") and lines[1].startswith("calendar 2004-2026 (")
    assert "resolve        5 working days     due 2026-10-13T10:00:00+08:00" in lines
    assert "supporting     3 working days     due 2026-10-10T10:00:00+08:00" in lines  # the make-up Saturday
    monkeypatch.setenv("CIVIC_DEADLINE_POLICY", str(write(tmp_path, GOOD.replace("{hours: 4}", "{days: 4}"))))
    run = CliRunner().invoke(app, ["ops", "deadlines", "--data", str(tmp_path)])
    assert run.exit_code == 2 and "defaults.sign_for: Object contains unknown field `days`" in run.output
