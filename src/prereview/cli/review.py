"""The review workflow at the command line: submit, status, list, assess, withdraw, close.

Thin commands over `prereview.review`; each takes `--json`. Without `--json`, `submit` prints only
the new id on stdout (for scripts) and the details on stderr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prereview.cli.common import (
    JsonOption,
    console,
    emit_json,
    err_console,
    settings,
    shown,
)
from prereview.domain.submission import (
    Confidentiality,
    ModelAccess,
    Throughput,
    parse_model_args,
    parse_release_date,
)
from prereview.errors import PrereviewError

if TYPE_CHECKING:  # the store and Inspect load only when a command runs
    from prereview.planning.planner import AssessmentPlan
    from prereview.review.service import ReviewService
    from prereview.review.views import SubmissionRecord


def _service() -> ReviewService:
    """The local workflow, or the agency service's API when PREREVIEW_URL/--server is set."""
    from prereview.service.client import server_url

    url = server_url()
    if url is not None:
        from prereview.service.client import RemoteReviewService

        return RemoteReviewService.connect(settings(), url)
    from prereview.review.service import ReviewService

    return ReviewService.open(settings())


def _start_cluster_early(service: ReviewService, ident: str, address: str) -> None:
    """Once the caller may assess `ident`: join the cluster and start the nodes' readiness
    probes for the stored plan's families, so they warm up while this process imports Inspect
    (`executors.cluster`). The run's preflight checks what they report."""
    from prereview.executors.cluster import plan_families, start_early
    from prereview.vault.policy import Operation

    service.require(ident, Operation.REVIEW_ASSESS)
    record = service.get(ident)
    plan = record.review.plan if record.review is not None else None
    families = plan_families([t.factory for t in plan.tasks]) if plan is not None else None
    start_early(address, families, check=families is not None)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def plan_table(plan: AssessmentPlan) -> Table:
    table = Table(
        title=f"plan: suite {plan.suite}, budget {_duration(plan.budget_s)} of "
        f"{_duration(plan.time_left_s)} left, predicted {_duration(plan.predicted_s)}",
        title_justify="left",
    )
    for col in ("#", "task", "tier", "samples", "requests", "predicted", "note"):
        table.add_column(col, overflow="fold")
    for n, t in enumerate(plan.tasks, 1):
        table.add_row(
            str(n),
            t.key,
            str(t.tier or "-"),
            str(t.samples),
            f"{t.requests:g}",
            _duration(t.predicted_s),
            t.note,
        )
    for d in plan.dropped:
        table.add_row(
            "-", f"[yellow]{d.key}[/]", str(d.tier or "-"), "0", "-", "-", f"dropped: {d.reason}"
        )
    return table


def print_record(record: SubmissionRecord) -> None:
    console.print(
        f"[bold]{shown(record.id)}[/]  {shown(record.organization)}  "
        f"state: [bold]{shown(record.state)}[/]"
    )
    version = f" {shown(record.model_version)}" if record.model_version else ""
    console.print(
        f"model: {shown(record.model_name)}{version} via {shown(record.model)}"
        + (f" at {shown(record.base_url)}" if record.base_url else "")
        + (f" (key from ${shown(record.api_key_env)})" if record.api_key_env else "")
    )
    console.print(
        f"release {record.release_date} (submitted {record.submitted_on}, "
        f"{record.lead_days} days ahead, policy {record.window_policy}); terms "
        f"{record.terms_version}; {record.confidentiality}; "
        + ("compared" if record.compare_in_later_reviews else "not compared")
        + " in later reviews"
    )
    rpm = (
        f"{record.requests_per_minute:g} req/min" if record.requests_per_minute else "no rate limit"
    )
    console.print(
        f"declared throughput: {rpm}, {record.max_connections} connections, "
        f"{record.seconds_per_request:g} s/request"
    )
    for change in record.history:
        console.print(
            f"  {change.at:%Y-%m-%d %H:%M} {change.action:<16} → {change.to_state:<18} "
            f"by {shown(change.actor)} ({change.role})"
        )
    review = record.review
    if review is None:
        return
    if review.plan is not None:
        console.print(plan_table(review.plan))
    if review.progress:
        table = Table(
            title=f"results: {review.samples_done}/{review.samples_planned} samples",
            title_justify="left",
        )
        for col in ("task", "tier", "done", "errors", "mean score", "tokens", "time"):
            table.add_column(col)
        for p in review.progress:
            table.add_row(
                p.key,
                str(p.tier or "-"),
                f"{p.done}/{p.planned}",
                str(p.errors),
                "-" if p.mean_score is None else f"{p.mean_score:.2f}",
                str(p.total_tokens),
                _duration(p.total_time_s),
            )
        console.print(table)
    for run in review.runs:
        console.print(
            f"run {run.number} ({'resumed, ' if run.resumed else ''}pid {run.pid} on {run.host}): "
            f"{run.status}" + (f" — {shown(run.detail)}" if run.detail else "")
        )


