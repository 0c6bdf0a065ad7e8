"""Vault branch: key records, wrapped data keys, principals, assignments, audit chain.

Revision ID: vault_0001_initial
Revises: 0001_root
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "vault_0001_initial"
down_revision: str | Sequence[str] | None = "0001_root"
branch_labels: str | Sequence[str] | None = ("vault",)
depends_on: str | Sequence[str] | None = "review_0001_initial"


def upgrade() -> None:
    op.create_table(
        "vault_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('kek', 'signing')", name=op.f("ck_vault_keys_kind")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_vault_keys")),
    )
    with op.batch_alter_table("vault_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vault_keys_kind"), ["kind"], unique=False)

    op.create_table(
        "vault_data_keys",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shred_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_vault_data_keys")),
    )
    op.create_table(
        "vault_principals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "role IN ('submitter', 'evaluator', 'coordinator', 'sector_partner', 'auditor')",
            name=op.f("ck_vault_principals_role"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_vault_principals_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_principals")),
        sa.UniqueConstraint("name", name=op.f("uq_vault_principals_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_vault_principals_token_sha256")),
    )
    with op.batch_alter_table("vault_principals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vault_principals_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "vault_assignments",
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["vault_principals.id"],
            name=op.f("fk_vault_assignments_principal_id_vault_principals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_vault_assignments_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("principal_id", "submission_id", name=op.f("pk_vault_assignments")),
    )
    with op.batch_alter_table("vault_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vault_assignments_submission_id"), ["submission_id"], unique=False
        )

    op.create_table(
        "vault_audit_entries",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("principal_id", sa.String(length=32), nullable=True),
        sa.Column("principal", sa.String(length=100), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("submission_id", sa.String(length=64), nullable=True),
        sa.Column("target", sa.String(length=500), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_vault_audit_entries")),
    )
    with op.batch_alter_table("vault_audit_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vault_audit_entries_principal_id"), ["principal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_vault_audit_entries_submission_id"), ["submission_id"], unique=False
        )

    op.create_table(
        "vault_audit_checkpoints",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_vault_audit_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("vault_audit_checkpoints")
    with op.batch_alter_table("vault_audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_audit_entries_submission_id"))
        batch_op.drop_index(batch_op.f("ix_vault_audit_entries_principal_id"))
    op.drop_table("vault_audit_entries")
    with op.batch_alter_table("vault_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_assignments_submission_id"))
    op.drop_table("vault_assignments")
    with op.batch_alter_table("vault_principals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_principals_organization_id"))
    op.drop_table("vault_principals")
    op.drop_table("vault_data_keys")
    with op.batch_alter_table("vault_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_keys_kind"))
    op.drop_table("vault_keys")
