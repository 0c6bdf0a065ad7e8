"""The access guard: resolve a reference once, decide, record, and hand out what was allowed.

One path for every command and loader:

    handle = guard.authorize(Operation.REPORT_READ, reference)   # raises on any refusal
    load_evidence(db, content, handle, families)                  # loaders take only handles

- `canonical_reference` is the one normalizer of resource references: a reference that is not
  exactly a stored id (surrounding or inner whitespace, another case, a Unicode look-alike, a
  prefix) matches nothing. Nothing is stripped or folded anywhere, so the access check and the
  load can never disagree about which row a reference names.
- `AccessGuard.authorize` resolves with `ResourceResolver.resolve`, asks the policy, writes an
  `allowed` or `denied` audit entry, and either returns an `AuthorizedSubmission` or raises
  `AccessDeniedError`. An unknown reference is refused exactly like another organization's
  (same one-line message, naming what was refused, never why); the audit entry records the real
  reason ("no such id").
- `AuthorizedSubmission` can only be made by `authorize`; a loader checks that the handle is for
  the operation it performs (`handle.check`), so a read handle cannot be used to withdraw.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import bindparam, select

from prereview.domain.submission import Confidentiality
from prereview.store.database import Database
from prereview.store.tables.review import ReviewRow, SubmissionRow
from prereview.vault.audit import AuditChain, AuditEvent
from prereview.vault.errors import AccessDeniedError
from prereview.vault.policy import AccessPolicy, Operation, Resource, ResourceKind
from prereview.vault.principals import Principal

T = TypeVar("T")

_REFERENCE = re.compile(r"[a-z]{2,8}-[0-9a-z]{1,32}", re.ASCII)
"""The shape of every id prereview issues (`sub-3f9a2c1d7e`, `rev-…`; see `store.base.new_id`):
ASCII lower case, no space. Anything else cannot name a resource."""


def canonical_reference(text: str) -> str | None:
    """`text` if it has the canonical shape of an id, else None (it then matches nothing).

    No stripping, no case folding, no Unicode normalization: those would make two spellings
    name one resource, and every place that compares ids would have to agree on them.
    """
    return text if _REFERENCE.fullmatch(text) else None


_FINDING = re.compile(r"F-[1-9][0-9]{0,11}", re.ASCII)


def canonical_finding_ref(text: str) -> int | None:
    """The number of a finding reference written exactly as prereview shows it (`F-42`), else
    None (it then matches nothing)."""
    return int(text[2:]) if _FINDING.fullmatch(text) else None


def shown(reference: str) -> str:
    """A reference as a refusal quotes it: repr (control characters escaped), bounded."""
    return repr(reference[:80])


@dataclass(frozen=True)
class ResolvedSubmission:
    """The facts the policy needs about one submission (never its content)."""

    submission_id: str
    organization_id: str
    review_id: str | None
    confidentiality: Confidentiality

    def resource(self) -> Resource:
        return Resource(
            ResourceKind.SUBMISSION,
            submission_id=self.submission_id,
            organization_id=self.organization_id,
            review_id=self.review_id,
            confidentiality=self.confidentiality,
        )


_ISSUER_KEY = secrets.token_bytes(32)
"""Per process: a handle's seal binds its fields, so a copy with one field changed
(`dataclasses.replace(handle, operation=...)`) is not a handle."""


def _seal(*fields: object) -> str:
    return hmac.new(_ISSUER_KEY, repr(fields).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuthorizedSubmission:
    """Proof that `principal_id` was allowed `operation` on this submission (audited).

    Only `AccessGuard.authorize` makes these; loaders take one instead of a raw id.
    """

    operation: Operation
    principal_id: str
    submission_id: str
    organization_id: str
    review_id: str | None
    confidentiality: Confidentiality
    reference: str
    seal: str = field(default="", repr=False, compare=False)

    def _fields(self) -> tuple[object, ...]:
        return (
            self.operation,
            self.principal_id,
            self.submission_id,
            self.organization_id,
            self.review_id,
            self.confidentiality,
            self.reference,
        )

    def __post_init__(self) -> None:
        if not hmac.compare_digest(self.seal, _seal(*self._fields())):
            raise TypeError("an AuthorizedSubmission is issued only by AccessGuard.authorize")

    def check(self, *operations: Operation) -> None:
        """Refuse a handle authorized for another operation than the loader performs."""
        if self.operation not in operations:
            raise AccessDeniedError(
                f"access denied: {' or '.join(o.value for o in operations)} on "
                f"{shown(self.reference)} was not authorized"
            )

    @property
    def label(self) -> str:
        return f"submission {self.submission_id}"


_RESOLVED = (
    SubmissionRow.id.label("submission_id"),
    SubmissionRow.organization_id,
    SubmissionRow.confidentiality,
    ReviewRow.id.label("review_id"),
)
_BY_SUBMISSION = (
    select(*_RESOLVED)
    .outerjoin(ReviewRow, ReviewRow.submission_id == SubmissionRow.id)
    .where(SubmissionRow.id == bindparam("ident"))
)
_BY_REVIEW = (
    select(*_RESOLVED)
    .join(ReviewRow, ReviewRow.submission_id == SubmissionRow.id)
    .where(ReviewRow.id == bindparam("ident"))
)
"""Built once: a status read resolves on every request."""


class ResourceResolver:
    """The one place a reference (a submission id or its review's id) becomes a submission."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def resolve(self, reference: str) -> ResolvedSubmission | None:
        """The submission `reference` names exactly, or None (unknown or not canonical)."""
        ident = canonical_reference(reference)
        if ident is None:
            return None
        with self.db.engine.connect() as conn:
            # one row, no ORM session or objects: by submission id first, then by its review's id
            found = conn.execute(_BY_SUBMISSION, {"ident": ident}).first()
            if found is None:
                found = conn.execute(_BY_REVIEW, {"ident": ident}).first()
                if found is not None and found.review_id != ident:
                    found = None
            elif found.submission_id != ident:  # a collation that folds case or pads
                found = None
        if found is None:
            return None
        return ResolvedSubmission(
            submission_id=found.submission_id,
            organization_id=found.organization_id,
            review_id=found.review_id,
            confidentiality=Confidentiality(found.confidentiality),
        )

    def submission(self, submission_id: str) -> Resource:
        """The policy's view of a stored submission id (exists=False when unknown)."""
        resolved = self.resolve(submission_id)
        if resolved is None or resolved.submission_id != submission_id:
            return Resource(ResourceKind.SUBMISSION, submission_id=submission_id, exists=False)
        return resolved.resource()


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
        """The resource of a stored submission id, for `allows`/`require` on content and
        findings (commands taking a person's reference use `authorize`)."""
        return self.resolver.submission(submission_id)

    def authorize(
        self,
        operation: Operation,
        reference: str | AuthorizedSubmission,
        *,
        detail: Mapping[str, Any] | None = None,
    ) -> AuthorizedSubmission:
        """Resolve `reference`, decide and record; the handle, or AccessDeniedError.

        A handle of this principal may be passed to authorize another operation on the same
        submission (decided and recorded again); a handle of another principal is refused.
        """
        if isinstance(reference, AuthorizedSubmission):
            if reference.principal_id != self.principal.id:
                self._deny(operation, reference.reference, None, "a handle of another principal")
            if reference.operation is operation:
                return reference
            typed = reference.submission_id
            resolved = self.resolver.resolve(typed)
        else:
            typed = reference
            resolved = self.resolver.resolve(reference)
        if resolved is None:
            self._deny(operation, typed, None, "no such id", detail)
        assert resolved is not None
        decision = self.policy.decide(self.principal, operation, resolved.resource())
        if not decision.allowed:
            self._deny(operation, typed, resolved.submission_id, decision.reason, detail)
        self.audit.append(
            AuditEvent(
                action=operation.value,
                outcome="allowed",
                principal=self.principal,
                submission_id=resolved.submission_id,
                target=f"submission {resolved.submission_id}",
                detail={"reason": decision.reason, **(detail or {})},
            )
        )
        fields = (
            operation,
            self.principal.id,
            resolved.submission_id,
            resolved.organization_id,
            resolved.review_id,
            resolved.confidentiality,
            typed,
        )
        return AuthorizedSubmission(*fields, seal=_seal(*fields))

    def _deny(
        self,
        operation: Operation,
        typed: str,
        submission_id: str | None,
        reason: str,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the refusal with its reason; raise one line that does not say why (the same
        for an unknown id as for one the principal may not touch)."""
        self.audit.append(
            AuditEvent(
                action=operation.value,
                outcome="denied",
                principal=self.principal,
                submission_id=submission_id,
                target=typed[:200],
                detail={"reason": reason, **(detail or {})},
            )
        )
        p = self.principal
        raise AccessDeniedError(
            f"access denied: {p.role.value} {p.name!r} may not {operation.value} on {shown(typed)}"
        )

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
        """Allow (and record) or refuse (record, then raise AccessDeniedError): for agency and
        system resources, and for stored submission ids (a resource that does not exist is
        refused too)."""
        decision = self.policy.decide(self.principal, operation, resource)
        self.audit.append(
            AuditEvent(
                action=operation.value,
                outcome="allowed" if decision.allowed else "denied",
                principal=self.principal,
                submission_id=resource.submission_id if resource.exists else None,
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
