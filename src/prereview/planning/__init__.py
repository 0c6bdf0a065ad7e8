"""Deadline-aware assessment plans: what to run so a review finishes before the public release.

- `catalog`: the suites the installed task families offer (priority, samples, expected cost
  per sample, from each family's cost model).
- `estimate`: predicted wall time of a task at a declared throughput.
- `planner`: chooses and orders what runs within the time left, saying what it dropped and why.
"""

from prereview.planning.catalog import Suite, TaskSpec, UnknownSuiteError, get_suite, suites
from prereview.planning.planner import (
    AssessmentPlan,
    DroppedTask,
    PlannedTask,
    PlanningPolicy,
    plan_assessment,
)

__all__ = [
    "AssessmentPlan",
    "DroppedTask",
    "PlannedTask",
    "PlanningPolicy",
    "Suite",
    "TaskSpec",
    "UnknownSuiteError",
    "get_suite",
    "plan_assessment",
    "suites",
]
