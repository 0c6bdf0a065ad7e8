"""The review workflow over the store: submit, inspect, plan, withdraw, deliver findings, close.

Every state change goes through `prereview.domain.lifecycle.apply_transition` with an `Actor`, and
is recorded in the submission's history in the same transaction as the change. Validation
happens before anything is written, and each call is one transaction: a refused request stores
nothing.

Each service acts for one authenticated principal (a `VaultSession`): every call is decided by the
vault's access policy and recorded in its audit trail, content is sealed with the submission's
data key, the API key named at submit is read once and sealed (never shown again), and a
withdrawal crypto-shreds everything of the submission.
"""

from __future__ import annotations

import json
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from prereview.config import Settings
from prereview.domain.lifecycle import Actor, SubmissionState, apply_transition
from prereview.domain.submission import (
    CURRENT_TERMS_VERSION,
    Confidentiality,
    InvalidSubmissionError,
    ModelAccess,
    Throughput,
)
from prereview.domain.window import load_policies
from prereview.planning.catalog import default_suite, get_suite, resolve_task
from prereview.planning.planner import AssessmentPlan, PlanningPolicy, plan_assessment
from prereview.review.errors import AssessmentError, CredentialMissingError
from prereview.review.views import (
    ReviewRecord,
    RunRecord,
    SampleResult,
    StateChange,
    SubmissionRecord,
    TaskProgress,
)
from prereview.store import Database, new_id, utcnow
from prereview.store.content import SubmissionContent
from prereview.store.tables.review import (
    AssessmentRunRow,
    OrganizationRow,
    ReviewRow,
    SampleResultRow,
    SubmissionEventRow,
    SubmissionRow,
)
from prereview.suites.interface import BaselineResult, PlannedRun, baseline_key
from prereview.suites.registry import installed_families
from prereview.vault.errors import AccessDeniedError
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation, Resource, ResourceKind
from prereview.vault.service import VaultSession, open_session

SubmissionReference = str | AuthorizedSubmission
"""What a service call takes: an id as a person typed it (authorized in the same call, through
the vault's one resolver) or a handle already authorized for this principal. Rows are only ever
loaded from a handle (`_row`)."""


@dataclass(frozen=True)
class SubmissionRequest:
    """What a developer organization submits. Validated as a whole before anything is stored."""

    organization: str
    access: ModelAccess
    release_date: date
    policy: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    throughput: Throughput | None = None
    confidentiality: Confidentiality = Confidentiality.CONFIDENTIAL
    # whether this review's results may stand beside the developer's later models in their reports
    compare_in_later_reviews: bool = True
    terms_version: str = CURRENT_TERMS_VERSION
    model_args: dict[str, Any] = field(default_factory=dict)


def _record_event(
    session: Session,
    row: SubmissionRow,
    action: str,
    before: SubmissionState | None,
    after: SubmissionState,
    actor: Actor,
) -> None:
    session.add(
        SubmissionEventRow(
            submission_id=row.id,
            action=action,
            from_state=before.value if before else None,
            to_state=after.value,
            actor=actor.name,
            role=actor.role.value,
            at=utcnow(),
        )
    )


def check_model_available(access: ModelAccess) -> None:
    """Refuse a model this host cannot run: an embedded or GGUF model (`local/…`) must exist
    and be a GGUF file. Remote models are only reached when assessed."""
    if access.model.startswith("local/"):
        from prereview.models.catalog import resolve_model

        resolve_model(access.model.removeprefix("local/"))


def submission_resource(row: SubmissionRow) -> Resource:
    """What the access policy needs to know about a submission row."""
    return Resource(
        ResourceKind.SUBMISSION,
        submission_id=row.id,
        organization_id=row.organization_id,
        review_id=row.review.id if row.review is not None else None,
        confidentiality=Confidentiality(row.confidentiality),
    )


def transition(session: Session, row: SubmissionRow, action: str, actor: Actor) -> SubmissionState:
    """Apply a lifecycle action to a row inside the caller's transaction."""
    before = SubmissionState(row.state)
    after = apply_transition(action, before, actor, row.organization.name)
    row.state = after.value
    _record_event(session, row, action, before, after, actor)
    return after


