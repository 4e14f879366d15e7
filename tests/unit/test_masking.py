"""Phone and ID numbers in free text are masked in public answers (dashboards/masking.py)."""

from __future__ import annotations

import pytest

from dashboards.masking import mask


@pytest.mark.parametrize("text, masked", [
    ("请回电13812345678谢谢", "请回电138****5678谢谢"),
    ("电话：139 0000 0001", "电话：139****0001"),
    ("call 138-1234-5678 after six", "call 138****5678 after six"),
    ("+86 15912345678", "159****5678"),
    ("0086 186 1234 5678", "186****5678"),
    ("村委会固话0871-12345678", "村委会固话0871-****5678"),
    ("北京 010-87654321", "北京 010-****4321"),
    ("(0871)6543210", "(0871)****3210"),
    ("身份证530102199001011234", "身份证530***********1234"),
    ("ID 11010519491231002X.", "ID 110***********002X."),
    ("id 11010519491231002x", "id 110***********002x"),
    ("旧证 530102900101123", "旧证 530********1123"),
    ("两个号码 13812345678、13987654321", "两个号码 138****5678、139****4321"),
])
def test_numbers_are_masked(text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize("text", [
    "工单 MC-S35-000001 已办结", "2021-05-18 09:30", "路灯 12 盏，花费 3500 元", "门牌 88 号", "编号 12345678901234567890",
    "订单A13812345678", "",
])
def test_other_numbers_stay(text: str) -> None:
    assert mask(text) == text


def test_none_stays_none() -> None:
    assert mask(None) is None
