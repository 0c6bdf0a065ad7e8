"""Text from outside, made safe to show on a terminal.

Model names, titles, ids, principal and organization names are chosen by people and programs we
do not trust, and end up on other users' terminals. An escape sequence in them could clear the
screen, rewrite earlier lines, retitle the window or plant a hyperlink (OSC 8); a carriage return
or a bidirectional override ("Trojan Source") makes a line read differently than it is. The
helpers here remove all of those, whole sequences rather than only their first byte; the CLI's
consoles apply them to every string they print (`prereview.cli.common`), and findings intake
uses the same character table for what it stores (`prereview.findings.limits`).
"""

from __future__ import annotations

import re

# C0/C1 controls except tab and newline, DEL, the bidirectional formatting characters, BOM.
CONTROL_AND_BIDI: dict[int, None] = dict.fromkeys(
    [c for c in range(0x20) if c not in (0x09, 0x0A)]
    + list(range(0x7F, 0xA0))
    + [0x200E, 0x200F, 0x061C]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
    + [0xFEFF]
)

# Whole sequences, ECMA-48: CSI (ESC [ or C1 0x9B) parameters, intermediates, final byte;
# OSC/DCS/SOS/PM/APC strings up to BEL or ST (ESC \ or C1 0x9C), or unterminated to the end;
# any other ESC with its next character.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x7e]?"
)
_ONE_LINE: dict[int, int | None] = dict(CONTROL_AND_BIDI)
_ONE_LINE.update({0x09: 0x20, 0x0A: 0x20})


def _safe(value: str) -> bool:
    """The common case, checked fast: printable ASCII plus tabs and newlines."""
    return value.isascii() and value.replace("\n", " ").replace("\t", " ").isprintable()


def terminal_text(value: str) -> str:
    """`value` without escape sequences, controls (except tab and newline) or bidi overrides."""
    if _safe(value):
        return value
    return _SEQUENCE.sub("", value).translate(CONTROL_AND_BIDI)


def terminal_line(value: str) -> str:
    """`terminal_text` on one line: newlines and tabs become spaces."""
    if value.isascii() and value.isprintable():
        return value
    return _SEQUENCE.sub("", value).translate(_ONE_LINE)
