"""Moving a review's logs to another cleared evaluation host, sealed end to end.

    bundle = MAGIC | u32 header length | header (JSON) | nonce | AES-256-GCM(payload) | sig

- The receiving host has an X25519 key pair of its own (`prereview logs keygen`: the private
  half `keys/host-transfer.key`, 0600; the public half `keys/host-transfer.pub` is what the
  sender is given). The sender makes an ephemeral X25519 key, derives the AES key with
  HKDF-SHA256 (salt: both public keys; info: the format name) and seals the payload with the
  header as associated data: only the holder of the receiving host's private key can open it.
- The sending install's audit signing key (Ed25519) signs everything before the signature; the
  header carries its public half, which the receiver must pin (`--sender audit-signing.pub`:
  anyone can seal to a public host key, so only the signer says where a bundle came from).
- The payload is a manifest (the origin's ids and non-secret metadata, each log's name, size
  and SHA-256, the per-sample result numbers) followed by the log files. No credential, model
  argument or endpoint is included.

Opening checks, in order, before anything is written: format, signature, recipient key, the
AEAD tag, the manifest, every log's size and digest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from prereview.errors import PrereviewError
from prereview.vault.keys.interface import CheckpointSigner
from prereview.vault.keys.local import read_private_file, write_private_file

FORMAT = "prereview-logs-bundle/1"
MAGIC = b"PRVLOGB1"
_INFO = b"prereview/logs-bundle/v1"
_SIG_BYTES = 64
_NONCE_BYTES = 12
MAX_HEADER = 4096
MAX_LOGS = 10_000

HOST_KEY_FILE = "host-transfer.key"
HOST_PUBLIC_FILE = "host-transfer.pub"
_PUBLIC_HEADER = "prereview-host-x25519-v1"
_LOG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,250}\.eval", re.ASCII)


class BundleError(PrereviewError):
    """A bundle that cannot be made or opened; says which file and what is wrong with it."""


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def host_key_id(public_raw: bytes) -> str:
    return f"x25519-{hashlib.sha256(public_raw).hexdigest()[:16]}"


def signer_key_id(public_raw: bytes) -> str:
    return f"ed25519-{hashlib.sha256(public_raw).hexdigest()[:16]}"


@dataclass(frozen=True)
class HostKey:
    """This host's transfer key pair."""

    private: X25519PrivateKey
    public_raw: bytes
    public_path: Path

    @property
    def key_id(self) -> str:
        return host_key_id(self.public_raw)


def create_host_key(keys_dir: Path) -> tuple[HostKey, bool]:
    """This host's transfer key pair, created (0600, never overwritten) when missing; and
    whether it was created now."""
    path = keys_dir / HOST_KEY_FILE
    if path.exists():
        return load_host_key(keys_dir), False
    private = X25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(path, pem)
    raw = _raw(private.public_key())
    public_path = keys_dir / HOST_PUBLIC_FILE
    public_path.unlink(missing_ok=True)
    public_path.write_text(f"{_PUBLIC_HEADER} {base64.b64encode(raw).decode()}\n")
    return HostKey(private, raw, public_path), True


def load_host_key(keys_dir: Path) -> HostKey:
    path = keys_dir / HOST_KEY_FILE
    if not path.exists():
        raise BundleError(
            f"this host has no transfer key ({path}): run `prereview logs keygen` and give the "
            f"sender {keys_dir / HOST_PUBLIC_FILE}"
        )
    raw = read_private_file(path, "host transfer key")
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        raise BundleError(f"host transfer key {path} is damaged or not a PEM key") from None
    if not isinstance(key, X25519PrivateKey):
        raise BundleError(f"host transfer key {path} is not an X25519 key")
    return HostKey(key, _raw(key.public_key()), keys_dir / HOST_PUBLIC_FILE)


def read_host_public(path: Path) -> bytes:
    """The raw X25519 public key in a `host-transfer.pub` file."""
    try:
        parts = path.read_text(encoding="ascii", errors="replace").split()
    except OSError as exc:
        raise BundleError(f"recipient key {path} cannot be read: {exc.strerror}") from None
    if len(parts) != 2 or parts[0] != _PUBLIC_HEADER:
        raise BundleError(f"recipient key {path} is not a prereview host public key")
    try:
        raw = base64.b64decode(parts[1], validate=True)
        X25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise BundleError(f"recipient key {path} is damaged") from None
    return raw


def read_signer_public(path: Path) -> bytes:
    """The raw Ed25519 key in another install's `audit-signing.pub` (hex)."""
    try:
        raw = bytes.fromhex(path.read_text(encoding="ascii", errors="replace").strip())
        Ed25519PublicKey.from_public_bytes(raw)
    except (OSError, ValueError):
        raise BundleError(f"sender key {path} is not an audit-signing.pub file") from None
    return raw


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO)
    return hkdf.derive(shared)


