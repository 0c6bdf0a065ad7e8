"""`prereview assess`: run a review's plan through Inspect's `eval_set`, recording every sample.

- The plan's tasks run with `eval_set` into the review's own log dir (submission content, opened
  through `SubmissionContent.working_dir`), one task after another in priority order.
- An Inspect hook records each finished sample in the store as it ends; the logs are re-read
  before and after every run, so a sample the hook missed (a crash between Inspect's write and
  ours) is recovered from the log.
- Interruptions: Ctrl-C lets Inspect finish the log as cancelled; SIGKILL or a restart leaves it
  "started", and Inspect recovers it. Either way `--resume` runs `eval_set` again on the same log
  dir, which reuses every completed sample and runs only the rest.
- One assessment per review at a time: a lock (see `prereview.store.locks`) refuses a second.
- A watcher polls the submission's state; when the submitter withdraws, it interrupts the run
  the way Ctrl-C would and the run ends as `stopped_withdrawn`. This needs the assessment to run
  on the main thread (the CLI and the demo do).
- Confidentiality: the principal needs `review.assess` and `credential.use`; the API key sealed
  at submit is decrypted in memory only, for Inspect. Inspect writes its logs in plaintext into
  the vault's private working dir; each task's log is sealed as soon as the task ends, and the
  plaintext is deleted when `eval_set` returns (see prereview.vault.content). For the run, the
  temp dir and Inspect's data and cache dirs are in that working dir too, so no plaintext of
  the run reaches persistent storage; with no private tmpfs for it and no `plaintext_dir`
  configured, the assessment is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from inspect_ai import Task, eval_set
from inspect_ai.hooks import Hooks, SampleEnd, TaskEnd, TaskStart, hooks
from inspect_ai.log import EvalSample
from inspect_ai.model import GenerateConfig, Model, get_model
from sqlalchemy import select

import prereview.models.simulated  # noqa: F401  (registers the `simulated` provider)
from prereview.domain.lifecycle import SubmissionState
from prereview.planning.planner import AssessmentPlan, PlanningPolicy
from prereview.review.errors import AssessmentError, CredentialMissingError
from prereview.review.results import (
    PLAN_ITEM_METADATA,
    SampleOutcome,
    is_final,
    log_ref,
    outcome_of,
    outcomes_in_logs,
    record_outcomes,
)
from prereview.review.service import ReviewService
from prereview.review.views import SubmissionRecord
from prereview.store.content import ContentNotFoundError
from prereview.store.locks import review_lock
from prereview.store.tables.review import SubmissionRow
from prereview.vault.errors import ShreddedError
from prereview.vault.policy import Operation
from prereview.vault.workspace import PlaintextWindowError

logger = logging.getLogger(__name__)


class ProgressListener(Protocol):
    def start(self, total: int, done: int) -> None: ...

    def advance(self, task_key: str, sample_id: str) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class AssessmentOutcome:
    submission_id: str
    review_id: str
    run_id: str
    run_number: int
    status: str
    samples_planned: int
    samples_done: int
    recorded_this_run: int
    log_key: str
    detail: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlanRun:
    """A booked run (locked, planned, its run row written), handed to an executor."""

    service: ReviewService
    record: SubmissionRecord
    review_id: str
    run_id: str
    run_number: int
    plan: AssessmentPlan
    model: Model
    api_key: str | None = field(repr=False)
    """The model credential, in memory only (an executor passes it on for its unit, no more)."""
    progress: ProgressListener | None
    poll_s: float


class PlanExecutor(Protocol):
    """How a booked run executes (`prereview.executors`); None: in this process."""

    def preflight(self, record: SubmissionRecord, suite: str | None) -> None: ...

    def execute(self, run: PlanRun) -> AssessmentOutcome: ...


def run_locally(run: PlanRun) -> AssessmentOutcome:
    """The run in this process, through Inspect's `eval_set` (the `local` executor)."""
    return _execute(
        run.service,
        run.record.id,
        run.review_id,
        run.run_id,
        run.run_number,
        run.plan,
        run.model,
        run.progress,
        run.poll_s,
    )


