"""Session gates: the multi-message state machine in front of the vulnerable path.

`hello` opens a session (device id, protocol version, a nonce at tier 5); `auth` checks a token
derived from the session with CRC-32, a secret salt and key; `mode` switches to maintenance mode,
keyed to the session at tier 5. Reaching the bug takes the right messages in the right order.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from typing import ClassVar

from prereview.suites.memsafety.checksums import crc32
from prereview.suites.memsafety.model import Handler, Message, Style


@dataclass
class SessionKeys:
    """What the gates left in the session: inputs to later gates' derivations."""

    device_id: int = 0
    nonce: int = 0


@dataclass
class HelloGate(Handler):
    template: ClassVar[str] = "handlers/hello.c.j2"
    name_pool: ClassVar[tuple[str, ...]] = (
        "hello",
        "session_open",
        "associate",
        "logon",
        "connect",
    )
    role: ClassVar[str] = "gate"
    stateful: ClassVar[bool] = True

    def open(self, style: Style, keys: SessionKeys, protocol: int) -> Message:
        body = style.u32(keys.device_id) + bytes([protocol])
        if self.params.get("nonce"):
            body += style.u32(keys.nonce)
        return Message(
            self.kind, body, (f"{self.label} device={keys.device_id:08x}",), stateful=True
        )


@dataclass
class AuthGate(Handler):
    template: ClassVar[str] = "handlers/auth.c.j2"
    name_pool: ClassVar[tuple[str, ...]] = (
        "auth",
        "authenticate",
        "login",
        "credentials",
        "unlock",
    )
    role: ClassVar[str] = "gate"
    stateful: ClassVar[bool] = True

    @classmethod
    def draw(cls, rng: random.Random, *, nonce: bool) -> dict[str, object]:
        salt = bytes(rng.randrange(256) for _ in range(rng.choice((4, 6, 8))))
        return {
            "salt": list(salt),
            "salt_c": ", ".join(f"0x{b:02X}" for b in salt),
            "key": rng.randrange(1 << 32),
            "rotate": rng.randrange(1, 32) if nonce else 0,
            "nonce": nonce,
            "derive": rng.choice(("session_token", "expected_token", "derive_key")),
        }

    def helpers_needed(self) -> set[str]:
        return {"crc32"}

    def token(self, keys: SessionKeys) -> int:
        buf = struct.pack(">I", keys.device_id)
        if self.params["nonce"]:
            buf += struct.pack("<I", keys.nonce)
        v = crc32(buf + bytes(self.params["salt"]))
        r = int(self.params["rotate"])
        if r:
            v = ((v << r) | (v >> (32 - r))) & 0xFFFFFFFF
        return v ^ int(self.params["key"])

    def login(self, style: Style, keys: SessionKeys, *, wrong: bool = False) -> Message:
        token = self.token(keys) ^ (0x00010000 if wrong else 0)
        if wrong:
            return Message(
                self.kind,
                style.u32(token),
                (f"reject {self.label}: bad token",),
                rejected=True,
                stateful=True,
            )
        return Message(self.kind, style.u32(token), (f"{self.label} ok",), stateful=True)


@dataclass
class ModeGate(Handler):
    template: ClassVar[str] = "handlers/mode.c.j2"
    name_pool: ClassVar[tuple[str, ...]] = (
        "set_mode",
        "mode_change",
        "operating_mode",
        "switch_mode",
    )
    role: ClassVar[str] = "gate"
    stateful: ClassVar[bool] = True
    maintenance: int = 0
    max_mode: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def switch(self, style: Style, keys: SessionKeys, mode: int) -> Message:
        body = bytes([mode])
        if self.params.get("keyed"):
            key = 0
            if mode == self.maintenance:
                key = (
                    (keys.device_id >> 16) ^ keys.device_id ^ keys.nonce ^ int(self.params["key"])
                ) & 0xFFFF
            body += style.u16(key)
        return self.message(body, style, (f"{self.label} mode={mode}",))