class RichProgress:
    """Assessment progress on stderr: one bar over every planned sample."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("[bold]assessing[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err_console,
        )
        self._task: Any = None

    def start(self, total: int, done: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("", total=total, completed=done)

    def advance(self, task_key: str, sample_id: str) -> None:
        self._progress.update(self._task, advance=1, description=f"{task_key} {sample_id}")

    def stop(self) -> None:
        self._progress.stop()


def register_review_commands(app: typer.Typer) -> None:
    @app.command()
    def submit(
        org: str = typer.Option(..., "--org", help="Developer organization submitting the model."),
        model: str = typer.Option(..., "--model", help="Inspect model string, e.g. openai/gpt-4o."),
        release_date: str = typer.Option(
            ..., "--release-date", help="Planned public release, YYYY-MM-DD."
        ),
        base_url: str | None = typer.Option(None, "--base-url", help="Model API base URL."),
        api_key_env: str | None = typer.Option(
            None, "--api-key-env", help="NAME of the environment variable holding the API key."
        ),
        policy: str | None = typer.Option(
            None, "--policy", help="Release-window policy (default eo-2026)."
        ),
        model_name: str | None = typer.Option(None, "--model-name", help="Model's product name."),
        model_version: str | None = typer.Option(None, "--model-version", help="Model version."),
        confidentiality: Confidentiality = typer.Option(
            Confidentiality.CONFIDENTIAL, "--confidentiality", help="How far results may travel."
        ),
        compare_later: bool = typer.Option(
            True,
            "--compare-in-later-reviews/--no-compare-in-later-reviews",
            help="May this review's results appear beside your later models in their reports?",
        ),
        rpm: float | None = typer.Option(None, "--rpm", help="Declared requests per minute."),
        connections: int | None = typer.Option(
            None, "--connections", help="Declared concurrent connections."
        ),
        latency: float | None = typer.Option(
            None, "--latency", help="Typical seconds per request."
        ),
        model_arg: list[str] = typer.Option(
            [], "--model-arg", "-M", help="Inspect model arg KEY=VALUE (never a secret)."
        ),
        json_out: bool = JsonOption,
    ) -> None:
        """Submit a model for a voluntary pre-release review; prints the submission id."""
        from prereview.review.service import SubmissionRequest

        access = ModelAccess(model=model, base_url=base_url, api_key_env=api_key_env)
        throughput = None
        if rpm is not None or connections is not None or latency is not None:
            default = Throughput.default_for(model)
            throughput = Throughput(
                requests_per_minute=rpm if rpm is not None else default.requests_per_minute,
                max_connections=connections or default.max_connections,
                seconds_per_request=latency or default.seconds_per_request,
            )
        request = SubmissionRequest(
            organization=org,
            access=access,
            release_date=parse_release_date(release_date),
            policy=policy,
            model_name=model_name,
            model_version=model_version,
            throughput=throughput,
            confidentiality=confidentiality,
            compare_in_later_reviews=compare_later,
            model_args=parse_model_args(model_arg),
        )
        with _service() as service:
            record = service.submit(request)
        if json_out:
            emit_json(record.as_dict())
            return
        err_console.print(
            f"submitted {shown(record.model_name)} for {shown(record.organization)}: release "
            f"{record.release_date} ({record.lead_days} days ahead, policy {record.window_policy})"
        )
        console.print(record.id)

    @app.command()
    def status(
        ident: str = typer.Argument(..., metavar="ID", help="Submission (or review) id."),
        json_out: bool = JsonOption,
    ) -> None:
        """Show a submission: state and history, plan, results so far, runs."""
        with _service() as service:
            record = service.get(ident)
        if json_out:
            emit_json(record.as_dict())
        else:
            print_record(record)

    @app.command("list")
    def list_(json_out: bool = JsonOption) -> None:
        """List submissions."""
        with _service() as service:
            records = service.submissions()
        if json_out:
            emit_json([r.as_dict() for r in records])
            return
        table = Table()
        for col in ("id", "organization", "model", "release", "state", "samples"):
            table.add_column(col)
        for r in records:
            done = f"{r.review.samples_done}/{r.review.samples_planned}" if r.review else "-"
            table.add_row(
                shown(r.id),
                shown(r.organization),
                shown(r.model_name),
                str(r.release_date),
                r.state,
                done,
            )
        console.print(table)

    @app.command()
    def assess(
        ident: str = typer.Argument(..., metavar="ID", help="Submission (or review) id."),
        suite: str | None = typer.Option(None, "--suite", help="Suite to plan (first run only)."),
        limit: int | None = typer.Option(None, "--limit", help="At most N samples per task."),
        resume: bool = typer.Option(False, "--resume", help="Continue an interrupted assessment."),
        plan_only: bool = typer.Option(
            False, "--plan-only", help="Store and show the plan; run nothing."
        ),
        baseline_budget: float = typer.Option(
            0,
            "--baseline-budget",
            help="After a completed run, the task families' non-AI baselines on the same "
            "instances, this many seconds each (0: none); the report sets them beside the model.",
        ),
        executor_name: str | None = typer.Option(
            None,
            "--executor",
            help="Where the plan runs: local (this process; default) or ray (a Ray cluster; "
            "config: executor).",
        ),
        address: str | None = typer.Option(
            None, "--address", help="HOST:PORT of the Ray head (config: ray_address)."
        ),
        json_out: bool = JsonOption,
    ) -> None:
        """Plan the review before the release date and run it through Inspect."""
        if not 0 <= baseline_budget <= 86400:
            raise PrereviewError(
                f"--baseline-budget must be from 0 to 86400 seconds, got {baseline_budget}"
            )
        from prereview.executors import checked_choice, configured_choice, executor_for

        chosen, where = configured_choice(settings(), executor_name, address)
        kind = checked_choice(chosen, where)  # a wrong choice is refused before anything starts

        with _service() as service:
            if plan_only:
                plan = service.plan(ident, suite=suite, limit=limit)
                if json_out:
                    emit_json(plan.to_dict())
                else:
                    console.print(plan_table(plan))
                return
            from prereview.service.client import RemoteError, RemoteReviewService

            if isinstance(service, RemoteReviewService):  # the server's worker runs it
                if executor_name or address:
                    raise RemoteError(
                        "--executor and --address choose where the agency host runs it: the "
                        "server's worker uses its configured executor"
                    )
                if baseline_budget:
                    raise RemoteError(
                        "--baseline-budget runs on the agency host: the API queues assessments "
                        "without baselines"
                    )
                job = service.queue(ident, suite=suite, limit=limit, resume=resume)
                if json_out:
                    emit_json(job)
                else:
                    console.print(
                        f"queued {'resume' if job['resume'] else 'assessment'} job "
                        f"{shown(job['id'])} for {shown(job['submission_id'])} on the agency's "
                        f"worker; follow it with `prereview status {shown(job['submission_id'])}`",
                        highlight=False,
                    )
                return
            if kind == "ray" and where is not None:
                _start_cluster_early(service, ident, where)
            from prereview.review.assessment import run_assessment

            executor = executor_for(chosen, where)
            outcome = run_assessment(
                service,
                ident,
                suite=suite,
                limit=limit,
                resume=resume,
                progress=None if json_out else RichProgress(),
                on_planned=None if json_out else lambda p: err_console.print(plan_table(p)),
                executor=executor,
            )
            baselines = (
                service.run_baselines(ident, baseline_budget)
                if baseline_budget and outcome.status == "completed"
                else []
            )
        if json_out:
            extra = {"baselines": [b.as_dict() for b in baselines]} if baseline_budget else {}
            emit_json({**outcome.as_dict(), **extra})
        else:
            console.print(
                f"run {outcome.run_number}: {outcome.status}, {outcome.samples_done}/"
                f"{outcome.samples_planned} samples"
                + (f" — {outcome.detail}" if outcome.detail else "")
            )
            for solver in sorted({b.solver for b in baselines}):
                mine = [b for b in baselines if b.solver == solver]
                found = sum(1 for b in mine if b.found)
                console.print(f"baseline {solver}: solved {found} of {len(mine)} instances")
        if outcome.status == "interrupted":
            raise typer.Exit(130)
        if outcome.status == "failed":
            raise typer.Exit(1)

    @app.command()
    def withdraw(
        ident: str = typer.Argument(..., metavar="ID", help="Submission (or review) id."),
        json_out: bool = JsonOption,
    ) -> None:
        """Withdraw a submission (the submitting organization, any time before it is closed)."""
        with _service() as service:
            record = service.withdraw(ident)
        if json_out:
            emit_json(record.as_dict())
        else:
            console.print(f"{record.id}: withdrawn")

    @app.command()
    def close(
        ident: str = typer.Argument(..., metavar="ID", help="Submission (or review) id."),
        json_out: bool = JsonOption,
    ) -> None:
        """Close a review whose findings have been delivered."""
        with _service() as service:
            record = service.close(ident)
        if json_out:
            emit_json(record.as_dict())
        else:
            console.print(f"{record.id}: closed")
