"""Withdrawal is final: a process recording samples and a process withdrawing race, and
afterwards nothing of the submission's results is left (no row, no ciphertext), the recorder
stopped with a refusal rather than a traceback, and the model's identity as the submitter gave it
is gone from the store (only a keyed digest in the audit trail). `status` and `list` still work
on the withdrawn submission and show it redacted."""

from __future__ import annotations

import json
import multiprocessing
import traceback
from datetime import date, timedelta
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import Settings, load_settings
from prereview.domain.lifecycle import SubmissionState
from prereview.domain.submission import ModelAccess, Throughput
from prereview.review.results import SampleOutcome, record_outcomes
from prereview.review.service import ReviewService, SubmissionRequest
from prereview.store.tables.review import ReviewRow, SampleResultRow, SubmissionRow
from prereview.vault.errors import ShreddedError
from prereview.vault.principals import Role
from prereview.vault.service import Vault
from prereview.vault.shredding import REDACTED
from tests.review.conftest import ORG, install, open_services  # noqa: F401
from tests.store.databases import (  # noqa: F401
    _postgres_template,
    _sqlite_template,
    migrated_database_url,
)

MODEL = "openai/frontier-secret-7"
BASE_URL = "https://models.example-labs.test/v1"
KEY_ENV = "EXAMPLE_LABS_SECRET_KEY"
MODEL_NAME = "Frontier Secret 7"
VERSION = "2026-11-rc3"
ARGS = {"deployment": "frontier-secret-7-eu"}
IDENTITY = (MODEL, BASE_URL, KEY_ENV, MODEL_NAME, VERSION, "frontier-secret-7-eu")


def _outcome(n: int) -> SampleOutcome:
    return SampleOutcome(
        task_key="race",
        task="race",
        tier=1,
        sample_id=f"s-{n}",
        epoch=1,
        score=1.0,
        score_value="C",
        input_tokens=1,
        output_tokens=1,
        total_tokens=2,
        total_time_s=0.01,
        working_time_s=0.01,
        error=None,
        log_ref=f"reviews/x/logs/race.eval#s-{n}:1",
        payload={"answer": f"answer {n}"},
    )


def record_until_refused(
    submission_id: str, review_id: str, recorded: Synchronized[int], out: Any
) -> None:
    """The recorder process: one sample after another, as the assessment's hook records them,
    until the store refuses. Reports how it ended; never lets a traceback escape."""
    try:
        with ReviewService.open(load_settings()) as coordinator:
            keys = coordinator.access.vault.keys
            n = 0
            while True:
                try:
                    record_outcomes(
                        coordinator.db,
                        coordinator.content,
                        submission_id,
                        review_id,
                        None,
                        [_outcome(n)],
                        keys=keys,
                    )
                except ShreddedError:
                    out.put(("refused", n))
                    return
                n += 1
                with recorded.get_lock():
                    recorded.value = n
    except BaseException:
        out.put(("error", traceback.format_exc()))


def withdraw_when_recording(
    submission_id: str, token: str, recorded: Synchronized[int], out: Any
) -> None:
    """The submitter's process: withdraws once the recorder is well under way."""
    try:
        import os
        import time

        while recorded.value < 3:
            time.sleep(0.01)
        os.environ["PREREVIEW_TOKEN"] = token
        with ReviewService.open(load_settings()) as submitter:
            submitter.withdraw(submission_id)
        out.put(("withdrawn", recorded.value))
    except BaseException:
        out.put(("error", traceback.format_exc()))


def _request() -> SubmissionRequest:
    return SubmissionRequest(
        organization=ORG,
        access=ModelAccess(MODEL, base_url=BASE_URL, api_key_env=KEY_ENV),
        release_date=date.today() + timedelta(days=21),
        model_name=MODEL_NAME,
        model_version=VERSION,
        throughput=Throughput(None, 2, 0.5),
        model_args=ARGS,
    )


def _rows(reviewer: ReviewService, submission_id: str) -> int:
    with reviewer.db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(SampleResultRow)
                .join(ReviewRow, ReviewRow.id == SampleResultRow.review_id)
                .where(ReviewRow.submission_id == submission_id)
            )
            or 0
        )


