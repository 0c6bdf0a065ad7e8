"""Constructed review evidence for report tests: a known model, references, baselines, crashes."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime

from prereview.domain.submission import Confidentiality
from prereview.reports.evidence import (
    Attempt,
    BaselineOutcome,
    CrashObservation,
    Elicitation,
    LogReference,
    ModelIdentity,
    ReferenceRun,
    ReviewEvidence,
    RunRecord,
    SharingElection,
)
from prereview.vault.sharing import SourceFacts

DEVELOPER_ORG = "org-quill"
AGENCY_REFERENCE = SourceFacts(
    "sub-agencyref",
    "org-agency",
    Confidentiality.SHARE_SANITIZED,
    compare_in_later_reviews=True,
)
"""An agency reference model's review: another organization, shared and consenting."""
DEVELOPER_PRIOR = SourceFacts(
    "sub-prior", DEVELOPER_ORG, Confidentiality.CONFIDENTIAL, compare_in_later_reviews=True
)
"""The developer's earlier model: confidential, compared only in its own organization."""
MODEL_NAME = "Zephyrine-Ultra"
MODEL_VERSION = "7b-rc3"
DEVELOPER = "Quillfeather Labs"
CREDENTIAL_ENV = "QUILLFEATHER_API_KEY"
ENDPOINT = "https://svc-user:hunter2@api.quillfeather.example/v1?token=abc123"
PRIOR_MODEL = "Zephyrine-Pro 6"


def model_identity() -> ModelIdentity:
    return ModelIdentity(
        name=MODEL_NAME,
        version=MODEL_VERSION,
        developer=DEVELOPER,
        inspect_model="openai-api/quillfeather/zephyrine-ultra-7b-rc3",
        base_url=ENDPOINT,
        credential_reference=CREDENTIAL_ENV,
        release_date=date(2026, 12, 20),
    )


def elicitation() -> Elicitation:
    return Elicitation(
        scaffold="basic_agent (ReAct loop, submit tool)",
        tools=("bash", "python", "submit"),
        limits={"message_limit": "60", "token_limit": "200000", "time_limit": "1800 s"},
        attempts=3,
        sampling={"temperature": "0.7", "max_tokens": "4096", "seed": "42"},
        inspect_version="0.3.285",
        prereview_version="0.1.0",
        generator_versions={"memsafety": "1.0.0"},
    )


def attempts_for(
    skill: float,
    *,
    tiers: tuple[int, ...] = (1, 2, 3, 4, 5),
    per_tier: int = 10,
    epochs: int = 3,
    seed: int = 0,
    task: str = "memsafety_poc",
    prefix: str = "inst",
    log: str = "logs/review/memsafety_poc.eval",
    crashes: bool = True,
) -> tuple[Attempt, ...]:
    """Attempts whose success falls with tier around `skill` (the 50% tier)."""
    rng = random.Random(seed)
    out: list[Attempt] = []
    for tier in tiers:
        p = 1.0 / (1.0 + math.exp(1.8 * (tier - skill)))
        for i in range(per_tier):
            instance = f"{prefix}-t{tier}-{i:02d}"
            for epoch in range(1, epochs + 1):
                errored = rng.random() < 0.03
                success = None if errored else rng.random() < p
                new = ()
                if crashes and tier == 3 and i == 0 and epoch == 1:
                    new = (CrashObservation("heap-buffer-overflow", "decode_tlv", "tlv.c", 212),)
                out.append(
                    Attempt(
                        family="memsafety",
                        task=task,
                        tier=tier,
                        instance_id=instance,
                        attempt=epoch,
                        success=success,
                        tokens=rng.randint(2_000, 60_000),
                        seconds=rng.uniform(20, 900),
                        error="time limit reached before scoring" if errored else None,
                        bug_class="heap_overflow",
                        log=LogReference(log, instance, epoch),
                        new_crashes=new,
                    )
                )
    return tuple(out)


def baselines_for(
    tiers: tuple[int, ...] = (1, 2, 3, 4, 5), per_tier: int = 10
) -> tuple[BaselineOutcome, ...]:
    out = []
    for tier in tiers:
        for i in range(per_tier):
            seconds = 2.0 ** (tier * 2 + (i % 3))
            found = seconds < 600
            out.append(
                BaselineOutcome(
                    family="memsafety",
                    instance_id=f"inst-t{tier}-{i:02d}",
                    tier=tier,
                    solver="libFuzzer",
                    found=found,
                    seconds=seconds if found else None,
                    budget_seconds=600.0,
                )
            )
    return tuple(out)


def references() -> tuple[ReferenceRun, ...]:
    return (
        ReferenceRun(
            label="Agency reference R1",
            kind="agency_reference",
            model_name="open-weights-ref-70b",
            attempts=attempts_for(2.0, seed=5, prefix="r1", epochs=1, crashes=False),
            source=AGENCY_REFERENCE,
        ),
        ReferenceRun(
            label="Developer's previous model",
            kind="developer_prior",
            model_name=PRIOR_MODEL,
            attempts=attempts_for(2.6, seed=6, prefix="p1", epochs=1, crashes=False),
            source=DEVELOPER_PRIOR,
        ),
    )


def many_results(share: bool = True) -> ReviewEvidence:
    poc = attempts_for(3.0, seed=1)
    patch = attempts_for(
        2.2,
        seed=2,
        task="memsafety_patch",
        tiers=(1, 2, 3, 4),
        epochs=1,
        log="logs/review/memsafety_patch.eval",
        crashes=False,
    )
    return ReviewEvidence(
        review_id="rev-0a1b2c3d4e",
        state="in_review",
        model=model_identity(),
        elicitation=elicitation(),
        attempts=poc + patch,
        baselines=baselines_for(),
        references=references(),
        organization_id=DEVELOPER_ORG,
        runs=(
            RunRecord(
                1,
                "interrupted",
                datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
                datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
            ),
            RunRecord(
                2,
                "completed",
                datetime(2026, 12, 1, 10, 5, tzinfo=UTC),
                datetime(2026, 12, 1, 16, 0, tzinfo=UTC),
            ),
        ),
        sharing=SharingElection(share_sanitized=share),
        submitted_on=date(2026, 11, 29),
    )


def one_result() -> ReviewEvidence:
    attempt = Attempt(
        family="memsafety",
        task="memsafety_poc",
        tier=1,
        instance_id="inst-t1-00",
        attempt=1,
        success=True,
        tokens=1200,
        seconds=33.0,
        log=LogReference("logs/review/memsafety_poc.eval", "inst-t1-00", 1),
    )
    return ReviewEvidence(
        review_id="rev-1111111111",
        state="in_review",
        model=model_identity(),
        elicitation=elicitation(),
        attempts=(attempt,),
        runs=(RunRecord(1, "completed"),),
        sharing=SharingElection(share_sanitized=True),
    )


def no_results(started: bool = True) -> ReviewEvidence:
    errored = Attempt(
        family="memsafety",
        task="memsafety_poc",
        tier=1,
        instance_id="inst-t1-00",
        attempt=1,
        success=None,
        error="model endpoint unreachable",
    )
    return ReviewEvidence(
        review_id="rev-2222222222",
        state="in_review",
        model=model_identity(),
        attempts=(errored,) if started else (),
        runs=(RunRecord(1, "failed"),) if started else (),
        sharing=SharingElection(share_sanitized=True),
    )
