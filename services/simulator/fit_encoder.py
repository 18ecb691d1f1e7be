"""A small, real FIT encoder for the simulator's activity files.

The product's FIT check must be exercised against files it did not write
itself, so this module encodes FIT from scratch (header, definition and data
messages, CRCs) with no product code and no SDK encoder. The official
``garmin_fit_sdk.Decoder`` reads the result in the tests.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

FIT_EPOCH = datetime(1989, 12, 31, tzinfo=UTC)
"""FIT timestamps count seconds from 1989-12-31T00:00:00Z."""

PROFILE_VERSION = 2132
PROTOCOL_VERSION = 0x20

_CRC_TABLE = (
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
)  # fmt: skip


def fit_crc(data: bytes, crc: int = 0) -> int:
    """The FIT CRC-16 (nibble table algorithm from the FIT protocol document)."""
    for byte in data:
        tmp = _CRC_TABLE[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ _CRC_TABLE[byte & 0xF]
        tmp = _CRC_TABLE[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ _CRC_TABLE[(byte >> 4) & 0xF]
    return crc


def fit_timestamp(dt: datetime) -> int:
    """Seconds since the FIT epoch for an aware datetime."""
    return int((dt - FIT_EPOCH).total_seconds())


def semicircles(degrees: float) -> int:
    """Degrees to FIT semicircles (2^31 per 180 degrees)."""
    return round(degrees * (2**31) / 180.0)


class BaseType(IntEnum):
    """FIT base type numbers (the byte written in a field definition)."""

    ENUM = 0x00
    SINT8 = 0x01
    UINT8 = 0x02
    SINT16 = 0x83
    UINT16 = 0x84
    SINT32 = 0x85
    UINT32 = 0x86
    STRING = 0x07
    FLOAT32 = 0x88
    UINT8Z = 0x0A
    UINT16Z = 0x8B
    UINT32Z = 0x8C


_FORMAT: dict[BaseType, str] = {
    BaseType.ENUM: "B",
    BaseType.SINT8: "b",
    BaseType.UINT8: "B",
    BaseType.SINT16: "h",
    BaseType.UINT16: "H",
    BaseType.SINT32: "i",
    BaseType.UINT32: "I",
    BaseType.FLOAT32: "f",
    BaseType.UINT8Z: "B",
    BaseType.UINT16Z: "H",
    BaseType.UINT32Z: "I",
}

_INVALID: dict[BaseType, int] = {
    BaseType.ENUM: 0xFF,
    BaseType.SINT8: 0x7F,
    BaseType.UINT8: 0xFF,
    BaseType.SINT16: 0x7FFF,
    BaseType.UINT16: 0xFFFF,
    BaseType.SINT32: 0x7FFFFFFF,
    BaseType.UINT32: 0xFFFFFFFF,
    BaseType.UINT8Z: 0,
    BaseType.UINT16Z: 0,
    BaseType.UINT32Z: 0,
}

FieldValue = int | float | str | None
Field = tuple[int, BaseType, FieldValue]
"""(field definition number, base type, value already scaled; None = invalid)."""


def _encode_field(base: BaseType, value: FieldValue) -> bytes:
    if base is BaseType.STRING:
        return (str(value or "")).encode("utf-8") + b"\x00"
    fmt = "<" + _FORMAT[base]
    if value is None:
        if base is BaseType.FLOAT32:
            return b"\xff\xff\xff\xff"
        return struct.pack(fmt, _INVALID[base])
    if base is BaseType.FLOAT32:
        return struct.pack(fmt, float(value))
    return struct.pack(fmt, int(value))


class FitEncoder:
    """Writes FIT messages, emitting a definition whenever a layout is new.

    Local message types 0-15 are reused round-robin, so any number of
    distinct layouts can be written.
    """

    def __init__(self) -> None:
        self._body = bytearray()
        self._locals: dict[tuple[object, ...], int] = {}
        self._by_local: dict[int, tuple[object, ...]] = {}
        self._next_local = 0

    def message(self, global_num: int, fields: Sequence[Field]) -> None:
        """Append one data message (and its definition if needed)."""
        encoded = [(num, base, _encode_field(base, value)) for num, base, value in fields]
        key: tuple[object, ...] = (
            global_num,
            tuple((num, len(raw), int(base)) for num, base, raw in encoded),
        )
        local = self._locals.get(key)
        if local is None:
            local = self._next_local
            self._next_local = (self._next_local + 1) % 16
            old = self._by_local.pop(local, None)
            if old is not None:
                self._locals.pop(old, None)
            self._locals[key] = local
            self._by_local[local] = key
            self._body += bytes([0x40 | local])
            self._body += struct.pack("<BBHB", 0, 0, global_num, len(encoded))
            for num, base, raw in encoded:
                self._body += struct.pack("<BBB", num, len(raw), int(base))
        self._body += bytes([local])
        for _num, _base, raw in encoded:
            self._body += raw

    def finish(self) -> bytes:
        """Return the whole file: 14-byte header (with CRC), data, file CRC."""
        data = bytes(self._body)
        header = struct.pack("<BBHI4s", 14, PROTOCOL_VERSION, PROFILE_VERSION, len(data), b".FIT")
        header += struct.pack("<H", fit_crc(header))
        content = header + data
        return content + struct.pack("<H", fit_crc(content))


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
    enc = FitEncoder()
    created = fit_timestamp(act.time_created)
    enc.message(
        FILE_ID,
        [
            (0, BaseType.ENUM, 4),  # type = activity
            (1, BaseType.UINT16, MANUFACTURER_GARMIN),
            (2, BaseType.UINT16, act.product),
            (3, BaseType.UINT32Z, act.serial_number),
            (4, BaseType.UINT32, created),
        ],
    )
    enc.message(
        DEVICE_INFO,
        [
            (253, BaseType.UINT32, created),
            (0, BaseType.UINT8, 0),  # device_index = creator
            (2, BaseType.UINT16, MANUFACTURER_GARMIN),
            (3, BaseType.UINT32Z, act.serial_number),
            (4, BaseType.UINT16, act.product),
            (5, BaseType.UINT16, 2710),  # software 27.10
        ],
    )
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
    enc.message(
        SESSION,
        [
            (254, BaseType.UINT16, 0),
            (253, BaseType.UINT32, s["end"]),
            (0, BaseType.ENUM, 8),  # event = session
            (1, BaseType.ENUM, 1),  # event_type = stop
            (2, BaseType.UINT32, s["start"]),
            (3, BaseType.SINT32, s["start_lat"]),
            (4, BaseType.SINT32, s["start_lon"]),
            (5, BaseType.ENUM, act.sport),
            (6, BaseType.ENUM, act.sub_sport),
            (7, BaseType.UINT32, s["elapsed_ms"]),
            (8, BaseType.UINT32, s["elapsed_ms"]),
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
    enc.message(
        ACTIVITY,
        [
            (253, BaseType.UINT32, end),
            (0, BaseType.UINT32, s["elapsed_ms"]),
            (1, BaseType.UINT16, 1),
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
