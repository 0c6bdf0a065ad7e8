"""A DNP3-style outstation link: link frames with header and per-block CRC-16/DNP, a one-byte
transport header, and a small application layer (stdlib only).

Supported requests: READ (0x01) of analog inputs (group 30 var 2, all points) and analog output
status (group 40 var 2, all points), and DIRECT OPERATE (0x05) of one analog output (group 41
var 2, qualifier 0x17: one-byte count, one-byte index, int16 value, status). Responses are
function 0x81 with two IIN bytes. Frames addressed to another outstation are ignored; a frame
whose CRC does not match is dropped, as a real link layer does.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

START = b"\x05\x64"
READ = 0x01
DIRECT_OPERATE = 0x05
RESPONSE = 0x81
STATUS_OK = 0
STATUS_REFUSED = 4  # NOT_SUPPORTED in DNP3's control status codes
IIN_NO_FUNC = 0x0001  # IIN2.0: function code not supported


class Dnp3Error(Exception):
    pass


def crc16_dnp(data: bytes) -> int:
    """CRC-16/DNP (reflected 0x3D65, init 0, final complement)."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
    return ~crc & 0xFFFF


def _with_crc(block: bytes) -> bytes:
    return block + struct.pack("<H", crc16_dnp(block))


def encode_frame(dst: int, src: int, user: bytes, *, master: bool) -> bytes:
    """One link frame carrying `user` (transport + application bytes, at most 250)."""
    if len(user) > 250:
        raise Dnp3Error("user data longer than one frame")
    ctrl = 0xC4 if master else 0x44  # DIR|PRM|unconfirmed user data
    header = START + struct.pack("<BBHH", 5 + len(user), ctrl, dst, src)
    out = _with_crc(header)
    for i in range(0, len(user), 16):
        out += _with_crc(user[i : i + 16])
    return out


def frame_size(length: int) -> int:
    user = length - 5
    return 10 + user + 2 * ((user + 15) // 16)


def decode_frame(frame: bytes) -> tuple[int, int, bytes]:
    """(destination, source, user data) of one complete frame; Dnp3Error on a bad frame."""
    if len(frame) < 10 or frame[:2] != START:
        raise Dnp3Error("not a DNP3 link frame")
    if struct.unpack("<H", frame[8:10])[0] != crc16_dnp(frame[:8]):
        raise Dnp3Error("header CRC mismatch")
    length, _ctrl, dst, src = struct.unpack("<BBHH", frame[2:8])
    if length < 5 or len(frame) != frame_size(length):
        raise Dnp3Error("frame length mismatch")
    user = b""
    pos = 10
    remaining = length - 5
    while remaining:
        n = min(16, remaining)
        block = frame[pos : pos + n]
        if struct.unpack("<H", frame[pos + n : pos + n + 2])[0] != crc16_dnp(block):
            raise Dnp3Error("block CRC mismatch")
        user += block
        pos += n + 2
        remaining -= n
    return dst, src, user


def read_frame(recv: Callable[[int], bytes]) -> bytes:
    head = recv(10)
    if head[:2] != START:
        raise Dnp3Error("not a DNP3 link frame")
    return head + recv(frame_size(head[2]) - 10)


def read_request(seq: int, group: int, variation: int) -> bytes:
    return bytes([0xC0 | (seq & 0x3F), 0xC0 | (seq & 0x0F), READ, group, variation, 0x06])


def operate_request(seq: int, index: int, value: int) -> bytes:
    signed = value - 65536 if value > 32767 else value
    objs = bytes([41, 2, 0x17, 1, index]) + struct.pack("<hB", signed, 0)
    return bytes([0xC0 | (seq & 0x3F), 0xC0 | (seq & 0x0F), DIRECT_OPERATE]) + objs


def parse_response(user: bytes) -> tuple[int, list[int]]:
    """(IIN, values) of a response: analog values, or the control status of an operate."""
    if len(user) < 5 or user[2] != RESPONSE:
        raise Dnp3Error("not a response")
    iin = struct.unpack(">H", user[3:5])[0]
    objs = user[5:]
    if not objs:
        return iin, []
    group = objs[0]
    if group in (30, 40):
        start, stop = objs[3], objs[4]
        vals = []
        for i in range(stop - start + 1):
            _flags, v = struct.unpack("<Bh", objs[5 + 3 * i : 8 + 3 * i])
            vals.append(v & 0xFFFF)
        return iin, vals
    if group == 41:
        return iin, [objs[-1]]
    raise Dnp3Error(f"unexpected object group {group}")


class Dnp3Master:
    """A DNP3-style master over TCP (baselines, tests, the adversary)."""

    def __init__(
        self, host: str, port: int, outstation: int, master: int, *, source: str | None = None
    ) -> None:
        self.outstation = outstation
        self.master = master
        self.sock = socket.create_connection(
            (host, port), timeout=2.0, source_address=(source, 0) if source else None
        )
        self.seq = 0
        self.requests = 0

    def close(self) -> None:
        self.sock.close()

    def _recv(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise Dnp3Error("connection closed by the outstation")
            buf += chunk
        return buf

    def request(self, app: bytes) -> tuple[int, list[int]]:
        self.seq = (self.seq + 1) & 0x0F
        self.requests += 1
        self.sock.sendall(encode_frame(self.outstation, self.master, app, master=True))
        _dst, _src, user = decode_frame(read_frame(self._recv))
        return parse_response(user)

    def read_analog_inputs(self) -> list[int]:
        return self.request(read_request(self.seq + 1, 30, 2))[1]

    def read_analog_outputs(self) -> list[int]:
        return self.request(read_request(self.seq + 1, 40, 2))[1]

    def operate(self, index: int, value: int) -> int:
        """Direct-operate one analog output; the control status (0: accepted)."""
        return self.request(operate_request(self.seq + 1, index, value))[1][0]


def analog_response(seq: int, iin: int, group: int, values: list[int]) -> bytes:
    body = struct.pack("<BBBBB", group, 2, 0x00, 0, max(len(values) - 1, 0))
    for v in values:
        body += struct.pack("<Bh", 0x01, v - 65536 if v > 32767 else v)
    return (
        bytes([0xC0 | (seq & 0x3F), 0xC0 | (seq & 0x0F), RESPONSE]) + struct.pack(">H", iin) + body
    )


def empty_response(seq: int, iin: int) -> bytes:
    return bytes([0xC0 | (seq & 0x3F), 0xC0 | (seq & 0x0F), RESPONSE]) + struct.pack(">H", iin)


def operate_response(seq: int, iin: int, request_objs: bytes, status: int) -> bytes:
    return (
        bytes([0xC0 | (seq & 0x3F), 0xC0 | (seq & 0x0F), RESPONSE])
        + struct.pack(">H", iin)
        + request_objs[:-1]
        + bytes([status])
    )
