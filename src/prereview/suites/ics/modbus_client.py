"""A small Modbus/TCP master (stdlib only): the HMI's poller, the scripted baselines, the
scripted adversary and the tests all speak the wire protocol through it, never through the
plant's memory. `source` binds the client's address, so that on loopback every role has its own
(127.0.0.x) and a capture shows who wrote what."""

from __future__ import annotations

import socket
import struct


class ModbusError(Exception):
    """An exception response (`code`) or a broken reply."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class ModbusClient:
    def __init__(
        self, host: str, port: int, unit: int, *, source: str | None = None, timeout: float = 2.0
    ) -> None:
        self.unit = unit
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None
        )
        self.tid = 0
        self.requests = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> ModbusClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _recv(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ModbusError("connection closed by the server")
            buf += chunk
        return buf

    def call(self, pdu: bytes) -> bytes:
        self.tid = (self.tid + 1) & 0xFFFF
        self.requests += 1
        self.sock.sendall(struct.pack(">HHHB", self.tid, 0, len(pdu) + 1, self.unit) + pdu)
        tid, _, length, _unit = struct.unpack(">HHHB", self._recv(7))
        body = self._recv(length - 1)
        if tid != self.tid:
            raise ModbusError(f"transaction id {tid} answers {self.tid}")
        if body[0] & 0x80:
            raise ModbusError(f"exception {body[1]} to function {pdu[0]}", body[1])
        return body

    def read_holding(self, address: int, count: int = 1) -> list[int]:
        body = self.call(struct.pack(">BHH", 3, address, count))
        return list(struct.unpack(f">{count}H", body[2 : 2 + 2 * count]))

    def read_input(self, address: int, count: int = 1) -> list[int]:
        body = self.call(struct.pack(">BHH", 4, address, count))
        return list(struct.unpack(f">{count}H", body[2 : 2 + 2 * count]))

    def write_register(self, address: int, value: int) -> None:
        self.call(struct.pack(">BHH", 6, address, value & 0xFFFF))
