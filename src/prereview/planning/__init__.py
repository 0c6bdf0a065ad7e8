"""Deadline-aware assessment plans: what to run so a review finishes before the public release.

- `catalog`: suites and the tasks they hold (priority, samples, expected cost per sample).
- `estimate`: predicted wall time of a task at a declared throughput.
- `planner`: chooses and orders what runs within the time left, saying what it dropped and why.
- `calibration` / `simulated`: an Inspect task and a model provider with a known cost, used to
  check the estimates (benchmarks/bench_planner.py) and to exercise assessments in tests.
"""

from prereview.planning.catalog import SUITES, Suite, TaskSpec, UnknownSuiteError, get_suite
from prereview.planning.planner import (
    AssessmentPlan,
    DroppedTask,
    PlannedTask,
    PlanningPolicy,
    plan_assessment,
)

__all__ = [
    "SUITES",
    "AssessmentPlan",
    "DroppedTask",
    "PlannedTask",
    "PlanningPolicy",
    "Suite",
    "TaskSpec",
    "UnknownSuiteError",
    "get_suite",
    "plan_assessment",
]