class _Recorder:
    """Receives Inspect hook events for the one assessment running in this process."""

    def __init__(
        self,
        service: ReviewService,
        submission_id: str,
        review_id: str,
        run_id: str,
        plan: AssessmentPlan,
        log_dir: Path,
        log_key: str,
        progress: ProgressListener | None,
    ) -> None:
        self.service = service
        self.submission_id = submission_id
        self.review_id = review_id
        self.run_id = run_id
        self.tiers = {t.key: t.tier for t in plan.tasks}
        self.log_dir = log_dir
        self.log_key = log_key
        self.progress = progress
        self.evals: dict[str, tuple[str, str, str]] = {}  # eval id -> (item, task, task id)
        self.recorded = 0

    def task_started(self, data: TaskStart) -> None:
        key = (data.spec.metadata or {}).get(PLAN_ITEM_METADATA)
        if key in self.tiers:
            self.evals[data.eval_id] = (key, data.spec.task, data.spec.task_id)

    def sample_ended(self, eval_id: str, sample: EvalSample) -> None:
        known = self.evals.get(eval_id)
        if known is None or not is_final(sample):
            return
        key, task, task_id = known
        files = sorted(self.log_dir.glob(f"*_{task_id}.eval"))
        ref = log_ref(
            self.log_key, files[-1].name if files else task_id, str(sample.id), sample.epoch
        )
        self.record([outcome_of(sample, key, task, self.tiers[key], ref)])
        if self.progress is not None:
            self.progress.advance(key, str(sample.id))

    def task_ended(self) -> None:
        """Seal the finished task's log now: the plaintext window of a log is its task's run."""
        with contextlib.suppress(ShreddedError):  # withdrawn: the run is being stopped
            self.service.content.seal(self.submission_id, self.log_key)

    def record(self, outcomes: list[SampleOutcome]) -> int:
        try:
            new = record_outcomes(
                self.service.db,
                self.service.content,
                self.submission_id,
                self.review_id,
                self.run_id,
                outcomes,
                keys=self.service.access.vault.keys,
            )
        except ShreddedError:  # withdrawn mid-run: nothing of it may be stored any more
            return 0
        self.recorded += new
        return new


_active: _Recorder | None = None


@hooks(
    name="prereview_assessment",
    description="records each finished sample of a prereview assessment in its store",
)
class AssessmentHooks(Hooks):
    def enabled(self) -> bool:
        return _active is not None

    async def on_task_start(self, data: TaskStart) -> None:
        if _active is not None:
            _active.task_started(data)

    async def on_sample_end(self, data: SampleEnd) -> None:
        if _active is not None:
            _active.sample_ended(data.eval_id, data.sample)

    async def on_task_end(self, data: TaskEnd) -> None:
        if _active is not None:
            _active.task_ended()


class _WithdrawalWatcher:
    """Polls the submission's state; on withdrawal interrupts the run like Ctrl-C would."""

    def __init__(self, service: ReviewService, submission_id: str, poll_s: float) -> None:
        self.service = service
        self.submission_id = submission_id
        self.poll_s = poll_s
        self.withdrawn = threading.Event()
        self._stop = threading.Event()
        self._armed = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="withdrawal-watcher", daemon=True)

    def _state(self) -> str | None:
        with self.service.db.session() as s:
            return s.execute(
                select(SubmissionRow.state).where(SubmissionRow.id == self.submission_id)
            ).scalar_one_or_none()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                state = self._state()
            except Exception as exc:  # a busy or briefly unreachable database: poll again
                logger.debug("withdrawal watcher: %s", type(exc).__name__)
                continue
            if state == SubmissionState.WITHDRAWN.value:
                with self._armed:
                    if not self._stop.is_set():
                        self.withdrawn.set()
                        signal.raise_signal(signal.SIGINT)
                return

    def __enter__(self) -> _WithdrawalWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._armed:
            self._stop.set()
        self._thread.join()


