"""The planted bugs: one vulnerable handler ("core") per program, with its fix and its inputs.

A core renders two ways from one template (`fixed` false/true). It builds three kinds of message
flows by construction: benign ones (both builds agree and print the same lines), rejected ones
(both builds reject with the same line), and the trigger (the reference PoC's payload). The line
that faults is marked in the template, so the expected sanitizer location is exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from prereview.suites.memsafety.checksums import adler32, crc32, fnv1a
from prereview.suites.memsafety.decoys import area_message, printable, window_message
from prereview.suites.memsafety.model import Handler, Message, Style
from prereview.suites.memsafety.spec import BugClass


class DoesNotFitError(Exception):
    """The framing's message size cannot hold this core's trigger; the generator picks another."""


@dataclass
class Core(Handler):
    role: ClassVar[str] = "core"
    bug_class: ClassVar[BugClass]
    crash_kind: ClassVar[str]
    access: ClassVar[str | None]
    min_tier: ClassVar[int] = 1  # the lowest tier whose constraint depth the trigger fits

    def draw(self, rng: random.Random, max_body: int) -> None:
        """Choose constants so that the trigger fits `max_body` bytes (after the sub-header)."""

    @property
    def crash_function(self) -> str:
        return self.fn

    def aux(self) -> list[Handler]:
        """Companion handlers the bug needs (open/close of a stream)."""
        return []

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        raise NotImplementedError

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return []

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        raise NotImplementedError

    def _need(self, size: int, max_body: int) -> None:
        if size > max_body:
            raise DoesNotFitError(f"{type(self).__name__} trigger needs {size} bytes > {max_body}")


# -- stack-buffer-overflow ----------------------------------------------------------------------
@dataclass
class StackLabel(Core):
    template = "handlers/label.c.j2"
    name_pool = ("set_label", "station_name", "device_tag", "set_alias", "asset_name", "set_banner")
    bug_class = BugClass.STACK_OVERFLOW
    crash_kind = "stack-buffer-overflow"
    access = "WRITE"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {
            "cap": rng.choice((16, 24, 32, 40, 48, 64)),
            "field": rng.choice(("name", "label", "text")),
        }
        self._need(1 + self.params["cap"] + 1, min(max_body, 256))
        self.max_body = max_body

    def helpers_needed(self) -> set[str]:
        return {"printable"}

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        out = []
        for n in (rng.randrange(1, self.params["cap"]), self.params["cap"]):
            text = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(n))
            out.append(
                self.message(
                    bytes([n]) + text,
                    style,
                    (f"{self.label} {self.params['field']}={printable(text)}",),
                )
            )
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(bytes([200]) + b"truncated", style, "bad length")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        n = self.params["cap"] + rng.randrange(
            1, max(2, min(48, 256 - self.params["cap"], self.max_body - self.params["cap"] - 1))
        )
        return [
            self.message(bytes([n]) + bytes(rng.choice(b"ABCDEFGHIJ") for _ in range(n)), style, ())
        ]


@dataclass
class StackPoints(Core):
    template = "handlers/points.c.j2"
    name_pool = ("load_curve", "set_profile", "store_points", "trend_upload", "ramp_table")
    bug_class = BugClass.STACK_OVERFLOW
    crash_kind = "stack-buffer-overflow"
    access = "WRITE"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"cap": rng.choice((8, 12, 16, 24, 32, 48))}
        self._need(1 + 2 * (self.params["cap"] + 8), max_body)

    def _points(self, rng: random.Random, style: Style, count: int) -> tuple[bytes, int]:
        vals = [rng.randrange(0x10000) for _ in range(count)]
        return bytes([count]) + b"".join(style.u16(v) for v in vals), sum(vals)

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        out = []
        for count in (rng.randrange(0, self.params["cap"]), self.params["cap"]):
            body, total = self._points(rng, style, count)
            out.append(self.message(body, style, (f"{self.label} points={count} sum={total}",)))
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(bytes([5, 1, 2, 3]), style, "truncated points")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        body, _ = self._points(rng, style, self.params["cap"] + rng.randrange(1, 9))
        return [self.message(body, style, ())]


@dataclass
class StackExpand(Core):
    template = "handlers/expand.c.j2"
    name_pool = ("expand_mask", "decode_runs", "unpack_bitmap", "inflate_row", "decode_sprite")
    bug_class = BugClass.STACK_OVERFLOW
    crash_kind = "stack-buffer-overflow"
    access = "WRITE"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"cap": rng.choice((32, 48, 64, 96, 128))}
        self._need(2 + 2 * 8, max_body)

    def helpers_needed(self) -> set[str]:
        return {"fnv1a"}

    def _runs(self, rng: random.Random, total: int) -> tuple[bytes, bytes]:
        body = b""
        out = b""
        while len(out) < total:
            run = min(total - len(out), rng.randrange(1, 80))
            val = rng.randrange(256)
            body += bytes([run, val])
            out += bytes([val]) * run
        return body, out

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        cap = self.params["cap"]
        out = []
        for declared in (rng.randrange(1, cap), cap):
            body, data = self._runs(rng, rng.randrange(0, declared + 1))
            out.append(
                self.message(
                    style.u16(declared) + body,
                    style,
                    (f"{self.label} bytes={len(data)} hash={fnv1a(data):08x}",),
                )
            )
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(style.u16(4) + bytes([5, 0x41]), style, "output overflow")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        cap = self.params["cap"]
        body, _ = self._runs(rng, cap + rng.randrange(1, 40))
        return [self.message(style.u16(cap + 64) + body, style, ())]


# -- heap-buffer-overflow -----------------------------------------------------------------------
@dataclass
class HeapStore(Core):
    template = "handlers/store.c.j2"
    name_pool = ("store_blob", "upload_segment", "put_object", "cache_payload", "stage_update")
    bug_class = BugClass.HEAP_OVERFLOW
    crash_kind = "heap-buffer-overflow"
    access = "WRITE"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {
            "max": rng.choice((256, 512, 1024, 4096)),
            "algo": rng.choice(("crc32", "adler32", "fnv1a")),
        }
        self.max_body = max_body
        self._need(2 + 40, max_body)

    def helpers_needed(self) -> set[str]:
        return {self.params["algo"]}

    def _line(self, data: bytes) -> str:
        algo = {"crc32": crc32, "adler32": adler32, "fnv1a": fnv1a}[self.params["algo"]]
        return f"{self.label} stored={len(data)} digest={algo(data):08x}"

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        out = []
        for exact in (False, True):
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
            declared = max(1, len(data)) if exact else len(data) + rng.randrange(1, 60)
            out.append(self.message(style.u16(declared) + data, style, (self._line(data),)))
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(style.u16(0) + b"xy", style, "bad size")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        declared = rng.randrange(1, 24)
        m = declared + rng.randrange(1, min(64, self.max_body - 2 - declared))
        return [
            self.message(
                style.u16(declared) + bytes(rng.randrange(256) for _ in range(m)), style, ()
            )
        ]


@dataclass
class HeapBatch(Core):
    template = "handlers/batch.c.j2"
    name_pool = ("import_batch", "load_records", "queue_events", "bulk_update", "apply_batch")
    bug_class = BugClass.HEAP_OVERFLOW
    crash_kind = "heap-buffer-overflow"
    access = "WRITE"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"rec": rng.choice(("record", "entry", "row")) + f"_{rng.randrange(10, 99)}"}
        self._need(1 + 8 * 6, max_body)
        self.max_records = min(20, (max_body - 1) // 8 - 3)

    def _records(self, rng: random.Random, style: Style, k: int) -> tuple[bytes, int]:
        recs = [
            (rng.randrange(0x10000), rng.randrange(0x10000), rng.randrange(1 << 32))
            for _ in range(k)
        ]
        return b"".join(style.u16(a) + style.u16(b) + style.u32(c) for a, b, c in recs), sum(
            c for *_, c in recs
        )

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        out = []
        for k in (0, rng.randrange(1, self.max_records + 1)):
            body, total = self._records(rng, style, k)
            out.append(
                self.message(
                    bytes([k]) + body,
                    style,
                    (f"{self.label} records={k} total={total & 0xFFFFFFFF}",),
                )
            )
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(bytes([1]) + bytes(5), style, "bad record list")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        count = rng.randrange(1, self.max_records)
        body, _ = self._records(rng, style, count + rng.randrange(1, 4))
        return [self.message(bytes([count]) + body, style, ())]


# -- out-of-bounds read -------------------------------------------------------------------------
@dataclass
class OobChannels(Core):
    template = "handlers/channels.c.j2"
    name_pool = ("read_channels", "scale_inputs", "map_points", "convert_units", "apply_gain")
    bug_class = BugClass.OOB_READ
    crash_kind = "global-buffer-overflow"
    access = "READ"

    def draw(self, rng: random.Random, max_body: int) -> None:
        k = rng.randrange(6, 24)
        wrong = rng.random() < 0.5
        self.params = {
            "values": [rng.randrange(1, 60000) for _ in range(k)],
            "max_n": rng.choice((16, 32)),
            "table": rng.choice(("channel_gain", "input_scale", "unit_factor"))
            + f"_{rng.randrange(10, 99)}",
            "helper": rng.choice(("gain_for", "scale_of", "factor_at", "table_get")),
            "wrong_limit": wrong,
            "limit": k + rng.randrange(1, 5),
            "limit_macro": rng.choice(("MAX_CHANNELS", "CHANNEL_COUNT", "NUM_INPUTS")),
        }

    @property
    def crash_function(self) -> str:
        return str(self.params["helper"])

    def defines(self) -> list[tuple[str, str]]:
        return (
            [(str(self.params["limit_macro"]), str(self.params["limit"]))]
            if self.params["wrong_limit"]
            else []
        )

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        vals = self.params["values"]
        out = []
        for idx in (
            [len(vals) - 1],
            [rng.randrange(len(vals)) for _ in range(rng.randrange(1, self.params["max_n"]))],
        ):
            acc = sum(vals[i] for i in idx) & 0xFFFFFFFF
            out.append(self.message(bytes(idx), style, (f"{self.label} n={len(idx)} acc={acc}",)))
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(bytes([0, 255]), style, "bad channel")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        k = len(self.params["values"])
        return [self.message(bytes([rng.randrange(k), k]), style, ())]


@dataclass
class OobWindow(Core):
    template = "handlers/window.c.j2"
    name_pool = ("peek_buffer", "read_window", "extract_field", "slice_payload", "dump_range")
    bug_class = BugClass.OOB_READ
    crash_kind = "heap-buffer-overflow"
    access = "READ"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self._need(3 + 64, max_body)

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(4, 60)))
        edge = self.message(
            style.u16(1) + bytes([len(data) - 1]) + data,
            style,
            (f"{self.label} window={len(data) - 1} sum={sum(data[1:])}",),
        )
        return [window_message(self, rng, style), edge]

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(style.u16(7) + bytes([1]) + b"abc", style, "window out of range")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 48)))
        off = rng.randrange(len(data))
        ln = min(255, len(data) - off + rng.randrange(1, 16))
        return [self.message(style.u16(off) + bytes([ln]) + data, style, ())]


@dataclass
class OobHistory(Core):
    template = "handlers/history.c.j2"
    name_pool = ("replay_history", "recent_values", "history_window", "sample_history", "echo_back")
    bug_class = BugClass.OOB_READ
    crash_kind = "stack-buffer-overflow"
    access = "READ"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"cap": rng.choice((16, 24, 32, 48, 64))}
        self._need(2 + self.params["cap"], max_body)

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        out = []
        for fill in (rng.randrange(1, self.params["cap"]), self.params["cap"]):
            data = bytes(rng.randrange(256) for _ in range(fill))
            off = rng.randrange(fill)
            ln = fill - off if fill == self.params["cap"] else rng.randrange(0, fill - off + 1)
            out.append(
                self.message(
                    bytes([off, ln]) + data,
                    style,
                    (f"{self.label} window={ln} sum={sum(data[off : off + ln])}",),
                )
            )
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [
            self.reject(bytes([0, 1]) + bytes(self.params["cap"] + 1), style, "too much history")
        ]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        cap = self.params["cap"]
        off = cap - rng.randrange(1, 5)
        ln = min(255, cap - off + rng.randrange(1, 16))
        return [
            self.message(
                bytes([off, ln]) + bytes(rng.randrange(256) for _ in range(cap)), style, ()
            )
        ]


# -- use-after-free -----------------------------------------------------------------------------
@dataclass
class UafGrow(Core):
    # the trigger grows a message past its list's capacity, which takes coordinated edits of
    # every enclosing length field (four in a pcap): deeper than tier 1's flat lengths
    min_tier = 2
    template = "handlers/grow.c.j2"
    name_pool = ("append_items", "build_chain", "link_nodes", "queue_items", "collect_points")
    bug_class = BugClass.USE_AFTER_FREE
    crash_kind = "heap-use-after-free"
    access = "WRITE"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {
            "initial": rng.choice((2, 4, 8)),
            "max_items": rng.choice((32, 40)),
            "item": rng.choice(("item", "link", "cell")) + f"_{rng.randrange(10, 99)}",
        }
        self._need(6 * (self.params["initial"] + 3), max_body)

    def _items(self, rng: random.Random, style: Style, k: int) -> tuple[bytes, int]:
        vals = [(rng.randrange(0x10000), rng.randrange(1 << 32)) for _ in range(k)]
        return b"".join(style.u16(a) + style.u32(b) for a, b in vals), sum(
            b for _, b in vals
        ) & 0xFFFFFFFF

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        out = []
        for k in (rng.randrange(0, self.params["initial"]), self.params["initial"]):
            body, total = self._items(rng, style, k)
            out.append(
                self.message(
                    body, style, (f"{self.label} items={k} links={max(0, k - 1)} total={total}",)
                )
            )
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(bytes(7), style, "bad item list")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        body, _ = self._items(rng, style, self.params["initial"] + rng.randrange(1, 4))
        return [self.message(body, style, ())]


@dataclass
class UafJob(Core):
    template = "handlers/job.c.j2"
    name_pool = ("submit_job", "schedule_task", "queue_command", "enqueue_work", "post_job")
    bug_class = BugClass.USE_AFTER_FREE
    crash_kind = "heap-use-after-free"
    access = "READ"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {
            "max_priority": rng.randrange(3, 10),
            "job": f"job_{rng.randrange(10, 99)}",
            "field": f"last_{self.label}",
        }
        self._need(8 + 16, max_body)

    def session_fields(self) -> list[str]:
        return [f"uint32_t {self.params['field']};"]

    def _job(
        self,
        rng: random.Random,
        style: Style,
        prio: int,
        payload: bytes,
        *,
        length: int | None = None,
    ) -> bytes:
        ident = rng.randrange(1 << 32)
        ln = len(payload) if length is None else length
        return style.u32(ident) + bytes([prio, rng.randrange(256)]) + style.u16(ln) + payload

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        out = []
        for prio in (rng.randrange(0, self.params["max_priority"]), self.params["max_priority"]):
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
            body = self._job(rng, style, prio, payload)
            ident = int.from_bytes(body[:4], "big" if style.endian == "be" else "little")
            out.append(
                self.message(
                    body,
                    style,
                    (f"{self.label} id={ident:08x} priority={prio} length={len(payload)}",),
                )
            )
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(self._job(rng, style, 1, b"abc", length=9), style, "length mismatch")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        prio = rng.randrange(self.params["max_priority"] + 1, 256)
        return [
            self.message(
                self._job(rng, style, prio, bytes(rng.randrange(256) for _ in range(8))), style, ()
            )
        ]


@dataclass
class StreamPart(Handler):
    """open / data / close of a stream object kept in the session (the stream cores' companions)."""

    template: ClassVar[str] = "handlers/stream.c.j2"
    name_pool: ClassVar[tuple[str, ...]] = ()
    role: ClassVar[str] = "aux"
    stateful: ClassVar[bool] = True
    types_template: ClassVar[str] = "handlers/stream_types.c.j2"


STREAM_NAMES = {
    "open": ("open_stream", "begin_transfer", "start_session", "open_channel", "begin_upload"),
    "data": ("stream_data", "transfer_chunk", "session_data", "channel_write", "upload_chunk"),
    "close": ("close_stream", "end_transfer", "stop_session", "close_channel", "finish_upload"),
}


class StreamCoreMixin:
    """Message flows shared by the stream cores (use-after-free in data, double free in close)."""

    bug: ClassVar[str]
    crashing_part: ClassVar[str]
    parts: dict[str, Handler]
    params: dict[str, object]

    def _draw_parts(self, rng: random.Random, core: Handler) -> None:
        stream = (
            rng.choice(("stream", "transfer", "channel", "upload")) + f"_{rng.randrange(10, 99)}"
        )
        self.params = {"stream": stream, "part": self.crashing_part, "bug": self.bug}
        self.parts = {self.crashing_part: core}
        for part in ("open", "data", "close"):
            if part != self.crashing_part:
                self.parts[part] = StreamPart(
                    params={"stream": stream, "part": part, "bug": self.bug}
                )

    def _open(self, rng: random.Random, style: Style) -> tuple[Message, int]:
        ident = rng.randrange(1 << 32)
        h = self.parts["open"]
        return h.message(style.u32(ident), style, (f"{h.label} id={ident:08x}",)), ident

    def _close(self, style: Style, ident: int, data: bytes, *, crash: bool = False) -> Message:
        h = self.parts["close"]
        if crash:
            return h.message(b"", style, ())
        if self.bug == "double-free":
            return h.message(b"", style, (f"{h.label} id={ident:08x}",))
        return h.message(
            b"", style, (f"{h.label} id={ident:08x} bytes={len(data)} hash={fnv1a(data):08x}",)
        )

    def _data(self, rng: random.Random, style: Style, total: bytes) -> tuple[Message, bytes]:
        h = self.parts["data"]
        chunk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))
        total += chunk
        return h.message(chunk, style, (f"{h.label} bytes={len(chunk)} total={len(total)}",)), total

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        out: list[Message] = []
        for _ in range(2):
            msg, ident = self._open(rng, style)
            out.append(msg)
            total = b""
            for _ in range(rng.randrange(1, 4)):
                msg, total = self._data(rng, style, total)
                out.append(msg)
            out.append(self._close(style, ident, total))
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        data, close = self.parts["data"], self.parts["close"]
        return [
            data.reject(b"orphan", style, "no open stream"),
            close.reject(b"", style, "not open"),
        ]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        msg, ident = self._open(rng, style)
        out = [msg]
        total = b""
        for _ in range(rng.randrange(0, 3)):
            msg, total = self._data(rng, style, total)
            out.append(msg)
        out.append(self._close(style, ident, total))
        if self.bug == "uaf":
            out.append(
                self.parts["data"].message(bytes(rng.randrange(256) for _ in range(8)), style, ())
            )
        else:
            out.append(self._close(style, ident, total, crash=True))
        return out


