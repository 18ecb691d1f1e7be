"""The FIT wire format: CRC, timestamps, base types, and a writer of messages.

Kept apart from ``fit_encoder`` (what an activity file holds) so each reads
on its own; like the rest of the simulator it shares nothing with the
product, which must check files it did not write.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
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
