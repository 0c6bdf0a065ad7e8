"""The two key roles of the vault, as interfaces an external KMS or HSM can implement.

- `KeyProvider` holds the key-encryption key (KEK). It wraps each submission's data key and
  unwraps it for use; the KEK itself never leaves the provider. `context` (the scope id) is bound
  into the wrapping, so a wrapped key moved to another submission does not unwrap.
- `CheckpointSigner` holds the Ed25519 key that signs audit entries and checkpoints. Verifying
  needs only its public key, so an auditor can check a copy of the trail elsewhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under the KEK named by `kek_id`."""

    kek_id: str
    blob: bytes

    def __repr__(self) -> str:  # never print key material, even wrapped
        return f"WrappedKey(kek_id={self.kek_id!r}, blob=<{len(self.blob)} bytes>)"


class KeyProvider(ABC):
    """Wraps and unwraps data keys under a key-encryption key it never reveals."""

    name: str = "abstract"

    @property
    @abstractmethod
    def kek_id(self) -> str:
        """A stable, non-secret id of the current KEK (recorded with every wrapped key)."""

    @abstractmethod
    def wrap(self, data_key: bytes, context: str) -> WrappedKey:
        """Encrypt `data_key` under the KEK, bound to `context`."""

    @abstractmethod
    def unwrap(self, wrapped: WrappedKey, context: str) -> bytes:
        """The data key; `IntegrityError` when the blob, the context or the KEK do not match."""

    def destroy(self, wrapped: WrappedKey, context: str) -> None:  # noqa: B027 - optional hook
        """Called when a scope is crypto-shredded. A KMS holding per-scope keys deletes the key
        here; the local provider has nothing to do (the wrapped key is wiped from the store)."""


class CheckpointSigner(ABC):
    """Signs audit entries and checkpoints with an Ed25519 key."""

    @property
    @abstractmethod
    def key_id(self) -> str:
        """A stable id of the key (a digest of the public key)."""

    @property
    @abstractmethod
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""

    @abstractmethod
    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of `message`."""


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is a valid Ed25519 signature of `message` under `public_key`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
