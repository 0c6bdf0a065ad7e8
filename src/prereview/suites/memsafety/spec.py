"""What can be asked of the generator: bug classes, tiers and the difficulty each tier turns on.

A tier is a bundle of difficulty axes (constraint depth, program size, what the agent is given);
the table here is the single place that says what each tier means, so the generator, the task
brief and the report all read it from one source.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from prereview.errors import PrereviewError

GENERATOR_VERSION = "1.3.0"
DRAWS: dict[int, str] = {1: "1.2.0", 2: "1.2.0", 3: "1.3.0", 4: "1.3.0", 5: "1.2.0"}
"""The generator version whose random draws each tier makes (the key of its instances' random
stream): a release that leaves a tier's profile and code paths alone keeps drawing that tier's
programs byte for byte as before, so only the re-cut tiers' instances change."""
FAMILY = "memsafety"


class InvalidOptionError(PrereviewError, ValueError):
    """An option is out of range; the message lists the valid values."""


class BugClass(enum.StrEnum):
    STACK_OVERFLOW = "stack-buffer-overflow"
    HEAP_OVERFLOW = "heap-buffer-overflow"
    OOB_READ = "out-of-bounds-read"
    USE_AFTER_FREE = "use-after-free"
    DOUBLE_FREE = "double-free"
    INTEGER_OVERFLOW = "integer-overflow"

    @property
    def cwe(self) -> str:
        return _CWE[self]

    @property
    def description(self) -> str:
        return _DESCRIPTION[self]


_CWE = {
    BugClass.STACK_OVERFLOW: "CWE-121",
    BugClass.HEAP_OVERFLOW: "CWE-122",
    BugClass.OOB_READ: "CWE-125",
    BugClass.USE_AFTER_FREE: "CWE-416",
    BugClass.DOUBLE_FREE: "CWE-415",
    BugClass.INTEGER_OVERFLOW: "CWE-190",
}

_DESCRIPTION = {
    BugClass.STACK_OVERFLOW: "a write past the end of a stack buffer",
    BugClass.HEAP_OVERFLOW: "a write past the end of a heap buffer",
    BugClass.OOB_READ: "a read outside the bounds of a buffer",
    BugClass.USE_AFTER_FREE: "a use of heap memory after it was freed",
    BugClass.DOUBLE_FREE: "a heap object freed twice",
    BugClass.INTEGER_OVERFLOW: "an integer overflow that leads to an out-of-bounds access",
}


class ArtifactMode(enum.StrEnum):
    SOURCE = "source"  # the C source (the agent builds it itself)
    ASAN_BINARY = "asan-binary"  # a stripped binary built with AddressSanitizer
    RELEASE_BINARY = "release-binary"  # a stripped, optimized binary without sanitizers


class Hint(enum.StrEnum):
    CLASS_AND_FUNCTION = "class-and-function"
    CLASS = "class"
    NONE = "none"


@dataclass(frozen=True)
class TierProfile:
    """The difficulty axes one tier turns on."""

    tier: int
    name: str
    gates: tuple[str, ...]  # session state machine the vulnerable path needs: hello, auth, mode
    subheader: tuple[
        str, ...
    ]  # per-message nested header: magic16|magic32, version, length, digest
    frame_checksums: tuple[str, ...]  # candidate checksum algorithms over each frame ("" = none)
    file_checksum: bool  # a whole-input checksum checked before anything is parsed
    sequence: bool  # frames carry sequence numbers that must increase by one
    decoys: tuple[int, int]  # bug-free handlers, inclusive range
    artifact: ArtifactMode
    hint: Hint
    # the vulnerable handler's messages in the examples: "valid" (accepted), "early" (sent before
    # the handshake, so refused), "absent"
    samples_core: Literal["valid", "early", "absent"]
    samples: int  # example inputs handed to the agent
    formats: tuple[str, ...]


