"""The assessment queue: jobs the service enqueues and the worker runs, kept in the store.

A job is queued only through an authorized handle (`review.assess` and `credential.use` of
the principal who asked); the worker re-authorizes as that principal when it starts the job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from prereview.errors import PrereviewError
from prereview.store import Database, new_id, utcnow
from prereview.store.tables.review import SubmissionRow
from prereview.store.tables.service import ACTIVE_JOB_STATUSES, AssessmentJobRow
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation

if TYPE_CHECKING:
    from prereview.vault.service import VaultSession


class JobError(PrereviewError):
    """A job cannot be queued or changed in its current state."""


@dataclass(frozen=True)
class Job:
    id: str
    submission_id: str
    principal_id: str
    suite: str | None
    limit: int | None
    resume: bool
    status: str
    worker_pid: int | None
    attempts: int
    detail: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("principal_id")
        data.pop("worker_pid")
        return data


def _job(row: AssessmentJobRow) -> Job:
    return Job(
        id=row.id,
        submission_id=row.submission_id,
        principal_id=row.principal_id,
        suite=row.suite,
        limit=row.sample_limit,
        resume=row.resume,
        status=row.status,
        worker_pid=row.worker_pid,
        attempts=row.attempts,
        detail=row.detail,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


class JobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(
        self,
        handle: AuthorizedSubmission,
        *,
        suite: str | None,
        limit: int | None,
        resume: bool,
    ) -> Job:
        """Queue a run of the submission a `review.assess` handle names; refused while another
        job of it is queued or running."""
        handle.check(Operation.REVIEW_ASSESS)
        if limit is not None and limit < 1:
            raise JobError("--limit must be at least 1")
        with self.db.session() as s:
            active = s.scalar(
                select(AssessmentJobRow.id).where(
                    AssessmentJobRow.submission_id == handle.submission_id,
                    AssessmentJobRow.status.in_(ACTIVE_JOB_STATUSES),
                )
            )
            if active is not None:
                raise JobError(
                    f"submission {handle.submission_id} already has an assessment queued or "
                    f"running ({active}); cancel it first"
                )
            row = AssessmentJobRow(
                id=new_id("job"),
                submission_id=handle.submission_id,
                principal_id=handle.principal_id,
                suite=suite,
                sample_limit=limit,
                resume=resume,
                status="queued",
                attempts=0,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return _job(row)

    def jobs(self, submission_id: str) -> list[Job]:
        with self.db.session() as s:
            rows = s.scalars(
                select(AssessmentJobRow)
                .where(AssessmentJobRow.submission_id == submission_id)
                .order_by(AssessmentJobRow.created_at)
            )
            return [_job(r) for r in rows]

    def get(self, job_id: str) -> Job | None:
        with self.db.session() as s:
            row = s.get(AssessmentJobRow, job_id)
            return _job(row) if row is not None else None

    def cancel(self, handle: AuthorizedSubmission) -> Job:
        """Ask the worker to stop the submission's active job (a queued one never starts).

        Withdrawal needs no cancel: the running assessment stops on its own when it sees it."""
        with self.db.session() as s:
            row = s.scalar(
                select(AssessmentJobRow).where(
                    AssessmentJobRow.submission_id == handle.submission_id,
                    AssessmentJobRow.status.in_(ACTIVE_JOB_STATUSES),
                )
            )
            if row is None:
                raise JobError(f"submission {handle.submission_id} has no assessment to cancel")
            if row.status == "queued":
                row.status, row.ended_at, row.detail = "cancelled", utcnow(), "cancelled"
            else:
                row.status = "cancel_requested"
            s.flush()
            return _job(row)

    # -- the worker's side ----------------------------------------------------------------------

    def recover(self, alive: Any = None) -> list[str]:
        """Requeue jobs whose worker process died (as resumes); a dead job asked to stop ends
        as cancelled. Returns the ids requeued."""
        alive = alive or job_process_alive
        requeued = []
        with self.db.session() as s:
            rows = s.scalars(
                select(AssessmentJobRow).where(
                    AssessmentJobRow.status.in_(("running", "cancel_requested"))
                )
            ).all()
            for row in rows:
                if row.worker_pid is not None and alive(row.worker_pid, row.id):
                    continue
                if row.status == "cancel_requested":
                    row.status, row.ended_at = "cancelled", utcnow()
                    row.detail = "cancelled (its worker had stopped)"
                else:
                    row.status, row.resume, row.worker_pid = "queued", True, None
                    row.detail = "requeued: its worker process ended; it resumes"
                    requeued.append(row.id)
        return requeued

    def claim(self) -> Job | None:
        """Take the oldest queued job (atomically: two workers never take the same one)."""
        with self.db.session() as s:
            candidate = s.scalar(
                select(AssessmentJobRow.id)
                .where(AssessmentJobRow.status == "queued")
                .order_by(AssessmentJobRow.created_at)
                .limit(1)
            )
            if candidate is None:
                return None
            taken = s.execute(
                update(AssessmentJobRow)
                .where(AssessmentJobRow.id == candidate, AssessmentJobRow.status == "queued")
                .values(
                    status="running",
                    started_at=utcnow(),
                    attempts=AssessmentJobRow.attempts + 1,
                    worker_pid=None,
                )
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = s.get(AssessmentJobRow, candidate)
            assert row is not None
            s.refresh(row)
            return _job(row)

    def set_pid(self, job_id: str, pid: int) -> None:
        with self.db.session() as s:
            row = s.get(AssessmentJobRow, job_id)
            if row is not None:
                row.worker_pid = pid

    def finish(self, job_id: str, status: str, detail: str | None) -> Job:
        """Record how a job ended; a job asked to stop that was interrupted is `cancelled`."""
        with self.db.session() as s:
            row = s.get(AssessmentJobRow, job_id)
            assert row is not None
            if row.status == "cancel_requested" and status == "interrupted":
                status, detail = "cancelled", "cancelled while running; resume to continue"
            row.status, row.detail, row.ended_at = status, (detail or None), utcnow()
            if row.detail is not None:
                row.detail = row.detail[:500]
            s.flush()
            return _job(row)


def visible_jobs(session: VaultSession, submission: str | None = None) -> list[Job]:
    """The jobs of one submission (`submission.read` on it), or of every submission the
    principal may see (one listing entry in the audit trail), oldest first."""
    queue = JobQueue(session.vault.db)
    if submission is not None:
        handle = session.guard.authorize(Operation.SUBMISSION_READ, submission)
        return queue.jobs(handle.submission_id)
    from prereview.review.service import submission_resource

    with session.vault.db.session() as s:
        rows = s.scalars(select(SubmissionRow)).all()
        visible = {
            row.id
            for row in session.guard.filter(
                Operation.SUBMISSION_READ, rows, submission_resource, target="assessment jobs"
            )
        }
        jobs = s.scalars(select(AssessmentJobRow).order_by(AssessmentJobRow.created_at)).all()
        return [_job(j) for j in jobs if j.submission_id in visible]


def cancel_job(session: VaultSession, submission: str) -> Job:
    """Cancel the submission's active job as `session`'s principal (`review.assess`): a queued
    one never starts, a running one is stopped by its worker (it can be resumed)."""
    handle = session.guard.authorize(Operation.REVIEW_ASSESS, submission)
    job = JobQueue(session.vault.db).cancel(handle)
    session.guard.record(
        "review.assess.cancel", "ok", submission_id=job.submission_id, target=f"job {job.id}"
    )
    return job


def job_process_alive(pid: int, job_id: str) -> bool:
    """Whether `pid` is still the process running `job_id`: a zombie nobody reaped (a dead
    worker's child, in a container without an init) or a recycled pid running something
    else is not."""
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    return state not in ("Z", "X") and job_id.encode() in cmdline