class ReviewService:
    """The workflow of one install, for one principal. Open with `ReviewService.open(settings)`
    (authenticates with PREREVIEW_TOKEN or the config file's token) or pass the `session`; use
    as a context manager or call `dispose()`."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        content: SubmissionContent,
        clock: Callable[[], datetime] = utcnow,
        *,
        access: VaultSession,
    ) -> None:
        self.settings = settings
        self.db = db
        self.content = content
        self.clock = clock
        self.access = access
        self.policies = load_policies(settings.extra.get("window_policies"))

    @classmethod
    def open(
        cls,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        session: VaultSession | None = None,
    ) -> ReviewService:
        session = session or open_session(settings)
        return cls(settings, session.vault.db, session.content, clock, access=session)

    def acting_as(self, session: VaultSession) -> ReviewService:
        """The same install, for another principal (shares the database and vault)."""
        return ReviewService(self.settings, self.db, session.content, self.clock, access=session)

    def dispose(self) -> None:
        self.access.vault.close()

    def __enter__(self) -> ReviewService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    # -- submissions ---------------------------------------------------------------------------

    def submit(
        self,
        request: SubmissionRequest,
        actor: Actor | None = None,
        *,
        credential: str | None = None,
    ) -> SubmissionRecord:
        """Create the submission and submit it in one transaction (draft → submitted).

        `credential`: the API key itself, when it arrived in a request body (the service)
        rather than in the environment variable `api_key_env` names (the CLI)."""
        org_name = " ".join(request.organization.split())
        if not org_name or len(org_name) > 200:
            raise InvalidSubmissionError("organization name must be 1 to 200 characters")
        actor = actor or self.access.principal.actor()
        today = self.clock().date()
        policy = self.policies.get(request.policy)
        policy.check(today, request.release_date)
        check_model_available(request.access)
        throughput = request.throughput or Throughput.default_for(request.access.model)
        model_name = request.model_name or request.access.model.split("/", 1)[1]
        secret = credential if credential is not None else self._read_credential(request)
        with self.db.session() as s:
            org = s.execute(
                select(OrganizationRow).where(OrganizationRow.name == org_name)
            ).scalar_one_or_none()
            self.access.guard.require(
                Operation.SUBMISSION_CREATE,
                Resource(
                    ResourceKind.SUBMISSION,
                    organization_id=org.id if org is not None else None,
                    exists=False,
                ),
                target=f"new submission for {org_name}",
            )
            if org is None:
                org = OrganizationRow(id=new_id("org"), name=org_name, created_at=self.clock())
                s.add(org)
                s.flush()
            row = SubmissionRow(
                id=new_id("sub"),
                organization=org,
                model_name=model_name,
                model_version=request.model_version,
                model=request.access.model,
                base_url=request.access.base_url,
                api_key_env=request.access.api_key_env,
                model_args=dict(request.model_args) or None,
                requests_per_minute=throughput.requests_per_minute,
                max_connections=throughput.max_connections,
                seconds_per_request=throughput.seconds_per_request,
                release_date=request.release_date,
                submitted_on=today,
                window_policy=policy.name,
                terms_version=request.terms_version,
                confidentiality=request.confidentiality.value,
                compare_in_later_reviews=request.compare_in_later_reviews,
                state=SubmissionState.DRAFT.value,
                created_at=self.clock(),
            )
            s.add(row)
            s.flush()  # events reference the row; no ORM relationship orders the inserts
            _record_event(s, row, "create", None, SubmissionState.DRAFT, actor)
            transition(s, row, "submit", actor)
            s.flush()
            record = self._record(s, row)
        self.access.guard.record(
            "submission.submit",
            "ok",
            submission_id=record.id,
            target=f"submission {record.id}",
            detail={"to": record.state.value, "credential": secret is not None},
        )
        if secret is not None:
            self.access.store_credential(record.id, secret)
        return record

    @staticmethod
    def _read_credential(request: SubmissionRequest) -> str | None:
        """The API key named by `--api-key-env`, read once, here; it is sealed in the vault and
        never shown again (assessments decrypt it in memory for Inspect)."""
        name = request.access.api_key_env
        if name is None:
            return None
        value = os.environ.get(name)
        if not value:
            raise CredentialMissingError(
                f"environment variable {name} (the API key to submit) is not set: the key is "
                "read once, at submit, and stored encrypted"
            )
        return value

    def require(self, ident: SubmissionReference, operation: Operation) -> AuthorizedSubmission:
        """The handle of submission `ident` for `operation`; AccessDeniedError (audited) on any
        refusal, an unknown or non-canonical id included."""
        return self.access.guard.authorize(operation, ident)

    def _require(
        self, s: Session, ident: SubmissionReference, operation: Operation
    ) -> SubmissionRow:
        """The row of `ident`, if the principal may do `operation` on it (audited either way)."""
        return self._row(s, self.require(ident, operation), operation)

    def get(self, ident: SubmissionReference) -> SubmissionRecord:
        """The status view of `ident` (authorized and audited like every read).

        Read with Core statements on one connection (the submission with its organization and
        review id in one row, then its history): a status read is the service's hottest path,
        and ORM sessions and objects were a visible share of its CPU."""
        handle = self.require(ident, Operation.SUBMISSION_READ)
        handle.check(Operation.SUBMISSION_READ)
        with self.db.engine.connect() as conn:
            row = conn.execute(_STATUS, {"ident": handle.submission_id}).first()
            if row is None:  # deleted since it was authorized: refuse, never guess
                raise AccessDeniedError(
                    f"access denied: {Operation.SUBMISSION_READ.value} on {handle.label}"
                )
            history = [StateChange(*e) for e in conn.execute(_HISTORY, {"ident": row.id})]
        review = None
        if row.review_id is not None:
            with self.db.session() as s:
                review_row = s.get(ReviewRow, row.review_id)
                review = review_record(s, review_row) if review_row is not None else None
        return _snapshot(row, row.organization_name, history, review)

    def submissions(self) -> list[SubmissionRecord]:
        """The submissions the principal may see (one audit entry for the listing)."""
        # Core rows (submission, organization name, review id) decide visibility; only the
        # visible submissions' reviews are loaded (no lazy load per row, visible or not)
        with self.db.engine.connect() as conn:
            rows = conn.execute(_LISTING).all()
        visible = self.access.guard.filter(
            Operation.SUBMISSION_READ, rows, _listed_resource, target="submissions"
        )
        reviews: dict[str, ReviewRecord] = {}
        wanted = [row.review_id for row in visible if row.review_id is not None]
        if wanted:
            with self.db.session() as s:
                for review_row in s.scalars(select(ReviewRow).where(ReviewRow.id.in_(wanted))):
                    reviews[review_row.id] = review_record(s, review_row)
        return [
            _snapshot(row, row.organization_name, [], reviews.get(row.review_id or ""))
            for row in visible
        ]

    def withdraw(self, ident: SubmissionReference, actor: Actor | None = None) -> SubmissionRecord:
        """Withdraw the submission (its organization only; any state before closed), then
        crypto-shred its content: its data key is destroyed, its ciphertexts deleted.

        A running assessment notices within seconds and stops cleanly."""
        record = self._act(ident, "withdraw", actor, Operation.SUBMISSION_WITHDRAW)
        self.access.shred(record.id, "withdrawn")
        return record

    def deliver_findings(
        self, ident: SubmissionReference, actor: Actor | None = None
    ) -> SubmissionRecord:
        return self._act(ident, "deliver_findings", actor, Operation.REVIEW_CLOSE)

    def close(self, ident: SubmissionReference, actor: Actor | None = None) -> SubmissionRecord:
        return self._act(ident, "close", actor, Operation.REVIEW_CLOSE)

    def _act(
        self, ident: SubmissionReference, action: str, actor: Actor | None, operation: Operation
    ) -> SubmissionRecord:
        with self.db.session() as s:
            row = self._require(s, ident, operation)
            before = row.state
            transition(s, row, action, actor or self.access.principal.actor())
            s.flush()
            record = self._record(s, row, detail=True)
        self.access.guard.record(
            f"submission.{action}",
            "ok",
            submission_id=record.id,
            target=f"submission {record.id}",
            detail={"from": before, "to": record.state.value},
        )
        return record

    # -- plans and results ---------------------------------------------------------------------

    def plan(
        self,
        ident: SubmissionReference,
        suite: str | None = None,
        limit: int | None = None,
        policy: PlanningPolicy | None = None,
    ) -> AssessmentPlan:
        """Plan (or re-plan, while nothing has run) the review's assessment and store the plan."""
        if limit is not None and limit < 1:
            raise AssessmentError("--limit must be at least 1")
        chosen = get_suite(suite or default_suite())
        with self.db.session() as s:
            row = self._require(s, ident, Operation.REVIEW_ASSESS)
            state = SubmissionState(row.state)
            if state not in (SubmissionState.SUBMITTED, SubmissionState.IN_REVIEW):
                raise AssessmentError(f"submission {row.id} is {state.value}: it cannot be planned")
            review = self._review_row(s, row)
            if s.execute(
                select(AssessmentRunRow.id).where(AssessmentRunRow.review_id == review.id)
            ).first():
                raise AssessmentError(
                    f"review {review.id} has already run; its plan is fixed "
                    f"(continue with `prereview assess {row.id} --resume`)"
                )
            plan = plan_assessment(
                chosen,
                Throughput(row.requests_per_minute, row.max_connections, row.seconds_per_request),
                row.release_date,
                self.clock(),
                limit=limit,
                policy=policy,
            )
            if not plan.tasks:
                reasons = "; ".join(f"{d.key}: {d.reason}" for d in plan.dropped)
                raise AssessmentError(
                    f"nothing of suite {chosen.name!r} fits before the release date: {reasons}"
                )
            review.suite = chosen.name
            review.plan = plan.to_dict()
            review.planned_at = plan.planned_at
            return plan

    def begin_run(self, submission_id: str, *, resumed: bool) -> tuple[str, str, int]:
        """Bookkeeping of a run about to start, in one transaction: the submission enters
        review (first run; audited), runs whose process died are marked interrupted, and a new
        `running` row is added. Returns (review id, run id, run number)."""
        with self.db.session() as s:
            row = self._require(s, submission_id, Operation.REVIEW_ASSESS)
            if row.review is None:
                raise AssessmentError(f"submission {row.id} has no plan to run")
            if row.state == SubmissionState.SUBMITTED.value:
                transition(s, row, "start_review", self.access.principal.actor())
                self.access.guard.record(
                    "submission.start_review",
                    "ok",
                    submission_id=row.id,
                    target=f"submission {row.id}",
                    detail={"from": "submitted", "to": "in_review"},
                )
            review_id = row.review.id
            previous = (
                s.execute(select(AssessmentRunRow).where(AssessmentRunRow.review_id == review_id))
                .scalars()
                .all()
            )
            for stale in previous:
                if stale.status == "running":  # its process died (SIGKILL, restart)
                    stale.status = "interrupted"
                    stale.ended_at = utcnow()
                    stale.detail = "the process ended without finishing (killed or restarted)"
            run = AssessmentRunRow(
                id=new_id("run"),
                review_id=review_id,
                number=len(previous) + 1,
                status="running",
                resumed=resumed,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=utcnow(),
            )
            s.add(run)
            s.flush()
            return review_id, run.id, run.number

    def end_run(self, run_id: str, status: str, detail: str | None) -> None:
        """Record how a run ended."""
        with self.db.session() as s:
            run = s.get(AssessmentRunRow, run_id)
            if run is None:
                raise AssessmentError(f"no assessment run {run_id!r}")
            run.status = status
            run.ended_at = utcnow()
            run.detail = detail

    def run_baselines(self, ident: SubmissionReference, budget_s: float) -> list[BaselineResult]:
        """Each task family's non-AI baseline on the instances the review's plan served, sealed
        in the review's content (`baseline_key`) where the report reads it."""
        with self.db.session() as s:
            row = self._require(s, ident, Operation.REVIEW_ASSESS)
            if row.review is None or not row.review.plan:
                raise AssessmentError(f"submission {row.id} has no plan: nothing to compare")
            submission_id, review_id = row.id, row.review.id
            plan = AssessmentPlan.from_dict(row.review.plan)
        by_family: dict[str, list[PlannedRun]] = {}
        for item in plan.tasks:
            factory = resolve_task(item.factory)
            by_family.setdefault(factory.family, []).append(PlannedRun(factory, item.args))
        families = installed_families()
        results = [
            result
            for name, runs in by_family.items()
            for result in families.get(name).run_baseline(runs, budget_s)
        ]
        for result in results:
            key = baseline_key(review_id, result.family, result.instance_id)
            self.content.write(submission_id, key, json.dumps(result.as_dict()).encode())
        return results

    def results(self, ident: SubmissionReference) -> list[SampleResult]:
        with self.db.session() as s:
            row = self._require(s, ident, Operation.RESULTS_READ)
            if row.review is None:
                return []
            rows = s.execute(
                select(SampleResultRow)
                .where(SampleResultRow.review_id == row.review.id)
                .order_by(SampleResultRow.id)
            ).scalars()
            return [_sample_result(r) for r in rows]

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _row(s: Session, handle: AuthorizedSubmission, operation: Operation) -> SubmissionRow:
        """The row a handle authorized for `operation` names (never a row from a raw id)."""
        handle.check(operation)
        row = s.get(SubmissionRow, handle.submission_id)
        if row is None:  # deleted since it was authorized: refuse, never guess
            raise AccessDeniedError(f"access denied: {operation.value} on {handle.label}")
        return row

    def _review_row(self, s: Session, row: SubmissionRow) -> ReviewRow:
        if row.review is None:
            row.review = ReviewRow(id=new_id("rev"), submission_id=row.id, created_at=self.clock())
            s.flush()
        return row.review

    def _record(self, s: Session, row: SubmissionRow, detail: bool = False) -> SubmissionRecord:
        history: list[StateChange] = []
        if detail:
            history = [StateChange(*e) for e in s.execute(_HISTORY, {"ident": row.id})]
        review = review_record(s, row.review) if row.review is not None else None
        return _snapshot(row, row.organization.name, history, review)