@dataclass
class UafStream(StreamCoreMixin, Core):
    template = "handlers/stream.c.j2"
    name_pool = STREAM_NAMES["data"]
    types_template: ClassVar[str] = "handlers/stream_types.c.j2"
    bug_class = BugClass.USE_AFTER_FREE
    crash_kind = "heap-use-after-free"
    access = "READ"
    bug: ClassVar[str] = "uaf"
    stateful: ClassVar[bool] = True
    crashing_part: ClassVar[str] = "data"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self._draw_parts(rng, self)

    def aux(self) -> list[Handler]:
        return [h for part, h in self.parts.items() if part != self.crashing_part]

    def helpers_needed(self) -> set[str]:
        return set()

    def session_fields(self) -> list[str]:
        st = self.params["stream"]
        return [f"struct {st} *{st};", f"int {st}_open;", f"uint32_t {st}_id;"]

    def cleanup(self) -> list[str]:
        st = self.params["stream"]
        return [f"if (s->{st}_open)", f"    free(s->{st});"]


@dataclass
class DoubleFreeStream(StreamCoreMixin, Core):
    template = "handlers/stream.c.j2"
    name_pool = STREAM_NAMES["close"]
    types_template: ClassVar[str] = "handlers/stream_types.c.j2"
    bug_class = BugClass.DOUBLE_FREE
    crash_kind = "double-free"
    access = None
    bug: ClassVar[str] = "double-free"
    stateful: ClassVar[bool] = True
    crashing_part: ClassVar[str] = "close"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self._draw_parts(rng, self)

    def aux(self) -> list[Handler]:
        return [h for part, h in self.parts.items() if part != self.crashing_part]

    def session_fields(self) -> list[str]:
        st = self.params["stream"]
        return [f"struct {st} *{st};", f"int {st}_open;", f"uint32_t {st}_id;"]

    def cleanup(self) -> list[str]:
        st = self.params["stream"]
        return [f"if (s->{st}_open)", f"    free(s->{st});"]


