"""The `local` executor: the whole plan in this process, through Inspect's `eval_set` (the
default; what `prereview assess` always did)."""

from __future__ import annotations

from prereview.executors.interface import Executor
from prereview.review.assessment import AssessmentOutcome, PlanRun, run_locally
from prereview.review.views import SubmissionRecord


class LocalExecutor(Executor):
    name = "local"

    def preflight(self, record: SubmissionRecord, suite: str | None = None) -> None:
        """Nothing to check beyond what `assess` checks itself."""

    def execute(self, run: PlanRun) -> AssessmentOutcome:
        return run_locally(run)
