"""Assessments end to end with the `simulated` model: recording, resume after Ctrl-C and SIGKILL,
the lock, withdrawal mid-run, credentials. Subprocesses run the real `prereview assess`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from inspect_ai.model import ChatMessageUser
from sqlalchemy import func, select
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import Settings
from prereview.domain.lifecycle import SubmissionState
from prereview.models.simulated import prompt_digest
from prereview.review.assessment import run_assessment
from prereview.review.errors import AssessmentError, CredentialMissingError
from prereview.review.service import ReviewService
from prereview.store.locks import ReviewLockedError, review_lock
from prereview.store.tables.review import ReviewRow, SampleResultRow
from prereview.suites.calibration import calibration
from tests.review.conftest import row_counts, simulated_request

PRERREVIEW = str(Path(sys.executable).parent / "prereview")


def wait_for(condition: Callable[[], bool], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.3)


def recorded(service: ReviewService, submission_id: str) -> int:
    """Samples recorded so far, read straight from the table: polling through the service
    would add an audit entry (a write) per poll and slow the run being watched."""
    with service.db.session() as s:
        return s.execute(
            select(func.count())
            .select_from(SampleResultRow)
            .join(ReviewRow, ReviewRow.id == SampleResultRow.review_id)
            .where(ReviewRow.submission_id == submission_id)
        ).scalar_one()


def digests(samples: int) -> dict[str, str]:
    """Sample id -> digest of its prompt, as the simulated model records it."""
    dataset = calibration(samples=samples).dataset
    return {str(s.id): prompt_digest([ChatMessageUser(content=str(s.input))]) for s in dataset}


def calls_per_sample(record: Path, samples: int) -> Counter[str]:
    by_digest = {d: sid for sid, d in digests(samples).items()}
    lines = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    return Counter(by_digest[line["prompt"]] for line in lines)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str) -> subprocess.Popen[str]:
    # SIGINT as at a terminal: a test run started in the background (`make test &`) inherits
    # it ignored, and Python then never raises KeyboardInterrupt
    return subprocess.Popen(
        [PRERREVIEW, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def test_assessment_records_every_sample(service: ReviewService, reviewer: ReviewService) -> None:
    record = service.submit(simulated_request(after_script="hello"))
    outcome = run_assessment(reviewer, record.id, suite="calibration", limit=4)
    assert outcome.status == "completed" and outcome.run_number == 1
    assert outcome.samples_done == outcome.samples_planned == 4
    results = reviewer.results(record.id)
    assert sorted(r.sample_id for r in results) == [f"cal-{i}" for i in range(4)]
    log_files = reviewer.content.keys(record.id, outcome.log_key + "/")
    for r in results:
        assert r.task == "calibration" and r.task_key == "calibration" and r.epoch == 1
        assert r.score == 0.0 and r.error is None
        assert r.total_tokens > 0 and r.output_tokens > 0 and r.total_time_s is not None
        log_key, _, fragment = r.log_ref.partition("#")
        assert log_key in log_files and fragment == f"{r.sample_id}:1"
        assert r.payload_key is not None
        payload = json.loads(reviewer.content.read(record.id, r.payload_key))
        assert payload["answer"] == "hello" and "includes" in payload["scores"]
    after = service.get(record.id)
    assert after.state is SubmissionState.IN_REVIEW
    assert after.history[-1].action == "start_review" and after.history[-1].role == "reviewer"
    assert after.review is not None
    assert [(r.number, r.status) for r in after.review.runs] == [(1, "completed")]


def test_a_finished_assessment_is_not_rerun(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService
) -> None:
    service, reviewer = sqlite_service, sqlite_reviewer
    record = service.submit(simulated_request())
    run_assessment(reviewer, record.id, suite="calibration", limit=2)
    with pytest.raises(AssessmentError, match="--resume"):
        run_assessment(reviewer, record.id, suite="calibration")
    with pytest.raises(AssessmentError, match="cannot change"):
        run_assessment(reviewer, record.id, resume=True, limit=5)
    again = run_assessment(reviewer, record.id, resume=True)
    assert again.status == "completed" and again.recorded_this_run == 0
    assert len(service.results(record.id)) == 2


def test_resume_without_a_run_is_refused(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService
) -> None:
    record = sqlite_service.submit(simulated_request())
    with pytest.raises(AssessmentError, match="no assessment to resume"):
        run_assessment(sqlite_reviewer, record.id, resume=True)
    assert row_counts(sqlite_service)["assessment_runs"] == 0


def test_missing_credential_stores_nothing_and_the_secret_is_never_written(
    sqlite_install: Settings,
    sqlite_service: ReviewService,
    sqlite_reviewer: ReviewService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = simulated_request()
    request = replace(request, access=replace(request.access, api_key_env="PREREVIEW_TEST_KEY"))
    monkeypatch.delenv("PREREVIEW_TEST_KEY", raising=False)
    before = row_counts(sqlite_service)
    with pytest.raises(CredentialMissingError, match="PREREVIEW_TEST_KEY"):
        sqlite_service.submit(request)
    assert row_counts(sqlite_service) == before

    secret = "sk-test-Zq8SECRETvalue-4242"
    monkeypatch.setenv("PREREVIEW_TEST_KEY", secret)
    record = sqlite_service.submit(request)
    monkeypatch.delenv("PREREVIEW_TEST_KEY")  # read once at submit, sealed; not needed again
    outcome = run_assessment(sqlite_reviewer, record.id, suite="calibration", limit=2)
    assert outcome.status == "completed"
    for path in sqlite_install.home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_sigkill_then_resume_loses_nothing_and_reruns_no_completed_sample(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService, tmp_path: Path
) -> None:
    service = sqlite_service
    calls = tmp_path / "calls.jsonl"
    record = service.submit(simulated_request(latency=0.25, connections=2, record=calls))
    proc = start_cli("assess", record.id, "--suite", "calibration", "--limit", "12", "--json")
    try:
        wait_for(lambda: recorded(service, record.id) >= 4)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    before = {(r.sample_id): r for r in service.results(record.id)}
    assert 4 <= len(before) < 12

    outcome = run_assessment(sqlite_reviewer, record.id, resume=True)
    assert outcome.status == "completed" and outcome.run_number == 2
    after = {r.sample_id: r for r in service.results(record.id)}
    assert sorted(after) == sorted(f"cal-{i}" for i in range(12))  # none lost, none doubled
    for sample_id, row in before.items():  # recorded before the kill: untouched, not re-run
        assert after[sample_id].completed_at == row.completed_at
        assert after[sample_id].run_id == row.run_id
    counts = calls_per_sample(calls, 12)
    assert {sid: counts[sid] for sid in before} == dict.fromkeys(before, 2)
    runs = service.get(record.id).review.runs  # type: ignore[union-attr]
    assert [(r.status, r.resumed) for r in runs] == [("interrupted", False), ("completed", True)]


def test_ctrl_c_interrupts_cleanly_and_resume_completes(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService, tmp_path: Path
) -> None:
    service = sqlite_service
    calls = tmp_path / "calls.jsonl"
    record = service.submit(simulated_request(latency=0.25, connections=2, record=calls))
    # 40 samples (about 5 s) so that the signal lands mid-run even on a loaded host
    proc = start_cli("assess", record.id, "--suite", "calibration", "--limit", "40", "--json")
    wait_for(lambda: recorded(service, record.id) >= 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert json.loads(out)["status"] == "interrupted", err[-3000:]
    before = {r.sample_id for r in service.results(record.id)}
    assert len(before) < 40
    outcome = run_assessment(sqlite_reviewer, record.id, resume=True)
    assert outcome.status == "completed" and outcome.samples_done == 40
    counts = calls_per_sample(calls, 40)
    assert all(counts[sid] == 2 for sid in before)


def test_second_assessment_is_refused_by_the_lock(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService
) -> None:
    service = sqlite_service
    record = service.submit(simulated_request(latency=0.2, connections=2))
    # 30 samples (about 3 s): the lock is still held when the second assessment tries
    proc = start_cli("assess", record.id, "--suite", "calibration", "--limit", "30", "--json")
    try:
        wait_for(lambda: recorded(service, record.id) >= 1)
        with pytest.raises(ReviewLockedError, match="being assessed"):
            run_assessment(sqlite_reviewer, record.id, resume=True)
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["status"] == "completed"
    results = service.results(record.id)
    assert sorted(r.sample_id for r in results) == sorted(f"cal-{i}" for i in range(30))
    assert len(service.get(record.id).review.runs) == 1  # type: ignore[union-attr]


def test_cli_refuses_a_locked_review_and_writes_nothing(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService
) -> None:
    service = sqlite_reviewer
    record = sqlite_service.submit(simulated_request())
    before = row_counts(service)
    # flock conflicts between two opens of the file even within one process
    with review_lock(service.db, service.settings.home / "locks", record.id):
        refused = CliRunner().invoke(app, ["assess", record.id, "--suite", "calibration"])
    assert refused.exit_code == 2
    assert "being assessed" in refused.stderr and "Traceback" not in refused.output
    assert row_counts(service) == before
    assert service.get(record.id).state is SubmissionState.SUBMITTED


def test_withdrawal_stops_a_running_assessment(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService
) -> None:
    service = sqlite_service
    record = service.submit(simulated_request(latency=0.25, connections=1))
    proc = start_cli("assess", record.id, "--suite", "calibration", "--limit", "20", "--json")
    wait_for(lambda: recorded(service, record.id) >= 1)
    service.withdraw(record.id)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["status"] == "stopped_withdrawn"
    after = service.get(record.id)
    assert after.state is SubmissionState.WITHDRAWN
    assert after.review is not None and after.review.runs[-1].status == "stopped_withdrawn"
    assert after.review.samples_done < 20
    with pytest.raises(AssessmentError, match="withdrawn"):
        run_assessment(sqlite_reviewer, record.id, resume=True)
    assert os.path.exists(proc.args[0])  # the CLI really ran