def test_recording_and_withdrawal_race_leaves_nothing(
    install: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-not-used-here")
    submitter, reviewer = open_services(install)
    try:
        vault = reviewer.access.vault
        _, token = vault.principals.add("racer", Role.SUBMITTER, ORG, "tests")
        record = submitter.submit(_request())
        reviewer.plan(record.id, suite="calibration", limit=2)
        review = reviewer.get(record.id).review
        assert review is not None

        ctx = multiprocessing.get_context("spawn")
        recorded = ctx.Value("i", 0)
        out = ctx.Queue()
        procs = [
            ctx.Process(target=record_until_refused, args=(record.id, review.id, recorded, out)),
            ctx.Process(target=withdraw_when_recording, args=(record.id, token, recorded, out)),
        ]
        for p in procs:
            p.start()
        ends = dict(out.get(timeout=240) for _ in procs)
        for p in procs:
            p.join(timeout=60)
        assert "error" not in ends, ends.get("error")
        assert [p.exitcode for p in procs] == [0, 0]
        assert ends["refused"] >= ends["withdrawn"] >= 3  # it recorded until the shred stopped it

        # nothing of the results is left, neither rows nor ciphertexts
        assert _rows(reviewer, record.id) == 0
        assert not (install.artifacts_dir / record.id).exists()
        assert reviewer.access.vault.keys.shredded(record.id) is not None
        with pytest.raises(ShreddedError):  # and the store refuses any further sample
            record_outcomes(
                reviewer.db,
                reviewer.content,
                record.id,
                review.id,
                None,
                [_outcome(10_000)],
                keys=reviewer.access.vault.keys,
            )
        assert _rows(reviewer, record.id) == 0

        # the identity the submitter gave is gone from the store; a keyed digest is audited
        with reviewer.db.session() as s:
            row = s.get(SubmissionRow, record.id)
            assert row is not None and row.state == SubmissionState.WITHDRAWN.value
            assert row.model.startswith(REDACTED) and row.model_name == row.model
            assert (row.base_url, row.api_key_env, row.model_version, row.model_args) == (
                None,
                None,
                None,
                None,
            )
        shredded = [
            e
            for e in reviewer.access.vault.audit.entries(submission_id=record.id)
            if e.action == "submission.shredded"
        ]
        assert len(shredded) == 1
        digest = shredded[0].detail["identity_digest"]
        assert isinstance(digest, str) and len(digest) == 64
        assert row.model == REDACTED + digest[:16]
    finally:
        reviewer.dispose()

    if install.database_url.startswith("sqlite"):  # the file itself, WAL included
        db_files = [p for p in install.home.glob("prereview.db*") if p.is_file()]
        raw = b"".join(p.read_bytes() for p in db_files)
        assert [term for term in IDENTITY if term.encode() in raw] == []

    # status and list still work on the withdrawn submission, redacted
    runner = CliRunner()
    shown = runner.invoke(app, ["status", record.id])
    listed = runner.invoke(app, ["list", "--json"])
    assert shown.exit_code == 0 and listed.exit_code == 0
    assert "withdrawn" in shown.output and REDACTED in shown.output
    item = next(r for r in json.loads(listed.stdout) if r["id"] == record.id)
    assert item["state"] == "withdrawn" and item["model_name"].startswith(REDACTED)
    assert [t for t in IDENTITY if t in shown.output or t in listed.stdout] == []


def test_what_an_older_version_left_after_a_shred_is_removed_at_the_next_open(
    install: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row stored after the shred (as the old race could) and an identity left in place are
    removed the next time any command opens the vault, and that is audited."""
    monkeypatch.setenv(KEY_ENV, "sk-not-used-here")
    submitter, reviewer = open_services(install)
    try:
        record = submitter.submit(_request())
        reviewer.plan(record.id, suite="calibration", limit=2)
        review = reviewer.get(record.id).review
        assert review is not None
        submitter.withdraw(record.id)
        with reviewer.db.session() as s:  # what an older version left behind
            s.add(
                SampleResultRow(
                    review_id=review.id,
                    task_key="race",
                    task="race",
                    sample_id="late",
                    epoch=1,
                    log_ref="x",
                )
            )
            row = s.get(SubmissionRow, record.id)
            assert row is not None
            row.model, row.model_name, row.base_url = MODEL, MODEL_NAME, BASE_URL
        assert _rows(reviewer, record.id) == 1
    finally:
        reviewer.dispose()

    with Vault.open(load_settings()) as vault:
        with vault.db.session() as s:
            row = s.get(SubmissionRow, record.id)
            assert row is not None and row.model.startswith(REDACTED) and row.base_url is None
            assert s.scalar(select(func.count()).select_from(SampleResultRow)) == 0
        repeated = [
            e.detail
            for e in vault.audit.entries(submission_id=record.id)
            if e.action == "submission.shredded"
        ][-1]
    assert repeated["repeated"] is True and repeated["result_rows"] == 1
    assert isinstance(repeated["identity_digest"], str)
    with Vault.open(load_settings()) as vault:  # done once: nothing more to do, nothing audited
        again = [e for e in vault.audit.entries(submission_id=record.id)]
        assert [e.action for e in again].count("submission.shredded") == 2