# -- double free --------------------------------------------------------------------------------
@dataclass
class DoubleFreeEntries(Core):
    template = "handlers/entries.c.j2"
    name_pool = (
        "load_entries",
        "parse_directory",
        "index_table",
        "read_manifest",
        "import_catalog",
    )
    bug_class = BugClass.DOUBLE_FREE
    crash_kind = "double-free"
    access = None

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"max_entries": rng.choice((8, 16, 32)), "max_type": rng.randrange(3, 16)}
        self._need(1 + 2 * 4 + 16, max_body)
        self.most = max(2, min(self.params["max_entries"], (max_body - 1) // 13))

    def _entries(self, rng: random.Random, k: int) -> tuple[bytes, int]:
        body = b""
        total = 0
        for _ in range(k):
            ln = rng.randrange(0, 12)
            body += bytes([rng.randrange(self.params["max_type"] + 1), ln]) + bytes(
                rng.randrange(256) for _ in range(ln)
            )
            total += ln
        return body, total

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        out = []
        for k in (1, rng.randrange(2, self.most + 1)):
            body, total = self._entries(rng, k)
            out.append(
                self.message(bytes([k]) + body, style, (f"{self.label} entries={k} bytes={total}",))
            )
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        body, _ = self._entries(rng, 1)
        return [self.reject(bytes([3]) + body, style, "truncated entry")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        good = rng.randrange(0, 3)
        body, _ = self._entries(rng, good)
        body += bytes([rng.randrange(self.params["max_type"] + 1, 256), 0])
        return [self.message(bytes([good + 1 + rng.randrange(0, 3)]) + body, style, ())]

    def defines(self) -> list[tuple[str, str]]:
        return []


# -- integer overflow -----------------------------------------------------------------------------
@dataclass
class IntArea(Core):
    template = "handlers/area.c.j2"
    name_pool = ("render_tile", "alloc_frame", "fill_raster", "prepare_canvas", "blank_region")
    bug_class = BugClass.INTEGER_OVERFLOW
    crash_kind = "heap-buffer-overflow"
    access = "WRITE"

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"max_area": rng.choice((1024, 2048, 4096, 8192))}

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [area_message(self, rng, style), area_message(self, rng, style)]

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        return [self.reject(style.u16(300) + style.u16(300) + b"\x01", style, "bad dimensions")]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        max_area = self.params["max_area"]
        while True:
            w = rng.randrange(256, 4097)
            h = -(-65536 // w) + rng.randrange(0, 3)
            if 1 <= (w * h) % 65536 <= max_area and h < 65536:
                break
        return [self.message(style.u16(w) + style.u16(h) + bytes([rng.randrange(256)]), style, ())]


@dataclass
class IntOverlay(Core):
    template = "handlers/overlay.c.j2"
    name_pool = ("patch_config", "write_overlay", "update_region", "poke_memory", "set_block")
    bug_class = BugClass.INTEGER_OVERFLOW
    crash_kind = "global-buffer-overflow"
    access = "WRITE"

    def draw(self, rng: random.Random, max_body: int) -> None:
        cap = rng.randrange(150, 221)
        self.params = {
            "cap": cap,
            "region": rng.choice(("config_image", "param_block", "overlay_area"))
            + f"_{rng.randrange(10, 99)}",
        }
        # the trigger writes from just below the end past byte 255: 256 - cap + 4 bytes at most
        self._need(2 + (256 - cap) + 8, max_body)
        self.max_body = max_body

    def helpers_needed(self) -> set[str]:
        return {"fnv1a"}

    def benign_flow(self, rng: random.Random, style: Style) -> list[Message]:
        cap = self.params["cap"]
        out = []
        for off, ln in ((rng.randrange(0, cap - 8), rng.randrange(1, 8)), (cap - 4, 4)):
            data = bytes(rng.randrange(256) for _ in range(ln))
            out.append(
                self.message(
                    bytes([off, ln]) + data,
                    style,
                    (f"{self.label} offset={off} length={ln} hash={fnv1a(data):08x}",),
                )
            )
        return out

    def rejected_flow(self, rng: random.Random, style: Style) -> list[Message]:
        cap = self.params["cap"]
        return [
            self.reject(bytes([cap - 1, 2]) + b"zz", style, "range outside region"),
            self.reject(bytes([0, 9]) + b"z", style, "truncated data"),
        ]

    def trigger_flow(self, rng: random.Random, style: Style) -> list[Message]:
        cap = self.params["cap"]
        off = cap - rng.randrange(1, 5)
        ln = 256 - off + rng.randrange(0, 4)
        return [
            self.message(bytes([off, ln]) + bytes(rng.randrange(256) for _ in range(ln)), style, ())
        ]


CORES: dict[BugClass, tuple[type[Core], ...]] = {
    BugClass.STACK_OVERFLOW: (StackLabel, StackPoints, StackExpand),
    BugClass.HEAP_OVERFLOW: (HeapStore, HeapBatch),
    BugClass.OOB_READ: (OobChannels, OobWindow, OobHistory),
    BugClass.USE_AFTER_FREE: (UafGrow, UafJob, UafStream),
    BugClass.DOUBLE_FREE: (DoubleFreeStream, DoubleFreeEntries),
    BugClass.INTEGER_OVERFLOW: (IntArea, IntOverlay),
}
