"""Checksums the generated programs verify, in Python, so inputs are built correct by construction.

Each has a C twin in `templates/prelude.c.j2` under the same name; verification runs the compiled
program on inputs made here, so any drift between the two fails the instance, never a review.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from itertools import accumulate


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def adler32(data: bytes) -> int:
    return zlib.adler32(data) & 0xFFFFFFFF


def _reflected_table(poly: int) -> tuple[int, ...]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC16_TABLE = _reflected_table(0xA001)
_CRC16_DNP_TABLE = _reflected_table(0xA6BC)


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (reflected 0x8005, init 0xFFFF); table-driven, as the structure-aware
    baseline serializes every mutant with it."""
    crc = 0xFFFF
    table = _CRC16_TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


def crc16_dnp(data: bytes) -> int:
    """CRC-16/DNP (reflected 0x3D65, init 0, final complement); table-driven."""
    crc = 0
    table = _CRC16_DNP_TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return ~crc & 0xFFFF


def fletcher16(data: bytes) -> int:
    # b is the sum of the running sums: both reduced once at the end (same value, C-speed loops)
    return ((sum(accumulate(data)) % 255) << 8) | (sum(data) % 255)


def inet16(data: bytes) -> int:
    """The Internet checksum (RFC 1071) as IPv4 and UDP use it."""
    if len(data) % 2:
        data += b"\0"
    words: tuple[int, ...] = struct.unpack(f">{len(data) // 2}H", data)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def digest16(data: bytes) -> int:
    """The cheap rolling digest some message sub-headers carry."""
    s = 0
    for b in data:
        s = (s * 31 + b) & 0xFFFF
    return s


def fnv1a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


ALGORITHMS: dict[str, tuple[Callable[[bytes], int], int]] = {
    "crc32": (crc32, 4),
    "adler32": (adler32, 4),
    "crc16": (crc16, 2),
    "crc16_dnp": (crc16_dnp, 2),
    "fletcher16": (fletcher16, 2),
    "inet16": (inet16, 2),
}


def checksum(name: str, data: bytes) -> int:
    return ALGORITHMS[name][0](data)


def width(name: str) -> int:
    return ALGORITHMS[name][1]
