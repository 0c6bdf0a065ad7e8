"""Sealing a unit's Inspect log on the worker, to a key only the head can open.

Each run has its own X25519 key pair (`RunKey`); the private half never leaves the head's
memory. A worker seals with an ephemeral X25519 key: ECDH with the run's public key, HKDF-SHA256
to an AES-256-GCM key, the ephemeral public key and the file name bound into the ciphertext as
associated data. A worker can seal but never open (not even what it sealed itself), and a blob
renamed to another file, cut or altered does not open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from prereview.errors import PrereviewError

_MAGIC = b"prsl1"
_INFO = b"prereview unit log v1"
_RAW = serialization.Encoding.Raw
_PUB = serialization.PublicFormat.Raw


class SealError(PrereviewError):
    """A sealed blob that does not open with this run's key (altered, cut, or another run's)."""


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(SHA256(), 32, salt=ephemeral + recipient, info=_INFO).derive(shared)


def seal(public_key: bytes, name: str, data: bytes) -> bytes:
    """`data` (file `name`) sealed to the run's raw 32-byte X25519 public key."""
    recipient = X25519PublicKey.from_public_bytes(public_key)
    ephemeral = X25519PrivateKey.generate()
    eph_pub = ephemeral.public_key().public_bytes(_RAW, _PUB)
    key = _derive(ephemeral.exchange(recipient), eph_pub, public_key)
    nonce = os.urandom(12)
    aad = _MAGIC + eph_pub + name.encode()
    return _MAGIC + eph_pub + nonce + AESGCM(key).encrypt(nonce, data, aad)


@dataclass(frozen=True)
class RunKey:
    """A run's key pair: `public` goes to the workers, the private key stays in this object."""

    _private: X25519PrivateKey

    @classmethod
    def generate(cls) -> RunKey:
        return cls(X25519PrivateKey.generate())

    @property
    def public(self) -> bytes:
        return self._private.public_key().public_bytes(_RAW, _PUB)

    def open(self, name: str, blob: bytes) -> bytes:
        """The plaintext of a blob sealed to this run's key for file `name`; SealError else."""
        head = len(_MAGIC)
        if len(blob) < head + 32 + 12 + 16 or not blob.startswith(_MAGIC):
            raise SealError(f"sealed log {name!r} is not a prereview unit log")
        eph_pub, nonce = blob[head : head + 32], blob[head + 32 : head + 44]
        try:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
            key = _derive(shared, eph_pub, self.public)
            return AESGCM(key).decrypt(nonce, blob[head + 44 :], _MAGIC + eph_pub + name.encode())
        except (InvalidTag, ValueError):
            raise SealError(
                f"sealed log {name!r} does not open with this run's key (altered or foreign)"
            ) from None

    def __repr__(self) -> str:  # never the private key, not even in a traceback
        return "RunKey(<private>)"
