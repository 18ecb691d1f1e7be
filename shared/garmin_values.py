"""Values from Garmin made safe once, before any store or output sees them.

Garmin's JSON is data from outside: a NUL in a name stops PostgreSQL (text
cannot hold it) and with it every sync; escape sequences and right-to-left
overrides in a name rewrite a terminal or disguise what a page shows; an id
beyond 64 bits or an `Infinity` duration cannot be stored or written as JSON.
Text is cleaned and numbers are checked here, where summaries are parsed, so
SQLite, PostgreSQL, the CLI and the dashboard all get the same safe values.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_ACTIVITY_ID = 2**63 - 1  # a signed 64-bit BIGINT, on SQLite and PostgreSQL alike

# C0 and C1 control characters (NUL, ESC, BEL, CSI ...), DEL, and the bidirectional
# embeddings, overrides and isolates that reorder what follows them on screen.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def strip_controls(text: str) -> str:
    """Control and bidi-override characters become spaces; lone surrogates (not
    encodable as UTF-8) become U+FFFD."""
    return _SURROGATES.sub("\ufffd", _CONTROLS.sub(" ", text))


def clean_text(value: Any, max_len: int) -> str | None:
    """A name or key from Garmin as one line of printable text, or None when empty."""
    if value is None:
        return None
    text = " ".join(strip_controls(str(value)).split())
    return text[:max_len] or None


def finite(value: Any, lo: float = 0.0) -> float | None:
    """A number we can store and write as JSON (finite, at least `lo`), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond a double
        return None
    return number if math.isfinite(number) and number >= lo else None


def activity_id(value: Any) -> int | None:
    """Garmin's activity id when it is a whole number that fits a BIGINT, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number <= MAX_ACTIVITY_ID else None


def clean_json(value: Any) -> Any:
    """A JSON value with every string cleaned and every non-finite number null."""
    if isinstance(value, dict):
        return {strip_controls(str(key)): clean_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
