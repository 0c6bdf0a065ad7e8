"""Reading a review's evidence from the store: the only module of `reports` that knows the schema.

What is read, and from where:
- rows: the submission (model, access, organization, confidentiality), the review, its runs and
  per-sample results (`prereview.store.tables.review`), reference designations
  (`prereview.store.tables.reports`);
- content (`SubmissionContent`, which the vault encrypts): each sample's result payload, for
  metadata the rows do not carry, and the Inspect log headers, for the elicitation.

What the report uses of a task family's sample metadata, when present: `family`, `instance_id`
(else the sample id), `tier`, `bug_class` (or `vuln_class`), `outcome_kind` (range families),
`sector` (a CISA sector's code or name, for the sector briefs).
Of the score metadata: `possible_new_finding` (one sanitizer report other than the planted bug)
or `new_crashes` (a list of them), and the grader contract's `integrity_rule` /
`attempted_to_disable_sanitizer`. The families'
non-AI baselines are the review's content under `reviews/<review>/baselines/` (the review
service stores them; `prereview.suites.interface.BaselineResult`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from prereview import __version__
from prereview.errors import PrereviewError
from prereview.reports.evidence import (
    Attempt,
    BaselineOutcome,
    CrashObservation,
    Elicitation,
    LogReference,
    ModelIdentity,
    ReferenceRun,
    ReviewEvidence,
    RungOutcome,
    RunRecord,
    SharingElection,
)
from prereview.store import Database
from prereview.store.content import ContentError, SubmissionContent
from prereview.store.tables.reports import ReportReferenceRow
from prereview.store.tables.review import (
    AssessmentRunRow,
    ReviewRow,
    SampleResultRow,
    SubmissionRow,
)
from prereview.suites.registry import installed_families
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation
from prereview.vault.sharing import SourceFacts

logger = logging.getLogger(__name__)

SUCCESS_SCORE = 1.0
"""A sample counts as a success at full credit; partial credit is not success."""
SHARE_SANITIZED = "share-sanitized"
PRIOR_STATES = ("findings_delivered", "closed")
"""Earlier reviews of the same developer are compared once their findings were delivered, and
only where their submitter allowed it (`compare_in_later_reviews`); withdrawn ones never (their
content is shredded and the submitter took them back)."""
SAMPLING_KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "seed",
    "num_choices",
    "frequency_penalty",
    "presence_penalty",
    "reasoning_effort",
    "reasoning_tokens",
    "effort",
    "max_tool_output",
)
"""Generate settings a report shows. A list of what is safe, not of what to hide: other fields
(extra headers, extra body) can carry credentials."""
LIMIT_KEYS = ("message_limit", "token_limit", "turn_limit", "time_limit", "working_limit")


class UnknownReviewError(PrereviewError):
    def __init__(self, ident: str) -> None:
        super().__init__(
            f"no review or submission with id {ident!r} (see `prereview list` for the ids)"
        )
        self.ident = ident


def family_of(task: str, families: Iterable[str]) -> str:
    """The task family of an Inspect task name: `<family>_<task>` → `<family>`."""
    name = task.rsplit("/", 1)[-1]
    for family in sorted(families, key=len, reverse=True):
        if name == family or name.startswith(family + "_"):
            return family
    return name


def task_name(task: str) -> str:
    """An Inspect task name without its registry package (`prereview/<task>` → `<task>`)."""
    return task.rsplit("/", 1)[-1]


def parse_log_ref(ref: str) -> LogReference | None:
    """`<log key>/<file>#<sample id>:<epoch>` → LogReference."""
    log, sep, rest = ref.rpartition("#")
    if not sep:
        return None
    sample, sep, epoch = rest.rpartition(":")
    if not sep or not epoch.isdigit():
        return None
    return LogReference(log=log, sample_id=sample, epoch=int(epoch))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _crash(item: Any) -> CrashObservation | None:
    if not isinstance(item, Mapping):
        return None
    kind = item.get("kind")
    if not isinstance(kind, str):
        kind = "timeout" if item.get("timed_out") else None
    if kind is None:
        return None
    if item.get("build") == "fixed":
        kind += " (fixed build)"
    text = {k: item.get(k) if isinstance(item.get(k), str) else None for k in ("function", "file")}
    return CrashObservation(kind=kind, line=_int(item.get("line")), **text)


def _crashes(payload: Mapping[str, Any]) -> tuple[CrashObservation, ...]:
    found: list[CrashObservation] = []
    for score in (payload.get("scores") or {}).values():
        meta = score.get("metadata") if isinstance(score, Mapping) else None
        if not isinstance(meta, Mapping):
            continue
        items = meta.get("new_crashes")
        candidates = [*(items if isinstance(items, list) else []), meta.get("possible_new_finding")]
        found.extend(c for c in map(_crash, candidates) if c is not None)
    return tuple(found)


def _integrity_rule(payload: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The scoring-integrity rule a submission tripped (score metadata), and whether it was an
    attempt to silence the sanitizer; (None, False) when no score names one."""
    for score in (payload.get("scores") or {}).values():
        meta = score.get("metadata") if isinstance(score, Mapping) else None
        if not isinstance(meta, Mapping):
            continue
        rule = meta.get("integrity_rule")
        if isinstance(rule, str) and rule:
            return rule[:80], meta.get("attempted_to_disable_sanitizer") is True
    return None, False


