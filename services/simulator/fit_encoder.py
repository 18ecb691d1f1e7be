"""A small, real FIT encoder for the simulator's activity files.

The product's FIT check must be exercised against files it did not write
itself, so this module encodes FIT from scratch (header, definition and data
messages, CRCs; the wire format is in ``fit_protocol``) with no product code
and no SDK encoder. The official ``garmin_fit_sdk.Decoder`` reads the result
in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from .fit_protocol import (
    BaseType,
    Field,
    FieldValue,
    FitEncoder,
    fit_crc,
    fit_timestamp,
    semicircles,
)

__all__ = ["DEFECTS", "FitActivity", "FitLap", "FitRecord", "corrupt_crc", "encode_activity", "fit_crc"]


@dataclass(frozen=True)
class FitRecord:
    """One sampled point; position/distance/speed are None indoors."""

    timestamp: datetime
    heart_rate: int
    cadence: int | None = None
    lat: float | None = None
    lon: float | None = None
    altitude_m: float | None = None
    distance_m: float | None = None
    speed_mps: float | None = None


@dataclass(frozen=True)
class FitLap:
    """A lap over records[first:last+1]."""

    first: int
    last: int


@dataclass(frozen=True)
class FitActivity:
    """Everything the encoder writes for one activity."""

    time_created: datetime
    serial_number: int
    product: int
    sport: int
    sub_sport: int
    utc_offset_s: int
    records: list[FitRecord]
    laps: list[FitLap] = field(default_factory=list)
    calories: int = 0
    # What the summary says (Garmin's `duration` and `elapsedDuration`); None: the records' span.
    timer_s: float | None = None
    elapsed_s: float | None = None
    defect: str = ""  # one of DEFECTS: a file whose CRC is sound but whose content is wrong


# Files that pass every CRC but are not a sound recording of the activity (simulator faults).
DEFECTS = (
    "course_file",  # File Id of type course, not activity
    "file_id_late",  # a Device Info message before the File Id
    "no_activity",  # no Activity message
    "session_count",  # the Activity message counts two sessions, the file holds one
    "wrong_start",  # the session starts an hour after the activity
    "wrong_duration",  # the session lasts half as long as Garmin says
    "few_records",  # two records for the whole activity
)


# Global message numbers.
FILE_ID, SESSION, LAP, RECORD, EVENT, ACTIVITY, DEVICE_INFO = 0, 18, 19, 20, 21, 34, 23
MANUFACTURER_GARMIN = 1


def _summary(records: Sequence[FitRecord]) -> dict[str, FieldValue]:
    first, last = records[0], records[-1]
    elapsed = (last.timestamp - first.timestamp).total_seconds()
    hrs = [r.heart_rate for r in records]
    speeds = [r.speed_mps for r in records if r.speed_mps is not None]
    dist = None
    if last.distance_m is not None and first.distance_m is not None:
        dist = last.distance_m - first.distance_m
    return {
        "start": fit_timestamp(first.timestamp),
        "end": fit_timestamp(last.timestamp),
        "elapsed_ms": round(elapsed * 1000),
        "distance_cm": None if dist is None else round(dist * 100),
        "avg_speed": None if not speeds else round(sum(speeds) / len(speeds) * 1000),
        "max_speed": None if not speeds else round(max(speeds) * 1000),
        "avg_hr": round(sum(hrs) / len(hrs)),
        "max_hr": max(hrs),
        "start_lat": None if first.lat is None else semicircles(first.lat),
        "start_lon": None if first.lon is None else semicircles(first.lon),
        "end_lat": None if last.lat is None else semicircles(last.lat),
        "end_lon": None if last.lon is None else semicircles(last.lon),
    }


def encode_activity(act: FitActivity) -> bytes:
    """Encode an activity file: file_id, events, records, laps, session, activity."""
    if len(act.records) < 2:
        raise ValueError("an activity needs at least two records")
    if act.defect and act.defect not in DEFECTS:
        raise ValueError(f"defect must be one of {DEFECTS}")
    if act.defect == "few_records":
        act = replace(act, records=[act.records[0], act.records[-1]], laps=[])
    enc = FitEncoder()
    created = fit_timestamp(act.time_created)
    file_id: list[Field] = [
        (0, BaseType.ENUM, 6 if act.defect == "course_file" else 4),  # type = course / activity
        (1, BaseType.UINT16, MANUFACTURER_GARMIN),
        (2, BaseType.UINT16, act.product),
        (3, BaseType.UINT32Z, act.serial_number),
        (4, BaseType.UINT32, created),
    ]
    device_info: list[Field] = [
        (253, BaseType.UINT32, created),
        (0, BaseType.UINT8, 0),  # device_index = creator
        (2, BaseType.UINT16, MANUFACTURER_GARMIN),
        (3, BaseType.UINT32Z, act.serial_number),
        (4, BaseType.UINT16, act.product),
        (5, BaseType.UINT16, 2710),  # software 27.10
    ]
    header = [(DEVICE_INFO, device_info), (FILE_ID, file_id)]
    for number, content in header if act.defect == "file_id_late" else reversed(header):
        enc.message(number, content)
    start = fit_timestamp(act.records[0].timestamp)
    enc.message(
        EVENT,
        [(253, BaseType.UINT32, start), (0, BaseType.ENUM, 0), (1, BaseType.ENUM, 0)],
    )
    for rec in act.records:
        fields: list[Field] = [(253, BaseType.UINT32, fit_timestamp(rec.timestamp))]
        if rec.lat is not None and rec.lon is not None:
            fields.append((0, BaseType.SINT32, semicircles(rec.lat)))
            fields.append((1, BaseType.SINT32, semicircles(rec.lon)))
        if rec.altitude_m is not None:
            fields.append((2, BaseType.UINT16, round((rec.altitude_m + 500) * 5)))
        fields.append((3, BaseType.UINT8, rec.heart_rate))
        if rec.cadence is not None:
            fields.append((4, BaseType.UINT8, rec.cadence))
        if rec.distance_m is not None:
            fields.append((5, BaseType.UINT32, round(rec.distance_m * 100)))
        if rec.speed_mps is not None:
            fields.append((6, BaseType.UINT16, round(rec.speed_mps * 1000)))
        enc.message(RECORD, fields)
    end = fit_timestamp(act.records[-1].timestamp)
    enc.message(
        EVENT,
        [(253, BaseType.UINT32, end), (0, BaseType.ENUM, 0), (1, BaseType.ENUM, 4)],
    )
    laps = act.laps or [FitLap(0, len(act.records) - 1)]
    for index, lap in enumerate(laps):
        s = _summary(act.records[lap.first : lap.last + 1])
        enc.message(
            LAP,
            [
                (254, BaseType.UINT16, index),
                (253, BaseType.UINT32, s["end"]),
                (0, BaseType.ENUM, 9),  # event = lap
                (1, BaseType.ENUM, 1),  # event_type = stop
                (2, BaseType.UINT32, s["start"]),
                (3, BaseType.SINT32, s["start_lat"]),
                (4, BaseType.SINT32, s["start_lon"]),
                (5, BaseType.SINT32, s["end_lat"]),
                (6, BaseType.SINT32, s["end_lon"]),
                (7, BaseType.UINT32, s["elapsed_ms"]),
                (8, BaseType.UINT32, s["elapsed_ms"]),
                (9, BaseType.UINT32, s["distance_cm"]),
                (13, BaseType.UINT16, s["avg_speed"]),
                (14, BaseType.UINT16, s["max_speed"]),
                (15, BaseType.UINT8, s["avg_hr"]),
                (16, BaseType.UINT8, s["max_hr"]),
                (25, BaseType.ENUM, act.sport),
            ],
        )
    s = _summary(act.records)
    timer_ms = s["elapsed_ms"] if act.timer_s is None else round(act.timer_s * 1000)
    elapsed_ms = s["elapsed_ms"] if act.elapsed_s is None else round(act.elapsed_s * 1000)
    session_start = s["start"]
    if act.defect == "wrong_start":
        session_start = int(s["start"] or 0) + 3600
    elif act.defect == "wrong_duration":
        timer_ms, elapsed_ms = int(timer_ms or 0) // 2, int(elapsed_ms or 0) // 2
    enc.message(
        SESSION,
        [
            (254, BaseType.UINT16, 0),
            (253, BaseType.UINT32, s["end"]),
            (0, BaseType.ENUM, 8),  # event = session
            (1, BaseType.ENUM, 1),  # event_type = stop
            (2, BaseType.UINT32, session_start),
            (3, BaseType.SINT32, s["start_lat"]),
            (4, BaseType.SINT32, s["start_lon"]),
            (5, BaseType.ENUM, act.sport),
            (6, BaseType.ENUM, act.sub_sport),
            (7, BaseType.UINT32, elapsed_ms),
            (8, BaseType.UINT32, timer_ms),
            (9, BaseType.UINT32, s["distance_cm"]),
            (11, BaseType.UINT16, act.calories),
            (14, BaseType.UINT16, s["avg_speed"]),
            (15, BaseType.UINT16, s["max_speed"]),
            (16, BaseType.UINT8, s["avg_hr"]),
            (17, BaseType.UINT8, s["max_hr"]),
            (25, BaseType.UINT16, 0),
            (26, BaseType.UINT16, len(laps)),
        ],
    )
    if act.defect == "no_activity":
        return enc.finish()
    enc.message(
        ACTIVITY,
        [
            (253, BaseType.UINT32, end),
            (0, BaseType.UINT32, timer_ms),
            (1, BaseType.UINT16, 2 if act.defect == "session_count" else 1),
            (2, BaseType.ENUM, 0),  # type = manual (what devices write)
            (3, BaseType.ENUM, 26),  # event = activity
            (4, BaseType.ENUM, 1),  # event_type = stop
            (5, BaseType.UINT32, end + act.utc_offset_s),
        ],
    )
    return enc.finish()


def corrupt_crc(fit: bytes) -> bytes:
    """Return the file with its trailing CRC flipped (structure intact)."""
    return fit[:-2] + bytes([fit[-2] ^ 0xFF, fit[-1] ^ 0x5A])
