"""Reading a JSON file under the intake limits, with errors that point at the place in the file."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from prereview.findings.intake.interface import IntakeError
from prereview.findings.limits import IntakeLimits

T = TypeVar("T")

_BYTE_AT = re.compile(r"\(byte (\d+)\)")
_PATH_AT = re.compile(r" - at `(\$[^`]*)`$")


def read_bytes(path: Path, limits: IntakeLimits) -> tuple[bytes, str]:
    """The file's bytes and SHA-256, refusing files over the size limit before reading them."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IntakeError(path, "", f"cannot read the file ({exc.strerror})") from None
    if size > limits.max_file_bytes:
        raise IntakeError(
            path, "", f"file is {size} bytes, over the limit of {limits.max_file_bytes}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IntakeError(path, "", f"cannot read the file ({exc.strerror})") from None
    return data, hashlib.sha256(data).hexdigest()


def line_column(data: bytes, offset: int) -> str:
    """`line L, column C` (both from 1) of a byte offset."""
    offset = max(0, min(offset, len(data)))
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", "replace")) + 1
    return f"line {line}, column {column}"


def decode(path: Path, data: bytes, kind: type[T], what: str) -> T:
    """`data` decoded into the typed tree `kind`; any problem is an `IntakeError` with a place."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        where, problem = split_validation_message(str(exc))
        raise IntakeError(path, where, problem) from None
    except msgspec.DecodeError as exc:
        message = str(exc)
        match = _BYTE_AT.search(message)
        where = line_column(data, int(match.group(1))) if match else ""
        problem = _BYTE_AT.sub("", message).strip().rstrip(":")
        raise IntakeError(path, where, f"not valid JSON ({problem}); expected {what}") from None
    except RecursionError:
        raise IntakeError(path, "", "JSON nesting is too deep") from None


def decode_part(path: Path, raw: msgspec.Raw, kind: type[T], where: str) -> T:
    """One element of a file already checked as JSON, decoded alone; errors name its full path."""
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        inner, problem = split_validation_message(str(exc))
        raise IntakeError(path, where + inner[1:], problem) from None
    except msgspec.DecodeError as exc:
        raise IntakeError(path, where, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise IntakeError(path, where, "JSON nesting is too deep") from None


def split_validation_message(message: str) -> tuple[str, str]:
    """msgspec's `Problem - at `$.a[0]`` as ('$.a[0]', 'problem'), the path '$' when it has none."""
    match = _PATH_AT.search(message)
    if match:
        return match.group(1), message[: match.start()]
    return "$", message


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
