"""The access policy: who may do which protected operation on what. One table, default deny.

Every command (CLI now, API later) asks `AccessPolicy.decide(principal, operation, resource)`
through an `AccessGuard`, which also writes the decision to the audit trail. What the table
below does not grant is refused; there is no other path to protected data.

Scoping rules, on top of the table:
- a submitter acts only on resources of their own organization (never another org's, not even
  whether it exists beyond the id they typed);
- an evaluator acts only on reviews they are assigned to (and on agency-wide findings);
- a sector partner sees only sanitized summaries and advisories, and only of submissions whose
  submitter elected `share-sanitized` (or agency-wide advisories that belong to no submission);
  whether anything of a submission may leave it at all is not decided here but by the one
  sharing rule, `prereview.vault.sharing.may_leave(facts, purpose)`, which these scopes ask and
  which sector briefs, advisories and reference runs ask too;
- an auditor sees the audit trail and nothing else;
- a coordinator sees everything, but neither submits nor withdraws (that is the developer's
  voluntary act) and never reads a credential (no role can: credentials are write-only, and
  `credential.use` only hands the key to Inspect in memory).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from prereview.domain.submission import Confidentiality
from prereview.vault.principals import Principal, Role
from prereview.vault.sharing import Purpose, SourceFacts, may_leave


class Operation(StrEnum):
    """Every protected operation. Adding one means adding its row to `RULES` below."""

    SUBMISSION_CREATE = "submission.create"
    SUBMISSION_READ = "submission.read"
    SUBMISSION_WITHDRAW = "submission.withdraw"
    CREDENTIAL_USE = "credential.use"
    REVIEW_ASSESS = "review.assess"
    REVIEW_CLOSE = "review.close"
    REVIEW_ASSIGN = "review.assign"
    RESULTS_READ = "results.read"
    REPORT_WRITE = "report.write"
    REPORT_READ = "report.read"
    REPORT_READ_SANITIZED = "report.read_sanitized"
    FINDINGS_WRITE = "findings.write"
    FINDINGS_READ = "findings.read"
    ADVISORY_READ_SANITIZED = "advisory.read_sanitized"
    ADVISORY_EXPORT = "advisory.export"
    PRINCIPALS_MANAGE = "principals.manage"
    REFERENCES_MANAGE = "references.manage"
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    KEYS_MANAGE = "keys.manage"
    LOGS_READ = "logs.read"  # open a review's sealed Inspect logs in a viewer
    LOGS_EXPORT = "logs.export"  # seal a review's logs to another cleared evaluation host
    LOGS_IMPORT = "logs.import"  # take in such a bundle under this install's vault


class ResourceKind(StrEnum):
    SUBMISSION = "submission"  # anything of one submission: its review, results, report, findings
    AGENCY = "agency"  # agency-wide data of no submission (findings from tools, advisories)
    SYSTEM = "system"  # principals, the audit trail


@dataclass(frozen=True)
class Resource:
    """What an operation touches, with the facts the policy needs (never the content)."""

    kind: ResourceKind
    submission_id: str | None = None
    organization_id: str | None = None
    review_id: str | None = None
    confidentiality: Confidentiality | None = None
    exists: bool = True

    @classmethod
    def system(cls) -> Resource:
        return cls(ResourceKind.SYSTEM)

    @classmethod
    def agency(cls) -> Resource:
        return cls(ResourceKind.AGENCY)

    @property
    def label(self) -> str:
        if self.kind is ResourceKind.SUBMISSION:
            return f"submission {self.submission_id}"
        return self.kind.value


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


Scope = Callable[[Principal, Resource], Decision]


def _own_org(p: Principal, r: Resource) -> Decision:
    if r.kind is not ResourceKind.SUBMISSION:
        return Decision(False, "submitters act only on their own organization's submissions")
    if p.organization_id is None or r.organization_id != p.organization_id:
        return Decision(False, "the submission belongs to another organization")
    return Decision(True, "own organization")


def _new_own_submission(p: Principal, r: Resource) -> Decision:
    # creating: the submission does not exist yet, but must be for the submitter's own org
    if r.kind is not ResourceKind.SUBMISSION or p.organization_id is None:
        return Decision(False, "submitters create submissions for their own organization only")
    if r.organization_id != p.organization_id:
        return Decision(False, "submitters create submissions for their own organization only")
    return Decision(True, "own organization")


def _assigned(p: Principal, r: Resource) -> Decision:
    if r.kind is ResourceKind.SUBMISSION and r.submission_id in p.assigned_submissions:
        return Decision(True, f"assigned to the review of {r.submission_id}")
    return Decision(False, "evaluators act only on reviews they are assigned to")


def _assigned_or_agency(p: Principal, r: Resource) -> Decision:
    if r.kind is ResourceKind.AGENCY:
        return Decision(True, "agency-wide findings")
    return _assigned(p, r)


def _shareable(purpose: Purpose) -> Scope:
    """What a sector partner may see of a resource: the sharing rule's decision."""

    def check(p: Principal, r: Resource) -> Decision:
        if r.kind is ResourceKind.AGENCY:
            facts = SourceFacts.agency()
        elif r.kind is ResourceKind.SUBMISSION and r.submission_id is not None:
            facts = SourceFacts(r.submission_id, r.organization_id, r.confidentiality)
        else:
            return Decision(False, "not a submission or agency resource")
        decision = may_leave(facts, purpose)
        return Decision(decision.allowed, decision.reason)

    return check


