"""One name per thing: every code the contract declares is named in both languages, in one table
(schemas/labels.py), and the pages' JavaScript holds no copy of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas import labels
from schemas.labels import DECLARED, FAMILIES, LANGUAGES, label, table

STATIC = Path(__file__).parents[2] / "dashboards" / "static"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_declared_code_has_both_names_and_nothing_else(family: str) -> None:
    names = FAMILIES[family]
    assert family in DECLARED, f"{family}: where are its codes declared?"
    assert sorted(names) == sorted(set(DECLARED[family])), family
    for code, (zh, en) in names.items():
        assert zh.strip() and CJK.search(zh), f"{family}.{code}: no Chinese name ({zh!r})"
        assert en.strip() and not CJK.search(en), f"{family}.{code}: no English name ({en!r})"
        assert not re.fullmatch(r"\w*_\w*", en), f"{family}.{code}: the English name is a code ({en!r})"


def test_the_families_follow_the_layers_that_use_them() -> None:
    """Codes defined above schemas/ (the read model's, the accounts') are named too."""
    from dashboards.accounts import ROLES
    from projections.facts import TOPIC_COUNTERS
    from projections.queries import STATUSES

    assert tuple(FAMILIES["status"]) == tuple(STATUSES)
    assert tuple(FAMILIES["topic"]) == TOPIC_COUNTERS
    assert tuple(FAMILIES["account_role"]) == ROLES


def test_label_and_the_served_table_agree() -> None:
    served = table()
    assert list(served) == list(LANGUAGES)
    for i, language in enumerate(LANGUAGES):
        for family, names in FAMILIES.items():
            for code, pair in names.items():
                assert served[language][family][code] == pair[i] == label(family, code, language)
    assert label("category", "roads_and_lights") == "道路与路灯"
    assert label("category", "roads_and_lights", "en") == "Roads and street lights"
    assert label("category", "a_new_code", "en") == "a_new_code"  # unknown: itself
    assert label("reason", "wrong_stage", "en") == labels.REASONS["wrong_stage"].sentence


def test_the_pages_script_names_no_code_itself() -> None:
    """The JavaScript takes every name from /api/labels: no category, channel, reason or event
    name may be written into it (a copy would drift from schemas/labels.py)."""
    scripts = {p.name: p.read_text(encoding="utf-8") for p in STATIC.glob("*.js")}
    for family in ("category", "channel", "reason"):
        for code, (zh, en) in FAMILIES[family].items():
            for name, text in scripts.items():
                assert not re.search(rf"\b{re.escape(code)}\s*:\s*\"", text), f"{name} names {family}.{code} itself"
                if family in ("category", "reason"):
                    assert f'"{zh}"' not in text and f'"{en}"' not in text, f"{name} copies the name of {family}.{code}"
