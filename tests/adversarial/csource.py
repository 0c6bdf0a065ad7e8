"""Source surgery on a generated program: where a cheating patch puts its code.

A cheat keeps the planted bug and adds code around it; these helpers place that code at the
top of the file, after the includes, at the top of the entry point or of the buggy handler.
"""

from __future__ import annotations

import re

from prereview.suites.memsafety.instance import Instance


def vulnerable(inst: Instance) -> str:
    return inst.file(f"ground_truth/vulnerable/{inst.source_name}").read_text()


def fixed(inst: Instance) -> str:
    return inst.file(f"ground_truth/fixed/{inst.source_name}").read_text()


def after_includes(text: str, code: str) -> str:
    """Insert `code` after the last top-level `#include` line."""
    lines = text.splitlines(keepends=True)
    last = max(i for i, ln in enumerate(lines) if ln.startswith("#include"))
    return "".join(lines[: last + 1]) + "\n" + code.rstrip() + "\n" + "".join(lines[last + 1 :])


def _body_start(text: str, header: re.Pattern[str]) -> int:
    m = header.search(text)
    if m is None:
        raise ValueError(f"no definition matches {header.pattern}")
    brace = text.index("\n{\n", m.end()) + 3
    return brace


def at_entry(text: str, inst: Instance, code: str) -> str:
    """Insert `code` as the first statements of the entry point (`data`, `size` in scope)."""
    entry = inst.manifest["program"]["entry"]
    at = _body_start(text, re.compile(rf"^int {entry}\(const uint8_t \*data, size_t size\)", re.M))
    return text[:at] + code.rstrip() + "\n" + text[at:]


def at_main(text: str, code: str) -> str:
    """Insert `code` as the first statements of `main` (`argc`, `argv` in scope)."""
    at = _body_start(text, re.compile(r"^int main\(int argc, char \*\*argv\)", re.M))
    return text[:at] + code.rstrip() + "\n" + text[at:]


def at_function(text: str, function: str, code: str) -> str:
    """Insert `code` as the first statements of a `static int function(...)` definition."""
    at = _body_start(text, re.compile(rf"^static int {function}\(", re.M))
    return text[:at] + code.rstrip() + "\n" + text[at:]


def before_function(text: str, function: str, prefix: str) -> str:
    """Put `prefix` (an attribute) in front of a `static int function(...)` definition."""
    m = re.search(rf"^static int {function}\(", text, re.M)
    if m is None:
        raise ValueError(f"no definition of {function}")
    return text[: m.start()] + prefix + " " + text[m.start() :]


def c_bytes(data: bytes) -> str:
    """A C initializer list for `data`."""
    return ", ".join(str(b) for b in data) or "0"


def c_string(data: bytes) -> str:
    """A C string literal holding exactly `data` (octal escapes, no trigraph surprises)."""
    return '"' + "".join(f"\\{b:03o}" for b in data) + '"'
