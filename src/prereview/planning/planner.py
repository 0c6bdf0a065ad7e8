"""The deadline-aware planner: what runs, in which order, so the review ends before release.

Budget = (time until the release date − the findings-delivery reserve) × (1 − safety margin).
Tasks are taken in priority order; each runs whole if it fits in what is left of the budget,
else shrunk to the most samples that fit (never below its minimum), else dropped with the
reason. A lower-priority task that is cheap enough can still use time a dropped one left. The
plan records every assumption it rests on, so a reader can see why the numbers are what they
are; it is stored with the review and shown by `prereview status`.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from prereview.domain.submission import Throughput
from prereview.planning.catalog import Suite, TaskSpec
from prereview.planning.estimate import predict_task_seconds, requests_for


@dataclass(frozen=True)
class PlanningPolicy:
    safety_margin: float = 0.2
    """Fraction of the usable time kept free: declared throughput is often optimistic."""
    delivery_reserve: timedelta = timedelta(days=2)
    """Time before release kept for writing and delivering findings."""


@dataclass(frozen=True)
class PlannedTask:
    key: str
    factory: str
    """The task's stored reference, `<family>/<task>` (`planning.catalog.resolve_task`)."""
    args: dict[str, Any]
    samples: int
    samples_wanted: int
    priority: int
    tier: int | None
    requests: float
    predicted_s: float
    note: str = ""


@dataclass(frozen=True)
class DroppedTask:
    key: str
    priority: int
    tier: int | None
    samples_wanted: int
    needed_s: float
    reason: str


@dataclass(frozen=True)
class AssessmentPlan:
    suite: str
    planned_at: datetime
    deadline: datetime
    time_left_s: float
    budget_s: float
    safety_margin: float
    delivery_reserve_s: float
    throughput: dict[str, Any]
    tasks: list[PlannedTask]
    dropped: list[DroppedTask]
    assumptions: list[str] = field(default_factory=list)
    sample_time_limit_s: int | None = None
    max_tokens: int | None = None

    @property
    def predicted_s(self) -> float:
        return sum(t.predicted_s for t in self.tasks)

    @property
    def total_samples(self) -> int:
        return sum(t.samples for t in self.tasks)

    @property
    def predicted_finish(self) -> datetime:
        return self.planned_at + timedelta(seconds=self.predicted_s)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["planned_at"] = self.planned_at.isoformat()
        data["deadline"] = self.deadline.isoformat()
        data["predicted_s"] = self.predicted_s
        data["predicted_finish"] = self.predicted_finish.isoformat()
        data["total_samples"] = self.total_samples
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssessmentPlan:
        return cls(
            suite=data["suite"],
            planned_at=datetime.fromisoformat(data["planned_at"]),
            deadline=datetime.fromisoformat(data["deadline"]),
            time_left_s=float(data["time_left_s"]),
            budget_s=float(data["budget_s"]),
            safety_margin=float(data["safety_margin"]),
            delivery_reserve_s=float(data["delivery_reserve_s"]),
            throughput=dict(data["throughput"]),
            tasks=[PlannedTask(**t) for t in data["tasks"]],
            dropped=[DroppedTask(**d) for d in data["dropped"]],
            assumptions=list(data.get("assumptions", [])),
            sample_time_limit_s=data.get("sample_time_limit_s"),
            max_tokens=data.get("max_tokens"),
        )


def release_deadline(release_date: date) -> datetime:
    """Findings are due before the first moment of the release day (UTC): the conservative end."""
    return datetime.combine(release_date, time(0, 0), tzinfo=UTC)