def _baseline(data: Any) -> BaselineOutcome | None:
    """One stored baseline result (`BaselineResult.as_dict()`); None if it is malformed."""
    if not isinstance(data, Mapping):
        return None
    budget, found = _float(data.get("budget_seconds")), data.get("found")
    fields = [data.get(k) for k in ("family", "instance_id", "solver")]
    if budget is None or not isinstance(found, bool) or not all(isinstance(f, str) for f in fields):
        return None
    rungs = data.get("rungs")
    ladder: list[RungOutcome] = []
    for r in rungs if isinstance(rungs, list) else []:
        if not (isinstance(r, Mapping) and isinstance(r.get("rung"), str)):
            return None
        if not isinstance(r.get("status"), str):
            return None
        ladder.append(RungOutcome(r["rung"][:40], r["status"][:20], _float(r.get("seconds"))))
    return BaselineOutcome(
        family=str(fields[0]),
        instance_id=str(fields[1]),
        tier=_int(data.get("tier")),
        solver=str(fields[2]),
        found=found,
        seconds=_float(data.get("seconds")),
        budget_seconds=budget,
        rungs=tuple(ladder),
        difficulty=_float(data.get("difficulty")) if ladder else None,
    )


def _text(value: object, limit: int = 60) -> str | None:
    """A short metadata label (None when absent)."""
    return str(value)[:limit] if value else None


