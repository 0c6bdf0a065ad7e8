"""How an assessment plan runs: the `Executor` interface and what it exchanges.

`prereview assess` plans, locks and books the run (`prereview.review.assessment`), then hands the
run to an executor: `local` runs the plan in this process with Inspect's `eval_set` (the
default); `ray` cuts it into work units and runs them on the nodes of a Ray cluster, recording
results on the head. An executor's `preflight` runs before anything is written and refuses in
one line (`ExecutorError`) what it cannot run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prereview.errors import PrereviewError

if TYPE_CHECKING:  # not at run time: a node's rate-limit actor imports this package, and
    # should not pay for Inspect and the store to start
    from prereview.review.assessment import AssessmentOutcome, PlanRun
    from prereview.review.views import SubmissionRecord


class ExecutorError(PrereviewError):
    """An executor cannot run here (unreachable cluster, version mismatch, node not ready)."""


@dataclass(frozen=True)
class WorkUnit:
    """One task of the plan on some of its samples: what one worker runs at a time."""

    unit_id: str
    task_key: str
    factory: str
    args: dict[str, Any]
    tier: int | None
    sample_ids: list[str | int]


@dataclass(frozen=True)
class UnitSettings:
    """What every unit of a run needs besides its samples. Holds no secret: the model
    credential travels beside it, as a separate argument, and is never stored."""

    run_id: str
    model: str
    base_url: str | None
    model_args: dict[str, Any]
    max_connections: int | None
    sample_time_limit_s: int | None
    max_tokens: int | None
    seal_to: bytes
    """The run's X25519 public key: unit logs are sealed to it on the worker."""
    limiter: str | None = None
    """The name of the run's cluster-wide rate limit, when the submitter declared one."""


@dataclass(frozen=True)
class SealedLog:
    name: str
    blob: bytes


@dataclass(frozen=True)
class UnitResult:
    """What comes back to the head: sealed logs only, never plaintext."""

    unit_id: str
    node_id: str
    pid: int
    logs: list[SealedLog] = field(default_factory=list)
    error: str | None = None
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds each phase of the unit took on the worker (`node.PHASES`), and `started` /
    `ended` (wall-clock epoch seconds): what the head's `RunTimings` adds up. No content."""


class Executor(ABC):
    """Runs a booked assessment run; see the module docstring."""

    name: str

    @abstractmethod
    def preflight(self, record: SubmissionRecord, suite: str | None = None) -> None:
        """Refuse (ExecutorError, one line) before anything of the run is written; `suite`:
        what a first run will plan (None: the stored plan's, else the default suite)."""

    @abstractmethod
    def execute(self, run: PlanRun) -> AssessmentOutcome:
        """Run what of `run.plan` is not recorded yet; record results as they come."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what `preflight` acquired (a cluster connection)."""
