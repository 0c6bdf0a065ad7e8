"""Bug-free handlers that look like the vulnerable one: the haystack a reviewer must search.

Each decoy parses its own body with correct bounds checks, bounded allocations and no undefined
behaviour, so a fuzzer run on the fixed program finds nothing. The patterns deliberately mirror
the planted bugs (copies into stack buffers, tables indexed by input, allocations sized by a
header field), so grepping for `memcpy` does not find the bug.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import ClassVar

from prereview.suites.memsafety.checksums import adler32, crc32, fnv1a
from prereview.suites.memsafety.model import Handler, Message, Style

_ALNUM = string.ascii_letters + string.digits


def printable(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b <= 0x7E else "." for b in data)


@dataclass
class Decoy(Handler):
    role: ClassVar[str] = "decoy"

    def draw(self, rng: random.Random, max_body: int) -> None:
        """Choose this instance's constants (buffer sizes, tables) within the framing's limit."""

    def benign(self, rng: random.Random, style: Style) -> Message:
        raise NotImplementedError

    def invalid(self, rng: random.Random, style: Style) -> Message:
        """A message the handler rejects (for functional tests of the reject paths)."""
        raise NotImplementedError


@dataclass
class LabelDecoy(Decoy):
    template = "handlers/label.c.j2"
    name_pool = (
        "set_label",
        "station_name",
        "device_tag",
        "site_name",
        "set_alias",
        "asset_name",
        "operator_note",
        "zone_name",
    )

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {
            "cap": rng.choice((16, 24, 32, 40, 48, 64)),
            "field": rng.choice(("name", "label", "text")),
        }

    def helpers_needed(self) -> set[str]:
        return {"printable"}

    def benign(self, rng: random.Random, style: Style) -> Message:
        n = rng.randrange(1, self.params["cap"] + 1)
        text = bytes(rng.choice(_ALNUM.encode() + b"-_ ") for _ in range(n))
        if rng.random() < 0.3:
            text = text[:-1] + bytes([rng.choice((0, 7, 0x7F, 0xC3))])
        return self.message(
            bytes([n]) + text, style, (f"{self.label} {self.params['field']}={printable(text)}",)
        )

    def invalid(self, rng: random.Random, style: Style) -> Message:
        return self.reject(bytes([10]) + b"short", style, "bad length")


@dataclass
class SamplesDecoy(Decoy):
    template = "handlers/samples.c.j2"
    name_pool = (
        "meter_readings",
        "analog_inputs",
        "report_samples",
        "trend_points",
        "flow_samples",
        "voltage_log",
    )

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"width": rng.choice((2, 4))}

    def benign(self, rng: random.Random, style: Style) -> Message:
        w = self.params["width"]
        count = rng.randrange(0, min(40, (200 - 1) // w))
        values = [rng.randrange(1 << (8 * w)) for _ in range(count)]
        body = bytes([count]) + b"".join(style.u16(v) if w == 2 else style.u32(v) for v in values)
        total = sum(values) & 0xFFFFFFFF
        line = f"{self.label} count={count} sum={total} peak={max(values, default=0)}"
        return self.message(body, style, (line,))

    def invalid(self, rng: random.Random, style: Style) -> Message:
        return self.reject(bytes([9, 1, 2]), style, "truncated samples")


@dataclass
class LookupDecoy(Decoy):
    template = "handlers/lookup.c.j2"
    name_pool = (
        "scale_inputs",
        "map_codes",
        "translate_alarms",
        "gain_table",
        "calibrate",
        "unit_lookup",
    )

    def draw(self, rng: random.Random, max_body: int) -> None:
        k = rng.randrange(6, 24)
        self.params = {
            "values": [rng.randrange(1, 60000) for _ in range(k)],
            "max_n": rng.choice((16, 32, 64)),
            "table": rng.choice(("gain", "scale", "codes", "weights"))
            + f"_{rng.randrange(10, 99)}",
        }

    def benign(self, rng: random.Random, style: Style) -> Message:
        vals = self.params["values"]
        idx = [rng.randrange(len(vals)) for _ in range(rng.randrange(1, self.params["max_n"] + 1))]
        acc = sum(vals[i] for i in idx) & 0xFFFFFFFF
        return self.message(bytes(idx), style, (f"{self.label} n={len(idx)} acc={acc}",))

    def invalid(self, rng: random.Random, style: Style) -> Message:
        return self.reject(bytes([0, len(self.params["values"])]), style, "bad index")


@dataclass
class RegistersDecoy(Decoy):
    template = "handlers/registers.c.j2"
    name_pool = (
        "write_registers",
        "preset_block",
        "load_setpoints",
        "write_holding",
        "store_params",
    )

    def draw(self, rng: random.Random, max_body: int) -> None:
        regs = rng.choice((16, 32, 64, 100, 125))
        self.params = {"regs": regs, "field": f"regs_{self.label}"}

    def session_fields(self) -> list[str]:
        return [f"uint16_t {self.params['field']}[{self.params['regs']}];"]

    def benign(self, rng: random.Random, style: Style) -> Message:
        regs = self.params["regs"]
        start = rng.randrange(regs)
        count = rng.randrange(0, min(regs - start, 60) + 1)
        values = [rng.randrange(0x10000) for _ in range(count)]
        fold = 0
        for v in values:
            fold ^= v
        body = bytes([start, count]) + b"".join(style.u16(v) for v in values)
        return self.message(
            body, style, (f"{self.label} start={start} count={count} fold={fold:04x}",)
        )

    def invalid(self, rng: random.Random, style: Style) -> Message:
        regs = self.params["regs"]
        return self.reject(bytes([regs - 1, 2]) + bytes(4), style, "illegal data address")


@dataclass
class RecordsDecoy(Decoy):
    template = "handlers/records.c.j2"
    name_pool = ("event_list", "load_schedule", "alarm_records", "point_list", "batch_import")

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"node": rng.choice(("entry", "node", "rec", "item")) + f"_{self.label}"}

    def benign(self, rng: random.Random, style: Style) -> Message:
        count = rng.randrange(0, 40)
        pairs = [(rng.randrange(0x10000), rng.randrange(0x10000)) for _ in range(count)]
        body = bytes([count]) + b"".join(style.u16(a) + style.u16(b) for a, b in pairs)
        return self.message(
            body, style, (f"{self.label} records={count} total={sum(b for _, b in pairs)}",)
        )

    def invalid(self, rng: random.Random, style: Style) -> Message:
        return self.reject(bytes([2]) + bytes(5), style, "record size mismatch")


@dataclass
class RleDecoy(Decoy):
    template = "handlers/rle.c.j2"
    name_pool = ("unpack_pattern", "decode_bitmap", "inflate_mask", "expand_rows", "load_glyph")

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"cap": rng.choice((64, 96, 128, 256))}

    def helpers_needed(self) -> set[str]:
        return {"fnv1a"}

    def benign(self, rng: random.Random, style: Style) -> Message:
        cap = self.params["cap"]
        out = b""
        body = b""
        for _ in range(rng.randrange(0, 30)):
            run = rng.randrange(0, min(40, cap - len(out)) + 1)
            val = rng.randrange(256)
            body += bytes([run, val])
            out += bytes([val]) * run
        return self.message(body, style, (f"{self.label} bytes={len(out)} hash={fnv1a(out):08x}",))

    def invalid(self, rng: random.Random, style: Style) -> Message:
        runs = bytes([255, 1]) * (self.params["cap"] // 255 + 1)
        return self.reject(runs, style, "output overflow")


@dataclass
class DigestDecoy(Decoy):
    template = "handlers/digest.c.j2"
    name_pool = ("verify_block", "image_digest", "hash_segment", "attest_blob", "check_firmware")

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {
            "algo": rng.choice(("crc32", "adler32", "fnv1a")),
            "max": rng.choice((512, 1024, 4096)),
        }

    def helpers_needed(self) -> set[str]:
        return {self.params["algo"]}

    def benign(self, rng: random.Random, style: Style) -> Message:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 120)))
        algo = {"crc32": crc32, "adler32": adler32, "fnv1a": fnv1a}[self.params["algo"]]
        return self.message(
            data, style, (f"{self.label} size={len(data)} digest={algo(data):08x}",)
        )

    def invalid(self, rng: random.Random, style: Style) -> Message:
        return self.reject(b"", style, "bad size")


@dataclass
class KvDecoy(Decoy):
    template = "handlers/kvpairs.c.j2"
    name_pool = ("set_options", "apply_config", "parse_attributes", "tag_values", "load_properties")

    def benign(self, rng: random.Random, style: Style) -> Message:
        body = b""
        total = 0
        pairs = rng.randrange(0, 6)
        for _ in range(pairs):
            key = bytes(
                rng.choice(string.ascii_lowercase.encode()) for _ in range(rng.randrange(1, 10))
            )
            val = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 20)))
            body += bytes([len(key)]) + key + bytes([len(val)]) + val
            total += len(val)
        return self.message(body, style, (f"{self.label} pairs={pairs} bytes={total}",))

    def invalid(self, rng: random.Random, style: Style) -> Message:
        return self.reject(bytes([3]) + b"key", style, "missing value")


@dataclass
class AreaDecoy(Decoy):
    template = "handlers/area.c.j2"
    name_pool = ("render_tile", "alloc_frame", "fill_raster", "prepare_canvas", "blank_region")

    def draw(self, rng: random.Random, max_body: int) -> None:
        self.params = {"max_area": rng.choice((1024, 2048, 4096, 8192))}

    def benign(self, rng: random.Random, style: Style) -> Message:
        return area_message(self, rng, style)

    def invalid(self, rng: random.Random, style: Style) -> Message:
        return self.reject(style.u16(0) + style.u16(5) + b"\x01", style, "bad dimensions")


def area_message(h: Handler, rng: random.Random, style: Style) -> Message:
    """A valid raster request for the `area` template; shared with the integer-overflow core."""
    max_area = int(h.params["max_area"])
    w = rng.randrange(1, 128)
    hgt = rng.randrange(1, max(2, max_area // w) + 1)
    while w * hgt > max_area:
        hgt -= 1
    fill = rng.randrange(256)
    total = sum((fill + x + y) & 0xFF for y in range(hgt) for x in range(w))
    return h.message(
        style.u16(w) + style.u16(hgt) + bytes([fill]),
        style,
        (f"{h.label} area={w * hgt} sum={total}",),
    )


@dataclass
class WindowDecoy(Decoy):
    template = "handlers/window.c.j2"
    name_pool = ("peek_buffer", "read_window", "extract_field", "slice_payload", "sample_range")

    def benign(self, rng: random.Random, style: Style) -> Message:
        return window_message(self, rng, style)

    def invalid(self, rng: random.Random, style: Style) -> Message:
        return self.reject(style.u16(9) + bytes([1]) + b"abc", style, "window out of range")


def window_message(h: Handler, rng: random.Random, style: Style) -> Message:
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 100)))
    off = rng.randrange(len(data))
    ln = rng.randrange(0, min(255, len(data) - off) + 1)
    body = style.u16(off) + bytes([ln]) + data
    return h.message(body, style, (f"{h.label} window={ln} sum={sum(data[off : off + ln])}",))


DECOYS: tuple[type[Decoy], ...] = (
    LabelDecoy,
    SamplesDecoy,
    LookupDecoy,
    RegistersDecoy,
    RecordsDecoy,
    RleDecoy,
    DigestDecoy,
    KvDecoy,
    AreaDecoy,
    WindowDecoy,
)
