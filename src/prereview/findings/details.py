"""A finding's details (what a source said: message, code snippet, stack) behind one small seam.

Details can reveal an unpatched vulnerability and what a model under review did, so they are the
confidential part of a finding. Everything that stores or reads them goes through a
`DetailsCodec`, chosen per submission by `details_codec()`; the row records the codec's name so
sealed and plain rows can coexist while the vault (per-submission encryption) is rolled out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import msgspec

from prereview.errors import PrereviewError


class DetailsError(PrereviewError):
    """Details that cannot be opened (unknown codec, corrupted bytes)."""


@dataclass(frozen=True)
class FindingDetails:
    message: str = ""
    snippet: str = ""
    stack: tuple[str, ...] = ()


class _Wire(msgspec.Struct, array_like=True):
    message: str
    snippet: str
    stack: list[str]


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_Wire)


class DetailsCodec(ABC):
    """Seals details for storage and opens them for an authorised reader."""

    name: str

    @abstractmethod
    def seal(self, submission_id: str | None, details: FindingDetails) -> bytes: ...

    @abstractmethod
    def open(self, submission_id: str | None, sealed: bytes) -> FindingDetails: ...


class PlainDetailsCodec(DetailsCodec):
    """Compact JSON, not encrypted: the default until the vault supplies a sealing codec."""

    name = "plain-json"

    def seal(self, submission_id: str | None, details: FindingDetails) -> bytes:
        return _ENCODER.encode(_Wire(details.message, details.snippet, list(details.stack)))

    def open(self, submission_id: str | None, sealed: bytes) -> FindingDetails:
        try:
            wire = _DECODER.decode(sealed)
        except msgspec.DecodeError:
            raise DetailsError("finding details are corrupted") from None
        return FindingDetails(wire.message, wire.snippet, tuple(wire.stack))


_CODECS: dict[str, DetailsCodec] = {PlainDetailsCodec.name: PlainDetailsCodec()}


def register_codec(codec: DetailsCodec, default: bool = False) -> None:
    """Make `codec` available for reading (and, with `default`, for writing new details)."""
    global _DEFAULT
    _CODECS[codec.name] = codec
    if default:
        _DEFAULT = codec.name


_DEFAULT = PlainDetailsCodec.name


def details_codec(name: str | None = None) -> DetailsCodec:
    """The codec called `name`, or the one new details are written with."""
    key = name or _DEFAULT
    if key not in _CODECS:
        raise DetailsError(f"finding details sealed with unknown codec {key!r}")
    return _CODECS[key]