def pack_payload(manifest: dict[str, Any], files: list[tuple[str, bytes]]) -> bytes:
    """Manifest (with each file's size and digest) then the files, in order."""
    manifest = dict(manifest)
    manifest["logs"] = [
        {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for name, data in files
    ]
    head = json.dumps(manifest, sort_keys=True).encode()
    return len(head).to_bytes(4, "big") + head + b"".join(data for _, data in files)


def unpack_payload(payload: bytes, what: str) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """The manifest and files, each file's size and digest checked."""
    try:
        n = int.from_bytes(payload[:4], "big")
        manifest = json.loads(payload[4 : 4 + n])
        entries = manifest["logs"]
        if not isinstance(entries, list) or len(entries) > MAX_LOGS:
            raise ValueError("logs")
    except (ValueError, KeyError, TypeError):
        raise BundleError(f"{what}: its manifest is malformed") from None
    files = []
    offset = 4 + n
    for entry in entries:
        name, size, digest = entry.get("name"), entry.get("bytes"), entry.get("sha256")
        if not isinstance(name, str) or not _LOG_NAME.fullmatch(name):
            raise BundleError(f"{what}: a log name in its manifest is not a log file name")
        if not isinstance(size, int) or size < 0 or offset + size > len(payload):
            raise BundleError(f"{what}: log {name} is truncated")
        data = payload[offset : offset + size]
        if hashlib.sha256(data).hexdigest() != digest:
            raise BundleError(f"{what}: log {name} does not match its digest")
        files.append((name, data))
        offset += size
    if offset != len(payload):
        raise BundleError(f"{what}: it holds data its manifest does not describe")
    return manifest, files


def seal_bundle(payload: bytes, recipient: bytes, signer: CheckpointSigner) -> bytes:
    """Seal `payload` to the host whose X25519 public key is `recipient`; sign with `signer`."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = _raw(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    key = _derive(shared, ephemeral_raw, recipient)
    header = json.dumps(
        {
            "format": FORMAT,
            "recipient": host_key_id(recipient),
            "ephemeral": ephemeral_raw.hex(),
            "sender": signer.public_key.hex(),
        },
        sort_keys=True,
    ).encode()
    prefix = MAGIC + len(header).to_bytes(4, "big") + header
    nonce = secrets.token_bytes(_NONCE_BYTES)
    body = prefix + nonce + AESGCM(key).encrypt(nonce, payload, prefix)
    return body + signer.sign(body)


@dataclass(frozen=True)
class OpenedBundle:
    payload: bytes
    sender_key_id: str
    recipient_key_id: str


def open_bundle(blob: bytes, host: HostKey, what: str, expected_sender: bytes) -> OpenedBundle:
    """The payload of a bundle sealed to `host`; BundleError naming `what` on any fault."""
    min_len = len(MAGIC) + 4 + _NONCE_BYTES + 16 + _SIG_BYTES
    if len(blob) < min_len or blob[: len(MAGIC)] != MAGIC:
        raise BundleError(f"{what} is not a prereview logs bundle")
    n = int.from_bytes(blob[len(MAGIC) : len(MAGIC) + 4], "big")
    if n > MAX_HEADER or len(MAGIC) + 4 + n + _NONCE_BYTES + 16 + _SIG_BYTES > len(blob):
        raise BundleError(f"{what} is truncated or damaged")
    prefix = blob[: len(MAGIC) + 4 + n]
    body, signature = blob[:-_SIG_BYTES], blob[-_SIG_BYTES:]
    try:
        header = json.loads(prefix[len(MAGIC) + 4 :])
        sender = bytes.fromhex(header["sender"])
        ephemeral = bytes.fromhex(header["ephemeral"])
        recipient_id = str(header["recipient"])
        if header["format"] != FORMAT:
            raise ValueError("format")
        Ed25519PublicKey.from_public_bytes(sender).verify(signature, body)
    except InvalidSignature:
        raise BundleError(f"{what} was altered after it was signed; nothing imported") from None
    except (ValueError, KeyError, TypeError):
        raise BundleError(f"{what} has a damaged header") from None
    if sender != expected_sender:
        raise BundleError(
            f"{what} was signed by {signer_key_id(sender)}, not by the expected sender "
            f"{signer_key_id(expected_sender)}"
        )
    if recipient_id != host.key_id:
        raise BundleError(
            f"{what} is sealed to host key {recipient_id}, not to this host's {host.key_id}"
        )
    try:
        shared = host.private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        key = _derive(shared, ephemeral, host.public_raw)
        nonce = body[len(prefix) : len(prefix) + _NONCE_BYTES]
        payload = AESGCM(key).decrypt(nonce, body[len(prefix) + _NONCE_BYTES :], prefix)
    except (InvalidTag, ValueError):
        raise BundleError(f"{what} does not open with this host's key; nothing imported") from None
    return OpenedBundle(payload, signer_key_id(sender), recipient_id)
