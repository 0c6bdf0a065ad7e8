"""Where the key-encryption key and the audit signing key live.

`interface.py` holds the abstract `KeyProvider` and `CheckpointSigner`; `local.py` keeps both in
files under `<data dir>/keys/` (created 0600 on first run). An external KMS or HSM plugs in as
another `KeyProvider` that wraps and unwraps data keys without ever handing out its key.
"""

from prereview.vault.keys.interface import (
    CheckpointSigner,
    KeyProvider,
    WrappedKey,
    verify_signature,
)
from prereview.vault.keys.local import LocalKeyFileProvider, LocalSigningKey

__all__ = [
    "CheckpointSigner",
    "KeyProvider",
    "LocalKeyFileProvider",
    "LocalSigningKey",
    "WrappedKey",
    "verify_signature",
]
