"""The vault: confidentiality of everything a submission hands over or a review produces.

- `envelope`, `datakeys`, `keys/`: per-submission AES-256-GCM data keys, wrapped by a
  key-encryption key from a `KeyProvider` (local key file by default, KMS/HSM-ready).
- `content`, `workspace`: the encrypted, access-checked `SubmissionContent`, and the short
  plaintext window of Inspect runs.
- `shredding`: `CryptoShredder` (withdrawal, retention) and `RetentionPolicy`.
- `principals`, `policy`, `guard`: roles, hashed API tokens, the one default-deny
  `AccessPolicy`, and the `AccessGuard` that records every decision.
- `audit`: the hash-chained, signed `AuditChain` with checkpoints and `verify`.
- markings (in `prereview.domain.markings`, re-exported): banners, the statement, `ReleasePolicy`.
- `service`: `Vault` (one install) and `VaultSession` (one principal).
"""

from prereview.domain.markings import (
    DEFAULT_BANNER,
    VOLUNTARY_STATEMENT,
    DocumentMarking,
    ReleasePolicy,
    marking_for,
)
from prereview.vault.audit import AuditChain, AuditEvent, AuditReport
from prereview.vault.errors import (
    AccessDeniedError,
    AuthenticationError,
    IntegrityError,
    KeyFileError,
    ShreddedError,
    VaultError,
)
from prereview.vault.policy import AccessPolicy, Operation, Resource, ResourceKind
from prereview.vault.principals import Principal, Role
from prereview.vault.service import (
    CREDENTIAL_KEY,
    Bootstrap,
    Vault,
    VaultSession,
    bootstrap,
    open_session,
)

__all__ = [
    "CREDENTIAL_KEY",
    "DEFAULT_BANNER",
    "VOLUNTARY_STATEMENT",
    "AccessDeniedError",
    "AccessPolicy",
    "AuditChain",
    "AuditEvent",
    "AuditReport",
    "AuthenticationError",
    "Bootstrap",
    "DocumentMarking",
    "IntegrityError",
    "KeyFileError",
    "Operation",
    "Principal",
    "ReleasePolicy",
    "Resource",
    "ResourceKind",
    "Role",
    "ShreddedError",
    "Vault",
    "VaultError",
    "VaultSession",
    "bootstrap",
    "marking_for",
    "open_session",
]
