"""Deep checks of a FIT activity file with Garmin's own FIT SDK (`verify --deep`).

The CRC proves the bytes arrived as Garmin sent them, not that they are this
activity's recording: a course or workout file, another activity's file, or a
file whose session disagrees with Garmin's summary all pass it. Decoding with
`garmin_fit_sdk` and comparing with the summary the list gave us catches those.
Nothing here raises on a hostile file: every failure is a check's reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from garmin_fit_sdk import Decoder, Stream

from shared.garmin_values import finite

# In the order they run; a check that cannot run (its input failed) is skipped.
CHECKS = ("decodes", "file_id", "activity", "sessions", "start", "duration", "records")
DESCRIPTIONS = {
    "decodes": "Garmin's FIT SDK decodes the file",
    "file_id": "the first message is a File Id of type activity",
    "activity": "it holds an Activity message",
    "sessions": "the Activity's session count matches its sessions",
    "start": "the first session starts when Garmin's summary says",
    "duration": "the sessions' elapsed/timer time matches Garmin's summary",
    "records": "the record count is plausible for the duration",
}
TIME_TOLERANCE_S = 5.0  # Garmin's summary and the file agree to a second or two
FILE_ID_MESG, ACTIVITY_TYPE = 0, "activity"
# Devices record at most about once a second (1 Hz); smart recording writes a
# point at least every few seconds while moving and rarely less than once a
# minute. The bounds are loose on purpose: a wrong file misses them by far.
MAX_RECORDS_PER_S = 2.0
MIN_RECORDS_PER_S = 1 / 300
SLACK_RECORDS = 10


@dataclass(frozen=True)
class Summary:
    """What Garmin's list says about the activity (stored when it was listed)."""

    start: datetime | None
    duration_s: float | None  # Garmin's `duration`: the timer time
    elapsed_s: float | None  # `elapsedDuration`, when the list gave it

    @classmethod
    def of(cls, start: datetime | None, duration_s: float | None, summary_json: str | None) -> Summary:
        elapsed = None
        try:
            item = json.loads(summary_json) if summary_json else None
            if isinstance(item, dict):
                elapsed = finite(item.get("elapsedDuration"))
        except ValueError:
            elapsed = None
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=UTC)  # SQLite hands back naive UTC
        return cls(start, finite(duration_s), elapsed)


@dataclass
class DeepCheck:
    """Each check's outcome (`passed`, `failed`, `skipped`) and the first failure's reason."""

    outcomes: dict[str, str] = field(default_factory=dict)
    check: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.check is None

    def passed(self, name: str) -> None:
        self.outcomes[name] = "passed"

    def failed(self, name: str, reason: str) -> None:
        self.outcomes[name] = "failed"
        if self.check is None:
            self.check, self.reason = name, reason

    def finish(self) -> DeepCheck:
        for name in CHECKS:
            self.outcomes.setdefault(name, "skipped")
        return self


def decode(data: bytes) -> tuple[dict[str, list[dict[str, Any]]], int | None, str | None]:
    """(messages by kind, the first message's number, why decoding failed or None)."""
    first: list[int] = []

    def listen(mesg_num: int, _message: Any) -> None:
        if not first:
            first.append(mesg_num)

    try:
        messages, errors = Decoder(Stream.from_byte_array(bytearray(data))).read(
            # The CRC was checked already; components, sub-fields and merged heart
            # rates are not needed here and cost half the time.
            enable_crc_check=False,
            expand_components=False,
            expand_sub_fields=False,
            merge_heart_rates=False,
            mesg_listener=listen,
        )
    except Exception as exc:  # the SDK reports most errors, but a hostile file may still surprise it
        return {}, None, f"the FIT SDK failed on it: {_short(exc)}"
    if errors:
        return {}, None, f"the FIT SDK could not decode it: {_short(errors[0])}"
    if not first:
        return {}, None, "the FIT SDK found no message in it"
    return cast(dict[str, list[dict[str, Any]]], messages), first[0], None


