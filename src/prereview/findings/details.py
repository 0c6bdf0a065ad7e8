"""A finding's details (what a source said: message, code snippet, stack) behind one small seam.

Details can reveal an unpatched vulnerability and what a model under review did, so they are the
confidential part of a finding. Everything that stores or reads them goes through a
`DetailsCodec` of the caller's `DetailsCodecs` (from its vault session); the row records the
codec's name so sealed and plain rows can coexist.
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


@dataclass(frozen=True)
class DetailsCodecs:
    """The codecs one caller holds: `writer` seals new details; each codec (the writer and the
    `readers`) opens the rows that name it. Taken from the caller's vault session
    (`prereview.findings.access.session_codecs`), never from process-wide state."""

    writer: DetailsCodec
    readers: tuple[DetailsCodec, ...] = ()

    def reader(self, name: str) -> DetailsCodec:
        for codec in (self.writer, *self.readers):
            if codec.name == name:
                return codec
        raise DetailsError(f"finding details sealed with unknown codec {name!r}")


PLAIN_CODECS = DetailsCodecs(PlainDetailsCodec())
"""Unencrypted details: for installs and tests without a vault."""
