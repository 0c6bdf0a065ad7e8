"""Reading AddressSanitizer / UBSan reports: which kind of fault, where, in which function.

The expected location of the planted bug is "the first stack frame in the program's own source
file"; frames inside the sanitizer runtime (the `memcpy` interceptor, `free`) are skipped, so a
report matches however the compiler or libc reached the faulting statement.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

_ASAN = re.compile(r"ERROR: AddressSanitizer: (?P<kind>[\w-]+(?: [\w-]+)?)")
_ACCESS = re.compile(r"^(?P<access>READ|WRITE) of size (?P<size>\d+)", re.M)
_FRAME = re.compile(r"^\s*#(?P<n>\d+) 0x[0-9a-f]+ in (?P<func>\S+) (?P<loc>\S+)", re.M)
_UBSAN = re.compile(
    r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): runtime error: (?P<what>.*)$", re.M
)
_LIBFUZZER = re.compile(r"==\d+== ERROR: libFuzzer: (?P<kind>[\w-]+)")


@dataclass(frozen=True)
class CrashReport:
    """One sanitizer finding, reduced to what scoring compares."""

    kind: str  # heap-buffer-overflow, double-free, SEGV, ubsan: ..., timeout, ...
    access: str | None
    function: str | None
    file: str | None
    line: int | None
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, expected: dict[str, Any]) -> bool:
        """Same kind, same access (when the report has one), same function, file and line."""
        if self.kind != expected.get("kind"):
            return False
        if expected.get("access") and self.access and self.access != expected["access"]:
            return False
        return (
            self.function == expected.get("function")
            and self.file == expected.get("file")
            and self.line == expected.get("line")
        )


def _kind(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith("attempting double-free"):
        return "double-free"
    if raw.startswith("attempting free"):
        return "bad-free"
    return raw.split()[0]


def parse_report(stderr: str, source_name: str) -> CrashReport | None:
    """The first sanitizer report in `stderr`, located in `source_name` (a basename).

    None when the run was clean."""
    asan = _ASAN.search(stderr)
    ubsan = _UBSAN.search(stderr)
    if asan is None and ubsan is None:
        fuzzer = _LIBFUZZER.search(stderr)
        if fuzzer:
            return CrashReport(
                f"libfuzzer-{fuzzer.group('kind')}", None, None, None, None, fuzzer.group(0)
            )
        return None
    if ubsan is not None and (asan is None or ubsan.start() < asan.start()):
        func = None
        for frame in _FRAME.finditer(stderr[ubsan.end() :]):
            if _basename(frame.group("loc")) == source_name:
                func = frame.group("func")
                break
        return CrashReport(
            kind="undefined-behavior",
            access=None,
            function=func,
            file=PurePosixPath(ubsan.group("file")).name,
            line=int(ubsan.group("line")),
            summary=ubsan.group("what")[:300],
        )
    assert asan is not None
    text = stderr[asan.start() :]
    raw_kind = asan.group("kind")
    kind = _kind(
        text[len("ERROR: AddressSanitizer: ") :].split(" on ")[0]
        if raw_kind.startswith("attempting")
        else raw_kind
    )
    access = _ACCESS.search(text)
    function = file = None
    line = None
    for frame in _FRAME.finditer(text):
        loc = frame.group("loc")
        if _basename(loc) == source_name:
            function = frame.group("func")
            parts = loc.rsplit("/", 1)[-1].split(":")
            line = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            file = parts[0]
            break
    first = text.splitlines()[0]
    return CrashReport(
        kind, access.group("access") if access else None, function, file, line, first[:300]
    )


def _basename(loc: str) -> str:
    return PurePosixPath(loc.split(":")[0]).name


def crashed(stderr: str, signal: int | None) -> bool:
    """A sanitizer report, or death by a signal, counts as a crash."""
    return (
        signal is not None or _ASAN.search(stderr) is not None or _UBSAN.search(stderr) is not None
    )


_PATH = re.compile(r"(?<![\w.])(?:\.{0,2}/)?(?:[\w.+-]+/)+(?=[\w.+-])")


def redact_paths(report: str) -> str:
    """Keep only base names of paths in a report before an agent sees it (no host layout)."""
    return _PATH.sub("", report)
