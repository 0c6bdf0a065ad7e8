"""What sealed logs a review holds, from the result rows and the ciphertexts' sizes: listing
never decrypts anything.

Logs live in the submission's content store under `reviews/<review id>/logs/<file>.eval`
(`prereview.review.assessment`); each result row's `log_ref` names the file its sample is in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from prereview.errors import PrereviewError
from prereview.store.database import Database
from prereview.store.tables.review import SampleResultRow
from prereview.vault.content import EncryptedSubmissionContent
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation


class TranscriptError(PrereviewError):
    """A review, task or sample that has no log to open; says which."""


def log_prefix(review_id: str) -> str:
    return f"reviews/{review_id}/logs/"


@dataclass(frozen=True)
class LoggedSample:
    """One scored (or errored) sample-epoch recorded from a log."""

    task: str
    task_key: str
    sample_id: str
    epoch: int
    score: float | None
    score_value: str | None
    error: str | None


@dataclass(frozen=True)
class SealedLog:
    """One sealed Inspect log file of a review."""

    name: str
    key: str
    sealed_bytes: int
    samples: tuple[LoggedSample, ...]

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(sorted({s.task for s in self.samples} | {s.task_key for s in self.samples}))

    def as_dict(self) -> dict[str, object]:
        return {
            "log": self.name,
            "sealed_bytes": self.sealed_bytes,
            "tasks": sorted({s.task for s in self.samples}),
            "samples": [
                {
                    "task": s.task,
                    "task_key": s.task_key,
                    "sample": s.sample_id,
                    "epoch": s.epoch,
                    "score": s.score,
                    "score_value": s.score_value,
                    "error": s.error,
                }
                for s in self.samples
            ],
        }


@dataclass(frozen=True)
class ReviewLogs:
    submission_id: str
    review_id: str
    logs: tuple[SealedLog, ...]

    def select(self, task: str | None = None, sample: str | None = None) -> list[SealedLog]:
        """The logs to open: all, those of `task`, or those holding `sample` (of `task`).
        A task or sample this review has no log of is an error naming it."""
        if not self.logs:
            raise TranscriptError(f"review {self.review_id} has no sealed logs yet")
        chosen = list(self.logs)
        if task is not None:
            chosen = [log for log in chosen if task in log.tasks]
            if not chosen:
                raise TranscriptError(f"review {self.review_id} has no log of task {task!r}")
        if sample is not None:
            chosen = [log for log in chosen if any(s.sample_id == sample for s in log.samples)]
            if not chosen:
                where = f" of task {task!r}" if task is not None else ""
                raise TranscriptError(
                    f"review {self.review_id} has no logged sample {sample!r}{where}"
                )
        return chosen


def _file_of(log_ref: str, prefix: str) -> str | None:
    path = log_ref.partition("#")[0]
    return path[len(prefix) :] if path.startswith(prefix) else None


def review_logs(
    db: Database, content: EncryptedSubmissionContent, handle: AuthorizedSubmission
) -> ReviewLogs:
    """The sealed logs of the review `handle` was authorized for (`logs.read` or
    `logs.export`), with the samples recorded from each."""
    handle.check(Operation.LOGS_READ, Operation.LOGS_EXPORT)
    if handle.review_id is None:
        raise TranscriptError(f"submission {handle.submission_id} has no review yet")
    prefix = log_prefix(handle.review_id)
    with db.session() as s:
        rows: Iterable[SampleResultRow] = s.scalars(
            select(SampleResultRow)
            .where(SampleResultRow.review_id == handle.review_id)
            .order_by(SampleResultRow.id)
        ).all()
    by_file: dict[str, list[LoggedSample]] = {}
    for r in rows:
        name = _file_of(r.log_ref, prefix)
        if name is None:
            continue
        by_file.setdefault(name, []).append(
            LoggedSample(r.task, r.task_key, r.sample_id, r.epoch, r.score, r.score_value, r.error)
        )
    logs = []
    for key in content.keys(handle.submission_id, prefix):
        name = key[len(prefix) :]
        if not name.endswith(".eval") or "/" in name:
            continue
        size = len(content.inner.read(handle.submission_id, key))  # ciphertext, not opened
        logs.append(SealedLog(name, key, size, tuple(by_file.get(name, ()))))
    return ReviewLogs(handle.submission_id, handle.review_id, tuple(logs))
