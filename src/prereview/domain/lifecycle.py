"""The submission lifecycle: who may move a submission from which state to which.

    draft → submitted → in_review → findings_delivered → closed
    any state before closed → withdrawn        (the submitting organization only)

A review informs; it never approves, denies or blocks a release. So there is no such state, and
no transition looks at a score or a result: the rules below take states and an actor, nothing
else (tests/domain asserts both).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from prereview.errors import PrereviewError


class SubmissionState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    FINDINGS_DELIVERED = "findings_delivered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"

    @property
    def final(self) -> bool:
        return self in (SubmissionState.CLOSED, SubmissionState.WITHDRAWN)


class Role(StrEnum):
    """What an actor does in a review. The vault's access policy maps principals onto these."""

    SUBMITTER = "submitter"  # a person acting for the developer organization
    REVIEWER = "reviewer"  # agency staff running the assessment


@dataclass(frozen=True)
class Actor:
    """Who asks for a transition. `organization` names the org a submitter acts for."""

    name: str
    role: Role
    organization: str | None = None


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[SubmissionState]
    target: SubmissionState
    roles: frozenset[Role]
    own_organization_only: bool = False


_BEFORE_CLOSED = frozenset(s for s in SubmissionState if not s.final)

TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        "submit",
        frozenset({SubmissionState.DRAFT}),
        SubmissionState.SUBMITTED,
        frozenset({Role.SUBMITTER}),
        own_organization_only=True,
    ),
    Transition(
        "start_review",
        frozenset({SubmissionState.SUBMITTED}),
        SubmissionState.IN_REVIEW,
        frozenset({Role.REVIEWER}),
    ),
    Transition(
        "deliver_findings",
        frozenset({SubmissionState.IN_REVIEW}),
        SubmissionState.FINDINGS_DELIVERED,
        frozenset({Role.REVIEWER}),
    ),
    Transition(
        "close",
        frozenset({SubmissionState.FINDINGS_DELIVERED}),
        SubmissionState.CLOSED,
        frozenset({Role.REVIEWER}),
    ),
    Transition(
        "withdraw",
        _BEFORE_CLOSED,
        SubmissionState.WITHDRAWN,
        frozenset({Role.SUBMITTER}),
        own_organization_only=True,
    ),
)

TRANSITIONS_BY_ACTION = {t.action: t for t in TRANSITIONS}


class TransitionError(PrereviewError):
    """The transition is not allowed from this state, or not for this actor."""


def apply_transition(
    action: str,
    current: SubmissionState,
    actor: Actor,
    submitting_organization: str,
) -> SubmissionState:
    """The state after `action`, or TransitionError saying why it is refused."""
    rule = TRANSITIONS_BY_ACTION.get(action)
    if rule is None:
        raise TransitionError(
            f"unknown action {action!r}; known: {', '.join(TRANSITIONS_BY_ACTION)}"
        )
    if current not in rule.sources:
        allowed = ", ".join(sorted(s.value for s in rule.sources))
        raise TransitionError(
            f"cannot {action.replace('_', ' ')}: the submission is {current.value} "
            f"(allowed from: {allowed})"
        )
    if actor.role not in rule.roles:
        roles = ", ".join(sorted(r.value for r in rule.roles))
        raise TransitionError(
            f"cannot {action.replace('_', ' ')} as {actor.role.value}: only {roles} may"
        )
    if rule.own_organization_only and actor.organization != submitting_organization:
        raise TransitionError(
            f"cannot {action.replace('_', ' ')}: only the submitting organization "
            f"{submitting_organization!r} may"
        )
    return rule.target


def allowed_actions(
    current: SubmissionState, actor: Actor, submitting_organization: str
) -> list[str]:
    out = []
    for rule in TRANSITIONS:
        try:
            apply_transition(rule.action, current, actor, submitting_organization)
        except TransitionError:
            continue
        out.append(rule.action)
    return out
