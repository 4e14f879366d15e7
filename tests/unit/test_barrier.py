"""The pipeline barrier's rules (tests/support.py Positions): when it waits, when it is done, when
it fails at once because a stage holds more than its upstream."""

from __future__ import annotations

import pytest

from tests.support import Positions


def at(intake: int = 10, ledger: int = 10, stored: int = 8, relayed: int = 8, note: int = 8, projected: int | None = 8) -> Positions:
    return Positions(intake, ledger, stored, relayed, note, projected)


def test_level_when_every_stage_holds_what_its_upstream_holds() -> None:
    assert at().level() and at().overshoot() is None
    assert at(projected=None).level(), "the read model only when asked"
    assert at(intake=0, ledger=0, stored=0, relayed=0, note=0, projected=0).level()


@pytest.mark.parametrize(("behind", "positions"), [
    ("the ledger", at(ledger=9)),
    ("the relay", at(relayed=7, note=7, projected=7)),
    ("the read model", at(projected=7)),
])
def test_not_yet_while_a_stage_is_behind(behind: str, positions: Positions) -> None:
    assert not positions.level(), behind
    assert positions.overshoot() is None, "behind is not wrong: wait"


@pytest.mark.parametrize(("extra", "positions"), [
    ("a ledger position beyond intake", at(ledger=11)),
    ("a message in CIVIC_LEDGER the store does not hold", at(relayed=9)),
    ("a notification id the store does not hold", at(note=9)),
    ("a read-model position beyond CIVIC_LEDGER", at(projected=9)),
])
def test_a_stage_ahead_of_its_upstream_fails_at_once(extra: str, positions: Positions) -> None:
    assert positions.overshoot(), extra