def _hours(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _largest_fitting(
    spec: TaskSpec, wanted: int, room: float, throughput: Throughput, time_limit: float | None
) -> int:
    """Most samples in [0, wanted], in whole units, whose predicted time fits in `room`."""
    unit = spec.sample_unit
    low, high = 0, wanted // unit
    while low < high:
        mid = (low + high + 1) // 2
        cost = predict_task_seconds(
            mid * unit,
            spec.requests_per_sample,
            spec.overhead_s_per_sample,
            spec.setup_s,
            throughput,
            time_limit,
        )
        if cost <= room:
            low = mid
        else:
            high = mid - 1
    return low * unit


def plan_assessment(
    suite: Suite,
    throughput: Throughput,
    release_date: date,
    now: datetime,
    *,
    limit: int | None = None,
    policy: PlanningPolicy | None = None,
    seed: int | None = None,
) -> AssessmentPlan:
    """Choose what of `suite` runs before `release_date`, given the declared `throughput`.

    `seed` goes to tasks that generate their instances (a fresh random one when None)."""
    policy = policy or PlanningPolicy()
    if seed is None:
        seed = secrets.randbelow(2**31)
    deadline = release_deadline(release_date)
    time_left = max(0.0, (deadline - now).total_seconds())
    usable = max(0.0, time_left - policy.delivery_reserve.total_seconds())
    budget = usable * (1.0 - policy.safety_margin)
    rpm = throughput.requests_per_minute
    assumptions = [
        f"deadline {deadline.isoformat()} (start of the release day, UTC)",
        f"{_hours(policy.delivery_reserve.total_seconds())} kept before release to deliver "
        f"findings; {policy.safety_margin:.0%} of the rest kept as a safety margin",
        f"model: {rpm:g} requests/min" if rpm else "model: no declared rate limit",
        f"{throughput.max_connections} concurrent connections, "
        f"{throughput.seconds_per_request:g} s per request",
        "tasks run one after another in priority order; samples of a task run concurrently",
    ]
    if limit is not None:
        assumptions.append(f"at most {limit} samples per task (--limit)")
    if suite.sample_time_limit_s is not None:
        assumptions.append(f"each sample stops after {suite.sample_time_limit_s} s")
    if suite.max_tokens is not None:
        assumptions.append(f"replies capped at {suite.max_tokens} tokens")

    tasks: list[PlannedTask] = []
    dropped: list[DroppedTask] = []
    used = 0.0
    ordered = sorted(enumerate(suite.tasks), key=lambda p: (p[1].priority, p[0]))
    for _, spec in ordered:
        wanted = spec.samples if limit is None else max(0, min(spec.samples, limit))
        if wanted:  # whole units, at least one
            wanted = max(spec.sample_unit, wanted - wanted % spec.sample_unit)

        def cost(n: int, spec: TaskSpec = spec) -> float:
            return predict_task_seconds(
                n,
                spec.requests_per_sample,
                spec.overhead_s_per_sample,
                spec.setup_s,
                throughput,
                suite.sample_time_limit_s,
            )

        full = cost(wanted)
        room = budget - used
        if wanted == 0:
            dropped.append(
                DroppedTask(spec.key, spec.priority, spec.tier, 0, 0.0, "--limit 0 selects none")
            )
            continue
        if full <= room:
            samples, note = wanted, ""
        else:
            samples = (
                _largest_fitting(spec, wanted, room, throughput, suite.sample_time_limit_s)
                if spec.sample_arg
                else 0
            )
            if samples < spec.min_samples:
                why = (
                    f"needs {_hours(full)} for {wanted} samples but only {_hours(max(room, 0))} "
                    "of the budget is left after higher-priority tasks"
                )
                if spec.sample_arg and samples > 0:
                    why += (
                        f" (the {samples} that would fit are below its minimum {spec.min_samples})"
                    )
                dropped.append(DroppedTask(spec.key, spec.priority, spec.tier, wanted, full, why))
                continue
            note = (
                f"shrunk from {wanted} to {samples} samples to fit: {wanted} would need "
                f"{_hours(full)}, {_hours(room)} left"
            )
        predicted = cost(samples)
        used += predicted
        tasks.append(
            PlannedTask(
                key=spec.key,
                factory=spec.factory.ref,
                args=spec.task_args(samples, seed),
                samples=samples,
                samples_wanted=wanted,
                priority=spec.priority,
                tier=spec.tier,
                requests=requests_for(samples, spec.requests_per_sample),
                predicted_s=predicted,
                note=note,
            )
        )
    return AssessmentPlan(
        suite=suite.name,
        planned_at=now,
        deadline=deadline,
        time_left_s=time_left,
        budget_s=budget,
        safety_margin=policy.safety_margin,
        delivery_reserve_s=policy.delivery_reserve.total_seconds(),
        throughput={
            "requests_per_minute": throughput.requests_per_minute,
            "max_connections": throughput.max_connections,
            "seconds_per_request": throughput.seconds_per_request,
        },
        tasks=tasks,
        dropped=dropped,
        assumptions=assumptions,
        sample_time_limit_s=suite.sample_time_limit_s,
        max_tokens=suite.max_tokens,
    )
