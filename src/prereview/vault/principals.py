"""Principals: who may call prereview, in which role, for which organization; and their tokens.

A token is `prv_` + 32 random bytes (URL-safe base64). Only its SHA-256 digest is stored (a
256-bit random secret needs no slow hash), and lookups compare digests in constant time. A
token is shown once, when the principal is added; it cannot be read back, only revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from prereview.domain.lifecycle import Actor
from prereview.domain.lifecycle import Role as LifecycleRole
from prereview.errors import PrereviewError
from prereview.store.base import new_id, utcnow
from prereview.store.database import Database
from prereview.store.tables.review import OrganizationRow, SubmissionRow
from prereview.store.tables.vault import AssignmentRow, PrincipalRow

if TYPE_CHECKING:
    from prereview.vault.guard import AuthorizedSubmission

TOKEN_PREFIX = "prv_"  # noqa: S105 - a prefix, not a secret
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_TOKEN = re.compile(r"^prv_[A-Za-z0-9_-]{43}$")


class Role(StrEnum):
    SUBMITTER = "submitter"  # acts for one developer organization
    EVALUATOR = "evaluator"  # agency staff assigned to specific reviews
    COORDINATOR = "coordinator"  # agency admin: assigns evaluators, sees all
    SECTOR_PARTNER = "sector_partner"  # sanitized advisories and summaries only
    AUDITOR = "auditor"  # the audit trail only

    @property
    def needs_organization(self) -> bool:
        return self is Role.SUBMITTER


class PrincipalError(PrereviewError):
    """A principal cannot be added, found or changed as asked."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, with what the policy needs to decide."""

    id: str
    name: str
    role: Role
    organization_id: str | None = None
    organization: str | None = None
    assigned_submissions: frozenset[str] = field(default_factory=frozenset)
    revoked: bool = False

    def actor(self) -> Actor:
        """The lifecycle's view of this principal (developers submit; agency staff review);
        the lifecycle names organizations by name."""
        role = LifecycleRole.SUBMITTER if self.role is Role.SUBMITTER else LifecycleRole.REVIEWER
        return Actor(self.name, role, self.organization)


@dataclass(frozen=True)
class PrincipalInfo:
    """A principal as `principals list` shows it (never a token or its digest)."""

    id: str
    name: str
    role: Role
    organization: str | None
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
    assigned_submissions: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "organization": self.organization,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "assigned_submissions": list(self.assigned_submissions),
        }


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_BY_DIGEST = (
    select(
        PrincipalRow.id,
        PrincipalRow.name,
        PrincipalRow.role,
        PrincipalRow.organization_id,
        PrincipalRow.token_sha256,
        PrincipalRow.revoked_at,
        OrganizationRow.name.label("organization"),
        AssignmentRow.submission_id.label("assigned"),
    )
    .outerjoin(OrganizationRow, OrganizationRow.id == PrincipalRow.organization_id)
    .outerjoin(AssignmentRow, AssignmentRow.principal_id == PrincipalRow.id)
    .where(PrincipalRow.token_sha256 == bindparam("digest"))
)
"""Built once (statement construction is a visible share of a request's CPU)."""