_LISTING = (
    select(
        SubmissionRow.__table__,
        OrganizationRow.name.label("organization_name"),
        ReviewRow.id.label("review_id"),
    )
    .join(OrganizationRow, OrganizationRow.id == SubmissionRow.organization_id)
    .outerjoin(ReviewRow, ReviewRow.submission_id == SubmissionRow.id)
    .order_by(SubmissionRow.created_at)
)
"""Every submission with its organization's name and its review's id, one row each."""
_STATUS = _LISTING.where(SubmissionRow.id == bindparam("ident"))
"""One submission as `_LISTING` has it (built once)."""
_HISTORY = (
    select(
        SubmissionEventRow.action,
        SubmissionEventRow.from_state,
        SubmissionEventRow.to_state,
        SubmissionEventRow.actor,
        SubmissionEventRow.role,
        SubmissionEventRow.at,
    )
    .where(SubmissionEventRow.submission_id == bindparam("ident"))
    .order_by(SubmissionEventRow.id)
)
"""A submission's lifecycle events in order, as `StateChange` fields."""


def _listed_resource(row: Any) -> Resource:
    """`submission_resource` of a `_LISTING` row."""
    return Resource(
        ResourceKind.SUBMISSION,
        submission_id=row.id,
        organization_id=row.organization_id,
        review_id=row.review_id,
        confidentiality=Confidentiality(row.confidentiality),
    )