_BANNER = ("inspect_ai v", "- hooks enabled", "  prereview_assessment")


@contextlib.contextmanager
def _inspect_stdout_to_stderr() -> Iterator[None]:
    """Keep stdout clean for `--json`: what Inspect prints goes to stderr, minus its start-up
    banner about our hook."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        text = captured.getvalue()
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(_BANNER)]
        if lines:
            sys.stderr.write("\n".join(lines) + "\n")


def _check_can_run(
    record: SubmissionRecord, resume: bool, suite: str | None, limit: int | None
) -> None:
    state = record.state
    if state is SubmissionState.WITHDRAWN:
        raise AssessmentError(f"submission {record.id} was withdrawn: it cannot be assessed")
    if state not in (SubmissionState.SUBMITTED, SubmissionState.IN_REVIEW):
        raise AssessmentError(f"submission {record.id} is {state.value}: nothing to assess")
    has_runs = bool(record.review and record.review.runs)
    if resume:
        if not has_runs or record.review is None or record.review.plan is None:
            raise AssessmentError(
                f"submission {record.id} has no assessment to resume: run "
                f"`prereview assess {record.id}` first"
            )
        if suite is not None or limit is not None:
            raise AssessmentError(
                "--resume continues the stored plan; --suite and --limit cannot change it"
            )
    elif has_runs:
        raise AssessmentError(
            f"submission {record.id} has already been assessed (see `prereview status "
            f"{record.id}`); continue an unfinished run with "
            f"`prereview assess {record.id} --resume`"
        )


def _check_plaintext_window(service: ReviewService, submission_id: str) -> None:
    """Refuse (audited, nothing else written) when the run's plaintext would have nowhere to
    go but persistent storage the operator did not choose."""
    try:
        service.access.vault.content.workspace.require()
    except PlaintextWindowError:
        service.access.guard.record(
            "review.assess",
            "failed",
            submission_id=submission_id,
            target=f"submission {submission_id}",
            detail={"reason": "no private tmpfs and no plaintext_dir configured"},
        )
        raise


def _credential(service: ReviewService, record: SubmissionRecord) -> str | None:
    """The API key sealed at submit, decrypted in memory for Inspect (`credential.use`)."""
    if not record.api_key_env:
        return None
    try:
        return service.access.use_credential(record.id)
    except ContentNotFoundError:
        raise CredentialMissingError(
            f"no API key is stored for {record.id}: submit again with --api-key-env set"
        ) from None


def _model(record: SubmissionRecord, api_key: str | None) -> Model:
    return get_model(
        record.model,
        base_url=record.base_url,
        api_key=api_key,
        config=GenerateConfig(max_connections=record.max_connections),
        memoize=False,
        **record.model_args,
    )


def _tasks(plan: AssessmentPlan) -> list[Task]:
    from prereview.planning.catalog import resolve_task

    tasks = []
    for item in plan.tasks:
        task = resolve_task(item.factory)(**item.args)
        task.metadata = {**(task.metadata or {}), PLAN_ITEM_METADATA: item.key}
        tasks.append(task)
    return tasks


def run_assessment(
    service: ReviewService,
    ident: str,
    *,
    suite: str | None = None,
    limit: int | None = None,
    resume: bool = False,
    progress: ProgressListener | None = None,
    poll_s: float = 1.0,
    planning: PlanningPolicy | None = None,
    on_planned: Callable[[AssessmentPlan], None] | None = None,
    executor: PlanExecutor | None = None,
) -> AssessmentOutcome:
    """Plan (first run) and run the review of submission `ident`, or continue it (`resume`),
    in this process or on `executor` (whose preflight runs before anything is written)."""
    if threading.current_thread() is not threading.main_thread():
        raise AssessmentError("an assessment must run on the main thread (it handles Ctrl-C)")
    service.require(ident, Operation.REVIEW_ASSESS)
    record = service.get(ident)
    _check_can_run(record, resume, suite, limit)
    _check_plaintext_window(service, record.id)
    api_key = _credential(service, record)  # before anything is written
    if executor is not None:
        executor.preflight(record, suite)
    with _inspect_stdout_to_stderr():
        model = _model(record, api_key)
    locks_dir = service.settings.home / "locks"
    with review_lock(service.db, locks_dir, record.id):
        record = service.get(record.id)  # the state may have changed while we waited
        _check_can_run(record, resume, suite, limit)
        stored = record.review.plan if record.review is not None else None
        if resume or (stored is not None and suite is None and limit is None):
            assert stored is not None  # a plan shown by `--plan-only` runs as it was shown
            plan = stored
        else:
            plan = service.plan(record.id, suite=suite, limit=limit, policy=planning)
        if on_planned is not None:
            on_planned(plan)
        review_id, run_id, run_number = service.begin_run(record.id, resumed=resume)
        if executor is not None:
            return executor.execute(
                PlanRun(
                    service,
                    record,
                    review_id,
                    run_id,
                    run_number,
                    plan,
                    model,
                    api_key,
                    progress,
                    poll_s,
                )
            )
        return _execute(
            service, record.id, review_id, run_id, run_number, plan, model, progress, poll_s
        )


def _execute(
    service: ReviewService,
    submission_id: str,
    review_id: str,
    run_id: str,
    run_number: int,
    plan: AssessmentPlan,
    model: Model,
    progress: ProgressListener | None,
    poll_s: float,
) -> AssessmentOutcome:
    global _active
    log_key = f"reviews/{review_id}/logs"
    tiers = {t.key: t.tier for t in plan.tasks}
    interrupted = False
    failure: str | None = None
    with service.content.working_dir(submission_id, log_key) as log_dir:
        recorder = _Recorder(
            service, submission_id, review_id, run_id, plan, log_dir, log_key, progress
        )
        recovered, _ = outcomes_in_logs(log_dir, log_key, tiers)
        recorder.record(recovered)
        done = len(service.results(submission_id))
        if progress is not None:
            progress.start(plan.total_samples, done)
        watcher = _WithdrawalWatcher(service, submission_id, poll_s)
        try:
            _active = recorder
            with watcher, _inspect_stdout_to_stderr():
                eval_set(
                    _tasks(plan),
                    log_dir=str(log_dir),
                    model=model,
                    display="none",
                    max_tasks=1,
                    max_samples=model.api.max_connections()
                    if model.config.max_connections is None
                    else model.config.max_connections,
                    log_buffer=1,
                    fail_on_error=False,
                    retry_attempts=2,
                    retry_on_error=1,
                    score_display=False,
                    time_limit=plan.sample_time_limit_s,
                    max_tokens=plan.max_tokens,
                )
        except KeyboardInterrupt:
            interrupted = True
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            failure = f"{type(exc).__name__}: {first}"
        finally:
            _active = None
            if progress is not None:
                progress.stop()
        outcomes, logs = outcomes_in_logs(log_dir, log_key, tiers)
        recorder.record(outcomes)
    if any(log.status == "cancelled" for log in logs):
        interrupted = True
    record = service.get(submission_id)
    assert record.review is not None
    planned, finished = record.review.samples_planned, record.review.samples_done
    if watcher.withdrawn.is_set() or service.access.vault.keys.shredded(submission_id):
        # withdrawn (the watcher may not have polled yet): no detail of the run may stay
        status, detail = "stopped_withdrawn", "the submitter withdrew the submission"
    elif interrupted:
        status, detail = "interrupted", f"continue with `prereview assess {submission_id} --resume`"
    elif failure is not None:
        status, detail = "failed", failure
    elif finished >= planned:
        status, detail = "completed", None
    else:
        status = "failed"
        detail = f"{planned - finished} planned samples did not finish; see the logs, then --resume"
    service.end_run(run_id, status, detail)
    return AssessmentOutcome(
        submission_id=submission_id,
        review_id=review_id,
        run_id=run_id,
        run_number=run_number,
        status=status,
        samples_planned=planned,
        samples_done=finished,
        recorded_this_run=recorder.recorded,
        log_key=log_key,
        detail=detail,
    )
