from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

from prereview.domain.lifecycle import (
    TRANSITIONS,
    Actor,
    Role,
    SubmissionState,
    TransitionError,
    allowed_actions,
    apply_transition,
)
from prereview.review.views import ReviewRecord, SubmissionRecord, TaskProgress
from prereview.store.migration import load_tables

ORG = "Example Labs"
SUBMITTER = Actor("dev", Role.SUBMITTER, ORG)
OTHER_ORG = Actor("rival", Role.SUBMITTER, "Other Labs")
REVIEWER = Actor("analyst", Role.REVIEWER)

REVIEW_TABLES = {
    "organizations",
    "submissions",
    "submission_events",
    "reviews",
    "assessment_runs",
    "sample_results",
}
FORBIDDEN = re.compile(
    r"approv|\bden(y|ied|ial)|block|reject|clearance|preclear|licen[cs]|authoriz|permit",
    re.IGNORECASE,
)


def test_happy_path() -> None:
    state = SubmissionState.DRAFT
    state = apply_transition("submit", state, SUBMITTER, ORG)
    state = apply_transition("start_review", state, REVIEWER, ORG)
    state = apply_transition("deliver_findings", state, REVIEWER, ORG)
    state = apply_transition("close", state, REVIEWER, ORG)
    assert state is SubmissionState.CLOSED


@pytest.mark.parametrize("state", [s for s in SubmissionState if not s.final])
def test_submitter_withdraws_from_any_state_before_closed(state: SubmissionState) -> None:
    assert apply_transition("withdraw", state, SUBMITTER, ORG) is SubmissionState.WITHDRAWN


@pytest.mark.parametrize("state", [SubmissionState.CLOSED, SubmissionState.WITHDRAWN])
def test_nothing_leaves_a_final_state(state: SubmissionState) -> None:
    for actor in (SUBMITTER, REVIEWER):
        assert allowed_actions(state, actor, ORG) == []
        with pytest.raises(TransitionError):
            apply_transition("withdraw", state, actor, ORG)


@pytest.mark.parametrize("actor", [REVIEWER, OTHER_ORG])
def test_only_the_submitting_organization_withdraws(actor: Actor) -> None:
    with pytest.raises(TransitionError, match=r"submitter|submitting organization"):
        apply_transition("withdraw", SubmissionState.IN_REVIEW, actor, ORG)


def test_reviewer_steps_are_refused_to_submitters() -> None:
    with pytest.raises(TransitionError, match="only reviewer"):
        apply_transition("start_review", SubmissionState.SUBMITTED, SUBMITTER, ORG)
    with pytest.raises(TransitionError, match="only reviewer"):
        apply_transition("close", SubmissionState.FINDINGS_DELIVERED, SUBMITTER, ORG)


def test_close_needs_delivered_findings() -> None:
    with pytest.raises(TransitionError, match="in_review"):
        apply_transition("close", SubmissionState.IN_REVIEW, REVIEWER, ORG)


def test_unknown_action() -> None:
    with pytest.raises(TransitionError, match="unknown action"):
        apply_transition("approve", SubmissionState.IN_REVIEW, REVIEWER, ORG)


def test_transition_rules_take_no_score_or_result() -> None:
    """The rule's inputs are the action, the state and who asks: nothing measured."""
    params = list(inspect.signature(apply_transition).parameters)
    assert params == ["action", "current", "actor", "submitting_organization"]
    fields = {f.name for f in dataclasses.fields(TRANSITIONS[0])}
    assert fields == {"action", "sources", "target", "roles", "own_organization_only"}


def test_no_approve_deny_or_block_anywhere() -> None:
    names = [s.value for s in SubmissionState] + [t.action for t in TRANSITIONS]
    for record in (SubmissionRecord, ReviewRecord, TaskProgress):
        names += [f.name for f in dataclasses.fields(record)]
    for table in load_tables().sorted_tables:
        if table.name in REVIEW_TABLES:
            names += [table.name, *(c.name for c in table.columns)]
            names += [str(c.sqltext) for c in table.constraints if hasattr(c, "sqltext")]
    offending = [n for n in names if FORBIDDEN.search(n)]
    assert offending == []