def _snapshot(
    row: Any, organization: str, history: list[StateChange], review: ReviewRecord | None
) -> SubmissionRecord:
    """The record of a submission row (an ORM row or a Core row of `_STATUS`)."""
    return SubmissionRecord(
        id=row.id,
        organization=organization,
        model_name=row.model_name,
        model_version=row.model_version,
        model=row.model,
        base_url=row.base_url,
        api_key_env=row.api_key_env,
        model_args=dict(row.model_args or {}),
        requests_per_minute=row.requests_per_minute,
        max_connections=row.max_connections,
        seconds_per_request=row.seconds_per_request,
        release_date=row.release_date,
        submitted_on=row.submitted_on,
        window_policy=row.window_policy,
        terms_version=row.terms_version,
        confidentiality=row.confidentiality,
        compare_in_later_reviews=row.compare_in_later_reviews,
        state=SubmissionState(row.state),
        created_at=row.created_at,
        history=history,
        review=review,
    )


def _sample_result(r: SampleResultRow) -> SampleResult:
    return SampleResult(
        task_key=r.task_key,
        task=r.task,
        tier=r.tier,
        sample_id=r.sample_id,
        epoch=r.epoch,
        score=r.score,
        score_value=r.score_value,
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        total_tokens=r.total_tokens,
        total_time_s=r.total_time_s,
        working_time_s=r.working_time_s,
        error=r.error,
        log_ref=r.log_ref,
        payload_key=r.payload_key,
        run_id=r.run_id,
        completed_at=r.completed_at,
    )


