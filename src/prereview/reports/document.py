"""The report model: every number and sentence a report shows, ready for the templates.

Built by `builder.build_report` from a review's evidence; rendered unchanged by the HTML, PDF
and Markdown renderers, so the three formats always say the same thing. A sanitized report is
a `CapabilityReport` built with identity and withheld sections left out, not a filtered copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from prereview.domain.markings import DocumentMarking
from prereview.reports.evidence import Elicitation, LogReference, ReferenceKind, RunRecord
from prereview.reports.rubric import FrameworkThreshold, RubricOutcome
from prereview.stats import DifficultyEstimate, Interval, RateDifference


@dataclass(frozen=True)
class Rate:
    """`successes` of `n` instances, with the interval of the rate."""

    successes: int
    n: int
    interval: Interval


@dataclass(frozen=True)
class BaselineSummary:
    """The non-AI baseline on the same instances: did it crash them within its budget?"""

    solver: str
    rate: Rate
    median_seconds: float | None
    budget_seconds: float


@dataclass(frozen=True)
class RungSummary:
    """One rung of the baseline ladder on a group of instances. `rate` is None when the rung
    ran on none of them; `unavailable` says its tool was missing on the host (never dropped)."""

    rung: str
    rate: Rate | None
    median_seconds: float | None
    unavailable: bool = False


@dataclass(frozen=True)
class TierResult:
    tier: int | None
    tier_name: str
    rate: Rate
    pass_at_1: float | None
    pass_at_k: float | None
    incomplete: int
    median_tokens: float | None
    median_seconds: float | None
    baseline: BaselineSummary | None
    rungs: tuple[RungSummary, ...] = ()
    """The baseline ladder rung by rung on this tier's instances (() without a ladder)."""


@dataclass(frozen=True)
class OutcomeGroup:
    """One outcome kind of a range family (`rce`, `db_secret_read`, ...): the model's rate on
    the instances graded by it, their tiers, and the baseline beside it."""

    outcome_kind: str
    tiers: tuple[int, ...]
    rate: Rate
    baseline: BaselineSummary | None


@dataclass(frozen=True)
class TaskResults:
    """One task of one family: rates per tier, overall, and the 50%-success difficulty.

    `k` is the most completed attempts any instance had; pass@k per tier uses the instances
    with at least k completed attempts (pass@1 uses every instance).
    """

    family: str
    task: str
    k: int
    tiers: tuple[TierResult, ...]
    overall: Rate
    incomplete: int
    difficulty_by_tier: DifficultyEstimate
    difficulty_by_baseline: DifficultyEstimate | None
    baseline_solver: str | None
    baseline: BaselineSummary | None
    difficulty_by_ladder: DifficultyEstimate | None = None
    """The 50%-success point against the ladder's measured difficulty of each instance."""
    rungs: tuple[RungSummary, ...] = ()
    by_outcome: tuple[OutcomeGroup, ...] = ()
    """Per outcome kind, when the family's samples name one (() otherwise)."""


@dataclass(frozen=True)
class Comparison:
    """The model against one reference run on one task, over the tiers both were measured on."""

    task: str
    reference_label: str
    reference_kind: ReferenceKind
    reference_model: str | None
    tiers: tuple[int, ...]
    model: Rate
    reference: Rate
    difference: RateDifference
    finding: str


@dataclass(frozen=True)
class NotableTranscript:
    task: str
    tier: int | None
    instance_id: str
    attempt: int
    reason: str
    log: LogReference


@dataclass(frozen=True)
class NewVulnerability:
    """A crash other than the planted bug, seen while scoring the model's inputs."""

    task: str
    tier: int | None
    instance_id: str | None
    kind: str
    location: str | None
    attempts: int
    log: LogReference | None


@dataclass(frozen=True)
class ModelSection:
    """Who the model is and how it was reached. Never a secret: credentials appear as a note."""

    name: str
    version: str | None
    developer: str
    provider: str
    inspect_model: str
    endpoint: str | None
    credential: str
    release_date: date | None


@dataclass(frozen=True)
class CapabilitySection:
    outcome: RubricOutcome
    frameworks: tuple[FrameworkThreshold, ...]


@dataclass(frozen=True)
class CapabilityReport:
    """One review's advisory capability report, for one audience (full or sanitized)."""

    title: str
    review_id: str
    generated_at: datetime
    sanitized: bool
    markings: DocumentMarking
    model_label: str
    state: str
    summary: tuple[str, ...]
    has_results: bool
    model: ModelSection | None = None
    elicitation: Elicitation | None = None
    tasks: tuple[TaskResults, ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    capability: CapabilitySection | None = None
    transcripts: tuple[NotableTranscript, ...] = ()
    new_vulnerabilities: tuple[NewVulnerability, ...] = ()
    runs: tuple[RunRecord, ...] = ()
    withheld: tuple[str, ...] = ()
    method: tuple[str, ...] = ()
    seed: int = 0
    confidence: float = 0.95
    tier_names: Mapping[int, str] = field(default_factory=dict)
