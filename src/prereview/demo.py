"""The demo: the main job end to end on the embedded model, ending with a report on disk.

Run by a coordinator (in a fresh data dir: the one `prereview init` just made), who adds a
submitter principal of a demo organization and acts for it only through the token that
principal was issued (revoked when the demo ends). That submitter submits the embedded model
with a release date 21 days ahead; the agency's coordinator plans the installed families' quick
suite (one with generated instances first, else any quick suite) into the window, assesses it
through Inspect, runs the families' non-AI baselines on the same instances, writes the
capability report and delivers the findings.
Every step says what it does on the console.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rich.console import Console, RenderableType

from prereview.config import Settings, load_settings
from prereview.domain.submission import ModelAccess
from prereview.home import initialize_home
from prereview.planning.catalog import quick_suite
from prereview.planning.planner import AssessmentPlan
from prereview.review.service import ReviewService, SubmissionRequest, check_model_available
from prereview.vault.policy import Operation, Resource

if TYPE_CHECKING:
    from prereview.review.assessment import ProgressListener

DEMO_ORGANIZATION = "Demo Frontier Lab"
DEMO_SUBMITTER = "demo-submitter"
DEMO_LEAD_DAYS = 21


class PlanView(Protocol):
    def __call__(self, plan: AssessmentPlan) -> RenderableType: ...


@contextlib.contextmanager
def _demo_submitter(coordinator: ReviewService) -> Iterator[ReviewService]:
    """A new submitter principal of the demo organization, created by the coordinator, and the
    service acting for it through the token it was issued (never a session made up without
    one). Its token lives only in this process: the principal is revoked when the demo ends."""
    from prereview.vault.principals import Role as PrincipalRole

    vault = coordinator.access.vault
    coordinator.access.guard.require(
        Operation.PRINCIPALS_MANAGE, Resource.system(), target="the demo's submitter principal"
    )
    taken = {info.name for info in vault.principals.list()}
    name = DEMO_SUBMITTER
    while name in taken:
        name = f"{DEMO_SUBMITTER}-{secrets.token_hex(3)}"
    principal, token = vault.principals.add(
        name, PrincipalRole.SUBMITTER, DEMO_ORGANIZATION, coordinator.access.principal.name
    )
    coordinator.access.guard.record(
        "principals.add",
        "ok",
        target=f"principal {principal.name}",
        detail={"principal_id": principal.id, "role": principal.role.value, "demo": True},
    )
    try:
        yield coordinator.acting_as(vault.authenticate(token, "the demo's own submitter"))
    finally:
        vault.principals.revoke(principal.name, coordinator.access.principal.name)
        coordinator.access.guard.record(
            "principals.revoke",
            "ok",
            target=f"principal {principal.name}",
            detail={"principal_id": principal.id, "demo": True},
        )


BASELINE_BUDGET_S = 10.0


def _run_baselines(coordinator: ReviewService, submission_id: str, out: Console) -> None:
    """Each family's non-AI baseline on the instances the model just saw, a fixed budget each;
    the review service stores the results where the report sets the model's beside them."""
    out.print(f"[bold]3b. baseline[/]: non-AI baselines ({BASELINE_BUDGET_S:.0f} s budget each)")
    results = coordinator.run_baselines(submission_id, BASELINE_BUDGET_S)
    if not results:
        out.print("   no task family of this suite has a baseline")
        return
    for solver in sorted({r.solver for r in results}):
        mine = [r for r in results if r.solver == solver]
        found = sum(1 for r in mine if r.found)
        out.print(f"   {solver} solved {found} of {len(mine)} instances")


def run_demo(
    settings: Settings,
    model: str,
    console: Console | None = None,
    *,
    plan_view: PlanView | None = None,
    progress: ProgressListener | None = None,
    suite: str | None = None,
) -> Path:
    """The demo, as the coordinator whose token `settings` holds (in a fresh data dir: the one
    `init` just created). Any other principal is refused (audited) before anything is written.

    `plan_view` and `progress` show the plan and the run (the CLI passes its own; the demo does
    not import the CLI)."""
    from prereview.reports.publish import produce_report
    from prereview.review.assessment import run_assessment

    out = console or Console(stderr=True)
    access = ModelAccess(model=model)
    check_model_available(access)  # a model that cannot run fails before anything is shown
    initialize_home(settings)
    if settings.token is None:  # `prereview init` just saved the coordinator's token
        settings = load_settings()
    if suite is None:
        suite = quick_suite()
    with ReviewService.open(settings) as coordinator, _demo_submitter(coordinator) as submitter:
        release = coordinator.clock().date() + timedelta(days=DEMO_LEAD_DAYS)
        out.print(
            f"[bold]1. submit[/]: {DEMO_ORGANIZATION} submits {model}, public release {release}"
        )
        record = submitter.submit(
            SubmissionRequest(
                organization=DEMO_ORGANIZATION,
                access=access,
                release_date=release,
                model_version="demo",
            )
        )
        out.print(
            f"   submission {record.id}: {record.lead_days} days before release, inside window "
            f"policy {record.window_policy}"
        )
        out.print(f"[bold]2. plan[/]: fit suite {suite} into the time left before release")
        plan = coordinator.plan(record.id, suite=suite)
        if plan_view is not None:
            out.print(plan_view(plan))
        out.print(f"[bold]3. assess[/]: {plan.total_samples} samples through Inspect on {model}")
        outcome = run_assessment(coordinator, record.id, progress=progress)
        out.print(
            f"   run {outcome.run_number} {outcome.status}: {outcome.samples_done}/"
            f"{outcome.samples_planned} samples recorded"
        )
        _run_baselines(coordinator, record.id, out)
        out.print("[bold]4. report[/]: write the capability report, deliver the findings")
        written = produce_report(settings, record.id, fmt="html", session=coordinator.access)
        record = coordinator.deliver_findings(record.id)
        out.print(
            f"   {record.id} is {record.state.value}; `prereview status {record.id}` shows it, "
            f"`prereview close {record.id}` closes it"
        )
    return written.path
