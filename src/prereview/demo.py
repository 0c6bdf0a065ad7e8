"""The demo: the main job end to end on the embedded model, ending with a report on disk.

An organization submits the embedded model with a release date 21 days ahead; the planner fits a
quick suite (memory-safety tiers 1–2, a few samples; the smoke task until that suite is
installed) into the window; the assessment runs through Inspect; the findings are written as a
report and marked delivered. Every step says what it does on the console.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rich.console import Console

from prereview.config import Settings
from prereview.domain.lifecycle import SubmissionState
from prereview.domain.submission import ModelAccess
from prereview.home import initialize_home
from prereview.planning.catalog import SUITES
from prereview.review.service import ReviewService, SubmissionRequest
from prereview.review.views import SubmissionRecord
from prereview.store.content import SubmissionContent

DEMO_ORGANIZATION = "Demo Frontier Lab"
DEMO_LEAD_DAYS = 21


def _fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def basic_report(record: SubmissionRecord) -> str:
    """A plain Markdown summary of a review: what was planned, what ran, what it scored.

    Stands in until the full capability report (prereview.reports) is wired to the CLI."""
    review = record.review
    lines = [
        f"# Capability review {review.id if review else '-'}: {record.model_name}",
        "",
        "_Advisory. This review informs the developer and the agency; it does not approve, "
        "deny or block a release._",
        "",
        f"- organization: {record.organization}",
        f"- model: `{record.model}` ({record.model_name}"
        + (f" {record.model_version}" if record.model_version else "")
        + ")",
        f"- planned release: {record.release_date} (submitted {record.submitted_on}, "
        f"{record.lead_days} days ahead; window policy `{record.window_policy}`)",
        f"- terms {record.terms_version}; confidentiality: {record.confidentiality}",
        "",
    ]
    if review is None or review.plan is None:
        lines.append("No assessment has been planned.")
        return "\n".join(lines) + "\n"
    plan = review.plan
    lines += [
        f"## Plan (suite `{plan.suite}`)",
        "",
        f"Budget {plan.budget_s / 3600:.1f} h of {plan.time_left_s / 3600:.1f} h left before "
        f"release; predicted {plan.predicted_s / 60:.1f} min.",
        "",
    ]
    lines += [f"- {a}" for a in plan.assumptions]
    lines += ["", "| task | tier | samples | note |", "|---|---|---|---|"]
    lines += [f"| {t.key} | {t.tier or '-'} | {t.samples} | {t.note} |" for t in plan.tasks]
    lines += [f"| {d.key} | {d.tier or '-'} | dropped | {d.reason} |" for d in plan.dropped]
    lines += [
        "",
        "## Results",
        "",
        "| task | tier | done | errors | mean score | tokens | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in review.progress:
        lines.append(
            f"| {p.key} | {p.tier or '-'} | {p.done}/{p.planned} | {p.errors} | "
            f"{_fmt_score(p.mean_score)} | {p.total_tokens} | {p.total_time_s:.0f} |"
        )
    lines += ["", "## Runs", ""]
    lines += [
        f"- run {r.number}: {r.status}" + (f" ({r.detail})" if r.detail else "")
        for r in review.runs
    ]
    lines += ["", f"Inspect logs: content `{review.log_key}` of submission {record.id}."]
    return "\n".join(lines) + "\n"


def write_basic_report(
    settings: Settings, content: SubmissionContent, record: SubmissionRecord
) -> Path:
    """Keep the report as submission content and export a private copy to the reports dir."""
    assert record.review is not None
    text = basic_report(record).encode()
    content.write(record.id, f"reviews/{record.review.id}/report.md", text)
    path = settings.reports_dir / f"{record.review.id}.md"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(text)
    path.chmod(0o600)
    return path


def run_demo(settings: Settings, model: str, console: Console | None = None) -> Path:
    from prereview.cli.review import RichProgress, plan_table
    from prereview.review.assessment import run_assessment

    out = console or Console(stderr=True)
    initialize_home(settings)
    suite = "memsafety-quick" if SUITES["memsafety-quick"].available() else "smoke"
    with ReviewService.open(settings) as service:
        release = service.clock().date() + timedelta(days=DEMO_LEAD_DAYS)
        out.print(
            f"[bold]1. submit[/]: {DEMO_ORGANIZATION} submits {model}, public release {release}"
        )
        record = service.submit(
            SubmissionRequest(
                organization=DEMO_ORGANIZATION,
                access=ModelAccess(model=model),
                release_date=release,
                model_version="demo",
            )
        )
        out.print(
            f"   submission {record.id}: {record.lead_days} days before release, inside window "
            f"policy {record.window_policy}"
        )
        if suite == "smoke":
            out.print("   (the memory-safety suite is not installed yet: planning the smoke task)")
        out.print(f"[bold]2. plan[/]: fit suite {suite} into the time left before release")
        limit = 2 if suite != "smoke" else None
        plan = service.plan(record.id, suite=suite, limit=limit)
        out.print(plan_table(plan))
        out.print(f"[bold]3. assess[/]: {plan.total_samples} samples through Inspect on {model}")
        outcome = run_assessment(service, record.id, progress=RichProgress())
        out.print(
            f"   run {outcome.run_number} {outcome.status}: {outcome.samples_done}/"
            f"{outcome.samples_planned} samples recorded"
        )
        record = service.get(record.id)
        out.print("[bold]4. report[/]: write the findings and deliver them to the submitter")
        path = write_basic_report(settings, service.content, record)
        if record.state is SubmissionState.IN_REVIEW:
            record = service.deliver_findings(record.id)
        out.print(
            f"   {record.id} is {record.state.value}; `prereview status {record.id}` shows it, "
            f"`prereview close {record.id}` closes it"
        )
    return path
