"""Jinja filters: times, sizes, durations and state colours, formatted once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask

STATE_CLASSES = {
    "downloaded": "success",
    "missing": "secondary",
    "queued": "info",
    "downloading": "primary",
    "failed": "danger",
    "no_file": "light",
    "success": "success",
    "partial": "warning",
    "error": "danger",
    "running": "primary",
    "succeeded": "success",
    "started": "primary",
    "retried": "warning",
    "revoked": "dark",
    "rejected": "danger",
    "valid": "success",
    "needs_login": "danger",
    "none": "secondary",
}
STATE_LABELS = {"no_file": "no file", "needs_login": "needs login", "none": "no tokens"}


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def when(value: Any) -> str:
    """UTC, to the minute."""
    moment = _moment(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"


def local(value: Any) -> str:
    """An activity's local start time, as Garmin recorded it (no zone)."""
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return "—"


def ago(value: Any) -> str:
    moment = _moment(value)
    if moment is None:
        return "—"
    seconds = (datetime.now(UTC) - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "in a moment" if future else "just now"


def duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def distance(meters: Any) -> str:
    if meters is None:
        return "—"
    return f"{float(meters) / 1000:.2f} km"


def filesize(size: Any) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def state_class(state: Any) -> str:
    return STATE_CLASSES.get(str(state), "secondary")


def state_label(state: Any) -> str:
    return STATE_LABELS.get(str(state), str(state).replace("_", " "))


def number(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def register(app: Flask) -> None:
    for name, func in {
        "when": when,
        "local": local,
        "ago": ago,
        "duration": duration,
        "distance": distance,
        "filesize": filesize,
        "state_class": state_class,
        "state_label": state_label,
        "number": number,
    }.items():
        app.add_template_filter(func, name)
