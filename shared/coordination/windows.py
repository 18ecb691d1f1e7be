"""A rate window: at most `limit` requests in any `window_ms`, kept as a sliding log."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

PREFIX = "garminsync"


@dataclass(frozen=True)
class Window:
    """One budget a request must fit: `key` names its log (an account, or `global`)."""

    key: str
    limit: int
    window_ms: int


def wait_in_log(log: deque[float], limit: int, window_s: float, now: float) -> float:
    """Seconds until `log` (times, oldest first) has room for one more; drops expired entries."""
    while log and log[0] <= now - window_s:
        log.popleft()
    if len(log) < limit:
        return 0.0
    # With a lowered limit more than `limit` entries may be live: wait for enough to expire.
    return log[len(log) - limit] + window_s - now


def free_in_log(log: deque[float], limit: int, window_s: float, now: float, lookahead_s: float) -> int:
    """Slots free at `now + lookahead_s` if nothing else is taken meanwhile."""
    horizon = now + lookahead_s - window_s
    live = sum(1 for stamp in log if stamp > horizon)
    return max(0, limit - live)
