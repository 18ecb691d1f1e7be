"""Request counters, so tests and benchmarks can prove a rate limit held.

The state keeps one ``Stats`` over every request and one per account (the
requests that account's limiter counted), in the same shape.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from typing import Any

KINDS = (
    "list",
    "count",
    "download",
    "detail",
    "token_refresh",
    "token_exchange",
    "login",
    "profile",
    "other",
)
DEFAULT_WINDOWS: tuple[float, ...] = (1.0, 10.0, 60.0)
MAX_REQUESTS_KEPT = 50_000


def max_requests_in_window(timestamps: Iterable[float], window_s: float) -> int:
    """The largest number of timestamps inside any half-open window [t, t+window_s).

    A limit of "N per window" was kept exactly when this is <= N.
    """
    ts = sorted(timestamps)
    best = 0
    lo = 0
    for hi, t in enumerate(ts):
        while t - ts[lo] >= window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _window_key(window_s: float) -> str:
    return str(int(window_s)) if float(window_s).is_integer() else str(window_s)


class Stats:
    """Thread-safe counters over every non-control request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._by_kind: Counter[str] = Counter({k: 0 for k in KINDS})
            self._per_second: Counter[int] = Counter()
            self._statuses: Counter[str] = Counter()
            self._requests: deque[tuple[float, str, str, int, str | None]] = deque(maxlen=MAX_REQUESTS_KEPT)
            self._events: Counter[str] = Counter()

    def record(self, t: float, kind: str, path: str, status: int, account: str | None = None) -> None:
        """One answered request; ``account`` is its account's email when known."""
        with self._lock:
            self._total += 1
            self._by_kind[kind] += 1
            self._per_second[int(t)] += 1
            self._statuses[str(status)] += 1
            self._requests.append((t, kind, path, status, account))

    def event(self, name: str) -> None:
        """Count an outcome, e.g. a successful refresh or a refused one."""
        with self._lock:
            self._events[name] += 1

    def timestamps(self, kinds: Sequence[str] | None = None) -> list[float]:
        with self._lock:
            return [r[0] for r in self._requests if kinds is None or r[1] in kinds]

    def snapshot(self, windows: Sequence[float] = DEFAULT_WINDOWS) -> dict[str, Any]:
        with self._lock:
            requests = list(self._requests)
            out: dict[str, Any] = {
                "total": self._total,
                "by_kind": dict(self._by_kind),
                "per_second": dict(sorted(self._per_second.items())),
                "max_per_second": max(self._per_second.values(), default=0),
                "statuses": dict(self._statuses),
                "refreshes": self._events["refresh_ok"],
                "refresh_refused": self._events["refresh_refused"],
                "token_exchanges": self._events["exchange_ok"],
                "logins": self._events["login_ok"],
                "login_failures": self._events["login_failed"],
                "faults_injected": self._events["fault"],
                "rate_limited": self._events["rate_limited"],
            }
        times = [r[0] for r in requests]
        out["max_in_window"] = {_window_key(w): max_requests_in_window(times, w) for w in windows}
        out["requests"] = [list(r) for r in requests]
        return out
