"""What every findings source exchanges: the normalised finding it yields and the error it raises.

A source (SARIF, prereview's JSON form, the crashes of prereview's own runs) turns one file into
an `IntakeBatch` or raises `IntakeError` naming the place in the file; it never yields half a
file. Sources know nothing of the store, scoring or sectors: those come after.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from prereview.errors import PrereviewError
from prereview.findings.limits import DEFAULT_LIMITS, IntakeLimits

Level = Literal["error", "warning", "note", "none"]
Evidence = Literal["poc", "crash", "static"]
LEVELS: tuple[Level, ...] = ("error", "warning", "note", "none")
EVIDENCE: tuple[Evidence, ...] = ("poc", "crash", "static")


class IntakeError(PrereviewError):
    """A file a source cannot accept; `where` is the place in it (a JSON path, or line:column)."""

    def __init__(self, path: Path | str, where: str, problem: str) -> None:
        self.path = str(path)
        self.where = where
        self.problem = problem
        place = f" at {where}" if where else ""
        super().__init__(f"{self.path}{place}: {problem}; nothing was imported")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding is: a normalised relative path, a line, and the enclosing function."""

    uri: str = ""
    start_line: int | None = None
    start_column: int | None = None
    function: str = ""

    def display(self) -> str:
        text = self.uri or "?"
        if self.start_line:
            text += f":{self.start_line}"
        if self.function:
            text += f" ({self.function})"
        return text


@dataclass(frozen=True, slots=True)
class CrashSignature:
    """A sanitizer crash reduced to what survives a rebuild: its kind and the top frames' names."""

    kind: str
    frames: tuple[str, ...] = ()

    def text(self) -> str:
        return self.kind + (" in " + " < ".join(self.frames) if self.frames else "")


@dataclass(frozen=True, slots=True)
class IncomingFinding:
    """One finding as a source reported it, bounded and cleaned, before dedup and scoring.

    `message`, `snippet` and `stack` are the finding's *details*: confidential, stored behind
    `prereview.findings.details`. The other fields are the triage metadata.
    """

    index: int  # position in the file (the Nth result), for messages and provenance
    where: str  # the JSON path of the result in its file
    tool: str
    rule_id: str
    title: str
    level: Level = "warning"
    location: Location = field(default_factory=Location)
    partial_fingerprints: tuple[tuple[str, str], ...] = ()
    crash: CrashSignature | None = None
    cwe_ids: tuple[int, ...] = ()
    cvss_vectors: tuple[str, ...] = ()
    security_severity: float | None = None
    product: str = ""
    evidence: Evidence = "static"
    message: str = ""
    snippet: str = ""
    stack: tuple[str, ...] = ()


@dataclass(frozen=True)
class IntakeBatch:
    """Everything one file contributed; the import stores all of it or none."""

    format: str
    path: str
    sha256: str
    tools: tuple[str, ...]
    findings: list[IncomingFinding]


class FindingSource(ABC):
    """A file format findings arrive in. Register implementations in `prereview.findings.intake`."""

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, limits: IntakeLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits

    @abstractmethod
    def sniff(self, path: Path, head: bytes) -> bool:
        """Whether the file (its name, its first few KiB) looks like this format."""

    @abstractmethod
    def read(self, path: Path) -> IntakeBatch:
        """The whole file as one batch, or `IntakeError` pointing at the first problem."""
