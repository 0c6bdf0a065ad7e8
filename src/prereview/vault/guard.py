"""The access guard: the policy's decision plus its audit entry, for one authenticated principal.

Callers never ask the policy directly. `require` writes an `allowed` or `denied` entry for every
decision and raises `AccessDeniedError` on a refusal, with a message that does not say why (the
reason, e.g. "belongs to another organization", goes only to the audit trail).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import select

from prereview.domain.submission import Confidentiality
from prereview.store.database import Database
from prereview.store.tables.review import ReviewRow, SubmissionRow
from prereview.vault.audit import AuditChain, AuditEvent
from prereview.vault.errors import AccessDeniedError
from prereview.vault.policy import AccessPolicy, Operation, Resource, ResourceKind
from prereview.vault.principals import Principal

T = TypeVar("T")


class ResourceResolver:
    """Looks up the facts the policy needs about a submission or review (org, review,
    confidentiality election), never its content."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def submission(self, submission_id: str) -> Resource:
        with self.db.session() as session:
            row = session.get(SubmissionRow, submission_id)
            if row is None:
                return Resource(ResourceKind.SUBMISSION, submission_id=submission_id, exists=False)
            review_id = session.scalar(
                select(ReviewRow.id).where(ReviewRow.submission_id == submission_id)
            )
            return Resource(
                ResourceKind.SUBMISSION,
                submission_id=row.id,
                organization_id=row.organization_id,
                review_id=review_id,
                confidentiality=Confidentiality(row.confidentiality),
            )

    def lookup(self, ident: str) -> Resource:
        """A submission named by its id or by its review's id."""
        resource = self.submission(ident)
        return resource if resource.exists else self.review(ident)

    def review(self, review_id: str) -> Resource:
        with self.db.session() as session:
            submission_id = session.scalar(
                select(ReviewRow.submission_id).where(ReviewRow.id == review_id)
            )
        if submission_id is None:
            return Resource(ResourceKind.SUBMISSION, review_id=review_id, exists=False)
        return self.submission(submission_id)


class AccessGuard:
    """Checks and records every protected operation of one principal."""

    def __init__(
        self,
        principal: Principal,
        policy: AccessPolicy,
        audit: AuditChain,
        resolver: ResourceResolver,
    ) -> None:
        self.principal = principal
        self.policy = policy
        self.audit = audit
        self.resolver = resolver

    def submission(self, submission_id: str) -> Resource:
        return self.resolver.submission(submission_id)

    def review(self, review_id: str) -> Resource:
        return self.resolver.review(review_id)

    def lookup(self, ident: str) -> Resource:
        return self.resolver.lookup(ident)

    def allows(self, operation: Operation, resource: Resource) -> bool:
        """Decide without recording; for filtering a list (record the listing with `record`)."""
        return self.policy.decide(self.principal, operation, resource).allowed

    def require(
        self,
        operation: Operation,
        resource: Resource,
        *,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Allow (and record) or refuse (record, then raise AccessDeniedError)."""
        decision = self.policy.decide(self.principal, operation, resource)
        self.audit.append(
            AuditEvent(
                action=operation.value,
                outcome="allowed" if decision.allowed else "denied",
                principal=self.principal,
                submission_id=resource.submission_id,
                target=target or resource.label,
                detail={"reason": decision.reason, **(detail or {})},
            )
        )
        if not decision.allowed:
            p = self.principal
            raise AccessDeniedError(
                f"access denied: {p.role.value} {p.name!r} may not {operation.value} "
                f"on {target or resource.label}"
            )

    def require_if_exists(
        self, operation: Operation, resource: Resource, *, target: str | None = None
    ) -> None:
        """`require` for a resource that exists; for one that does not, record the refusal
        and return, so the caller's own lookup says "no such id" in its words."""
        if resource.exists:
            self.require(operation, resource, target=target)
            return
        self.record(
            operation.value,
            "denied",
            submission_id=None,
            target=target or resource.label,
            detail={"reason": "no such id"},
        )

    def filter(
        self,
        operation: Operation,
        items: Iterable[T],
        resource_of: Callable[[T], Resource],
        *,
        target: str,
    ) -> list[T]:
        """The items the principal may see, recorded as one `allowed` listing entry."""
        visible = [item for item in items if self.allows(operation, resource_of(item))]
        self.record(
            operation.value + ".list", "allowed", target=target, detail={"shown": len(visible)}
        )
        return visible

    def record(
        self,
        action: str,
        outcome: str,
        *,
        submission_id: str | None = None,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a state change or an artifact write done under this principal."""
        self.audit.append(
            AuditEvent(
                action=action,
                outcome=outcome,
                principal=self.principal,
                submission_id=submission_id,
                target=target,
                detail=dict(detail or {}),
            )
        )
