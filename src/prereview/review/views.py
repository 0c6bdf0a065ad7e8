"""What the workflow hands to the CLI, reports and other services: plain read-only records.

They are snapshots built from the store inside one session, so callers never hold ORM rows or
sessions. `as_dict()` is the `--json` shape.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from prereview.domain.lifecycle import SubmissionState
from prereview.planning.planner import AssessmentPlan

_ATOMIC = (str, int, float, bool, type(None), date, datetime, Enum)


def _plain(value: Any) -> Any:
    """What `dataclasses.asdict` makes of `value` (new dicts and lists all the way down),
    without deep-copying immutable leaves: a status read serializes one on every request."""
    if isinstance(value, _ATOMIC):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if type(value) is tuple:
        return tuple(_plain(v) for v in value)
    return copy.deepcopy(value)


@dataclass(frozen=True)
class StateChange:
    action: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    at: datetime


@dataclass(frozen=True)
class RunRecord:
    id: str
    number: int
    status: str
    resumed: bool
    host: str
    pid: int
    started_at: datetime
    ended_at: datetime | None
    detail: str | None


@dataclass(frozen=True)
class SampleFigures:
    """What is recorded of every finished sample, read from its log or from the store."""

    task_key: str
    task: str
    tier: int | None
    sample_id: str
    epoch: int
    score: float | None
    score_value: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    total_time_s: float | None
    working_time_s: float | None
    error: str | None
    log_ref: str


@dataclass(frozen=True)
class SampleResult(SampleFigures):
    payload_key: str | None
    run_id: str | None
    completed_at: datetime


@dataclass(frozen=True)
class TaskProgress:
    """Per planned task: how much ran and the mean score so far (None while nothing scored)."""

    key: str
    tier: int | None
    planned: int
    done: int
    errors: int
    mean_score: float | None
    total_tokens: int
    total_time_s: float


@dataclass(frozen=True)
class ReviewRecord:
    id: str
    suite: str | None
    plan: AssessmentPlan | None
    planned_at: datetime | None
    report_key: str | None
    runs: list[RunRecord]
    progress: list[TaskProgress]

    @property
    def samples_planned(self) -> int:
        return sum(p.planned for p in self.progress)

    @property
    def samples_done(self) -> int:
        return sum(p.done for p in self.progress)

    @property
    def log_key(self) -> str:
        return f"reviews/{self.id}/logs"


@dataclass(frozen=True)
class SubmissionRecord:
    id: str
    organization: str
    model_name: str
    model_version: str | None
    model: str
    base_url: str | None
    api_key_env: str | None
    model_args: dict[str, Any]
    requests_per_minute: float | None
    max_connections: int
    seconds_per_request: float
    release_date: date
    submitted_on: date
    window_policy: str
    terms_version: str
    confidentiality: str
    compare_in_later_reviews: bool
    state: SubmissionState
    created_at: datetime
    history: list[StateChange] = field(default_factory=list)
    review: ReviewRecord | None = None

    @property
    def lead_days(self) -> int:
        return (self.release_date - self.submitted_on).days

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "review"}
        data["review"] = None
        data["state"] = self.state.value
        data["lead_days"] = self.lead_days
        if self.review is not None:
            r = self.review
            # the plan as `to_dict` gives it (never walked as a dataclass only to be replaced)
            review = {
                f.name: _plain(getattr(r, f.name)) if f.name != "plan" else None for f in fields(r)
            }
            review["plan"] = r.plan.to_dict() if r.plan else None
            review["samples_planned"] = r.samples_planned
            review["samples_done"] = r.samples_done
            data["review"] = review
        return data
