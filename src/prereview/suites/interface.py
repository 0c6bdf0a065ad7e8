"""What a task family is: everything it contributes to prereview, behind one interface.

A family (memory safety, smoke, a third party's Inspect tasks) is one module or package that
subclasses `TaskFamily` and one registration in the `prereview.families` entry-point group:

    [project.entry-points."prereview.families"]
    mytasks = "mypackage.family:MyTasksFamily"

Core packages (planning, review, reports, cli, doctor, demo) never import a family; they ask the
registry (`prereview.suites.registry`) and speak only the types below.

The grader contract, which every family's scorers keep:
- verdicts are computed by the family's Inspect scorers, from evidence re-collected in a fresh
  sandbox (never from what the model says it did);
- a scorer that cannot decide (its own error, a timeout, too little evidence) returns an
  `unknown` score: Inspect's NOANSWER value with metadata `verdict="unknown"` and a `reason`
  (`unknown_score` builds one). `unknown` is never a success and never a failure: results
  recording stores no score for it and reports count it apart;
- a sample's metadata names its `family` (and, where it has them, `instance_id` and `tier`),
  which is how the report groups results without knowing the family.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from prereview.domain.tiers import TIER_NAMES

if TYPE_CHECKING:  # importing Inspect costs seconds; the CLI lists families without it
    from inspect_ai import Task
    from inspect_ai.scorer import Score

FAMILY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
"""A family's name: also the prefix of its Inspect task names and its suites' names."""

UNKNOWN_VERDICT = "unknown"


def unknown_score(answer: str, reason: str, meta: Mapping[str, Any] | None = None) -> Score:
    """The grader contract's `unknown` outcome: the scorer could not decide, so neither success
    nor failure (Inspect's NOANSWER, metadata `verdict="unknown"` and the reason)."""
    from inspect_ai.scorer import NOANSWER, Score

    return Score(
        value=NOANSWER,
        answer=answer,
        explanation=f"unknown: {reason}",
        metadata={
            **(meta or {}),
            "outcome": UNKNOWN_VERDICT,
            "verdict": UNKNOWN_VERDICT,
            "reason": reason,
        },
    )


def is_unknown(metadata: Mapping[str, Any] | None) -> bool:
    """Whether a score's metadata carries the `unknown` verdict."""
    return metadata is not None and metadata.get("verdict") == UNKNOWN_VERDICT


@dataclass(frozen=True)
class TaskFactory:
    """One Inspect task a family offers, as a typed callable (not a `module:function` string).

    `load` returns the `@task` function; it is called only when the task is built, so listing
    families and planning do not import Inspect."""

    family: str
    name: str
    """The Inspect task's name (`<family>_<what>`); `prereview/<name>` in Inspect's registry."""
    load: Callable[[], Callable[..., Task]]
    aliases: tuple[str, ...] = ()
    """Other names stored plans may use for it (`module:function` of a former home)."""

    @property
    def ref(self) -> str:
        """How a stored plan names it: `<family>/<task>`."""
        return f"{self.family}/{self.name}"

    def __call__(self, **args: Any) -> Task:
        return self.load()(**args)

    def known_as(self, ref: str) -> bool:
        """Whether a stored plan's reference names this task: `<family>/<task>`, or the
        `module:function` form of plans stored before families were plug-ins."""
        if ref in (self.ref, *self.aliases):
            return True
        module, sep, name = ref.partition(":")
        if not sep or name != self.name:
            return False
        built = self.load()
        return bool(built.__module__ == module)


@dataclass(frozen=True)
class SampleCost:
    """What one sample of a task costs, as the planner budgets it."""

    requests: float = 1.0
    """Expected generate calls (an agent loop: turns x attempts)."""
    tokens: float = 0.0
    """Expected model tokens, input and output (0: not estimated)."""
    wall_s: float = 0.0
    """Seconds that are not model time (sandbox build, scoring)."""
    sandbox_cpu_s: float = 0.0
    """CPU seconds the sample's sandbox and scorer use on the evaluation host."""


@dataclass(frozen=True)
class TaskSpec:
    key: str
    """Unique within the suite; names the task in plans, results and reports."""
    factory: TaskFactory
    samples: int
    priority: int
    args: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sample_arg: str | None = None
    """Task argument that sets the number of samples (None: fixed, cannot shrink)."""
    sample_unit: int = 1
    """Samples per unit of `sample_arg` (a `count` per tier and class covers several)."""
    seed_arg: str | None = None
    """Task argument taking the generation seed: drawn fresh for each plan (instances the model
    cannot have seen), then fixed in the stored plan so a resumed run rebuilds the same ones."""
    min_samples: int = 1
    """Fewer samples than this say too little to be worth running: drop instead."""
    tier: int | None = None
    requests_per_sample: float = 1.0
    """Expected generate calls per sample (an agent loop: turns x attempts)."""
    overhead_s_per_sample: float = 0.0
    """Seconds per sample that are not model time (sandbox build, scoring)."""
    setup_s: float = 2.0
    """Seconds to start the task (dataset generation, sandbox images)."""
    description: str = ""
    tokens_per_sample: float = 0.0
    sandbox_cpu_s_per_sample: float = 0.0

    def task_args(self, samples: int, seed: int | None = None) -> dict[str, Any]:
        args = dict(self.args)
        if self.sample_arg is not None:
            args[self.sample_arg] = max(1, samples // self.sample_unit)
        if self.seed_arg is not None and seed is not None:
            args[self.seed_arg] = seed
        return args

    @classmethod
    def costed(cls, cost: SampleCost, **fields: Any) -> TaskSpec:
        """A spec whose per-sample figures come from the family's cost model."""
        return cls(
            requests_per_sample=cost.requests,
            overhead_s_per_sample=cost.wall_s,
            tokens_per_sample=cost.tokens,
            sandbox_cpu_s_per_sample=cost.sandbox_cpu_s,
            **fields,
        )


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tasks: tuple[TaskSpec, ...]
    sample_time_limit_s: int | None = None
    """Inspect's per-sample time limit for every task of the suite (None: none)."""
    max_tokens: int | None = None
    """Cap on tokens per model reply (None: the provider's default). A time limit cannot stop a
    reply being generated, so a suite meant for a slow local model bounds replies instead."""
    quick: bool = False
    """Small enough for the demo: a handful of samples on the embedded model."""


@dataclass(frozen=True)
class HostCheck:
    """One thing the family needs of the evaluation host, checked by doing it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


@dataclass(frozen=True)
class ResultTable:
    """Rows for a terminal table: `columns` are (header, row key) pairs."""

    title: str
    columns: tuple[tuple[str, str], ...]
    rows: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class CommandResult:
    """What a `prereview tasks` command of the family produced."""

    data: Mapping[str, Any]
    """The `--json` output."""
    table: ResultTable
    notes: tuple[str, ...] = ()
    """Lines printed after the table (on stderr when they are warnings: `warnings`)."""
    warnings: tuple[str, ...] = ()
    ok: bool = True
    """False makes the command exit 1."""


Progress = Callable[[int, int, str], None]


def verification_result(rows: Sequence[Mapping[str, Any]], what: str) -> CommandResult:
    """`tasks verify`'s result from rows of id, verified, status, seconds and failed: every
    instance listed, the command failing when one did not verify (`what`: "instance(s)")."""
    return CommandResult(
        data={"instances": list(rows), "verified": sum(bool(r["verified"]) for r in rows)},
        table=ResultTable(
            f"verification of {len(rows)} {what}",
            (("id", "id"), ("status", "status"), ("seconds", "seconds"), ("failed", "failed")),
            tuple(rows),
        ),
        ok=all(r["verified"] for r in rows),
    )


class InstanceTools(ABC):
    """`prereview tasks generate|verify|baseline` for a family with generated instances."""

    placement: ClassVar[bool] = False
    """`generate` takes `options["ladder_budget"]` (seconds a rung): each verified instance
    runs the family's ladder and a misplaced one is regenerated (`tasks generate
    --ladder-budget`); a family without it refuses the option rather than ignore it."""

    @abstractmethod
    def generate(
        self,
        out: Path,
        *,
        seed: int,
        tier: str,
        count: int,
        options: Mapping[str, Sequence[str]],
        jobs: int | None,
        progress: Progress,
    ) -> CommandResult:
        """Write `count` verified instances of `tier` into `out` (`options`: family-specific
        repeatable options, such as bug classes)."""

    @abstractmethod
    def verify(
        self, directory: Path, *, jobs: int | None, fuzz_s: float, progress: Progress
    ) -> CommandResult:
        """Rebuild and re-check instances from their manifests."""

    @abstractmethod
    def baseline(
        self,
        directory: Path,
        *,
        budget_s: float,
        seed: int,
        max_runs: int | None,
        jobs: int | None,
        progress: Progress,
    ) -> CommandResult:
        """Run the non-AI baseline on the instances."""


@dataclass(frozen=True)
class BaselineResult:
    """The non-AI baseline's outcome on one instance the model also saw.

    Stored as the review's content (sealed like every result) under `baseline_key`, where the
    report reads it; no file path leaves the family."""

    family: str
    instance_id: str
    tier: int | None
    solver: str
    """What the baseline is (`libFuzzer`)."""
    found: bool
    seconds: float | None
    budget_seconds: float
    rungs: tuple[RungResult, ...] = ()
    """Every rung of the family's ladder on this instance, weakest first (() without one);
    `found`/`seconds` are then the lowest finding rung's."""
    difficulty: float | None = None
    """`measured_difficulty` of `rungs` (None without a ladder)."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "family": self.family,
            "instance_id": self.instance_id,
            "tier": self.tier,
            "solver": self.solver,
            "found": self.found,
            "seconds": self.seconds,
            "budget_seconds": self.budget_seconds,
        }
        if self.rungs:
            out["rungs"] = [r.as_dict() for r in self.rungs]
            out["difficulty"] = self.difficulty
        return out


RUNG_FOUND = "found"
RUNG_CENSORED = "censored"
RUNG_UNAVAILABLE = "unavailable"
RUNG_ERROR = "error"
RUNG_SKIPPED = "skipped"
RungStatus = str
"""`found` (a crash within the budget), `censored` (none within it), `unavailable` (the tool
is missing on this host), `error` (the rung itself failed), `skipped` (not run: a lower rung had
already found the crash and the caller asked to stop there)."""


@dataclass(frozen=True)
class Rung:
    """One rung of a family's baseline ladder: a real non-AI tool or technique, weakest first."""

    name: str
    """Short identifier shown in results and reports (`libfuzzer`, `afl-cmplog`)."""
    description: str
    tool: str
    """The executable(s) it needs, as `doctor` names them."""
    available: Callable[[], str | None]
    """Why this host cannot run it (None: it can). Checked by doing, not by `which` alone."""


@dataclass(frozen=True)
class RungResult:
    """One rung on one instance: time to the first crash, or why there is none."""

    rung: str
    status: RungStatus
    seconds: float | None
    budget_seconds: float
    executions: int = 0
    detail: str = ""

    @property
    def found(self) -> bool:
        return self.status == RUNG_FOUND

    def as_dict(self) -> dict[str, Any]:
        return {
            "rung": self.rung,
            "status": self.status,
            "seconds": self.seconds,
            "budget_seconds": self.budget_seconds,
            "executions": self.executions,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RungResult:
        seconds = data.get("seconds")
        return cls(
            rung=str(data["rung"]),
            status=str(data["status"]),
            seconds=float(seconds) if isinstance(seconds, int | float) else None,
            budget_seconds=float(data["budget_seconds"]),
            executions=int(data.get("executions") or 0),
            detail=str(data.get("detail") or ""),
        )


def measured_difficulty(results: Sequence[RungResult], rungs: int) -> float:
    """The ladder's difficulty of one instance: `k + t/B`, where k is the 0-based index of the
    lowest rung that found a crash, t its seconds and B its budget; `rungs` (the ladder's
    length) when no rung found one (right-censored at the top). Lower rungs that are
    unavailable count as not finding it: the scale is what this host could run, and results
    carry each rung's status so a reader sees which. Skipped rungs come after a finding one."""
    for k, r in enumerate(results):
        if r.found:
            t = r.seconds if r.seconds is not None else r.budget_seconds
            frac = min(max(t / r.budget_seconds, 0.0), 1.0) if r.budget_seconds > 0 else 0.0
            return round(k + min(frac, 0.999), 4)
    return float(rungs)


@dataclass(frozen=True)
class TierBand:
    """Where a tier's measured difficulty must fall (inclusive): an instance outside its tier's
    band, by more than the tolerance already included here, is regenerated, not served."""

    tier: int
    low: float
    high: float

    def contains(self, difficulty: float) -> bool:
        return self.low <= difficulty <= self.high


@dataclass(frozen=True)
class Ladder:
    """A family's ladder of non-AI baselines, weakest rung first, and its tiers' bands."""

    family: str
    rungs: tuple[Rung, ...]
    bands: tuple[TierBand, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rungs)

    def band(self, tier: int | None) -> TierBand | None:
        return next((b for b in self.bands if b.tier == tier), None)

    def availability(self) -> dict[str, str | None]:
        """Each rung's reason it cannot run here (None: it can)."""
        return {r.name: r.available() for r in self.rungs}


def baseline_key(review_id: str, family: str, instance_id: str) -> str:
    """Where a review's content holds one baseline result."""
    return f"reviews/{review_id}/baselines/{family}/{instance_id}.json"


@dataclass(frozen=True)
class PlannedRun:
    """A planned task as a family sees it when asked for a baseline on the same instances."""

    factory: TaskFactory
    args: Mapping[str, Any]


class TaskFamily(ABC):
    """A task family. Subclass it, fill in the class attributes, implement `tasks`, `suites`
    and `cost`; override the rest where the family has them."""

    name: ClassVar[str]
    """Lowercase identifier (see FAMILY_NAME); Inspect task names start with it."""
    description: ClassVar[str]
    tiers: ClassVar[tuple[int, ...]] = ()
    """Tiers (of `prereview.domain.tiers`) the family offers; () when it has none."""

    @abstractmethod
    def tasks(self) -> Sequence[TaskFactory]:
        """The Inspect tasks; each `load()` must return an Inspect `@task`."""

    @abstractmethod
    def suites(self) -> Sequence[Suite]:
        """Named suites a review can plan; names are unique across families."""

    @abstractmethod
    def cost(self, task: str, tier: int | None, args: Mapping[str, Any]) -> SampleCost:
        """Per-sample cost of `task` at `tier` called with `args` (the planner's model)."""

    def unavailable(self) -> str | None:
        """Why this install cannot run the family (None: it can)."""
        return None

    def host_checks(self) -> Sequence[HostCheck]:
        """What `prereview doctor` checks for this family (real work, not `which`)."""
        return ()

    def listing(self) -> Mapping[str, Any]:
        """Extra fields `prereview tasks list` shows (e.g. the bug classes)."""
        return {}

    def instance_tools(self) -> InstanceTools | None:
        """generate/verify/baseline, for a family with generated instances."""
        return None

    def run_baseline(
        self, planned: Sequence[PlannedRun], budget_s: float, progress: Progress | None = None
    ) -> Sequence[BaselineResult]:
        """The non-AI baseline on the instances these planned tasks served (() if none)."""
        return ()

    def ladder(self) -> Ladder | None:
        """The family's ladder of non-AI baselines (None: a single baseline or none).
        `run_baseline` then fills `BaselineResult.rungs` with one result per rung."""
        return None

    def report_notes(self, tasks: Sequence[str]) -> Sequence[str]:
        """Method notes the report adds when these of the family's tasks were run."""
        return ()

    def rubric_families(self) -> Sequence[str]:
        """Names rubric criteria may use for this family's results."""
        return (self.name,)

    def tier_names(self) -> Mapping[int, str]:
        return {t: TIER_NAMES[t] for t in self.tiers}


class InterfaceViolation(Exception):
    """A registered family does not keep the interface; `str()` says how."""


def validate_family(family: TaskFamily) -> None:
    """Check what can be checked without running anything; raise InterfaceViolation."""
    name = getattr(family, "name", None)
    if not isinstance(name, str) or not FAMILY_NAME.match(name):
        raise InterfaceViolation(f"name {name!r} is not a lowercase identifier")
    if not isinstance(getattr(family, "description", None), str):
        raise InterfaceViolation("description is missing")
    bad = [t for t in family.tiers if t not in TIER_NAMES]
    if bad:
        raise InterfaceViolation(f"tiers {bad} are outside the shared vocabulary 1-5")
    tasks = list(family.tasks())
    for t in tasks:
        if not isinstance(t, TaskFactory) or not callable(t.load):
            raise InterfaceViolation(f"task {t!r} is not a TaskFactory with a callable load")
        if t.family != name:
            raise InterfaceViolation(f"task {t.name} claims family {t.family!r}")
        if not t.name.startswith(name):
            raise InterfaceViolation(f"task {t.name} does not start with the family's name")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise InterfaceViolation("task names repeat")
    for suite in family.suites():
        if not isinstance(suite, Suite):
            raise InterfaceViolation(f"suite {suite!r} is not a Suite")
        for spec in suite.tasks:
            if spec.factory not in tasks:
                raise InterfaceViolation(
                    f"suite {suite.name} runs {spec.factory.ref}, not one of the family's tasks"
                )
