"""Phone and ID numbers in free text, masked in every public answer (Open311's anonymous reads).

Residents type their numbers into titles and descriptions ("call me on 138 1234 5678"); sealing
cannot reach free text, so what the public sees is masked here, in one function:
  mobile     1[3-9]x xxxx xxxx, with +86 / 0086, spaces or dashes  -> 138****5678
  landline   0 + 2-3 digit area code, optional dash or brackets, 7-8 digits -> 0871-****5678
  ID number  18 digits (the last may be X) or the old 15 digits      -> 110***********123X
Digits that are part of a longer run (a ticket id's, an amount's) are left alone.
"""

from __future__ import annotations

import re

_SEP = r"[\s-]?"
_MOBILE = re.compile(rf"(?<![\dA-Za-z])(?:(?:\+|00)86{_SEP})?(1[3-9]\d){_SEP}(\d{{4}}){_SEP}(\d{{4}})(?!\d)")
_ID = re.compile(r"(?<![\dA-Za-z])(\d{3})(\d{11}|\d{8})(\d{3}[\dXx]|\d{4})(?![\dA-Za-z])")
_LANDLINE = re.compile(r"(?<![\dA-Za-z])(\(?0\d{2,3}\)?)([\s-]?)(\d{3,4})[\s-]?(\d{4})(?!\d)")


def _mobile(m: re.Match[str]) -> str:
    return f"{m.group(1)}****{m.group(3)}"


def _id(m: re.Match[str]) -> str:
    return m.group(1) + "*" * len(m.group(2)) + m.group(3)


def _landline(m: re.Match[str]) -> str:
    return f"{m.group(1)}{m.group(2) or ''}****{m.group(4)}"


def mask(text: str | None) -> str | None:
    """The text with every phone and ID number masked (None stays None)."""
    if not text:
        return text
    text = _ID.sub(_id, text)  # IDs first: 18 digits would otherwise start like a landline
    text = _MOBILE.sub(_mobile, text)
    return _LANDLINE.sub(_landline, text)
