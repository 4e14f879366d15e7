"""How the rules say no: a stable reason code (schemas.rejected.REASONS) and a sentence."""

from __future__ import annotations

from schemas.rejected import REASONS


class Refused(Exception):
    def __init__(self, code: str, detail: str = ""):
        assert code in REASONS, f"undocumented reason code {code!r}"
        self.code = code
        self.detail = detail or REASONS[code].sentence
        super().__init__(f"{code}: {self.detail}")


def require(condition: object, code: str, detail: str = "") -> None:
    if not condition:
        raise Refused(code, detail)
