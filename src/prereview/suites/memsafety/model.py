"""The pieces a generated program is made of, and the messages that drive them.

A program is a framing (how the input splits into messages) plus handlers (one per message kind):
session gates, bug-free decoys and the one vulnerable core. Every handler knows both its C text
(a template) and, for each message it builds, the exact lines the program must print. Inputs are
therefore correct by construction and their expected output is known without running anything.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Endian = Literal["be", "le"]
CRASH_MARKER = " /*@CRASH*/"


@dataclass(frozen=True)
class Message:
    """One message as the framing delivers it to the dispatcher."""

    kind: int
    body: bytes
    lines: tuple[str, ...] = ()
    rejected: bool = False
    counted: bool = True  # False for a kind no handler knows (the framing reports it instead)
    stateful: bool = False  # later messages depend on it (gates, stream open/close): never drop it


@dataclass(frozen=True)
class Event:
    """Something the framing itself prints (a skipped packet, a fatal error)."""

    line: str
    fatal: bool = False


Item = Message | Event


def expected_output(items: list[Item]) -> tuple[str, int]:
    """What the program prints for a stream of items, and its exit status."""
    lines: list[str] = []
    messages = rejected = 0
    status = 0
    for item in items:
        if isinstance(item, Event):
            lines.append(item.line)
            if item.fatal:
                status = 1
                break
        else:
            lines.extend(item.lines)
            messages += int(item.counted)
            rejected += int(item.rejected)
    lines.append(f"summary: messages={messages} rejected={rejected}")
    return "".join(line + "\n" for line in lines), status


@dataclass
class Style:
    """Program-wide choices every template shares: byte order of payload fields."""

    endian: Endian

    @property
    def rd16(self) -> str:
        return f"rd16{self.endian}"

    @property
    def rd32(self) -> str:
        return f"rd32{self.endian}"

    def u16(self, value: int) -> bytes:
        return struct.pack(">H" if self.endian == "be" else "<H", value & 0xFFFF)

    def u32(self, value: int) -> bytes:
        return struct.pack(">I" if self.endian == "be" else "<I", value & 0xFFFFFFFF)


def pack(value: int, width: int, endian: Endian) -> bytes:
    return (value & ((1 << (8 * width)) - 1)).to_bytes(width, "big" if endian == "be" else "little")


@dataclass
class SubHeader:
    """A nested header in front of a message body: tag, revision, length, digest (per tier)."""

    fields: tuple[str, ...]
    magic: int
    version: int

    @classmethod
    def draw(cls, rng: random.Random, fields: tuple[str, ...]) -> SubHeader | None:
        if not fields:
            return None
        bits = 16 if "magic16" in fields else 32
        magic = rng.randrange(1 << (bits - 4), 1 << bits)
        return cls(fields, magic, rng.randrange(1, 16))

    @property
    def magic_bytes(self) -> int:
        return 2 if "magic16" in self.fields else 4

    @property
    def size(self) -> int:
        size = self.magic_bytes
        size += 1 if "version" in self.fields else 0
        size += 2 if "length" in self.fields else 0
        size += 2 if "digest" in self.fields else 0
        return size

    def offsets(self) -> dict[str, int]:
        off = self.magic_bytes
        out = {}
        for name, width in (("version", 1), ("length", 2), ("digest", 2)):
            if name in self.fields:
                out[name] = off
                off += width
        return out

    def wrap(self, body: bytes, style: Style, *, magic: int | None = None) -> bytes:
        from prereview.suites.memsafety.checksums import digest16

        m = self.magic if magic is None else magic
        head = style.u16(m) if self.magic_bytes == 2 else style.u32(m)
        if "version" in self.fields:
            head += bytes([self.version])
        if "length" in self.fields:
            head += style.u16(len(body))
        if "digest" in self.fields:
            head += style.u16(digest16(body))
        return head + body


@dataclass
class Handler:
    """A message handler: its C text comes from `template`, its messages from Python methods."""

    template: ClassVar[str]
    name_pool: ClassVar[tuple[str, ...]]
    role: ClassVar[str] = "decoy"
    stateful: ClassVar[bool] = False  # its messages change what later messages do

    label: str = ""  # what the program prints for it, e.g. "set_label"
    kind: int = 0
    sub: SubHeader | None = None
    needs: tuple[str, ...] = ()  # session flags required before it does anything
    needs_mode: int | None = None  # session mode required (maintenance mode)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def fn(self) -> str:
        return f"handle_{self.label}"

    @property
    def kind_macro(self) -> str:
        return f"MSG_{self.label.upper()}"

    types_template: ClassVar[str | None] = None  # C type definitions emitted before all handlers

    def helpers_needed(self) -> set[str]:
        """C utilities (prelude functions) this handler's text calls."""
        return set()

    def session_fields(self) -> list[str]:
        return []

    def defines(self) -> list[tuple[str, str]]:
        return []

    def cleanup(self) -> list[str]:
        """C lines run when the session ends (freeing what the handler keeps in the session)."""
        return []

    def message(
        self, body: bytes, style: Style, lines: tuple[str, ...], *, rejected: bool = False
    ) -> Message:
        wrapped = self.sub.wrap(body, style) if self.sub else body
        return Message(self.kind, wrapped, lines, rejected, stateful=self.stateful)

    def reject(self, body: bytes, style: Style, why: str) -> Message:
        return self.message(body, style, (f"reject {self.label}: {why}",), rejected=True)