class PrincipalRegistry:
    """Adds, lists, revokes and authenticates principals; assigns evaluators to reviews."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self, name: str, role: Role, organization: str | None, created_by: str | None
    ) -> tuple[Principal, str]:
        """The new principal and its token (the only time the token exists in the clear)."""
        if not _NAME.match(name):
            raise PrincipalError(
                f"principal name {name!r} is not valid: 1-100 letters, digits, '.', '_', '@', '-'"
            )
        if role.needs_organization and not organization:
            raise PrincipalError(f"a {role.value} needs --org (the developer organization)")
        if organization and role not in (Role.SUBMITTER, Role.SECTOR_PARTNER):
            raise PrincipalError(f"a {role.value} is agency staff and belongs to no --org")
        token = new_token()
        with self.db.session() as session:
            if session.scalar(select(PrincipalRow.id).where(PrincipalRow.name == name)):
                raise PrincipalError(f"a principal named {name!r} exists already")
            org = None
            if organization:
                org = session.scalar(
                    select(OrganizationRow).where(
                        (OrganizationRow.name == organization)
                        | (OrganizationRow.id == organization)
                    )
                )
                if org is None:
                    org = OrganizationRow(id=new_id("org"), name=organization)
                    session.add(org)
                    session.flush()
            row = PrincipalRow(
                id=new_id("prn"),
                name=name,
                role=role.value,
                organization_id=org.id if org else None,
                token_sha256=token_digest(token),
                created_by=created_by,
            )
            session.add(row)
        principal = Principal(
            row.id, name, role, org.id if org else None, org.name if org else None
        )
        return principal, token

    def authenticate(self, token: str) -> Principal | None:
        """The active principal holding `token`, or None (unknown, malformed or revoked)."""
        if not _TOKEN.match(token):
            return None
        digest = token_digest(token)
        with self.db.engine.connect() as conn:
            # one query (no ORM session) for the principal, its organization and its
            # assignments: nothing is cached, so a revocation holds from the next request
            rows = conn.execute(_BY_DIGEST, {"digest": digest}).all()
        if not rows:
            return None
        first = rows[0]
        if not hmac.compare_digest(first.token_sha256, digest) or first.revoked_at is not None:
            return None
        return Principal(
            id=first.id,
            name=first.name,
            role=Role(first.role),
            organization_id=first.organization_id,
            organization=first.organization,
            assigned_submissions=frozenset(r.assigned for r in rows if r.assigned is not None),
            revoked=False,
        )

    def get(self, name_or_id: str) -> Principal:
        with self.db.session() as session:
            row = self._find(session, name_or_id)
            return self._principal(session, row)

    def _find(self, session: Session, name_or_id: str) -> PrincipalRow:
        row = session.scalar(
            select(PrincipalRow).where(
                (PrincipalRow.name == name_or_id) | (PrincipalRow.id == name_or_id)
            )
        )
        if row is None:
            raise PrincipalError(f"no principal named {name_or_id!r}")
        return row

    def _principal(self, session: Session, row: PrincipalRow) -> Principal:
        org = session.get(OrganizationRow, row.organization_id) if row.organization_id else None
        assigned = session.scalars(
            select(AssignmentRow.submission_id).where(AssignmentRow.principal_id == row.id)
        )
        return Principal(
            id=row.id,
            name=row.name,
            role=Role(row.role),
            organization_id=row.organization_id,
            organization=org.name if org else None,
            assigned_submissions=frozenset(assigned),
            revoked=row.revoked_at is not None,
        )

    def list(self) -> list[PrincipalInfo]:
        with self.db.session() as session:
            rows = session.scalars(select(PrincipalRow).order_by(PrincipalRow.created_at)).all()
            out = []
            for row in rows:
                p = self._principal(session, row)
                out.append(
                    PrincipalInfo(
                        row.id,
                        row.name,
                        p.role,
                        p.organization,
                        row.created_at,
                        row.created_by,
                        row.revoked_at,
                        tuple(sorted(p.assigned_submissions)),
                    )
                )
            return out

    def revoke(self, name_or_id: str, by: str) -> Principal:
        with self.db.session() as session:
            row = self._find(session, name_or_id)
            if row.revoked_at is not None:
                raise PrincipalError(f"principal {row.name!r} is revoked already")
            if row.role == Role.COORDINATOR.value and self._active_coordinators(session) <= 1:
                raise PrincipalError(
                    f"{row.name!r} is the last active coordinator: add another coordinator first"
                )
            row.revoked_at = utcnow()
            row.revoked_by = by
            # a fresh random digest: the old token can never match again, even if revocation
            # were undone by editing the row
            row.token_sha256 = token_digest(new_token())
            return self._principal(session, row)

    @staticmethod
    def _active_coordinators(session: Session) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(PrincipalRow)
                .where(PrincipalRow.role == Role.COORDINATOR.value)
                .where(PrincipalRow.revoked_at.is_(None))
            )
            or 0
        )

    def has_coordinator(self) -> bool:
        with self.db.session() as session:
            return self._active_coordinators(session) > 0

    def count(self) -> int:
        with self.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(PrincipalRow)) or 0)

    def assign(self, name_or_id: str, handle: AuthorizedSubmission, by: str) -> Principal:
        """Assign an evaluator to the review of the submission a `review.assign` handle names
        (idempotent)."""
        from prereview.vault.policy import Operation

        handle.check(Operation.REVIEW_ASSIGN)
        submission_id = handle.submission_id
        with self.db.session() as session:
            row = self._find(session, name_or_id)
            if row.role != Role.EVALUATOR.value:
                raise PrincipalError(f"{row.name!r} is a {row.role}: only evaluators are assigned")
            if row.revoked_at is not None:
                raise PrincipalError(f"{row.name!r} is revoked")
            if session.get(SubmissionRow, submission_id) is None:
                raise PrincipalError(f"no submission {submission_id!r}")
            if session.get(AssignmentRow, (row.id, submission_id)) is None:
                session.add(
                    AssignmentRow(principal_id=row.id, submission_id=submission_id, assigned_by=by)
                )
                session.flush()
            return self._principal(session, row)

    def unassign(self, name_or_id: str, handle: AuthorizedSubmission) -> Principal:
        from prereview.vault.policy import Operation

        handle.check(Operation.REVIEW_ASSIGN)
        submission_id = handle.submission_id
        with self.db.session() as session:
            row = self._find(session, name_or_id)
            assignment = session.get(AssignmentRow, (row.id, submission_id))
            if assignment is None:
                raise PrincipalError(f"{row.name!r} is not assigned to {submission_id!r}")
            session.delete(assignment)
            session.flush()
            return self._principal(session, row)
