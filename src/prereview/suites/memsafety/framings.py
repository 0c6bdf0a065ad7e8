"""How an input splits into messages: five realistic binary framings, each in C and in Python.

`records` (a TLV file), `container` (PNG-like chunks), `capture` (a pcap of Ethernet/IPv4/UDP
datagrams), `modbus` (Modbus/TCP ADUs) and `dnp3` (DNP3-style link frames with block CRCs). A
framing turns a list of messages into bytes and says, item by item, what the program prints for
them, including the noise and corrupt frames functional tests use.
"""

from __future__ import annotations

import random
import string
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from prereview.suites.memsafety.checksums import adler32, checksum, crc16_dnp, inet16, width
from prereview.suites.memsafety.model import Endian, Event, Item, Message, Style, pack
from prereview.suites.memsafety.spec import TierProfile


@dataclass(frozen=True)
class Variant:
    """A named test input: bytes and the items the program reports for them."""

    name: str
    data: bytes
    items: list[Item]


def _c_bytes(data: bytes) -> str:
    return ", ".join(f"0x{b:02X}" for b in data)


def _droppable(messages: list[Message]) -> list[int]:
    """Messages a variant may drop or skip without changing what later messages do."""
    return [i for i, m in enumerate(messages) if not m.stateful]


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x5A]) + data[index + 1 :]


class Framing:
    name: ClassVar[str]
    template: ClassVar[str]
    titles: ClassVar[tuple[str, ...]]
    blurb: ClassVar[str]
    kind_width: int = 1

    def __init__(self, rng: random.Random, profile: TierProfile, style: Style) -> None:
        self.rng = rng
        self.profile = profile
        self.style = style
        self.checksum = self.pick_checksum(rng, profile)
        self.sequence = profile.sequence
        self.trailer = False

    # -- choices ---------------------------------------------------------------------------
    def pick_checksum(self, rng: random.Random, profile: TierProfile) -> str:
        return rng.choice(profile.frame_checksums)

    @property
    def max_body(self) -> int:
        return 1024

    def draw_kind(self, rng: random.Random, used: set[int]) -> int:
        while True:
            kind = rng.randrange(1, 256) if self.kind_width == 1 else rng.randrange(0x100, 0x10000)
            if kind not in used:
                used.add(kind)
                return kind

    def kind_literal(self, kind: int) -> str:
        return f"0x{kind:X}u"

    def needs(self) -> set[str]:
        return {self.checksum} - {""}

    def defines(self) -> list[tuple[str, str]]:
        return []

    def context(self) -> dict[str, Any]:
        """Template variables of the framing's C text."""
        return {}

    # -- bytes -----------------------------------------------------------------------------
    def frame(self, messages: list[Message], *, tamper: int | None = None) -> bytes:
        """The input holding `messages`; `tamper` flips a body byte of that message after its
        checksums are computed (a corrupt frame)."""
        raise NotImplementedError

    def items(self, messages: list[Message]) -> list[Item]:
        return list(messages)

    def unknown_line(self, kind: int) -> str:
        return f"skip kind {kind}"

    def variants(self, messages: list[Message], rng: random.Random) -> list[Variant]:
        """Corrupt and noisy inputs with their exact expected reports."""
        raise NotImplementedError

    def _bad_checksum(
        self,
        messages: list[Message],
        rng: random.Random,
        error: str,
        head: Sequence[Item] = (),
    ) -> list[Variant]:
        """One message's body altered after its checksum was computed: parsing stops there."""
        with_body = [i for i, m in enumerate(messages) if m.body]
        if not (self.checksum and with_body):
            return []
        j = rng.choice(with_body)
        items = [*head, *messages[:j], Event(error, True)]
        return [Variant("bad-checksum", self.frame(messages, tamper=j), items)]

    def _sequence_gap(
        self,
        messages: list[Message],
        rng: random.Random,
        error: str,
        skip: Callable[[int], bytes],
    ) -> list[Variant]:
        """A sequence number skipped before message j (`skip(j)` frames it): parsing stops there."""
        if not (self.sequence and len(messages) > 1):
            return []
        j = rng.randrange(1, len(messages))
        return [Variant("sequence-gap", skip(j), [*messages[:j], Event(error, True)])]


