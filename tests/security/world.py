"""The principals, the policy written out, and the populated data dir that both authorization
matrices (CLI: tests/security/test_authorization_matrix.py, HTTP: tests/service) run over.

One data dir: a principal of every role, Org A's share-sanitized submission (planned, its
evaluator assigned) and Org B's confidential one. The expected outcomes are written out here,
not read from the code under test, so a policy regression fails both matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from prereview.config import Settings, load_settings
from prereview.domain.submission import Confidentiality, ModelAccess, Throughput
from prereview.home import initialize_home
from prereview.review.service import ReviewService, SubmissionRequest
from prereview.vault.policy import Operation
from prereview.vault.principals import Role
from prereview.vault.service import Vault

Op = Operation

ROLES = (
    "submitter_own",
    "submitter_other",
    "evaluator_assigned",
    "evaluator_unassigned",
    "coordinator",
    "sector_partner",
    "auditor",
)
PRINCIPALS: dict[str, tuple[Role, str | None]] = {
    "submitter_own": (Role.SUBMITTER, "Org A"),
    "submitter_other": (Role.SUBMITTER, "Org B"),
    "evaluator_assigned": (Role.EVALUATOR, None),
    "evaluator_unassigned": (Role.EVALUATOR, None),
    "sector_partner": (Role.SECTOR_PARTNER, None),
    "auditor": (Role.AUDITOR, None),
}
NAMES = {
    "submitter_own": "ann",
    "submitter_other": "bob",
    "evaluator_assigned": "eve",
    "evaluator_unassigned": "ed",
    "coordinator": "coordinator",
    "sector_partner": "pat",
    "auditor": "aud",
}
"""Principal names: plain, so that a refusal quoting the name cannot look like a reason."""

# -- the policy, written out: who may do what on Org A's share-sanitized submission -----------

SUBMITTER_OWN = {
    Op.SUBMISSION_CREATE,  # the policy's view: a submission of their own organization
    Op.SUBMISSION_READ,
    Op.SUBMISSION_WITHDRAW,
    Op.RESULTS_READ,
    Op.REPORT_READ,
    Op.REPORT_READ_SANITIZED,
    Op.FINDINGS_READ,
    Op.ADVISORY_READ_SANITIZED,
}
EVALUATOR_ASSIGNED = {
    Op.LOGS_READ,
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
}
EXPECTED_ON_SUBMISSION: dict[str, set[Operation]] = {
    "submitter_own": SUBMITTER_OWN,
    "submitter_other": set(),
    "evaluator_assigned": EVALUATOR_ASSIGNED,
    "evaluator_unassigned": set(),
    "coordinator": EVALUATOR_ASSIGNED
    | {Op.REVIEW_ASSIGN, Op.ADVISORY_EXPORT, Op.REFERENCES_MANAGE, Op.LOGS_EXPORT},
    "sector_partner": {Op.REPORT_READ_SANITIZED, Op.ADVISORY_READ_SANITIZED},
    "auditor": set(),
}
EVERYONE = frozenset(ROLES)


def allowed_on_submission(operation: Operation) -> set[str]:
    return {role for role, ops in EXPECTED_ON_SUBMISSION.items() if operation in ops}


def roles(*names: str) -> frozenset[str]:
    return frozenset(names)


def by_op(operation: Operation) -> frozenset[str]:
    return frozenset(allowed_on_submission(operation))


# -- the data dir ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    settings: Settings
    tokens: dict[str, str]  # per role
    submission: str  # Org A's, share-sanitized, planned, assigned to `eve`
    review: str
    other: str  # Org B's, confidential


def request(
    org: str, confidentiality: Confidentiality, model_name: str | None = None
) -> SubmissionRequest:
    return SubmissionRequest(
        organization=org,
        access=ModelAccess("simulated/service"),
        release_date=date.today() + timedelta(days=30),
        throughput=Throughput(None, 2, 0.01),
        confidentiality=confidentiality,
        model_name=model_name,
    )


def populate(model_name: str | None = None) -> Population:
    """Initialize `PREREVIEW_HOME` (set by the caller, no token in the environment) and add
    the principals and both submissions; `model_name` names Org A's model."""
    init = initialize_home(load_settings(), save_token=False)
    tokens = {"coordinator": str(init["token"])}
    settings = load_settings()
    session = Vault.open(settings).authenticate(tokens["coordinator"])
    with ReviewService.open(settings, session=session) as coordinator:
        vault = coordinator.access.vault
        for name, (role, org) in PRINCIPALS.items():
            _, tokens[name] = vault.principals.add(NAMES[name], role, org, "test")
        own = coordinator.acting_as(vault.authenticate(tokens["submitter_own"]))
        other = coordinator.acting_as(vault.authenticate(tokens["submitter_other"]))
        record = own.submit(request("Org A", Confidentiality.SHARE_SANITIZED, model_name))
        theirs = other.submit(request("Org B", Confidentiality.CONFIDENTIAL))
        coordinator.plan(record.id, suite="calibration")
        review = coordinator.get(record.id).review
        assert review is not None
        handle = coordinator.access.guard.authorize(Op.REVIEW_ASSIGN, record.id)
        vault.principals.assign(NAMES["evaluator_assigned"], handle, "test")
    return Population(settings, tokens, record.id, review.id, theirs.id)
