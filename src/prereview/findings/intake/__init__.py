"""Findings intake: one module per source format, all behind `FindingSource`.

`read_findings(path)` picks the source from the file itself (or `format=` names it) and returns
one `IntakeBatch`; a new format is a new module with a `FindingSource` subclass added to `SOURCES`.
"""

from __future__ import annotations

from pathlib import Path

from prereview.findings.intake.crash import CrashLogSource
from prereview.findings.intake.interface import (
    CrashSignature,
    FindingSource,
    IncomingFinding,
    IntakeBatch,
    IntakeError,
    Location,
)
from prereview.findings.intake.json_form import JsonFormSource
from prereview.findings.intake.sarif import SarifSource
from prereview.findings.limits import DEFAULT_LIMITS, IntakeLimits

SOURCES: dict[str, type[FindingSource]] = {
    SarifSource.name: SarifSource,
    JsonFormSource.name: JsonFormSource,
    CrashLogSource.name: CrashLogSource,
}

__all__ = [
    "SOURCES",
    "CrashSignature",
    "FindingSource",
    "IncomingFinding",
    "IntakeBatch",
    "IntakeError",
    "Location",
    "read_findings",
]


def read_findings(
    path: Path, format: str | None = None, limits: IntakeLimits = DEFAULT_LIMITS
) -> IntakeBatch:
    """The findings of one file, from the named source or the first whose `sniff` accepts it."""
    if format is not None:
        if format not in SOURCES:
            raise IntakeError(path, "", f"unknown format {format!r}; known: {', '.join(SOURCES)}")
        return SOURCES[format](limits).read(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        raise IntakeError(path, "", f"cannot read the file ({exc.strerror})") from None
    for cls in (JsonFormSource, CrashLogSource):
        source = cls(limits)
        if source.sniff(path, head):
            return source.read(path)
    # SARIF is the default: whatever else this is, its error says where it stops being SARIF
    return SarifSource(limits).read(path)
