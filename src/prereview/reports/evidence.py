"""What a report is built from: plain records of one review, read from the store by `source.py`.

The builder (`builder.py`) turns these into the report model and never touches the database, so
statistics and wording can be tested with constructed evidence, and the store's schema can change
without the report's logic changing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from prereview.domain.tiers import TIER_NAMES
from prereview.vault.sharing import SourceFacts

ReferenceKind = Literal["agency_reference", "developer_prior"]


@dataclass(frozen=True)
class LogReference:
    """Where one attempt lives in an Inspect log: open it with `inspect view`."""

    log: str
    sample_id: str
    epoch: int


@dataclass(frozen=True)
class CrashObservation:
    """A sanitizer crash the scorer saw that is not the planted bug: a possible new finding."""

    kind: str
    function: str | None = None
    file: str | None = None
    line: int | None = None

    @property
    def location(self) -> str:
        where = self.file or "?"
        if self.line is not None:
            where += f":{self.line}"
        return f"{self.function or '?'} ({where})"


@dataclass(frozen=True)
class Attempt:
    """One scored (or errored) attempt of the model on one task instance: an Inspect sample-epoch.

    `success` is None when the attempt did not complete (an error, a limit hit before scoring);
    such attempts are counted and shown, never treated as failures.
    """

    family: str
    task: str
    tier: int | None
    instance_id: str
    attempt: int
    success: bool | None
    tokens: int | None = None
    seconds: float | None = None
    error: str | None = None
    bug_class: str | None = None
    log: LogReference | None = None
    new_crashes: tuple[CrashObservation, ...] = ()
    integrity_rule: str | None = None  # the scoring-integrity rule the submission tripped
    disabled_sanitizer: bool = False  # that rule was an attempt to silence the sanitizer
    outcome_kind: str | None = None  # a range family's outcome (`rce`, `db_secret_read`, ...)
    sector: str | None = None  # the sample's critical-infrastructure sector (metadata `sector`)


@dataclass(frozen=True)
class RungOutcome:
    """One rung of a family's baseline ladder on one instance: `found`, `censored`,
    `unavailable` (tool missing on the host), `error` or `skipped`."""

    rung: str
    status: str
    seconds: float | None


@dataclass(frozen=True)
class BaselineOutcome:
    """The non-AI baseline (a coverage-guided fuzzer) on one instance the model also saw."""

    family: str
    instance_id: str
    tier: int | None
    solver: str
    found: bool
    seconds: float | None
    budget_seconds: float
    rungs: tuple[RungOutcome, ...] = ()
    """Every rung of the family's ladder, weakest first (() for a single baseline)."""
    difficulty: float | None = None
    """The ladder's measured difficulty (lowest finding rung + its share of the budget)."""


@dataclass(frozen=True)
class ModelIdentity:
    """The model under review and how it was reached. Holds a credential *reference* only."""

    name: str
    version: str | None
    developer: str
    inspect_model: str
    base_url: str | None = None
    credential_reference: str | None = None
    release_date: date | None = None


@dataclass(frozen=True)
class Elicitation:
    """How hard the review tried: agent scaffold, tools, limits, attempts, sampling, versions."""

    scaffold: str | None = None
    tools: tuple[str, ...] = ()
    limits: Mapping[str, str] = field(default_factory=dict)
    attempts: int | None = None
    sampling: Mapping[str, str] = field(default_factory=dict)
    inspect_version: str | None = None
    prereview_version: str | None = None
    generator_versions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """One `prereview assess` invocation and how it ended."""

    number: int
    status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class ReferenceRun:
    """Results of another model on the same task families, to compare against.

    `label` is what readers see; `model_name` is the reference's own identity, shown only in
    the full report (sanitized reports show the label of agency references and drop
    earlier models of the same developer). `source` is its submitter's election: the sharing
    rule decides from it whether, and under which label, the reference may appear in a report
    (none: never).
    """

    label: str
    kind: ReferenceKind
    model_name: str
    attempts: tuple[Attempt, ...]
    review_id: str | None = None
    source: SourceFacts | None = None


@dataclass(frozen=True)
class SharingElection:
    """What the submitter's confidentiality election lets a sanitized report carry."""

    share_sanitized: bool = False


@dataclass(frozen=True)
class ReviewEvidence:
    """Everything one review's report is built from."""

    review_id: str
    state: str
    model: ModelIdentity
    elicitation: Elicitation = field(default_factory=Elicitation)
    attempts: tuple[Attempt, ...] = ()
    baselines: tuple[BaselineOutcome, ...] = ()
    references: tuple[ReferenceRun, ...] = ()
    runs: tuple[RunRecord, ...] = ()
    sharing: SharingElection = field(default_factory=SharingElection)
    submitted_on: date | None = None
    submission_id: str | None = None
    organization_id: str | None = None  # whose report this is: who may see a reference's identity
    tier_names: Mapping[int, str] = field(default_factory=lambda: dict(TIER_NAMES))
    method_notes: tuple[str, ...] = ()
    """What the task families whose tasks ran say of their graders (`TaskFamily.report_notes`)."""
