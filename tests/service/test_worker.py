"""Assessments run in the worker, outside the web process: queued through the API, resumed
after the worker (and its job's process) is killed, stopped by a cancel or a withdrawal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from prereview.config import Settings, load_settings
from prereview.home import initialize_home
from prereview.review.service import ReviewService
from prereview.service.app import create_app
from prereview.service.context import ServiceContext
from prereview.service.jobs import JobQueue
from prereview.store.tables.review import ReviewRow, SampleResultRow
from prereview.vault.principals import Role
from prereview.vault.service import Vault
from tests.review.conftest import ORG, simulated_request


@dataclass
class Install:
    settings: Settings
    client: TestClient
    context: ServiceContext
    coordinator: dict[str, str]
    submitter: ReviewService


@pytest.fixture
def install(prereview_home: Path) -> Iterator[Install]:
    token = str(initialize_home(load_settings(), save_token=False)["token"])
    settings = load_settings()
    context = ServiceContext.open(settings)
    _, lab = context.vault.principals.add("lab", Role.SUBMITTER, ORG, "test")
    submitter = ReviewService.open(settings, session=Vault.open(settings).authenticate(lab))
    with TestClient(create_app(settings, context=context)) as client:
        yield Install(settings, client, context, {"Authorization": f"Bearer {token}"}, submitter)
    submitter.dispose()
    context.close()


def recorded(install: Install, submission_id: str) -> int:
    with install.context.vault.db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(SampleResultRow)
                .join(ReviewRow, ReviewRow.id == SampleResultRow.review_id)
                .where(ReviewRow.submission_id == submission_id)
            )
            or 0
        )


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def start_worker(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "prereview"), "worker", "--poll", "0.2", *args],
        start_new_session=True,  # its own process group: killed with its job's process
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def queue(install: Install, submission_id: str, limit: int) -> str:
    response = install.client.post(
        f"/api/v1/submissions/{submission_id}/assessments",
        json={"suite": "calibration", "limit": limit},
        headers=install.coordinator,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def job_status(install: Install, job_id: str) -> str:
    job = JobQueue(install.context.vault.db).get(job_id)
    assert job is not None
    return job.status


def test_a_killed_worker_resumes_the_job_without_losing_or_rerunning_samples(
    install: Install,
) -> None:
    record = install.submitter.submit(simulated_request(latency=0.25, connections=2))
    job = queue(install, record.id, 12)
    assert job_status(install, job) == "queued"  # nothing runs in the web process
    worker = start_worker()
    try:
        wait_for(lambda: recorded(install, record.id) >= 3)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and the job's process, as a crash
        worker.wait()
    before = {r.sample_id: r.completed_at for r in install.submitter.results(record.id)}
    assert 3 <= len(before) < 12 and job_status(install, job) == "running"

    again = start_worker("--once")
    assert again.wait(timeout=180) == 0
    assert job_status(install, job) == "completed"
    after = {r.sample_id: r.completed_at for r in install.submitter.results(record.id)}
    assert sorted(after) == sorted(f"cal-{i}" for i in range(12))
    assert all(after[sid] == at for sid, at in before.items())  # kept, not re-run
    runs = install.submitter.get(record.id).review.runs  # type: ignore[union-attr]
    assert [(r.status, r.resumed) for r in runs] == [("interrupted", False), ("completed", True)]


def test_cancel_and_withdrawal_stop_the_running_job(install: Install) -> None:
    cancelled = install.submitter.submit(simulated_request(latency=0.25, connections=1))
    withdrawn = install.submitter.submit(simulated_request(latency=0.25, connections=1))
    first, second = queue(install, cancelled.id, 20), queue(install, withdrawn.id, 20)
    worker = start_worker()
    try:
        wait_for(lambda: recorded(install, cancelled.id) >= 1)
        response = install.client.post(
            f"/api/v1/submissions/{cancelled.id}/assessments/cancel", headers=install.coordinator
        )
        assert response.json()["status"] == "cancel_requested"
        wait_for(lambda: job_status(install, first) == "cancelled")
        wait_for(lambda: recorded(install, withdrawn.id) >= 1)
        install.submitter.withdraw(withdrawn.id)
        wait_for(lambda: job_status(install, second) == "stopped_withdrawn")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    runs = install.submitter.get(cancelled.id).review.runs  # type: ignore[union-attr]
    assert [r.status for r in runs] == ["interrupted"]  # resumable
    assert install.submitter.get(cancelled.id).review.samples_done < 20  # type: ignore[union-attr]
