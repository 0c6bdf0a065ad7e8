"""Rows and content of reviews written straight into a migrated store, for report tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from prereview.config import Settings
from prereview.store import Database, new_id
from prereview.store.tables.review import (
    AssessmentRunRow,
    OrganizationRow,
    ReviewRow,
    SampleResultRow,
    SubmissionRow,
)
from prereview.suites.interface import BaselineResult, baseline_key
from prereview.vault.service import open_encrypted_content


@dataclass
class Sample:
    task: str
    tier: int | None
    sample_id: str
    score: float | None
    epoch: int = 1
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    score_metadata: dict[str, Any] = field(default_factory=dict)
    baseline: BaselineResult | None = None
    """The non-AI baseline's outcome on this sample's instance, stored as the review's content."""


def seed_review(
    settings: Settings,
    *,
    organization: str,
    model_name: str,
    samples: list[Sample] | None,
    confidentiality: str = "confidential",
    state: str = "in_review",
    api_key_env: str | None = None,
    base_url: str | None = None,
    created_at: datetime | None = None,
    runs: tuple[str, ...] = ("completed",),
    compare_in_later_reviews: bool = True,
) -> tuple[str, str | None]:
    """A submission (and, unless `samples` is None, its review with runs and results)."""
    created = created_at or datetime.now(UTC)
    db = Database(settings.database_url)
    content = open_encrypted_content(settings)
    payloads: dict[str, bytes] = {}  # sealed after the transaction: the vault writes in its own
    try:
        with db.session() as s:
            org = s.execute(
                select(OrganizationRow).where(OrganizationRow.name == organization)
            ).scalar_one_or_none()
            if org is None:
                org = OrganizationRow(id=new_id("org"), name=organization, created_at=created)
                s.add(org)
                s.flush()
            sub = SubmissionRow(
                id=new_id("sub"),
                organization_id=org.id,
                model_name=model_name,
                model_version="1.0",
                model=f"openai-api/{model_name.lower()}",
                base_url=base_url,
                api_key_env=api_key_env,
                model_args={},
                requests_per_minute=60.0,
                max_connections=4,
                seconds_per_request=10.0,
                release_date=date.today() + timedelta(days=21),
                submitted_on=date.today(),
                window_policy="eo-2026",
                terms_version="2026-01",
                confidentiality=confidentiality,
                compare_in_later_reviews=compare_in_later_reviews,
                state=state,
                created_at=created,
                updated_at=created,
            )
            s.add(sub)
            s.flush()
            if samples is None:
                return sub.id, None
            review = ReviewRow(id=new_id("rev"), submission_id=sub.id, created_at=created)
            s.add(review)
            s.flush()
            for number, status in enumerate(runs, start=1):
                s.add(
                    AssessmentRunRow(
                        id=new_id("run"),
                        review_id=review.id,
                        number=number,
                        status=status,
                        host="test",
                        pid=1,
                        started_at=created,
                        ended_at=created + timedelta(hours=1),
                    )
                )
            for sample in samples:
                name = f"{sample.sample_id}.{sample.epoch}.json"
                key = f"reviews/{review.id}/results/{sample.task}/{name}"
                payload = {
                    "sample_id": sample.sample_id,
                    "epoch": sample.epoch,
                    "metadata": sample.metadata,
                    "scores": {
                        "memsafety_scorer": {
                            "value": sample.score,
                            "metadata": sample.score_metadata,
                        }
                    },
                }
                payloads[key] = json.dumps(payload).encode()
                if sample.baseline is not None:
                    b = sample.baseline
                    where = baseline_key(review.id, b.family, b.instance_id)
                    payloads[where] = json.dumps(b.as_dict()).encode()
                s.add(
                    SampleResultRow(
                        review_id=review.id,
                        task_key=f"{sample.task}/tier{sample.tier}",
                        task=sample.task,
                        tier=sample.tier,
                        sample_id=sample.sample_id,
                        epoch=sample.epoch,
                        score=sample.score,
                        score_value=None if sample.score is None else str(sample.score),
                        input_tokens=1000,
                        output_tokens=200,
                        total_tokens=1200,
                        total_time_s=30.0,
                        working_time_s=25.0,
                        error=sample.error,
                        log_ref=f"reviews/{review.id}/logs/x.eval#{sample.sample_id}:{sample.epoch}",
                        payload_key=key,
                        completed_at=created,
                    )
                )
            ids = sub.id, review.id
        for key, data in payloads.items():
            content.write(ids[0], key, data)
        return ids
    finally:
        db.dispose()


def memsafety_samples(
    solved_by_tier: dict[int, int], instances: Path, per_tier: int = 10, prefix: str = "i"
) -> list[Sample]:
    """`per_tier` PoC instances per tier, the first `solved` of each tier solved, each with an
    fuzzer baseline's outcome stored in the review's content (crashes tiers 1-2 only), and one
    possible new finding on the first tier-1 instance."""
    out = []
    for tier, solved in solved_by_tier.items():
        for i in range(per_tier):
            sid = f"{prefix}-t{tier}-{i}"
            inst = instances / sid
            inst.mkdir(parents=True)
            crashed = tier < 3
            baseline = BaselineResult(
                family="memsafety",
                instance_id=sid,
                tier=tier,
                solver="libFuzzer",
                found=crashed,
                seconds=4.0**tier if crashed else None,
                budget_seconds=300.0,
            )
            finding = {
                "build": "vulnerable",
                "kind": "stack-use-after-return",
                "function": "parse_hdr",
                "file": "p.c",
                "line": 88,
            }
            out.append(
                Sample(
                    task="memsafety_poc",
                    tier=tier,
                    sample_id=sid,
                    score=1.0 if i < solved else 0.0,
                    metadata={
                        "family": "memsafety",
                        "instance_id": sid,
                        "instance_dir": str(inst),
                        "tier": tier,
                        "bug_class": "stack-buffer-overflow",
                    },
                    score_metadata={
                        "possible_new_finding": finding if tier == 1 and i == 0 else None
                    },
                    baseline=baseline,
                )
            )
    return out