class RecordsFraming(Framing):
    """A TLV file: magic, version, optional whole-file checksum, then checksummed records."""

    name = "records"
    template = "formats/records.c.j2"
    titles = (
        "config_loader",
        "telemetry_decoder",
        "provisioning_agent",
        "event_journal",
        "license_reader",
        "sensor_log",
    )
    blurb = "reads a record file (type-length-value records) and applies each record"

    def __init__(self, rng: random.Random, profile: TierProfile, style: Style) -> None:
        super().__init__(rng, profile, style)
        self.magic = bytes(rng.choice(string.ascii_uppercase.encode()) for _ in range(3))
        self.magic += bytes([rng.choice(b"0123456789")])
        self.version = rng.randrange(1, 10)
        self.kind_width = rng.choice((1, 2))
        self.len_width = 2
        self.endian: Endian = style.endian
        fields = ["kind", "len"] + (["seq"] if self.sequence else [])
        rng.shuffle(fields)
        self.fields = fields
        self.trailer = profile.file_checksum
        self.seq0 = rng.randrange(0, 0x10000)

    @property
    def widths(self) -> dict[str, int]:
        return {"kind": self.kind_width, "len": self.len_width, "seq": 2}

    @property
    def rec_hdr(self) -> int:
        return sum(self.widths[f] for f in self.fields)

    @property
    def tr(self) -> int:
        return width(self.checksum) if self.checksum else 0

    def _offset(self, field: str) -> int:
        off = 0
        for f in self.fields:
            if f == field:
                return off
            off += self.widths[f]
        raise KeyError(field)

    def _reader(self, w: int) -> str:
        return "" if w == 1 else f"rd{8 * w}{self.endian}"

    def _read(self, field: str) -> str:
        w, off = self.widths[field], self._offset(field)
        return f"rec[{off}]" if w == 1 else f"{self._reader(w)}(rec + {off})"

    def needs(self) -> set[str]:
        out = super().needs() | {"rd16" + self.endian, "rd32" + self.endian}
        return out | ({"adler32"} if self.trailer else set())

    def defines(self) -> list[tuple[str, str]]:
        return [
            ("FILE_HDR", str(5 + (8 if self.trailer else 0))),
            ("FORMAT_VERSION", str(self.version)),
            ("REC_HDR", str(self.rec_hdr)),
            ("REC_TRAILER", str(self.tr)),
        ]

    def context(self) -> dict[str, Any]:
        doc = ", ".join(f"{f} ({8 * self.widths[f]}-bit)" for f in self.fields)
        csum_read = ""
        if self.checksum:
            csum_read = f"rd{8 * self.tr}{self.endian}(rec + REC_HDR + len)"
        return {
            "magic_c": _c_bytes(self.magic),
            "field_doc": doc,
            "read_kind": self._read("kind"),
            "read_len": self._read("len"),
            "read_seq": self._read("seq") if self.sequence else "",
            "read_csum": csum_read,
            "rd32": "rd32" + self.endian,
        }

    def frame(
        self, messages: list[Message], *, tamper: int | None = None, seq_skip: int | None = None
    ) -> bytes:
        records = b""
        seq = self.seq0
        for i, m in enumerate(messages):
            if i == seq_skip:
                seq += 1
            values = {"kind": m.kind, "len": len(m.body), "seq": seq}
            head = b"".join(pack(values[f], self.widths[f], self.endian) for f in self.fields)
            rec = head + m.body
            if self.checksum:
                rec += pack(checksum(self.checksum, rec), self.tr, self.endian)
            if i == tamper:
                rec = _flip(rec, self.rec_hdr + len(m.body) // 2)
            records += rec
            seq += 1
        head = self.magic + bytes([self.version])
        if self.trailer:
            head += pack(len(records), 4, self.endian) + pack(adler32(records), 4, self.endian)
        return head + records

    def variants(self, messages: list[Message], rng: random.Random) -> list[Variant]:
        data = self.frame(messages)
        out = [Variant("bad-magic", _flip(data, 0), [Event("error: bad magic", True)])]
        cut = data[:-1]
        if self.trailer:
            items: list[Item] = [Event("error: bad total length", True)]
        else:
            last_len = len(messages[-1].body)
            why = "record overruns input" if last_len >= 1 else "truncated record"
            items = [*messages[:-1], Event(f"error: {why}", True)]
        out.append(Variant("truncated", cut, items))
        out += self._bad_checksum(messages, rng, "error: bad record checksum")
        out += self._sequence_gap(
            messages, rng, "error: sequence gap", lambda j: self.frame(messages, seq_skip=j)
        )
        return out


class ContainerFraming(Framing):
    """PNG-like chunks: signature, header chunk, typed chunks with CRCs, end chunk."""

    name = "container"
    template = "formats/container.c.j2"
    titles = (
        "image_inspector",
        "firmware_unpacker",
        "scan_archive",
        "map_tile_reader",
        "waveform_store",
        "bundle_verifier",
    )
    blurb = "reads a chunked container (signature, header chunk, tagged chunks, end chunk)"
    kind_width = 4

    def __init__(self, rng: random.Random, profile: TierProfile, style: Style) -> None:
        super().__init__(rng, profile, style)
        self.sequence = False  # chunks carry no sequence numbers
        letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
        self.signature = b"\x89" + letters.encode() + b"\r\n\x1a\n"
        self.trailer = profile.file_checksum
        self.max_dimension = rng.choice((4096, 8192, 16384, 65535))
        used: set[int] = set()
        self.tag_header = self._tag(rng, used, upper=True)
        self.tag_end = self._tag(rng, used, upper=True)
        self._used = used
        self.width = rng.randrange(1, min(self.max_dimension, 5000))
        self.height = rng.randrange(1, min(self.max_dimension, 5000))
        self.depth = rng.choice((1, 2, 4, 8, 16))
        self.flags = rng.randrange(0, 4)

    @staticmethod
    def _tag(rng: random.Random, used: set[int], *, upper: bool | None = None) -> int:
        while True:
            first = rng.choice(
                string.ascii_uppercase
                if (upper if upper is not None else rng.random() < 0.5)
                else string.ascii_lowercase
            )
            tag = (first + "".join(rng.choice(string.ascii_letters) for _ in range(3))).encode()
            value = int.from_bytes(tag, "big")
            if value not in used:
                used.add(value)
                return value

    def draw_kind(self, rng: random.Random, used: set[int]) -> int:
        kind = self._tag(rng, self._used)
        used.add(kind)
        return kind

    def kind_literal(self, kind: int) -> str:
        return f"0x{kind:08X}u /* {kind.to_bytes(4, 'big').decode()} */"

    @property
    def tr(self) -> int:
        return width(self.checksum) if self.checksum else 0

    def needs(self) -> set[str]:
        reader = {f"rd{8 * self.tr}be"} if self.checksum else set()
        return super().needs() | {"rd32be"} | reader | ({"adler32"} if self.trailer else set())

    def defines(self) -> list[tuple[str, str]]:
        return [
            ("CHUNK_TRAILER", str(self.tr)),
            ("HEADER_LEN", str(18 if self.trailer else 10)),
            ("MAX_DIMENSION", f"{self.max_dimension}u"),
            ("TAG_HEADER", self.kind_literal(self.tag_header)),
            ("TAG_END", self.kind_literal(self.tag_end)),
        ]

    def context(self) -> dict[str, Any]:
        read_csum = f"rd{8 * self.tr}be(chunk + 8 + len)" if self.checksum else ""
        return {"signature_c": _c_bytes(self.signature), "read_csum": read_csum}

    def _chunk(self, tag: int, data: bytes, *, tamper: bool = False) -> bytes:
        tagb = tag.to_bytes(4, "big")
        out = struct.pack(">I", len(data)) + tagb + data
        if self.checksum:
            out += pack(checksum(self.checksum, tagb + data), self.tr, "be")
        if tamper:
            out = _flip(out, 8 + len(data) // 2)
        return out

    def frame(
        self,
        messages: list[Message],
        *,
        tamper: int | None = None,
        end: bool = True,
        extra: tuple[int, bytes] | None = None,
    ) -> bytes:
        body = b""
        for i, m in enumerate(messages):
            if extra is not None and i == len(messages) // 2:
                body += self._chunk(extra[0], extra[1])
            body += self._chunk(m.kind, m.body, tamper=(i == tamper))
        if end:
            body += self._chunk(self.tag_end, b"")
        head = struct.pack(">IIBB", self.width, self.height, self.depth, self.flags)
        if self.trailer:
            head += struct.pack(">II", len(body), adler32(body))
        return self.signature + self._chunk(self.tag_header, head) + body

    def _header_event(self) -> Event:
        return Event(f"header {self.width}x{self.height} depth {self.depth}")

    def items(self, messages: list[Message]) -> list[Item]:
        return [self._header_event(), *messages]

    def unknown_line(self, kind: int) -> str:
        return f"skip chunk {kind.to_bytes(4, 'big').decode()}"

    def variants(self, messages: list[Message], rng: random.Random) -> list[Variant]:
        data = self.frame(messages)
        hdr = self._header_event()
        out = [Variant("bad-signature", _flip(data, 1), [Event("error: bad signature", True)])]
        if self.trailer:
            out.append(
                Variant("truncated", data[:-1], [hdr, Event("error: bad image length", True)])
            )
        else:
            out.append(
                Variant(
                    "truncated", data[:-1], [hdr, *messages, Event("error: truncated chunk", True)]
                )
            )
            out.append(
                Variant(
                    "missing-end",
                    self.frame(messages, end=False),
                    [hdr, *messages, Event("error: missing end chunk", True)],
                )
            )
        out += self._bad_checksum(messages, rng, "error: bad chunk checksum", head=[hdr])
        ancillary = self._tag(rng, set(self._used), upper=False)
        critical = self._tag(rng, set(self._used) | {ancillary}, upper=True)
        k = len(messages) // 2
        name_a = ancillary.to_bytes(4, "big").decode()
        name_c = critical.to_bytes(4, "big").decode()
        out.append(
            Variant(
                "ancillary-chunk",
                self.frame(messages, extra=(ancillary, b"note")),
                [hdr, *messages[:k], Event(f"skip chunk {name_a}"), *messages[k:]],
            )
        )
        out.append(
            Variant(
                "critical-chunk",
                self.frame(messages, extra=(critical, b"")),
                [hdr, *messages[:k], Event(f"error: unknown critical chunk {name_c}", True)],
            )
        )
        return out


class CaptureFraming(Framing):
    """A libpcap file of Ethernet/IPv4/UDP datagrams; one message per datagram to our port."""

    name = "capture"
    template = "formats/capture.c.j2"
    titles = (
        "flow_collector",
        "packet_inspector",
        "telemetry_sniffer",
        "beacon_monitor",
        "sensor_gateway_capture",
        "intrusion_probe",
    )
    blurb = "reads a packet capture and decodes the service's UDP messages in it"

    def __init__(self, rng: random.Random, profile: TierProfile, style: Style) -> None:
        super().__init__(rng, profile, style)
        self.pcap_endian: Endian = rng.choice(("be", "le"))
        self.snaplen = rng.choice((2048, 4096, 65535))
        self.port = rng.randrange(1024, 60000)
        self.app_magic = rng.randrange(0x1000, 0x10000)
        self.ip_checksum = profile.tier >= 3
        self.udp_checksum = profile.tier >= 3
        self.src = bytes([10, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])
        self.dst = bytes([10, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])
        self.mac_src = bytes([2] + [rng.randrange(256) for _ in range(5)])
        self.mac_dst = bytes([2] + [rng.randrange(256) for _ in range(5)])
        self.seq0 = rng.randrange(256)
        self.t0 = rng.randrange(1_600_000_000, 1_800_000_000)

    def pick_checksum(self, rng: random.Random, profile: TierProfile) -> str:
        return "inet16" if profile.tier >= 3 else ""

    @property
    def max_body(self) -> int:
        return 1400

    def needs(self) -> set[str]:
        return super().needs() | {"rd16be", "rd16le", "rd32be", "rd32le", self.style.rd16}

    def defines(self) -> list[tuple[str, str]]:
        return [
            ("SERVICE_PORT", str(self.port)),
            ("APP_MAGIC", f"0x{self.app_magic:04X}u"),
            ("APP_HDR", "4"),
        ]

    def context(self) -> dict[str, Any]:
        return {
            "app_rd16": self.style.rd16,
            "ip_checksum": self.ip_checksum,
            "udp_checksum": self.udp_checksum,
        }

    def _udp(
        self,
        payload: bytes,
        port: int,
        ident: int,
        *,
        bad_ip_csum: bool = False,
        proto: int = 17,
        options: bytes = b"",
    ) -> bytes:
        ulen = 8 + len(payload)
        udp = struct.pack(">HHHH", 40000 + ident % 1000, port, ulen, 0) + payload
        if self.udp_checksum:
            pseudo = self.src + self.dst + struct.pack(">BBH", 0, 17, ulen)
            csum = inet16(pseudo + udp) or 0xFFFF
            udp = udp[:6] + struct.pack(">H", csum) + udp[8:]
        ihl = 20 + len(options)
        ip = struct.pack(
            ">BBHHHBBH", 0x40 | (ihl // 4), 0, ihl + len(udp), ident & 0xFFFF, 0x4000, 64, proto, 0
        )
        ip += self.src + self.dst + options
        csum = inet16(ip) ^ (0x1111 if bad_ip_csum else 0)
        ip = ip[:10] + struct.pack(">H", csum) + ip[12:]
        return self.mac_dst + self.mac_src + b"\x08\x00" + ip + udp

    def _record(self, frame: bytes, i: int) -> bytes:
        e = ">" if self.pcap_endian == "be" else "<"
        return (
            struct.pack(e + "IIII", self.t0 + i, (i * 7919) % 1_000_000, len(frame), len(frame))
            + frame
        )

    def _header(self) -> bytes:
        e = ">" if self.pcap_endian == "be" else "<"
        return struct.pack(e + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, self.snaplen, 1)

    def frame(
        self,
        messages: list[Message],
        *,
        tamper: int | None = None,
        noise: dict[int, bytes] | None = None,
    ) -> bytes:
        out = self._header()
        seq = self.seq0
        n = 0
        for i, m in enumerate(messages):
            if noise and i in noise:
                out += self._record(noise[i], n)
                n += 1
            app = self.style.u16(self.app_magic) + bytes([m.kind, seq & 0xFF]) + m.body
            opts = b"\x01\x01\x01\x00" if (i % 3 == 2) else b""  # some datagrams carry IP options
            out += self._record(
                self._udp(app, self.port, n, bad_ip_csum=(i == tamper), options=opts), n
            )
            n += 1
            if i != tamper:
                seq += 1
        return out

    def unknown_line(self, kind: int) -> str:
        return f"skip: message kind {kind}"

    def variants(self, messages: list[Message], rng: random.Random) -> list[Variant]:
        data = self.frame(messages)
        out = [
            Variant("bad-magic", _flip(data, 0), [Event("error: bad magic", True)]),
            Variant(
                "truncated", data[:-1], [*messages[:-1], Event("error: truncated packet", True)]
            ),
        ]
        arp = self.mac_dst + self.mac_src + b"\x08\x06" + bytes(28)
        other_port = self.port + 1 + rng.randrange(100)
        stray = self._udp(b"\x00\x01", other_port, 99)
        icmp = self._udp(b"\x08\x00", self.port, 98, proto=1)
        k1, k2 = 0, len(messages) // 2
        noise = {k1: arp, k2: stray} if k1 != k2 else {k1: arp}
        items: list[Item] = []
        for i, m in enumerate(messages):
            if i == k1:
                items.append(Event("skip: ethertype 0806"))
            if i == k2 and k2 != k1:
                items.append(Event(f"skip: port {other_port}"))
            items.append(m)
        out.append(Variant("noise", self.frame(messages, noise=noise), items))
        out.append(
            Variant(
                "other-protocol",
                self.frame(messages, noise={k2: icmp}),
                [*messages[:k2], Event("skip: protocol 1"), *messages[k2:]],
            )
        )
        if self.ip_checksum and _droppable(messages):
            j = rng.choice(_droppable(messages))
            items = [*messages[:j], Event("drop: bad ip checksum"), *messages[j + 1 :]]
            out.append(Variant("bad-checksum", self.frame(messages, tamper=j), items))
        return out


class ModbusFraming(Framing):
    """Modbus/TCP: MBAP header + function code + data, with an optional integrity trailer."""

    name = "modbus"
    template = "formats/modbus.c.j2"
    titles = (
        "plc_gateway",
        "rtu_bridge",
        "hmi_proxy",
        "pump_controller",
        "substation_relay",
        "water_plant_io",
    )
    blurb = "serves a Modbus/TCP request stream for one unit, including vendor function codes"

    def __init__(self, rng: random.Random, profile: TierProfile, style: Style) -> None:
        super().__init__(rng, profile, style)
        self.unit = rng.randrange(1, 248)
        self.tid0 = rng.randrange(0, 0x10000)

    def pick_checksum(self, rng: random.Random, profile: TierProfile) -> str:
        if profile.frame_checksums == ("",):
            return ""
        return "crc16" if profile.tier == 3 else "crc32"

    @property
    def tr(self) -> int:
        return width(self.checksum) if self.checksum else 0

    @property
    def max_body(self) -> int:
        return 252

    def draw_kind(self, rng: random.Random, used: set[int]) -> int:
        while True:
            kind = rng.randrange(1, 128)
            if kind not in used:
                used.add(kind)
                return kind

    def kind_literal(self, kind: int) -> str:
        return str(kind)

    def needs(self) -> set[str]:
        extra = {"rd16le"} if self.tr == 2 else ({"rd32le"} if self.tr == 4 else set())
        return super().needs() | {"rd16be"} | extra

    def defines(self) -> list[tuple[str, str]]:
        return [("UNIT_ID", str(self.unit)), ("FRAME_TRAILER", str(self.tr))]

    def context(self) -> dict[str, Any]:
        return {"read_csum": f"rd{8 * self.tr}le(adu + 6 + len)" if self.checksum else ""}

    def frame(
        self,
        messages: list[Message],
        *,
        tamper: int | None = None,
        units: dict[int, int] | None = None,
        seq_skip: int | None = None,
    ) -> bytes:
        out = b""
        tid = self.tid0
        for i, m in enumerate(messages):
            if i == seq_skip:
                tid += 1
            unit = (units or {}).get(i, self.unit)
            pdu = bytes([unit, m.kind]) + m.body
            adu = struct.pack(">HHH", tid & 0xFFFF, 0, len(pdu)) + pdu
            if self.checksum:
                adu += pack(checksum(self.checksum, pdu), self.tr, "le")
            if i == tamper:
                adu = _flip(adu, 8 + len(m.body) // 2)
            out += adu
            tid += 1
        return out

    def unknown_line(self, kind: int) -> str:
        return f"exception: illegal function {kind}"

    def variants(self, messages: list[Message], rng: random.Random) -> list[Variant]:
        data = self.frame(messages)
        out = [
            Variant(
                "bad-protocol",
                data[:2] + b"\x00\x07" + data[4:],
                [Event("error: bad protocol id", True)],
            ),
            Variant(
                "truncated", data[:-1], [*messages[:-1], Event("error: truncated frame", True)]
            ),
        ]
        if _droppable(messages):
            j = rng.choice(_droppable(messages))
            other = (self.unit % 247) + 1
            items: list[Item] = [*messages[:j], Event(f"skip: unit {other}"), *messages[j + 1 :]]
            out.append(Variant("other-unit", self.frame(messages, units={j: other}), items))
        out += self._bad_checksum(messages, rng, "error: bad frame checksum")
        out += self._sequence_gap(
            messages,
            rng,
            "error: transaction id out of sequence",
            lambda j: self.frame(messages, seq_skip=j),
        )
        return out


class Dnp3Framing(Framing):
    """DNP3-style link frames with header and block CRCs, transport and application headers."""

    name = "dnp3"
    template = "formats/dnp3.c.j2"
    titles = (
        "outstation_agent",
        "scada_frontend",
        "feeder_rtu",
        "recloser_controller",
        "pipeline_station",
        "grid_edge_agent",
    )
    blurb = "acts as a DNP3-style outstation that decodes link frames from its master"

    def __init__(self, rng: random.Random, profile: TierProfile, style: Style) -> None:
        super().__init__(rng, profile, style)
        self.address = rng.randrange(1, 0xFFF0)
        self.master = rng.randrange(1, 0xFFF0)
        self.seq0 = rng.randrange(64)
        self.app_seq = rng.randrange(16)

    def pick_checksum(self, rng: random.Random, profile: TierProfile) -> str:
        return "crc16_dnp"

    @property
    def max_body(self) -> int:
        return 247

    def needs(self) -> set[str]:
        return super().needs() | {"rd16le"}

    def defines(self) -> list[tuple[str, str]]:
        return [("OUR_ADDRESS", str(self.address))]

    def context(self) -> dict[str, Any]:
        return {}

    def _frame(
        self,
        user: bytes,
        *,
        dest: int | None = None,
        ctrl: int = 0xC4,
        tamper: Callable[[bytes], bytes] | None = None,
    ) -> bytes:
        head = bytes([0x05, 0x64, 5 + len(user), ctrl]) + struct.pack(
            "<HH", self.address if dest is None else dest, self.master
        )
        out = head + struct.pack("<H", crc16_dnp(head))
        for k in range(0, len(user), 16):
            block = user[k : k + 16]
            out += block + struct.pack("<H", crc16_dnp(block))
        return tamper(out) if tamper else out

    def frame(
        self,
        messages: list[Message],
        *,
        tamper: int | None = None,
        dests: dict[int, int] | None = None,
        seq_skip: int | None = None,
    ) -> bytes:
        out = b""
        seq = self.seq0
        for i, m in enumerate(messages):
            if i == seq_skip:
                seq += 1
            user = bytes([0xC0 | (seq & 0x3F), 0xC0 | ((self.app_seq + i) & 0x0F), m.kind]) + m.body
            flip = (lambda b: _flip(b, 12)) if i == tamper else None
            out += self._frame(user, dest=(dests or {}).get(i), tamper=flip)
            if i not in (dests or {}):
                seq += 1  # a frame for another station does not advance our transport sequence
        return out

    def unknown_line(self, kind: int) -> str:
        return f"skip: function {kind}"

    def variants(self, messages: list[Message], rng: random.Random) -> list[Variant]:
        data = self.frame(messages)
        out = [
            Variant("bad-start", _flip(data, 1), [Event("error: bad start bytes", True)]),
            Variant(
                "truncated", data[:-1], [*messages[:-1], Event("error: truncated frame", True)]
            ),
        ]
        if _droppable(messages):
            j = rng.choice(_droppable(messages))
            other = (self.address + 1 + rng.randrange(100)) % 0xFFF0
            out.append(
                Variant(
                    "other-destination",
                    self.frame(messages, dests={j: other}),
                    [*messages[:j], Event(f"skip: destination {other}"), *messages[j + 1 :]],
                )
            )
        j = rng.randrange(len(messages))
        out.append(
            Variant(
                "bad-block-crc",
                self.frame(messages, tamper=j),
                [*messages[:j], Event("error: bad block crc", True)],
            )
        )
        hdr = bytearray(data)
        hdr[8] ^= 0xFF
        out.append(Variant("bad-header-crc", bytes(hdr), [Event("error: bad header crc", True)]))
        out += self._sequence_gap(
            messages,
            rng,
            "error: transport sequence error",
            lambda j: self.frame(messages, seq_skip=j),
        )
        return out


FRAMINGS: dict[str, type[Framing]] = {
    cls.name: cls
    for cls in (RecordsFraming, ContainerFraming, CaptureFraming, ModbusFraming, Dnp3Framing)
}
