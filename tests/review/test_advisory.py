"""A review informs; it never gates a release. Scores are recorded, and nothing about the
submission's lifecycle changes with them."""

from __future__ import annotations

from prereview.domain.lifecycle import TransitionError
from prereview.review.assessment import run_assessment
from prereview.review.service import ReviewService
from tests.review.conftest import simulated_request


def _walk(submitter: ReviewService, reviewer: ReviewService, ident: str) -> list[str]:
    """Try lifecycle steps in turn (including refused ones); what each did."""
    steps = []
    for who, action in (
        (reviewer, "close"),
        (reviewer, "deliver_findings"),
        (reviewer, "deliver_findings"),
        (reviewer, "close"),
        (submitter, "withdraw"),
    ):
        try:
            outcome = getattr(who, action)(ident).state.value
        except TransitionError as exc:
            outcome = "refused: " + str(exc).replace(ident, "ID")
        steps.append(f"{action}: {outcome}")
    return steps


def test_no_transition_depends_on_a_score(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService
) -> None:
    """Two reviews identical but for their scores (all correct, all wrong) go through the
    lifecycle identically."""
    # smoke's targets are 42, 153 and 17: an answer naming all three scores 1 on each sample
    full = sqlite_service.submit(simulated_request(after_script="42 153 17"))
    none = sqlite_service.submit(simulated_request(after_script="no idea"))
    for record in (full, none):
        assert run_assessment(sqlite_reviewer, record.id, suite="smoke").status == "completed"
    assert [r.score for r in sqlite_reviewer.results(full.id)] == [1.0, 1.0, 1.0]
    assert [r.score for r in sqlite_reviewer.results(none.id)] == [0.0, 0.0, 0.0]
    walks = [_walk(sqlite_service, sqlite_reviewer, r.id) for r in (full, none)]
    assert walks[0] == walks[1]
    assert walks[0][-2:] == ["close: closed", walks[0][-1]]
    assert walks[0][-1].startswith("withdraw: refused")