def review_record(s: Session, review: ReviewRow) -> ReviewRecord:
    plan = AssessmentPlan.from_dict(review.plan) if review.plan else None
    runs = s.execute(
        select(AssessmentRunRow)
        .where(AssessmentRunRow.review_id == review.id)
        .order_by(AssessmentRunRow.number)
    ).scalars()
    results = s.execute(
        select(SampleResultRow).where(SampleResultRow.review_id == review.id)
    ).scalars()
    by_task: dict[str, list[SampleResultRow]] = defaultdict(list)
    for r in results:
        by_task[r.task_key].append(r)
    progress = []
    for task in plan.tasks if plan else []:
        done = by_task.get(task.key, [])
        scored = [r.score for r in done if r.score is not None]
        progress.append(
            TaskProgress(
                key=task.key,
                tier=task.tier,
                planned=task.samples,
                done=len(done),
                errors=sum(1 for r in done if r.error),
                mean_score=sum(scored) / len(scored) if scored else None,
                total_tokens=sum(r.total_tokens for r in done),
                total_time_s=sum(r.total_time_s or 0.0 for r in done),
            )
        )
    return ReviewRecord(
        id=review.id,
        suite=review.suite,
        plan=plan,
        planned_at=review.planned_at,
        report_key=review.report_key,
        runs=[
            RunRecord(
                r.id,
                r.number,
                r.status,
                r.resumed,
                r.host,
                r.pid,
                r.started_at,
                r.ended_at,
                r.detail,
            )
            for r in runs
        ],
        progress=progress,
    )
