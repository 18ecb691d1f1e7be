"""FIT integrity checks (header, data size, CRC) and original-format sniffing.

A file is `downloaded` only after this says so: Garmin sometimes serves a
truncated body, and originals uploaded as GPX or TCX must never be saved as
`.fit`. The CRC is the FIT SDK's nibble-table CRC-16.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_CRC_TABLE = (
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
)  # fmt: skip


def fit_crc(data: bytes | memoryview, crc: int = 0) -> int:
    """FIT CRC-16 over `data`, continuing from `crc`."""
    for byte in data:
        tmp = _CRC_TABLE[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ _CRC_TABLE[byte & 0xF]
        tmp = _CRC_TABLE[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ _CRC_TABLE[(byte >> 4) & 0xF]
    return crc


@dataclass(frozen=True)
class FitCheck:
    ok: bool
    reason: str = ""
    files: int = 0  # a FIT file may chain several FIT files


def check_fit(data: bytes) -> FitCheck:
    """Validate every chained FIT file in `data`: header, sizes, header CRC, file CRC."""
    view = memoryview(data)
    offset = 0
    count = 0
    while offset < len(view):
        if len(view) - offset < 12:
            return FitCheck(False, f"truncated header at byte {offset}", count)
        header_size = view[offset]
        if header_size not in (12, 14):
            return FitCheck(False, f"header size {header_size} is not 12 or 14", count)
        if len(view) - offset < header_size:
            return FitCheck(False, "truncated header", count)
        data_size = struct.unpack_from("<I", view, offset + 4)[0]
        if bytes(view[offset + 8 : offset + 12]) != b".FIT":
            return FitCheck(False, "no .FIT signature", count)
        if header_size == 14:
            header_crc = struct.unpack_from("<H", view, offset + 12)[0]
            if header_crc and header_crc != fit_crc(view[offset : offset + 12]):
                return FitCheck(False, "header CRC mismatch", count)
        end = offset + header_size + data_size
        if end + 2 > len(view):
            return FitCheck(False, f"data size {data_size} runs past the end of the file", count)
        file_crc = struct.unpack_from("<H", view, end)[0]
        if fit_crc(view[offset:end]) != file_crc:
            return FitCheck(False, "file CRC mismatch", count)
        count += 1
        offset = end + 2
    if count == 0:
        return FitCheck(False, "empty file", 0)
    return FitCheck(True, "", count)


def sniff_format(name: str, data: bytes) -> str:
    """The true format of an original: `fit`, `gpx`, `tcx`, or the entry's extension."""
    if len(data) >= 12 and data[8:12] == b".FIT":
        return "fit"
    head = data[:2048].lstrip().lower()
    if head.startswith(b"<?xml") or head.startswith(b"<"):
        if b"<gpx" in head:
            return "gpx"
        if b"<trainingcenterdatabase" in head:
            return "tcx"
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else "bin"
    return "".join(ch for ch in suffix if ch.isalnum())[:8] or "bin"
