"""Bounds on what a findings source may hand us, and the cleaning every stored string goes through.

A SARIF file can come from an AI agent under review, so everything in it is hostile input: huge
files, megabyte strings, deep nesting, control characters and bidirectional overrides ("Trojan
Source") meant to make a finding read differently than it is. Hard limits reject the file (all or
nothing); soft limits shorten one field and say so with an ellipsis.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from prereview.domain.display import CONTROL_AND_BIDI

# C0/C1 controls except tab and newline, DEL, and the bidirectional formatting characters: the
# table the CLI's consoles use too.
_DROP = CONTROL_AND_BIDI
_ONE_LINE: dict[int, int | None] = dict(_DROP)
_ONE_LINE.update({0x09: 0x20, 0x0A: 0x20})


@dataclass(frozen=True)
class IntakeLimits:
    """Hard limits (exceeding one rejects the whole file) and soft ones (the field is shortened)."""

    max_file_bytes: int = 512 << 20  # about 750,000 SARIF results of typical size
    max_results: int = 2_000_000
    max_runs: int = 1_000
    max_rules: int = 200_000
    max_artifacts: int = 2_000_000
    # Inspect `.eval` logs are zip archives: what they hold uncompressed, counted while reading
    max_archive_entries: int = 100_000
    max_entry_bytes: int = 1 << 30
    max_archive_bytes: int = 4 << 30
    max_stack_frames: int = 256
    max_locations: int = 64
    max_fingerprints: int = 32
    max_list_items: int = 10_000  # any other list inside one result or rule (taxa, stacks, …)
    # soft limits, in characters
    max_title: int = 200
    max_message: int = 8_192
    max_uri: int = 2_048
    max_identifier: int = 256
    max_snippet: int = 2_048


DEFAULT_LIMITS = IntakeLimits()


def _ascii_clean(value: str) -> bool:
    """ASCII text whose only non-printables are tabs and newlines."""
    return value.translate(_ASCII_WS).isprintable()


_ASCII_WS = {0x09: 0x20, 0x0A: 0x20}


def clean_text(value: str | None, limit: int) -> str:
    """Multi-line text with controls and bidi overrides removed, NFC-normalised, at most `limit`."""
    if not value:
        return ""
    if len(value) <= limit and value.isascii() and (value.isprintable() or _ascii_clean(value)):
        return value  # the common case: nothing to drop, NFC is the identity on ASCII
    if len(value) > limit * 4:  # do not normalise megabytes only to cut them
        value = value[: limit * 4]
    text = unicodedata.normalize("NFC", value.translate(_DROP))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_line(value: str | None, limit: int) -> str:
    """`clean_text` on one line: newlines and tabs become spaces, ends are trimmed."""
    if not value:
        return ""
    if len(value) <= limit and value.isascii() and value.isprintable():
        return value.strip()
    if len(value) > limit * 4:
        value = value[: limit * 4]
    text = unicodedata.normalize("NFC", value.translate(_ONE_LINE)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