class _Reader:
    def __init__(self, session: Session, content: SubmissionContent, families: frozenset[str]):
        self.s = session
        self.content = content
        self.families = families

    def payload(self, submission_id: str, key: str | None) -> dict[str, Any]:
        if not key:
            return {}
        try:
            data = json.loads(self.content.read(submission_id, key))
        except (ContentError, ValueError) as exc:
            logger.warning("result payload %s unreadable: %s", key, type(exc).__name__)
            return {}
        return data if isinstance(data, dict) else {}

    def baselines(self, submission_id: str, review_id: str) -> tuple[BaselineOutcome, ...]:
        prefix = f"reviews/{review_id}/baselines/"
        found = (
            _baseline(self.payload(submission_id, key)) for key in self._keys(submission_id, prefix)
        )
        return tuple(b for b in found if b is not None)

    def _keys(self, submission_id: str, prefix: str) -> list[str]:
        try:
            return sorted(self.content.keys(submission_id, prefix))
        except ContentError:
            return []

    def attempts(self, submission_id: str, review_id: str) -> tuple[Attempt, ...]:
        rows = self.s.execute(
            select(SampleResultRow)
            .where(SampleResultRow.review_id == review_id)
            .order_by(SampleResultRow.id)
        ).scalars()
        attempts: list[Attempt] = []
        for row in rows:
            payload = self.payload(submission_id, row.payload_key)
            meta = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
            assert isinstance(meta, dict)
            task = task_name(row.task)
            family = str(meta.get("family") or family_of(task, self.families))
            instance = str(meta.get("instance_id") or row.sample_id)
            tier = row.tier if row.tier is not None else _int(meta.get("tier"))
            done = row.error is None and row.score is not None
            rule, disabled = _integrity_rule(payload)
            attempts.append(
                Attempt(
                    family=family,
                    task=task,
                    tier=tier,
                    instance_id=instance,
                    attempt=row.epoch,
                    success=(row.score is not None and row.score >= SUCCESS_SCORE)
                    if done
                    else None,
                    tokens=row.total_tokens,
                    seconds=row.total_time_s,
                    error=row.error if row.error else (None if done else "no score recorded"),
                    bug_class=_text(meta.get("bug_class") or meta.get("vuln_class")),
                    log=parse_log_ref(row.log_ref),
                    new_crashes=_crashes(payload),
                    integrity_rule=rule,
                    disabled_sanitizer=disabled,
                    outcome_kind=_text(meta.get("outcome_kind")),
                    sector=_text(meta.get("sector")),
                )
            )
        return tuple(attempts)

    def runs(self, review_id: str) -> tuple[RunRecord, ...]:
        rows = self.s.execute(
            select(AssessmentRunRow)
            .where(AssessmentRunRow.review_id == review_id)
            .order_by(AssessmentRunRow.number)
        ).scalars()
        return tuple(RunRecord(r.number, r.status, r.started_at, r.ended_at) for r in rows)

    def elicitation(
        self, submission_id: str, review_id: str, attempts: Iterable[Attempt]
    ) -> Elicitation:
        key = f"reviews/{review_id}/logs"
        epochs = max((a.attempt for a in attempts), default=0)
        base = Elicitation(
            attempts=epochs or None,
            prereview_version=__version__,
        )
        if not self.content.keys(submission_id, key + "/"):
            return base
        try:
            with self.content.working_dir(submission_id, key) as log_dir:
                return _elicitation_from_logs(log_dir, base)
        except Exception as exc:  # a report without elicitation beats no report
            logger.warning("Inspect log headers unreadable: %s", type(exc).__name__)
            return base

    def references(self, review: ReviewRow, submission: SubmissionRow) -> tuple[ReferenceRun, ...]:
        refs: list[ReferenceRun] = []
        designated = self.s.execute(
            select(ReportReferenceRow).order_by(ReportReferenceRow.created_at)
        ).scalars()
        for d in designated:
            if d.review_id == review.id:
                continue
            other = self.s.get(ReviewRow, d.review_id)
            if other is None or other.submission.state == "withdrawn":
                continue
            sub = other.submission
            attempts = self.attempts(sub.id, other.id)
            if attempts:
                refs.append(
                    ReferenceRun(
                        label=d.label,
                        kind="agency_reference",
                        model_name=_model_label(sub),
                        attempts=attempts,
                        review_id=other.id,
                        source=SourceFacts.of(sub),
                    )
                )
        earlier = self.s.execute(
            select(SubmissionRow)
            .where(
                SubmissionRow.organization_id == submission.organization_id,
                SubmissionRow.id != submission.id,
                SubmissionRow.created_at < submission.created_at,
                SubmissionRow.state.in_(PRIOR_STATES),
                SubmissionRow.compare_in_later_reviews.is_(True),
            )
            .order_by(SubmissionRow.created_at)
        ).scalars()
        for sub in earlier:
            if sub.review is None:
                continue
            attempts = self.attempts(sub.id, sub.review.id)
            if attempts:
                name = _model_label(sub)
                refs.append(
                    ReferenceRun(
                        label=f"earlier model {name}",
                        kind="developer_prior",
                        model_name=name,
                        attempts=attempts,
                        review_id=sub.review.id,
                        source=SourceFacts.of(sub),
                    )
                )
        return tuple(refs)


def _model_label(sub: SubmissionRow) -> str:
    return f"{sub.model_name} {sub.model_version}" if sub.model_version else sub.model_name


def _tool_names(tools: Any) -> set[str]:
    """Tool names from a solver's recorded `tools` parameter (dicts with a name, or names)."""
    names: set[str] = set()
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str):
            names.add(tool["name"])
        elif isinstance(tool, str):
            names.add(tool)
    return names


