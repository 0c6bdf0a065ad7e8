"""Every protected operation × every role × own/other organization, through the AccessGuard:
exactly the expected operations succeed, and every refusal is in the audit trail."""

from __future__ import annotations

import pytest

from prereview.vault.errors import AccessDeniedError
from prereview.vault.policy import Operation, Resource, ResourceKind
from prereview.vault.principals import Role
from prereview.vault.service import VaultSession
from tests.vault.conftest import World

Op = Operation
SUBMITTER_OWN = {
    Op.SUBMISSION_CREATE,
    Op.SUBMISSION_READ,
    Op.SUBMISSION_WITHDRAW,
    Op.RESULTS_READ,
    Op.REPORT_READ,
    Op.REPORT_READ_SANITIZED,
    Op.FINDINGS_READ,
    Op.ADVISORY_READ_SANITIZED,
}
EVALUATOR_ASSIGNED = {
    Op.SUBMISSION_READ,
    Op.CREDENTIAL_USE,
    Op.REVIEW_ASSESS,
    Op.REVIEW_CLOSE,
    Op.RESULTS_READ,
    Op.REPORT_WRITE,
    Op.REPORT_READ,
    Op.REPORT_READ_SANITIZED,
    Op.FINDINGS_WRITE,
    Op.FINDINGS_READ,
    Op.ADVISORY_READ_SANITIZED,
    Op.LOGS_READ,
}
# designating a submission's review as a reference run is decided on that submission
COORDINATOR_SUBMISSION = EVALUATOR_ASSIGNED | {
    Op.REVIEW_ASSIGN,
    Op.ADVISORY_EXPORT,
    Op.REFERENCES_MANAGE,
    Op.LOGS_EXPORT,
}
AGENCY_FINDINGS = {Op.FINDINGS_WRITE, Op.FINDINGS_READ, Op.ADVISORY_READ_SANITIZED}

# (principal, resource) -> the operations that must succeed; everything else must be refused.
# "own" is Org A's confidential submission (the evaluator is assigned to it), "other" is Org B's
# share-sanitized one.
EXPECTED: dict[tuple[str, str], set[Operation]] = {
    ("submitter", "own"): SUBMITTER_OWN,
    ("submitter", "other"): set(),
    ("submitter_b", "own"): set(),
    ("submitter_b", "other"): SUBMITTER_OWN,
    ("evaluator", "own"): EVALUATOR_ASSIGNED,
    ("evaluator", "other"): set(),
    ("evaluator", "agency"): AGENCY_FINDINGS,
    ("coordinator2", "own"): COORDINATOR_SUBMISSION,
    ("coordinator2", "other"): COORDINATOR_SUBMISSION,
    ("coordinator2", "agency"): AGENCY_FINDINGS | {Op.ADVISORY_EXPORT},
    ("coordinator2", "system"): {
        Op.PRINCIPALS_MANAGE,
        Op.REFERENCES_MANAGE,
        Op.AUDIT_READ,
        Op.AUDIT_VERIFY,
        Op.KEYS_MANAGE,
        Op.LOGS_IMPORT,
    },
    ("partner", "own"): set(),
    ("partner", "other"): {Op.REPORT_READ_SANITIZED, Op.ADVISORY_READ_SANITIZED},
    ("partner", "agency"): {Op.ADVISORY_READ_SANITIZED},
    ("auditor", "system"): {Op.AUDIT_READ, Op.AUDIT_VERIFY},
}
PEOPLE = ["submitter", "submitter_b", "evaluator", "coordinator2", "partner", "auditor"]
PLACES = ["own", "other", "agency", "system", "missing"]


def _resource(world: World, session: VaultSession, place: str) -> Resource:
    if place == "own":
        return session.guard.submission(world.own)
    if place == "other":
        return session.guard.submission(world.other)
    if place == "missing":
        return session.guard.submission("sub-0000000000")
    return Resource(ResourceKind.AGENCY) if place == "agency" else Resource.system()


def test_matrix_zero_unauthorized_successes_and_every_refusal_audited(world: World) -> None:
    unauthorized, over_restricted, refusals = [], [], 0
    before = len(world.vault.audit.entries())
    for name in PEOPLE:
        session = world.sessions[name]
        for place in PLACES:
            expected = EXPECTED.get((name, place), set())
            resource = _resource(world, session, place)
            for op in Operation:
                try:
                    session.guard.require(op, resource)
                    allowed = True
                except AccessDeniedError:
                    allowed = False
                    refusals += 1
                if allowed and op not in expected:
                    unauthorized.append((name, place, op.value))
                if not allowed and op in expected:
                    over_restricted.append((name, place, op.value))
    assert unauthorized == []
    assert over_restricted == []
    entries = world.vault.audit.entries()[before:]
    denied = [e for e in entries if e.outcome == "denied"]
    assert len(entries) == len(PEOPLE) * len(PLACES) * len(Operation)
    assert len(denied) == refusals
    assert all(e.principal in PEOPLE and e.detail.get("reason") for e in denied)
    assert world.vault.audit.verify().ok


def test_revoked_principal_is_refused_everything(world: World) -> None:
    session = world.sessions["coordinator2"]
    world.vault.principals.revoke("coordinator2", "test")
    with pytest.raises(Exception, match="not recognized"):
        world.vault.authenticate(world.tokens["coordinator2"])
    revoked = world.vault.principals.get("coordinator2")
    guard = world.vault.session(revoked).guard
    for op in Operation:
        assert not guard.allows(op, session.guard.submission(world.own))
        assert not guard.allows(op, Resource.system())


def test_refusal_message_does_not_say_why(world: World) -> None:
    session = world.sessions["submitter"]
    with pytest.raises(AccessDeniedError) as err:
        session.guard.require(Op.SUBMISSION_READ, session.guard.submission(world.other))
    assert "another organization" not in str(err.value)
    last = world.vault.audit.entries(principal="submitter")[-1]
    assert last.outcome == "denied" and "another organization" in last.detail["reason"]


def test_submitter_creates_only_for_own_organization(world: World) -> None:
    session = world.sessions["submitter"]
    own_org = session.principal.organization_id
    create = Op.SUBMISSION_CREATE
    mine = Resource(ResourceKind.SUBMISSION, organization_id=own_org, exists=False)
    theirs = Resource(ResourceKind.SUBMISSION, organization_id="org-other", exists=False)
    assert session.guard.allows(create, mine)
    assert not session.guard.allows(create, theirs)


def test_every_role_is_covered_by_the_matrix() -> None:
    roles = {Role.SUBMITTER, Role.EVALUATOR, Role.COORDINATOR, Role.SECTOR_PARTNER, Role.AUDITOR}
    assert set(Role) == roles