def deep_check(data: bytes, summary: Summary) -> DeepCheck:
    """Run every check on one FIT file against Garmin's summary of the activity."""
    result = DeepCheck()
    messages, first, problem = decode(data)
    if problem is not None:
        result.failed("decodes", problem)
        return result.finish()
    result.passed("decodes")
    _file_id(result, messages, first)
    activities = messages.get("activity_mesgs") or []
    sessions = messages.get("session_mesgs") or []
    if activities:
        result.passed("activity")
    else:
        result.failed("activity", "no Activity message")
    _sessions(result, activities, sessions)
    if sessions:
        _start(result, sessions, summary)
        _duration(result, sessions, summary)
        _records(result, sessions, len(messages.get("record_mesgs") or []))
    return result.finish()


def _file_id(result: DeepCheck, messages: dict[str, list[dict[str, Any]]], first: int | None) -> None:
    file_ids = messages.get("file_id_mesgs") or []
    if first != FILE_ID_MESG or not file_ids:
        result.failed("file_id", "the first message is not a File Id")
        return
    kind = file_ids[0].get("type")
    if kind != ACTIVITY_TYPE:
        result.failed("file_id", f"the File Id says type {_short(kind)}, not activity")
        return
    result.passed("file_id")


def _sessions(result: DeepCheck, activities: list[dict[str, Any]], sessions: list[dict[str, Any]]) -> None:
    expected = _number(activities[0].get("num_sessions")) if activities else None
    if not sessions:
        result.failed("sessions", "no Session message")
    elif expected is not None and expected != len(sessions):
        result.failed(
            "sessions",
            f"the Activity message counts {expected:.0f} session(s), the file holds {len(sessions)}",
        )
    else:
        result.passed("sessions")


def _start(result: DeepCheck, sessions: list[dict[str, Any]], summary: Summary) -> None:
    start = sessions[0].get("start_time")
    if summary.start is None or not isinstance(start, datetime):
        return  # nothing to compare: skipped
    off = abs((start - summary.start).total_seconds())
    if off > TIME_TOLERANCE_S:
        result.failed(
            "start",
            f"the session starts at {start.isoformat()}, Garmin says {summary.start.isoformat()} "
            f"({off:.0f} s apart)",
        )
        return
    result.passed("start")


def _total(sessions: list[dict[str, Any]], key: str) -> float | None:
    values = [_number(session.get(key)) for session in sessions]
    return None if any(value is None for value in values) else sum(v for v in values if v is not None)


def _duration(result: DeepCheck, sessions: list[dict[str, Any]], summary: Summary) -> None:
    """Elapsed time against `elapsedDuration`, else timer time against `duration`."""
    pairs = (
        ("elapsed", _total(sessions, "total_elapsed_time"), summary.elapsed_s),
        ("timer", _total(sessions, "total_timer_time"), summary.duration_s),
    )
    for name, in_file, garmin in pairs:
        if in_file is None or garmin is None:
            continue
        if abs(in_file - garmin) > TIME_TOLERANCE_S:
            result.failed("duration", f"the {name} time is {in_file:.0f} s, Garmin says {garmin:.0f} s")
        else:
            result.passed("duration")
        return


def _records(result: DeepCheck, sessions: list[dict[str, Any]], records: int) -> None:
    """At most two a second of elapsed time, at least one per five minutes of timer time."""
    elapsed = _total(sessions, "total_elapsed_time")
    timer = _total(sessions, "total_timer_time")
    longest, running = elapsed or timer, timer or elapsed
    if longest is None or running is None:
        return
    if records > longest * MAX_RECORDS_PER_S + SLACK_RECORDS:
        result.failed("records", f"{records} records for {longest:.0f} s: more than two a second")
    elif running >= 60 and records < max(1, int(running * MIN_RECORDS_PER_S)):
        result.failed("records", f"{records} records for {running:.0f} s: fewer than one per 5 minutes")
    else:
        result.passed("records")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _short(value: object, limit: int = 120) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
