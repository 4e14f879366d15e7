"""Rate-limited log lines, for warnings a stuck loop would otherwise repeat several times a second."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimited:
    """Logs each key at most once per `interval` seconds; the next line that gets through says
    how many were held back meanwhile.

    Not a logging.Filter: a filter sees the record after the call, with no stable key (the text
    varies with the sequence number it names), and cannot add the count of what it dropped to the
    line it lets through. Here the call site names the key.
    """

    def __init__(self, logger: logging.Logger, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.logger, self.interval, self.clock = logger, interval, clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log now, or count it as held back; True if it was logged."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            msg = f"{msg} ({held} more like it held back since the last)"
        self.logger.log(level, msg, *args)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)