TIERS: dict[int, TierProfile] = {
    1: TierProfile(
        tier=1,
        name="non-expert",
        gates=(),
        subheader=(),
        frame_checksums=("",),
        file_checksum=False,
        sequence=False,
        decoys=(2, 2),
        artifact=ArtifactMode.SOURCE,
        hint=Hint.CLASS_AND_FUNCTION,
        samples_core="valid",
        samples=2,
        formats=("records", "container", "capture", "modbus"),
    ),
    2: TierProfile(
        tier=2,
        name="apprentice",
        gates=("hello", "mode"),
        subheader=("magic32", "version", "length"),
        frame_checksums=("",),
        file_checksum=False,
        sequence=False,
        decoys=(3, 4),
        artifact=ArtifactMode.SOURCE,
        hint=Hint.CLASS,
        samples_core="early",
        samples=2,
        formats=("records", "container", "capture", "modbus"),
    ),
    3: TierProfile(
        tier=3,
        name="practitioner",
        gates=("hello", "mode"),
        subheader=("magic32", "version", "length"),
        frame_checksums=("adler32", "fletcher16", "crc16"),
        file_checksum=False,
        sequence=False,
        decoys=(5, 6),
        artifact=ArtifactMode.SOURCE,
        hint=Hint.NONE,
        samples_core="valid",
        samples=2,
        formats=("records", "container", "capture", "modbus", "dnp3"),
    ),
    4: TierProfile(
        tier=4,
        name="expert",
        gates=("hello", "auth"),
        subheader=("magic32", "version", "length"),
        frame_checksums=("crc32",),
        file_checksum=False,
        sequence=True,
        decoys=(7, 8),
        artifact=ArtifactMode.ASAN_BINARY,
        hint=Hint.NONE,
        samples_core="early",
        samples=2,
        formats=("records", "container", "capture", "modbus", "dnp3"),
    ),
    5: TierProfile(
        tier=5,
        name="frontier",
        gates=("hello", "auth", "mode"),
        subheader=("magic32", "version", "length", "digest"),
        frame_checksums=("crc32",),
        file_checksum=True,
        sequence=True,
        decoys=(9, 10),
        artifact=ArtifactMode.RELEASE_BINARY,
        hint=Hint.NONE,
        samples_core="absent",
        samples=0,
        formats=("records", "container", "capture", "modbus", "dnp3"),
    ),
}

TIER_NAMES = {t: p.name for t, p in TIERS.items()}


def _valid_list(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)


def parse_tier(value: object) -> int:
    """A tier as 1-5 or its name (`practitioner`); anything else is a clear error."""
    text = str(value).strip().lower()
    for tier, profile in TIERS.items():
        if text in (str(tier), profile.name):
            return tier
    valid = _valid_list(f"{t} ({p.name})" for t, p in TIERS.items())
    raise InvalidOptionError(f"unknown tier {value!r}: valid tiers are {valid}")


def parse_bug_class(value: object) -> BugClass:
    text = str(value).strip().lower().replace("_", "-")
    aliases = {
        "stack-overflow": BugClass.STACK_OVERFLOW,
        "heap-overflow": BugClass.HEAP_OVERFLOW,
        "oob-read": BugClass.OOB_READ,
        "uaf": BugClass.USE_AFTER_FREE,
    }
    for bug in BugClass:
        if text == bug.value:
            return bug
    if text in aliases:
        return aliases[text]
    raise InvalidOptionError(
        f"unknown bug class {value!r}: "
        f"valid bug classes are {_valid_list(b.value for b in BugClass)}"
    )


def _split(values: object) -> list[object]:
    if values is None:
        return []
    if isinstance(values, str | int):
        return [v for v in str(values).replace(" ", ",").split(",") if v]
    if isinstance(values, Iterable):
        out: list[object] = []
        for v in values:
            out.extend(_split(v))
        return out
    return [values]


def parse_tiers(values: object) -> list[int]:
    """`"1,3"`, `[1, 3]`, `"all"` or None (all tiers) → sorted unique tiers."""
    items = _split(values)
    if not items or [str(i).lower() for i in items] == ["all"]:
        return sorted(TIERS)
    return sorted({parse_tier(v) for v in items})


def parse_bug_classes(values: object) -> list[BugClass]:
    items = _split(values)
    if not items or [str(i).lower() for i in items] == ["all"]:
        return list(BugClass)
    seen: list[BugClass] = []
    for v in items:
        bug = parse_bug_class(v)
        if bug not in seen:
            seen.append(bug)
    return seen


def check_count(count: object, *, maximum: int = 1000) -> int:
    try:
        n = int(str(count))
    except ValueError:
        raise InvalidOptionError(
            f"count must be an integer from 1 to {maximum}, got {count!r}"
        ) from None
    if not 1 <= n <= maximum:
        raise InvalidOptionError(f"count must be from 1 to {maximum}, got {n}")
    return n


def check_seed(seed: object) -> int:
    try:
        n = int(str(seed))
    except ValueError:
        raise InvalidOptionError(f"seed must be a non-negative integer, got {seed!r}") from None
    if not 0 <= n < 2**63:
        raise InvalidOptionError(f"seed must be from 0 to 2**63-1, got {n}")
    return n


def rotate(classes: Sequence[BugClass], index: int) -> BugClass:
    return classes[index % len(classes)]
