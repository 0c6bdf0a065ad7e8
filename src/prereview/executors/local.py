"""The `local` executor: the whole plan in this process, through Inspect's `eval_set` (the
default; what `prereview assess` always did)."""

from __future__ import annotations

import time

from prereview.executors.interface import Executor
from prereview.review.assessment import AssessmentOutcome, PlanRun, run_locally
from prereview.review.views import SubmissionRecord


class LocalExecutor(Executor):
    name = "local"

    def __init__(self) -> None:
        self.timeline: dict[str, float] = {}
        """`execute` and `closed` of the last run (epoch seconds), as the ray executor marks
        them; for benchmarks."""

    def preflight(self, record: SubmissionRecord, suite: str | None = None) -> None:
        """Nothing to check beyond what `assess` checks itself."""

    def execute(self, run: PlanRun) -> AssessmentOutcome:
        self.timeline = {"execute": time.time()}
        try:
            return run_locally(run)
        finally:
            self.timeline["closed"] = time.time()
