"""Keys in files under `<data dir>/keys/`: the KEK (`kek.key`) and the audit signing key
(`audit-signing.key`, with its public half in `audit-signing.pub`); beside them the audit trail's
signed head record (`audit-head.json`, see `prereview.vault.audit`), which lives here because a
database writer who cannot reach the keys cannot rewrite it either.

Files are created 0600 with O_EXCL (never overwritten) and refused when group or others can read
them. Whether a missing file may be created is not decided here: the vault creates keys only for
a store that holds no data, and otherwise refuses to start (a new key would orphan everything).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from prereview.files import create_private, write_private_atomic
from prereview.vault.errors import IntegrityError, KeyFileError
from prereview.vault.keys.interface import CheckpointSigner, KeyProvider, WrappedKey

KEK_FILE = "kek.key"
SIGNING_FILE = "audit-signing.key"
SIGNING_PUBLIC_FILE = "audit-signing.pub"
HEAD_FILE = "audit-head.json"

_KEK_HEADER = "prereview-kek-v1"
_WRAP_VERSION = b"\x01"
_WRAP_AAD = b"prereview/data-key/v1\x00"
_NONCE_BYTES = 12


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` 0600 with `data`; fails if it exists (a key is never silently replaced)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_private(path, data)


def replace_private_file(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data` (0600): a temp file beside it, fsync'd, renamed
    over it. A crash leaves the old content or the new, never a torn file. The directory is not
    fsync'd: after a power loss the rename may be lost, which only leaves the older content."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private_atomic(path, data)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created 0600), held across processes."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_private_file(path: Path, what: str) -> bytes:
    """The bytes of a key file, after checking that only its owner can read it."""
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} is missing") from None
    except OSError as exc:
        raise KeyFileError(f"{what} {path} cannot be read: {exc.strerror}") from None
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"{what} {path} is accessible by group or others (mode {mode:04o}): "
            f"run `chmod 600 {path}` and check who may have copied it"
        )
    return data


class LocalKeyFileProvider(KeyProvider):
    """A 256-bit AES key in a local file; wraps data keys with AES-256-GCM bound to the scope."""

    name = "local"

    def __init__(self, path: Path, key: bytes) -> None:
        if len(key) != 32:
            raise KeyFileError(f"key file {path} does not hold a 256-bit key")
        self.path = path
        self._aead = AESGCM(key)
        digest = hashlib.sha256(b"prereview/kek-id/v1\x00" + key).hexdigest()
        self._kek_id = f"kek-{digest[:16]}"

    def __repr__(self) -> str:
        return f"LocalKeyFileProvider(path={str(self.path)!r}, kek_id={self._kek_id!r})"

    @classmethod
    def create(cls, path: Path) -> LocalKeyFileProvider:
        key = secrets.token_bytes(32)
        text = f"{_KEK_HEADER} {base64.b64encode(key).decode()}\n"
        write_private_file(path, text.encode())
        return cls(path, key)

    @classmethod
    def load(cls, path: Path) -> LocalKeyFileProvider:
        raw = read_private_file(path, "key file")
        parts = raw.decode("ascii", errors="replace").split()
        if len(parts) != 2 or parts[0] != _KEK_HEADER:
            raise KeyFileError(f"key file {path} is not a prereview key file")
        try:
            key = base64.b64decode(parts[1], validate=True)
        except ValueError:
            raise KeyFileError(f"key file {path} is damaged (not base64)") from None
        return cls(path, key)

    @property
    def kek_id(self) -> str:
        return self._kek_id

    def wrap(self, data_key: bytes, context: str) -> WrappedKey:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, data_key, _WRAP_AAD + context.encode())
        return WrappedKey(self._kek_id, _WRAP_VERSION + nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, context: str) -> bytes:
        what = f"the data key of {context}"
        if wrapped.kek_id != self._kek_id:
            raise IntegrityError(
                what,
                f"it is wrapped by key {wrapped.kek_id} but {self.path} holds {self._kek_id} "
                "(wrong key file?)",
            )
        blob = wrapped.blob
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _WRAP_VERSION:
            raise IntegrityError(what, "the wrapped key is truncated or of an unknown format")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, _WRAP_AAD + context.encode())
        except InvalidTag:
            raise IntegrityError(what, "the wrapped key does not authenticate") from None


class LocalSigningKey(CheckpointSigner):
    """An Ed25519 private key in a local PEM file, its public half beside it."""

    def __init__(self, path: Path, key: Ed25519PrivateKey) -> None:
        self.path = path
        self._key = key
        self._public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._key_id = f"ed25519-{hashlib.sha256(self._public).hexdigest()[:16]}"

    def __repr__(self) -> str:
        return f"LocalSigningKey(path={str(self.path)!r}, key_id={self._key_id!r})"

    @classmethod
    def create(cls, path: Path) -> LocalSigningKey:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private_file(path, pem)
        signer = cls(path, key)
        public_path = path.with_name(SIGNING_PUBLIC_FILE)
        public_path.unlink(missing_ok=True)
        public_path.write_text(signer.public_key.hex() + "\n")
        return signer

    @classmethod
    def load(cls, path: Path) -> LocalSigningKey:
        raw = read_private_file(path, "audit signing key")
        try:
            key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError):
            raise KeyFileError(f"audit signing key {path} is damaged or not a PEM key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"audit signing key {path} is not an Ed25519 key")
        return cls(path, key)

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)
