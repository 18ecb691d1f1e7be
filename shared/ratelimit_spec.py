"""Parsing of rate strings such as `30/minute`, shared by settings and limiter."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE_RE = re.compile(r"^\s*(\d+)\s*(?:/|\s+per\s+)\s*(\d+\s*)?(second|minute|hour|day)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class RateSpec:
    """`amount` requests per `period` seconds."""

    amount: int
    period: int

    @property
    def per_second(self) -> float:
        return self.amount / self.period

    def __str__(self) -> str:
        for unit, seconds in _UNITS.items():
            if self.period == seconds:
                return f"{self.amount}/{unit}"
        return f"{self.amount}/{self.period} second"


def parse_rate(text: str) -> RateSpec:
    """Parse `N/unit`, `N per unit` or `N/M units`; raise ValueError with the accepted forms."""
    match = _RATE_RE.match(text)
    if not match:
        raise ValueError(f"cannot read {text!r}; use a form like 30/minute, 2/second or 500/hour")
    amount = int(match.group(1))
    multiple = int(match.group(2)) if match.group(2) else 1
    if amount < 1 or multiple < 1:
        raise ValueError(f"{text!r} must allow at least one request")
    return RateSpec(amount=amount, period=multiple * _UNITS[match.group(3).lower()])
