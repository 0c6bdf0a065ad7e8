"""Tables of the `vault` branch: key records, wrapped data keys, principals, evaluator
assignments, and the audit chain with its signed checkpoints.

No table here holds a secret in the clear: data keys are stored wrapped by the key-encryption key
(and the wrapped form is wiped on crypto-shredding), API tokens only as SHA-256 digests, and the
audit trail only ids, times, hashes and outcomes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from prereview.store.base import Base, UTCDateTime, utcnow

ROLES = ["submitter", "evaluator", "coordinator", "sector_partner", "auditor"]
KEY_KINDS = ["kek", "signing"]


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class VaultKeyRow(Base):
    """A key this store depends on (by id, never the key): how a missing or swapped key file
    is told apart from a fresh install."""

    __tablename__ = "vault_keys"
    __table_args__ = (CheckConstraint(_in("kind", KEY_KINDS), name="kind"),)

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a KEK replaced by rotation


class DataKeyRow(Base):
    """The data key of one scope (a submission id), wrapped by the key-encryption key.

    Crypto-shredding sets `wrapped_key` to NULL (with SQLite's secure_delete, so the old bytes
    are zeroed in the file) and keeps the row as the record of when and why.
    """

    __tablename__ = "vault_data_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shred_reason: Mapped[str | None] = mapped_column(String(64))


class PrincipalRow(Base):
    """Someone who may call prereview: a role, an org for submitters, a hashed API token."""

    __tablename__ = "vault_principals"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))


class AssignmentRow(Base):
    """An evaluator assigned to the review of a submission: the only reviews an evaluator can
    see or run. Keyed by submission, since a review row exists only once it is planned."""

    __tablename__ = "vault_assignments"

    principal_id: Mapped[str] = mapped_column(
        ForeignKey("vault_principals.id", ondelete="CASCADE"), primary_key=True
    )
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    assigned_by: Mapped[str] = mapped_column(String(100))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntryRow(Base):
    """One entry of the append-only audit chain; `entry_hash` covers every other column but
    `signature`, and `prev_hash` is the hash of entry `seq - 1`. No foreign keys: the trail
    outlives what it talks about."""

    __tablename__ = "vault_audit_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    principal_id: Mapped[str | None] = mapped_column(String(32), index=True)
    principal: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    submission_id: Mapped[str | None] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class AuditCheckpointRow(Base):
    """An Ed25519 signature over (seq, entry hash) of the chain's head at some moment: entries
    up to `seq` cannot be removed from the end without `audit verify` noticing."""

    __tablename__ = "vault_audit_checkpoints"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
