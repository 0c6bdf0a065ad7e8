"""What the vault refuses, each as one line that says what happened and what to do.

All are `PrereviewError`s, so the CLI prints them as one line and exits 2. None of them ever
carries a secret, a plaintext or a token: only ids, key ids and paths.
"""

from __future__ import annotations

from prereview.errors import PrereviewError


class VaultError(PrereviewError):
    """A problem of the vault (keys, ciphertexts, access)."""


class KeyFileError(VaultError):
    """A key file is missing, unreadable, too open, or not the key this store was sealed with."""


class IntegrityError(VaultError):
    """A sealed artifact or wrapped key failed authentication: corrupted, moved or wrong key.

    Nothing of it was decrypted; `artifact` names what failed.
    """

    def __init__(self, artifact: str, why: str) -> None:
        super().__init__(f"integrity check failed for {artifact}: {why}; nothing was decrypted")
        self.artifact = artifact


class ShreddedError(VaultError):
    """The data key of the scope was destroyed: its content can never be read again."""

    def __init__(self, scope: str, reason: str | None) -> None:
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"the content of {scope} was crypto-shredded{why}: its data key is destroyed "
            "and nothing of it can be decrypted"
        )
        self.scope = scope


class AuthenticationError(VaultError):
    """No token, or a token that names no active principal."""


class AccessDeniedError(VaultError):
    """The policy refused an operation; the refusal is in the audit trail."""
