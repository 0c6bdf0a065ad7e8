"""Sealing one artifact with its submission's data key: AES-256-GCM, the location bound in.

    sealed = MAGIC (8) | nonce (12) | ciphertext | tag (16)
    AAD    = "prereview/artifact/v1" NUL scope NUL artifact key

Binding the scope (submission id) and the artifact key into the AAD means a ciphertext copied
to another artifact or another submission fails authentication instead of decrypting as the
wrong thing. Nonces are random 96-bit values: far below the birthday bound for the number of
artifacts one submission has.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from prereview.vault.errors import IntegrityError

MAGIC = b"PRVSEAL1"
NONCE_BYTES = 12
TAG_BYTES = 16
DATA_KEY_BYTES = 32
MAX_PLAINTEXT = (1 << 31) - 1 - TAG_BYTES
"""One-shot AES-GCM in `cryptography` takes at most 2 GiB; Inspect logs stay far below."""

_AAD_PREFIX = b"prereview/artifact/v1\x00"


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)


def _aad(scope: str, artifact: str) -> bytes:
    return _AAD_PREFIX + scope.encode() + b"\x00" + artifact.encode()


def is_sealed(blob: bytes) -> bool:
    return blob[: len(MAGIC)] == MAGIC


def seal(data_key: bytes, scope: str, artifact: str, plaintext: bytes) -> bytes:
    if len(plaintext) > MAX_PLAINTEXT:
        raise IntegrityError(f"{scope}/{artifact}", "too large to seal in one piece (over 2 GiB)")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(data_key).encrypt(nonce, plaintext, _aad(scope, artifact))


def open_sealed(data_key: bytes, scope: str, artifact: str, blob: bytes) -> bytes:
    """The plaintext, or IntegrityError naming `scope/artifact`; never partial or garbage."""
    name = f"{scope}/{artifact}"
    if not is_sealed(blob):
        raise IntegrityError(name, "it is not a sealed prereview artifact (bad header)")
    if len(blob) < len(MAGIC) + NONCE_BYTES + TAG_BYTES:
        raise IntegrityError(name, "it is truncated")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(data_key).decrypt(
            nonce, blob[len(MAGIC) + NONCE_BYTES :], _aad(scope, artifact)
        )
    except InvalidTag:
        raise IntegrityError(
            name, "its ciphertext does not authenticate (corrupted, moved, or another key)"
        ) from None
