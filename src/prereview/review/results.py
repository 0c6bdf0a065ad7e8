"""Per-sample results: from Inspect's `EvalSample` to a row (numbers, log reference) plus a
payload (answer, scorer explanations, metadata) kept as submission content.

Recording is idempotent per (review, task, sample, epoch): the first record of a sample wins and
later ones only refresh its log reference (a resumed task is rewritten into a new log file), so
live recording from the hook and re-ingesting the logs afterwards never double-count.

Recording is ordered against crypto-shredding: the rows are inserted in a transaction that holds
the submission's data key (`DataKeyRing.hold`); once the key is destroyed nothing is recorded
(ShreddedError), and what was recorded just before is purged by the shred.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalLog, EvalSample, list_eval_logs, read_eval_log
from inspect_ai.scorer import value_to_float
from sqlalchemy import select
from sqlalchemy.orm import Session

from prereview.domain.verdicts import UNKNOWN_PREFIX
from prereview.review.views import SampleFigures
from prereview.store import Database, utcnow
from prereview.store.content import SubmissionContent
from prereview.store.tables.review import SampleResultRow
from prereview.suites.interface import is_unknown
from prereview.vault.datakeys import DataKeyRing
from prereview.vault.errors import ShreddedError

PLAN_ITEM_METADATA = "prereview_item"
"""Task metadata key naming the plan item a task runs (set when the assessment builds tasks)."""

logger = logging.getLogger(__name__)
_to_float = value_to_float()
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class SampleOutcome(SampleFigures):
    payload: dict[str, Any]


def is_final(sample: EvalSample) -> bool:
    """A sample that finished (scored, or failed with an error of its own). One cancelled by an
    interruption is not: it runs again on resume."""
    if sample.error is not None:
        return (
            "CancelledError" not in sample.error.message
            and "cancelled" not in (sample.error.message.lower()[:40])
        )
    return bool(sample.scores)


def outcome_of(
    sample: EvalSample, task_key: str, task: str, tier: int | None, log_ref: str
) -> SampleOutcome:
    score: float | None = None
    score_value: str | None = None
    scores = sample.scores or {}
    if scores:
        first = next(iter(scores.values()))
        score_value = json.dumps(first.value) if not isinstance(first.value, str) else first.value
        try:
            score = float(_to_float(first.value))
        except (TypeError, ValueError):
            score = None
        if is_unknown(first.metadata):
            score = None  # the scorer could not decide: neither a success nor a failure
    usage = list((sample.model_usage or {}).values())
    meta_tier = (sample.metadata or {}).get("tier")
    return SampleOutcome(
        task_key=task_key,
        task=task,
        tier=meta_tier if isinstance(meta_tier, int) else tier,
        sample_id=str(sample.id),
        epoch=sample.epoch,
        score=score,
        score_value=score_value[:200] if score_value else None,
        input_tokens=sum(u.input_tokens for u in usage),
        output_tokens=sum(u.output_tokens for u in usage),
        total_tokens=sum(u.total_tokens for u in usage),
        total_time_s=sample.total_time,
        working_time_s=sample.working_time,
        error=sample.error.message.strip().splitlines()[0][:500]
        if sample.error
        else (
            f"{UNKNOWN_PREFIX}{first.explanation or ''}"[:500]
            if scores and is_unknown(first.metadata)
            else None
        ),
        log_ref=log_ref,
        payload={
            "task_key": task_key,
            "sample_id": str(sample.id),
            "epoch": sample.epoch,
            "target": sample.target,
            "answer": sample.output.completion if sample.output else None,
            "scores": {
                name: {
                    "value": s.value,
                    "answer": s.answer,
                    "explanation": s.explanation,
                    "metadata": s.metadata,
                }
                for name, s in scores.items()
            },
            "metadata": sample.metadata,
            "limit": sample.limit.model_dump() if sample.limit else None,
            "error": sample.error.message if sample.error else None,
        },
    )


def payload_key(review_id: str, task_key: str, sample_id: str, epoch: int) -> str:
    def safe(part: str) -> str:
        cleaned = _SAFE.sub("_", part)[:80]
        if cleaned != part:
            cleaned += "-" + hashlib.sha256(part.encode()).hexdigest()[:8]
        return cleaned

    return f"reviews/{review_id}/results/{safe(task_key)}/{safe(sample_id)}.{epoch}.json"


def record_outcomes(
    db: Database,
    content: SubmissionContent,
    submission_id: str,
    review_id: str,
    run_id: str | None,
    outcomes: list[SampleOutcome],
    *,
    keys: DataKeyRing,
) -> int:
    """Store outcomes not yet recorded; refresh log references of known ones. Returns how many
    were new. ShreddedError, with nothing stored, once the submission's key is destroyed.

    Payloads are written between the two transactions, never inside one: the vault seals and
    audits each write in a transaction of its own, which on SQLite would wait for ours."""

    def existing(s: Session, o: SampleOutcome) -> SampleResultRow | None:
        return s.execute(
            select(SampleResultRow).where(
                SampleResultRow.review_id == review_id,
                SampleResultRow.task_key == o.task_key,
                SampleResultRow.sample_id == o.sample_id,
                SampleResultRow.epoch == o.epoch,
            )
        ).scalar_one_or_none()

    if not outcomes:
        return 0
    fresh: list[SampleOutcome] = []
    with db.session() as s:
        for o in outcomes:
            known = existing(s, o)
            if known is not None:
                known.log_ref = o.log_ref
            else:
                fresh.append(o)
    for o in fresh:
        key = payload_key(review_id, o.task_key, o.sample_id, o.epoch)
        content.write(submission_id, key, json.dumps(o.payload, default=str, indent=1).encode())
    new = 0
    with db.session() as s:
        if fresh and not keys.hold(s, submission_id):  # shredded meanwhile: store nothing
            raise ShreddedError(submission_id, "withdrawn or expired")
        for o in fresh:
            if existing(s, o) is not None:  # recorded meanwhile (hook and log re-read race)
                continue
            key = payload_key(review_id, o.task_key, o.sample_id, o.epoch)
            s.add(
                SampleResultRow(
                    review_id=review_id,
                    run_id=run_id,
                    task_key=o.task_key,
                    task=o.task,
                    tier=o.tier,
                    sample_id=o.sample_id,
                    epoch=o.epoch,
                    score=o.score,
                    score_value=o.score_value,
                    input_tokens=o.input_tokens,
                    output_tokens=o.output_tokens,
                    total_tokens=o.total_tokens,
                    total_time_s=o.total_time_s,
                    working_time_s=o.working_time_s,
                    error=o.error,
                    log_ref=o.log_ref,
                    payload_key=key,
                    completed_at=utcnow(),
                )
            )
            new += 1
    return new


def log_ref(log_key: str, log_file: str, sample_id: str, epoch: int) -> str:
    return f"{log_key}/{Path(log_file).name}#{sample_id}:{epoch}"


def outcomes_in_logs(
    log_dir: Path, log_key: str, tiers: dict[str, int | None]
) -> tuple[list[SampleOutcome], list[EvalLog]]:
    """Every final sample in the review's log dir (only tasks of the plan), and the headers."""
    outcomes: list[SampleOutcome] = []
    headers: list[EvalLog] = []
    for info in list_eval_logs(str(log_dir), recursive=False):
        try:
            log = read_eval_log(info)
        except Exception as exc:  # truncated by a crash: its samples run again on resume
            logger.warning("skipping unreadable log %s: %s", info.name, type(exc).__name__)
            continue
        key = (log.eval.metadata or {}).get(PLAN_ITEM_METADATA)
        if key not in tiers:
            continue
        headers.append(log)
        for sample in log.samples or []:
            if is_final(sample):
                ref = log_ref(log_key, info.name, str(sample.id), sample.epoch)
                outcomes.append(outcome_of(sample, key, log.eval.task, tiers[key], ref))
    return outcomes, headers