def _any_submission_or_agency(p: Principal, r: Resource) -> Decision:
    if r.kind is ResourceKind.SYSTEM:
        return Decision(False, "not a submission or agency resource")
    return Decision(True, "coordinator")


def _system(p: Principal, r: Resource) -> Decision:
    if r.kind is not ResourceKind.SYSTEM:
        return Decision(False, "a system operation")
    return Decision(True, p.role.value)


def _system_or_submission(p: Principal, r: Resource) -> Decision:
    # reference runs: listing them is administration, designating one names a submission
    if r.kind is ResourceKind.AGENCY:
        return Decision(False, "not a system or submission resource")
    return Decision(True, p.role.value)


def _submission_only(scope: Scope) -> Scope:
    def check(p: Principal, r: Resource) -> Decision:
        if r.kind is not ResourceKind.SUBMISSION:
            return Decision(False, "applies to submissions only")
        return scope(p, r)

    return check


_OP = Operation
_COORD = _any_submission_or_agency
_COORD_SUB = _submission_only(_any_submission_or_agency)

RULES: dict[Role, dict[Operation, Scope]] = {
    Role.SUBMITTER: {
        _OP.SUBMISSION_CREATE: _new_own_submission,
        _OP.SUBMISSION_READ: _own_org,
        _OP.SUBMISSION_WITHDRAW: _own_org,
        _OP.RESULTS_READ: _own_org,
        _OP.REPORT_READ: _own_org,
        _OP.REPORT_READ_SANITIZED: _own_org,
        _OP.FINDINGS_READ: _own_org,
        _OP.ADVISORY_READ_SANITIZED: _own_org,
    },
    Role.EVALUATOR: {
        _OP.SUBMISSION_READ: _assigned,
        _OP.CREDENTIAL_USE: _assigned,
        _OP.REVIEW_ASSESS: _assigned,
        _OP.REVIEW_CLOSE: _assigned,
        _OP.RESULTS_READ: _assigned,
        _OP.REPORT_WRITE: _assigned,
        _OP.REPORT_READ: _assigned,
        _OP.LOGS_READ: _assigned,
        _OP.REPORT_READ_SANITIZED: _assigned,
        _OP.FINDINGS_WRITE: _assigned_or_agency,
        _OP.FINDINGS_READ: _assigned_or_agency,
        _OP.ADVISORY_READ_SANITIZED: _assigned_or_agency,
    },
    Role.COORDINATOR: {
        _OP.SUBMISSION_READ: _COORD_SUB,
        _OP.CREDENTIAL_USE: _COORD_SUB,
        _OP.REVIEW_ASSESS: _COORD_SUB,
        _OP.REVIEW_CLOSE: _COORD_SUB,
        _OP.REVIEW_ASSIGN: _COORD_SUB,
        _OP.RESULTS_READ: _COORD_SUB,
        _OP.REPORT_WRITE: _COORD_SUB,
        _OP.REPORT_READ: _COORD_SUB,
        _OP.REPORT_READ_SANITIZED: _COORD_SUB,
        _OP.FINDINGS_WRITE: _COORD,
        _OP.FINDINGS_READ: _COORD,
        _OP.ADVISORY_READ_SANITIZED: _COORD,
        _OP.ADVISORY_EXPORT: _COORD,
        _OP.PRINCIPALS_MANAGE: _system,
        _OP.REFERENCES_MANAGE: _system_or_submission,
        _OP.AUDIT_READ: _system,
        _OP.AUDIT_VERIFY: _system,
        _OP.KEYS_MANAGE: _system,
        _OP.LOGS_READ: _COORD_SUB,
        _OP.LOGS_EXPORT: _COORD_SUB,
        _OP.LOGS_IMPORT: _system,
    },
    Role.SECTOR_PARTNER: {
        _OP.REPORT_READ_SANITIZED: _submission_only(_shareable(Purpose.SANITIZED_REPORT)),
        _OP.ADVISORY_READ_SANITIZED: _shareable(Purpose.ADVISORY),
    },
    Role.AUDITOR: {
        _OP.AUDIT_READ: _system,
        _OP.AUDIT_VERIFY: _system,
    },
}


SUBMITTER_TRANSCRIPTS: dict[Operation, Scope] = {_OP.LOGS_READ: _own_org}
"""Granted to submitters (their own organization's reviews only) where the agency enables the
`submitters_read_transcripts` setting; off by default."""


class AccessPolicy:
    """Decides; does not record (the `AccessGuard` records every decision)."""

    def __init__(
        self,
        rules: dict[Role, dict[Operation, Scope]] | None = None,
        *,
        submitters_read_transcripts: bool = False,
    ) -> None:
        self.rules = RULES if rules is None else rules
        if submitters_read_transcripts:
            own = {**self.rules.get(Role.SUBMITTER, {}), **SUBMITTER_TRANSCRIPTS}
            self.rules = {**self.rules, Role.SUBMITTER: own}

    def decide(self, principal: Principal, operation: Operation, resource: Resource) -> Decision:
        if principal.revoked:
            return Decision(False, "the principal is revoked")
        scope = self.rules.get(principal.role, {}).get(operation)
        if scope is None:
            return Decision(False, f"{principal.role.value}s may not {operation.value}")
        if not resource.exists and operation is not Operation.SUBMISSION_CREATE:
            return Decision(False, "no such resource")
        return scope(principal, resource)