def _elicitation_from_logs(log_dir: Path, base: Elicitation) -> Elicitation:
    from inspect_ai.log import list_eval_logs, read_eval_log

    scaffolds: set[str] = set()
    tools: set[str] = set()
    limits: dict[str, str] = {}
    sampling: dict[str, str] = {}
    inspect_versions: set[str] = set()
    generators: dict[str, str] = {}
    epochs: set[int] = set()
    for info in list_eval_logs(str(log_dir), recursive=False):
        try:
            log = read_eval_log(info, header_only=True)
        except Exception as exc:  # a log truncated by a crash has no header worth reporting
            logger.warning("skipping unreadable log %s: %s", info.name, type(exc).__name__)
            continue
        spec = log.eval
        if spec.packages.get("inspect_ai"):
            inspect_versions.add(spec.packages["inspect_ai"])
        if spec.solver:
            scaffolds.add(spec.solver)
        if log.plan and log.plan.steps:
            scaffolds.add(" → ".join(step.solver for step in log.plan.steps))
            for step in log.plan.steps:
                tools.update(_tool_names(step.params.get("tools")))
                submissions = step.params.get("attempts")
                if isinstance(submissions, int) and not isinstance(submissions, bool):
                    limits["submissions per attempt"] = str(submissions)
                if step.solver.rsplit("/", 1)[-1] == "react":
                    tools.add("submit")
        config = spec.config
        if config.epochs:
            epochs.add(config.epochs)
        for key in LIMIT_KEYS:
            value = getattr(config, key, None)
            if value is not None:
                limits[key] = f"{value} s" if key.endswith("time_limit") else str(value)
        gen = spec.model_generate_config
        for key in SAMPLING_KEYS:
            value = getattr(gen, key, None)
            if value is not None:
                sampling[key] = str(value)
        args = spec.task_args or {}
        for name in ("tools", "tool_names"):
            if isinstance(args.get(name), list):
                tools.update(str(t) for t in args[name])
        meta = spec.metadata or {}
        version = meta.get("generator_version")
        if isinstance(version, str):
            generators[task_name(spec.task)] = version
        if isinstance(meta.get("tools"), list):
            tools.update(str(t) for t in meta["tools"])
    return Elicitation(
        scaffold="; ".join(sorted(scaffolds)) or None,
        tools=tuple(sorted(tools)),
        limits=limits,
        attempts=max(epochs) if epochs else base.attempts,
        sampling=sampling,
        inspect_version=", ".join(sorted(inspect_versions)) or None,
        prereview_version=base.prereview_version,
        generator_versions=generators,
    )


def load_evidence(
    db: Database,
    content: SubmissionContent,
    handle: AuthorizedSubmission,
    families: Iterable[str],
) -> ReviewEvidence:
    """Everything the report of the submission `handle` names is built from; the handle must
    be authorized for `report.read` or `report.read_sanitized` (the builder sanitizes)."""
    handle.check(Operation.REPORT_READ, Operation.REPORT_READ_SANITIZED)
    fams = frozenset(families)
    with db.session() as s:
        submission = s.get(SubmissionRow, handle.submission_id)
        if submission is None:
            raise UnknownReviewError(handle.reference)
        review = submission.review
        reader = _Reader(s, content, fams)
        model = ModelIdentity(
            name=submission.model_name,
            version=submission.model_version,
            developer=submission.organization.name,
            inspect_model=submission.model,
            base_url=submission.base_url,
            credential_reference=submission.api_key_env,
            release_date=submission.release_date,
        )
        sharing = SharingElection(share_sanitized=submission.confidentiality == SHARE_SANITIZED)
        submitted_on: date = submission.submitted_on
        if review is None:
            return ReviewEvidence(
                review_id=submission.id,
                state=submission.state,
                model=model,
                sharing=sharing,
                submitted_on=submitted_on,
                submission_id=submission.id,
                organization_id=submission.organization_id,
            )
        attempts = reader.attempts(submission.id, review.id)
        baselines = reader.baselines(submission.id, review.id)
        notes = installed_families().report_notes((a.family, a.task) for a in attempts)
        return ReviewEvidence(
            review_id=review.id,
            state=submission.state,
            model=model,
            elicitation=reader.elicitation(submission.id, review.id, attempts),
            attempts=attempts,
            baselines=baselines,
            method_notes=notes,
            references=reader.references(review, submission),
            runs=reader.runs(review.id),
            sharing=sharing,
            submitted_on=submitted_on,
            submission_id=submission.id,
            organization_id=submission.organization_id,
        )
