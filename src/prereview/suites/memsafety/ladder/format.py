"""The input format as a protocol analyst would write it down, and the structure-aware codec.

The description holds what a format specification says: the framing (magic, version, header
field order, widths and byte order, the frame checksum and what it covers, sequence numbers,
a whole-file checksum), the message kinds the dispatcher accepts, and each kind's sub-header
layout (tag, revision, which length and digest fields follow). It holds nothing of an instance's
ground truth: not which handler is vulnerable, not its trigger, not the crash location, not the
session gates' tokens or modes (kinds are sorted, so none stands out).

The structure-aware rung fuzzes a *genotype*, a plain list of messages, and serializes each
mutant through the framing before the program sees it, so lengths, digests, checksums and
sequence numbers are always right and the fuzzer spends its effort on the message contents.
Genotype layout, repeated to the end: kind index (1 byte, modulo the number of kinds), body
length (2 bytes, big-endian, clipped to what is left), body. A body of a kind with a sub-header
is its tag and revision followed by the payload; serializing inserts the length and digest.
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prereview.suites.memsafety.checksums import digest16
from prereview.suites.memsafety.framings import Framing
from prereview.suites.memsafety.model import Message, Style

MAX_MESSAGES = 32
MAX_GENOTYPE = 2048
"""Mutants stay small: every one is serialized in Python before the program runs it."""
_MEMO = 1 << 16
"""Entries each codec memo holds before it starts over (bounds afl-fuzz's memory)."""
SIZES = (1, 5, 16)
"""Payload sizes of the starting genotypes: small fixed-size messages are common in formats."""


@dataclass(frozen=True)
class SubHeaderLayout:
    """A message sub-header as the format specifies it: tag bytes, then the fields listed."""

    tag: bytes
    version: int | None
    length: bool
    digest: bool


@dataclass
class FormatDescription:
    framing: Framing
    style: Style
    kinds: tuple[int, ...]
    subheaders: dict[int, SubHeaderLayout] = field(default_factory=dict)
    examples: tuple[bytes, ...] = ()  # the agent's example files, parsed (genotypes)
    # memos of the codec (a mutant shares most messages with its parent): never pickled
    _decoded: dict[bytes, tuple[tuple[int, bytes], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _messages: dict[tuple[int, bytes], Message] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_decoded"], state["_messages"] = {}, {}
        return state

    # -- genotype ------------------------------------------------------------------------------
    def decode(self, genotype: bytes) -> list[tuple[int, bytes]]:
        known = self._decoded.get(genotype)
        if known is not None:
            return list(known)
        out: list[tuple[int, bytes]] = []
        kinds, count = self.kinds, len(self.kinds)
        i, end = 0, len(genotype)
        while i < end and len(out) < MAX_MESSAGES:
            n = int.from_bytes(genotype[i + 1 : i + 3].ljust(2, b"\0"), "big")
            body = genotype[i + 3 : i + 3 + n]
            out.append((kinds[genotype[i] % count], body))
            i += 3 + len(body)
        if len(self._decoded) >= _MEMO:
            self._decoded.clear()
        self._decoded[genotype] = tuple(out)
        return out

    def encode(self, messages: list[tuple[int, bytes]]) -> bytes:
        out = b""
        for kind, body in messages:
            out += bytes([self.kinds.index(kind)]) + len(body).to_bytes(2, "big") + body
        return out

    def body(self, kind: int, raw: bytes) -> bytes:
        """A genotype body as the program reads it: the sub-header completed."""
        sub = self.subheaders.get(kind)
        if sub is None:
            return raw
        head = len(self._head(kind))
        fixed, payload = raw[:head].ljust(head, b"\0"), raw[head:]
        if sub.length:
            fixed += self.style.u16(len(payload))
        if sub.digest:
            fixed += self.style.u16(digest16(payload))
        return fixed + payload

    def serialize(self, genotype: bytes) -> bytes:
        return self.framing.frame([self._message(kind, raw) for kind, raw in self.decode(genotype)])

    def _message(self, kind: int, raw: bytes) -> Message:
        """The message a genotype entry stands for (memoized: mutants repeat their parent's)."""
        key = (kind, raw)
        m = self._messages.get(key)
        if m is None:
            if len(self._messages) >= _MEMO:
                self._messages.clear()
            m = self._messages[key] = Message(kind, self.body(kind, raw)[: self.framing.max_body])
        return m

    def carry(self, genotype: bytes, before: bytes, after: bytes) -> bytes | None:
        """The genotype whose serialization carries the byte changes that turned `before` (the
        serialization of `genotype`) into `after`, as comparison solving (CmpLog's
        input-to-state) makes them on the program's input: changes inside a message body map
        back to the message; changes to framing, lengths, digests or checksums are dropped, as
        serializing recomputes them. None when the lengths differ or nothing maps."""
        if len(before) != len(after):
            return None
        msgs = self.decode(genotype)
        changed = [i for i in range(len(before)) if before[i] != after[i]]
        if not changed:
            return None
        out: list[tuple[int, bytes]] = []
        pos, hit = 0, False
        for kind, raw in msgs:
            body = self.body(kind, raw)[: self.framing.max_body]
            at = before.find(body, pos) if body else -1
            if at < 0:
                out.append((kind, raw))
                continue
            pos = at + len(body)
            head = len(self._head(kind))
            sub = self.subheaders.get(kind)
            skip = 0 if sub is None else (2 if sub.length else 0) + (2 if sub.digest else 0)
            new = bytearray(raw)
            for i in changed:
                o = i - at
                if not 0 <= o < len(body):
                    continue
                r = o if o < head else o - skip if o >= head + skip else -1
                if 0 <= r < len(new):
                    new[r] = after[i]
                    hit = True
            out.append((kind, bytes(new)))
        return self.encode(out) if hit else None

    def genotype(self, messages: Sequence[Message]) -> bytes | None:
        """The genotype of a parsed message list (sub-header length and digest fields taken
        out, as serializing puts them back); None if a kind is not one the format lists."""
        out: list[tuple[int, bytes]] = []
        for m in messages:
            if m.kind not in self.kinds:
                return None
            sub = self.subheaders.get(m.kind)
            head = len(self._head(m.kind))
            skip = 0 if sub is None else (2 if sub.length else 0) + (2 if sub.digest else 0)
            out.append((m.kind, m.body[:head] + m.body[head + skip :]))
        return self.encode(out)

    def seeds(self) -> list[bytes]:
        """Starting genotypes from the description alone: each kind with a well-formed
        sub-header and payloads of a few sizes, and all kinds in a row."""
        singles = [self.encode([(k, self._template(k, n))]) for k in self.kinds for n in SIZES]
        row = self.encode([(k, self._template(k, 8)) for k in self.kinds])
        return [*self.examples, *singles, row]

    def _template(self, kind: int, size: int) -> bytes:
        sub = self.subheaders.get(kind)
        head = b"" if sub is None else sub.tag + (bytes([sub.version]) if sub.version else b"")
        return head + bytes(size)

    def mutate(
        self, genotype: bytes, donor: bytes, rng: random.Random, tokens: Sequence[bytes] = ()
    ) -> bytes:
        """One structural mutation, as libprotobuf-mutator does on a message tree: insert,
        drop, duplicate, swap or splice whole messages, retype one, resize a payload, or
        overwrite payload bytes with a boundary value, a random byte or a compared constant
        (`tokens`). Sub-header tags stay intact."""
        msgs = self.decode(genotype) or [(self.kinds[0], self._template(self.kinds[0], 4))]
        op = rng.randrange(10)
        i = rng.randrange(len(msgs))
        kind, body = msgs[i]
        head = len(self._head(kind))
        if op == 0:
            k = rng.choice(self.kinds)
            msgs.insert(rng.randrange(len(msgs) + 1), (k, self._template(k, rng.choice(SIZES))))
        elif op == 1 and len(msgs) > 1:
            del msgs[i]
        elif op == 2:
            msgs.insert(i, (kind, body))
        elif op == 3 and len(msgs) > 1:
            j = rng.randrange(len(msgs))
            msgs[i], msgs[j] = msgs[j], msgs[i]
        elif op == 4:
            other = self.decode(donor)
            if other:
                msgs.insert(rng.randrange(len(msgs) + 1), rng.choice(other))
        elif op == 5:
            k = rng.choice(self.kinds)
            msgs[i] = (k, self._head(k) + body[head:])
        elif op == 6:
            rest = body[head:]
            size = max(0, len(rest) + rng.choice((-8, -4, -2, -1, 1, 2, 4, 8, 32, 256)))
            msgs[i] = (kind, body[:head] + rest[:size].ljust(size, bytes([rng.randrange(256)])))
        elif op == 7:
            payload: bytearray = bytearray(body[head:])
            if payload:
                at = rng.randrange(len(payload))
                payload[at] = rng.randrange(256)
                msgs[i] = (kind, body[:head] + bytes(payload))
        elif op == 8 and tokens:
            payload = bytearray(body[head:])
            token = rng.choice(tokens)
            if len(payload) >= len(token):
                at = rng.randrange(len(payload) - len(token) + 1)
                payload[at : at + len(token)] = token
                msgs[i] = (kind, body[:head] + bytes(payload))
        else:
            payload = bytearray(body[head:])
            if payload:
                w = rng.choice((1, 2, 4))
                at = rng.randrange(len(payload))
                v = rng.choice((0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF))
                v += rng.choice((-1, 0, 1))
                raw = (v & ((1 << (8 * w)) - 1)).to_bytes(w, rng.choice(("big", "little")))
                payload[at : at + w] = raw
                msgs[i] = (kind, body[:head] + bytes(payload))
        out = self.encode(msgs[:MAX_MESSAGES])
        while len(out) > MAX_GENOTYPE and len(msgs) > 1:
            msgs.pop()
            out = self.encode(msgs[:MAX_MESSAGES])
        return out[:MAX_GENOTYPE]

    def _head(self, kind: int) -> bytes:
        sub = self.subheaders.get(kind)
        if sub is None:
            return b""
        return sub.tag + (bytes([sub.version]) if sub.version is not None else b"")

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self))


def read_dictionary(path: Path) -> list[bytes]:
    """Tokens of an AFL++ dictionary file (`name="\\x01A"` lines), at most 4096."""
    out: list[bytes] = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        start, end = line.find('"'), line.rfind('"')
        if start < 0 or end <= start:
            continue
        raw = line[start + 1 : end]
        try:
            token = raw.encode("latin-1").decode("unicode_escape").encode("latin-1")
        except (UnicodeDecodeError, UnicodeEncodeError):
            continue
        if 0 < len(token) <= 8 and token not in out:
            out.append(token)
    return out[:4096]


def load_description(path: Path) -> FormatDescription:
    """The description a ladder run wrote into its own work directory (never an agent file)."""
    desc = pickle.loads(path.read_bytes())  # noqa: S301 - written by this process moments ago
    if not isinstance(desc, FormatDescription):
        raise TypeError(f"{path} holds no format description")
    return desc


def example_genotypes(
    desc: FormatDescription, messages: Sequence[Sequence[Message]], files: Sequence[bytes]
) -> list[bytes]:
    """The agent's example files as genotypes: each example's message list is kept only when
    framing it reproduces an example file byte for byte (so it is exactly what parsing the file
    with the format description gives, nothing beyond what the agent holds); messages of a kind
    the dispatcher does not list are dropped, as a parser built from the description would."""
    out: list[bytes] = []
    for msgs in messages:
        if desc.framing.frame(list(msgs)) not in files:
            continue
        genotype = desc.genotype([m for m in msgs if m.kind in desc.kinds])
        if genotype is not None:
            out.append(genotype)
    return out


def describe(seed: int, tier: int, bug_class: str, index: int) -> FormatDescription:
    """The format description of a generated program, from the generator's plan: only the
    framing, byte order, the dispatcher's kinds and each kind's sub-header layout."""
    from prereview.suites.memsafety.generator import _plan
    from prereview.suites.memsafety.spec import BugClass

    plan, _ = _plan(seed, tier, BugClass(bug_class), index)
    subheaders: dict[int, SubHeaderLayout] = {}
    for h in plan.handlers:
        if h.sub is not None:
            tag = (
                plan.style.u16(h.sub.magic)
                if h.sub.magic_bytes == 2
                else plan.style.u32(h.sub.magic)
            )
            subheaders[h.kind] = SubHeaderLayout(
                tag=tag,
                version=h.sub.version if "version" in h.sub.fields else None,
                length="length" in h.sub.fields,
                digest="digest" in h.sub.fields,
            )
    return FormatDescription(
        framing=plan.framing,
        style=plan.style,
        kinds=tuple(sorted(h.kind for h in plan.handlers)),
        subheaders=subheaders,
    )
