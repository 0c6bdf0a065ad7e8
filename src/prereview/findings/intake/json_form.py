"""prereview's own JSON form for findings, for tools that emit neither SARIF nor crash logs.

A file is one object; unknown keys are refused (a typo must not silently drop data)::

    {
      "format": "prereview-findings/1",
      "tool": "my-scanner",                        # optional, default "json"
      "findings": [
        {
          "rule": "heap-buffer-overflow",          # required: the check or crash kind
          "title": "Heap overflow in TLV parser",  # required: one line
          "description": "...",                    # optional: the details (confidential)
          "level": "error",                        # error | warning | note | none (default warning)
          "location": {"file": "src/tlv.c", "line": 88, "column": 5, "function": "read_tlv"},
          "fingerprint": "opaque-stable-id",       # optional: the tool's own stable id
          "crash": {"kind": "heap-buffer-overflow", "frames": ["read_tlv", "main"]},
          "cwe": "CWE-122",                        # or 122
          "cvss": ["CVSS:3.1/AV:N/...", "CVSS:4.0/AV:N/..."],
          "security_severity": 8.1,                # 0-10, when no vector is known
          "product": "pkg:github/example/tlvlib@1.2.0",   # a PURL or a CPE 2.3 name
          "evidence": "poc",                       # poc | crash | static (default static)
          "stack": ["#0 read_tlv src/tlv.c:88", "#1 main src/main.c:12"]
        }
      ]
    }
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

import msgspec

from prereview.findings.cwe import UnknownCweError, cwe_catalog
from prereview.findings.intake._jsonfile import decode, decode_part, read_bytes
from prereview.findings.intake.interface import (
    CrashSignature,
    FindingSource,
    IncomingFinding,
    IntakeBatch,
    IntakeError,
    Location,
)
from prereview.findings.intake.sarif import CRASH_FRAMES, normalize_uri
from prereview.findings.limits import clean_line, clean_text

FORMAT_TAG = "prereview-findings/1"


class _Location(msgspec.Struct, forbid_unknown_fields=True):
    file: str = ""
    line: int | None = None
    column: int | None = None
    function: str = ""


class _Crash(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    frames: list[str] = []


class _Finding(msgspec.Struct, forbid_unknown_fields=True):
    rule: str
    title: str
    description: str = ""
    level: Literal["error", "warning", "note", "none"] = "warning"
    location: _Location | None = None
    fingerprint: str | None = None
    crash: _Crash | None = None
    cwe: str | int | None = None
    cvss: list[str] = []
    security_severity: float | None = None
    product: str = ""
    evidence: Literal["poc", "crash", "static"] = "static"
    stack: list[str] = []


class _File(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    findings: list[msgspec.Raw]  # decoded one at a time, after the census
    tool: str = "json"


class _Tick(msgspec.Struct, frozen=True, gc=False):
    """One finding, counted and forgotten: a frozenset of ticks holds one however many come."""

    def __post_init__(self) -> None:
        _COUNT.n += 1


class _Census(msgspec.Struct, gc=False):
    findings: frozenset[_Tick] = frozenset()


class _Count(threading.local):
    n = 0


_COUNT = _Count()


class JsonFormSource(FindingSource):
    name = "json"
    description = f"prereview's JSON form ({FORMAT_TAG})"

    def sniff(self, path: Path, head: bytes) -> bool:
        return FORMAT_TAG.encode() in head

    def read(self, path: Path) -> IntakeBatch:
        data, sha = read_bytes(path, self.limits)
        lim = self.limits
        # the findings are counted before any is built (see `prereview.findings.intake.sarif`)
        _COUNT.n = 0
        decode(path, data, _Census, f"a {FORMAT_TAG} document")
        if _COUNT.n > lim.max_results:
            raise IntakeError(path, "$.findings", f"over the limit of {lim.max_results} findings")
        doc = decode(path, data, _File, f"a {FORMAT_TAG} document")
        if doc.format != FORMAT_TAG:
            raise IntakeError(path, "$.format", f"format must be {FORMAT_TAG!r}")
        tool = clean_line(doc.tool, lim.max_identifier) or "json"
        catalog = cwe_catalog()
        out = []
        for i, raw in enumerate(doc.findings):
            where = f"$.findings[{i}]"
            f = decode_part(path, raw, _Finding, where)
            if len(f.stack) > lim.max_stack_frames:
                raise IntakeError(path, f"{where}.stack", f"over {lim.max_stack_frames} frames")
            if f.security_severity is not None and not 0 <= f.security_severity <= 10:
                raise IntakeError(path, f"{where}.security_severity", "must be between 0 and 10")
            cwes: tuple[int, ...] = ()
            if f.cwe is not None:
                try:
                    cwes = (catalog.require(f.cwe).id,)
                except UnknownCweError as exc:
                    raise IntakeError(path, f"{where}.cwe", str(exc)) from None
            loc = f.location or _Location()
            crash = None
            if f.crash is not None:
                frames = tuple(
                    clean_line(x, lim.max_identifier) for x in f.crash.frames[:CRASH_FRAMES]
                )
                crash = CrashSignature(clean_line(f.crash.kind, lim.max_identifier), frames)
            rule = clean_line(f.rule, lim.max_identifier)
            out.append(
                IncomingFinding(
                    index=i,
                    where=where,
                    tool=tool,
                    rule_id=rule,
                    title=clean_line(f.title, lim.max_title) or rule,
                    level=f.level,
                    location=Location(
                        normalize_uri(clean_line(loc.file, lim.max_uri)),
                        loc.line if loc.line and loc.line > 0 else None,
                        loc.column if loc.column and loc.column > 0 else None,
                        clean_line(loc.function, lim.max_identifier),
                    ),
                    partial_fingerprints=(
                        (("fingerprint", clean_line(f.fingerprint, lim.max_identifier)),)
                        if f.fingerprint
                        else ()
                    ),
                    crash=crash,
                    cwe_ids=cwes,
                    cvss_vectors=tuple(clean_line(v, lim.max_identifier) for v in f.cvss[:4]),
                    security_severity=f.security_severity,
                    product=clean_line(f.product, lim.max_uri),
                    evidence=f.evidence,
                    message=clean_text(f.description, lim.max_message),
                    stack=tuple(clean_line(s, lim.max_identifier) for s in f.stack),
                )
            )
        return IntakeBatch("json", str(path), sha, (tool,), out)
