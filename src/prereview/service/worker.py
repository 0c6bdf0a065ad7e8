"""The assessment worker: runs queued jobs outside the web process.

One worker per data dir (a lock in `<data dir>/locks/worker.lock`; a second exits at once).
Each job runs in its own child process (`python -m prereview.service.worker run JOB`), on
that process's main thread as `run_assessment` requires, acting as the principal who queued
it (re-authorized at start: a revoked principal's job fails). The child records how its job
ended; the worker only starts children, forwards a cancel (SIGINT, as Ctrl-C would: the run
ends cleanly and can be resumed), and on start requeues jobs whose process died as resumes
(the `assess --resume` guarantees: completed samples are reused, the rest run). A withdrawal
needs nothing from the worker: the assessment's own watcher stops the run. Jobs run on the
executor the config file names (`executor`, `ray_address`; default local), as `assess` does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from prereview.config import Settings, load_settings
from prereview.errors import PrereviewError
from prereview.service.jobs import Job, JobQueue

LOCK_NAME = "worker.lock"


@contextlib.contextmanager
def worker_lock(settings: Settings) -> Iterator[bool]:
    """Whether this process is the data dir's worker (held until the context ends)."""
    locks = settings.home / "locks"
    locks.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(locks / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it (for operators and tests)
        yield True
    finally:
        os.close(fd)


def worker_pid(settings: Settings) -> int | None:
    """The pid of the data dir's running worker, if one holds the lock."""
    path = settings.home / "locks" / LOCK_NAME
    with worker_lock(settings) as free:
        if free:
            return None
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def spawn_worker(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Start a detached worker for the data dir (it outlives the server); None if one runs."""
    with worker_lock(settings) as free:
        if not free:
            return None
    log = settings.home / "logs" / "worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "prereview.service.worker", "loop"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            env={**os.environ, "PREREVIEW_HOME": str(settings.home)},
        )


class Worker:
    def __init__(self, settings: Settings, queue: JobQueue, poll_s: float = 1.0) -> None:
        self.settings = settings
        self.queue = queue
        self.poll_s = poll_s

    def run_job(self, job: Job) -> Job:
        """Run one claimed job in a child process; forward a cancel; wait for its end."""
        child = subprocess.Popen(
            [sys.executable, "-m", "prereview.service.worker", "run", job.id],
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PREREVIEW_HOME": str(self.settings.home)},
        )
        self.queue.set_pid(job.id, child.pid)
        signalled = False
        while child.poll() is None:
            current = self.queue.get(job.id)
            if current is not None and current.status == "cancel_requested" and not signalled:
                child.send_signal(signal.SIGINT)
                signalled = True
            time.sleep(self.poll_s / 4)
        final = self.queue.get(job.id)
        assert final is not None
        if final.active:  # the child died before it could record anything
            final = self.queue.finish(
                job.id,
                "interrupted" if signalled else "failed",
                f"the job's process ended with status {child.returncode}",
            )
        return final

    def drain(self) -> list[Job]:
        """Recover dead jobs, then run every queued job, one at a time."""
        self.queue.recover()
        done = []
        while (job := self.queue.claim()) is not None:
            done.append(self.run_job(job))
        return done

    def loop(self, stop_after: float | None = None) -> None:
        started = time.monotonic()
        while stop_after is None or time.monotonic() - started < stop_after:
            self.drain()
            time.sleep(self.poll_s)


def run_one(settings: Settings, job_id: str) -> int:
    """The child: run job `job_id` as its principal; record how it ended."""
    from prereview.executors import configured_executor
    from prereview.review.assessment import run_assessment
    from prereview.review.service import ReviewService
    from prereview.vault.service import Vault

    with Vault.open(settings) as vault:
        queue = JobQueue(vault.db)
        job = queue.get(job_id)
        if job is None or job.status not in ("running", "cancel_requested"):
            return 0
        try:
            principal = vault.principals.get(job.principal_id)
            if principal.revoked:
                raise PrereviewError("the principal who queued this job was revoked")
            service = ReviewService.open(settings, session=vault.session(principal))
            record = service.get(job.submission_id)
            resume = bool(record.review and record.review.runs)
            outcome = run_assessment(
                service,
                job.submission_id,
                suite=None if resume else job.suite,
                limit=None if resume else job.limit,
                resume=resume,
                executor=configured_executor(settings),  # the config file's: local or ray
            )
            queue.finish(job_id, outcome.status, outcome.detail)
        except KeyboardInterrupt:
            queue.finish(job_id, "interrupted", "interrupted before the run started")
        except PrereviewError as exc:
            queue.finish(job_id, "failed", str(exc))
    return 0


def main(argv: list[str]) -> int:
    settings = load_settings().require_initialized()
    if argv[:1] == ["run"] and len(argv) == 2:
        return run_one(settings, argv[1])
    if argv[:1] == ["loop"]:
        from prereview.vault.service import Vault

        with worker_lock(settings) as mine:
            if not mine:
                return 0
            vault = Vault.open(settings)
            try:
                Worker(settings, JobQueue(vault.db)).loop()
            finally:
                vault.close()
        return 0
    sys.stderr.write("usage: python -m prereview.service.worker loop | run JOB\n")
    return 2


__all__ = ["Worker", "spawn_worker", "worker_lock"]

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
