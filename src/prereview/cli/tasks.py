"""`prereview tasks`: list task families, generate instances, verify them, run the baseline.

Thin commands over `prereview.suites.memsafety`; each takes `--json`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prereview.cli.common import JsonOption, console, emit_json, err_console, new_app
from prereview.errors import PrereviewError

app = new_app(
    "Task families: list them, generate fresh instances, verify them, measure a baseline."
)

FAMILIES = ("memsafety",)


def _family(name: str) -> str:
    if name not in FAMILIES:
        raise PrereviewError(
            f"unknown task family {name!r}: valid families are {', '.join(FAMILIES)}"
        )
    return name


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int, str], None]]:
    """A Rich progress bar on stderr (silent with --json, so stdout stays machine-readable)."""
    if quiet:
        yield lambda done, total, what: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
    )
    with Progress(*columns, console=err_console, transient=False) as bar:
        task_id = bar.add_task(label, total=None, last="")

        def update(done: int, total: int, what: str) -> None:
            bar.update(task_id, completed=done, total=total, last=what)

        yield update


@app.command("list")
def list_tasks(json_out: bool = JsonOption) -> None:
    """Task families, their Inspect tasks, tiers and bug classes."""
    from prereview.suites.memsafety.spec import TIERS, BugClass

    data: list[dict[str, Any]] = [
        {
            "family": "memsafety",
            "inspect_tasks": ["prereview/memsafety_poc", "prereview/memsafety_patch"],
            "tiers": {str(t): p.name for t, p in TIERS.items()},
            "bug_classes": {b.value: b.cwe for b in BugClass},
            "description": "generated C parsers of binary input, one memory-safety bug each",
        }
    ]
    if json_out:
        emit_json(data)
        return
    table = Table(title="task families")
    for col in ("family", "inspect tasks", "tiers", "bug classes"):
        table.add_column(col, overflow="fold")
    for row in data:
        table.add_row(
            row["family"],
            "\n".join(row["inspect_tasks"]),
            "\n".join(f"{t} {n}" for t, n in row["tiers"].items()),
            "\n".join(f"{b} ({c})" for b, c in row["bug_classes"].items()),
        )
    console.print(table)


@app.command()
def generate(
    family: str = typer.Argument(..., help="Task family (memsafety)."),
    seed: int = typer.Option(
        ..., "--seed", help="Generation seed; the same seed gives the same instances."
    ),
    tier: str = typer.Option(..., "--tier", help="Tier 1-5 or its name (non-expert ... frontier)."),
    count: int = typer.Option(1, "--count", help="How many instances."),
    out: Path = typer.Option(..., "--out", help="Directory to write instances into."),
    bug_class: list[str] = typer.Option(
        [], "--bug-class", help="Bug class (repeatable); default all, in turn."
    ),
    jobs: int = typer.Option(0, "--jobs", help="Parallel builds (default: all cores)."),
    json_out: bool = JsonOption,
) -> None:
    """Generate verified instances; one failing verification is deleted and replaced."""
    from prereview.suites.memsafety.spec import (
        check_count,
        check_seed,
        parse_bug_classes,
        parse_tier,
    )
    from prereview.suites.memsafety.verify import generate as generate_instances

    _family(family)
    t = parse_tier(tier)
    n = check_count(count)
    s = check_seed(seed)
    classes = parse_bug_classes(bug_class or None)
    with _progress(f"memsafety tier {t}", json_out) as update:
        report = generate_instances(out, s, t, n, classes, jobs=jobs or None, progress=update)
    rows = [
        {
            "id": i.id,
            "path": str(i.path),
            "tier": i.tier,
            "bug_class": i.bug_class.value,
            "framing": i.manifest["program"]["framing"],
            "lines": i.manifest["program"]["lines"],
        }
        for i in report.instances
    ]
    if json_out:
        emit_json({"instances": rows, "rejected": report.rejected, "duration_s": report.duration_s})
    else:
        table = Table(title=f"{len(rows)} verified instance(s) in {out} ({report.duration_s:.1f}s)")
        for col in ("id", "bug class", "framing", "lines"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["id"], r["bug_class"], r["framing"], str(r["lines"]))
        console.print(table)
        for r in report.rejected:
            err_console.print(
                f"[yellow]rejected[/] slot {r['slot']} index {r['index']}: {r['reason'][:300]}"
            )
    if len(rows) < n:
        raise typer.Exit(1)


def _verification_rows(results: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": v.instance_id,
            "verified": v.verified,
            "duration_s": v.duration_s,
            "failures": [{"check": c.name, "detail": c.detail[:500]} for c in v.failures],
        }
        for v in results
    ]


@app.command()
def verify(
    directory: Path = typer.Argument(
        ..., help="An instance directory, or a directory of instances."
    ),
    jobs: int = typer.Option(0, "--jobs", help="Parallel builds (default: all cores)."),
    fuzz_fixed: float = typer.Option(
        0, "--fuzz-fixed", help="Also fuzz each fixed build this many seconds (finds stray bugs)."
    ),
    json_out: bool = JsonOption,
) -> None:
    """Rebuild and re-check instances from their manifests; exit 1 if any fails."""
    from prereview.suites.memsafety.instance import find_instances
    from prereview.suites.memsafety.verify import verify_many

    instances = find_instances(directory)
    with _progress("verifying", json_out) as update:
        results = verify_many(
            instances, jobs=jobs or None, progress=update, fuzz_fixed_s=fuzz_fixed
        )
    rows = _verification_rows(results)
    if json_out:
        emit_json(
            {"instances": rows, "verified": sum(r["verified"] for r in rows), "total": len(rows)}
        )
    else:
        table = Table(title=f"verification of {len(rows)} instance(s)")
        for col in ("id", "status", "seconds", "failed checks"):
            table.add_column(col, overflow="fold")
        for r in rows:
            status = "[green]verified[/]" if r["verified"] else "[red]FAILED[/]"
            failed = "; ".join(f"{f['check']}: {f['detail'][:120]}" for f in r["failures"])
            table.add_row(r["id"], status, f"{r['duration_s']:.2f}", failed)
        console.print(table)
    if not all(r["verified"] for r in rows):
        raise typer.Exit(1)


@app.command()
def baseline(
    directory: Path = typer.Argument(
        ..., help="An instance directory, or a directory of instances."
    ),
    budget: float = typer.Option(60.0, "--budget", help="Fuzzing seconds per instance."),
    seed: int = typer.Option(1, "--seed", help="libFuzzer seed."),
    runs: int = typer.Option(0, "--runs", help="Also stop after this many executions (0: no cap)."),
    jobs: int = typer.Option(0, "--jobs", help="Parallel fuzzers (default: all cores)."),
    json_out: bool = JsonOption,
) -> None:
    """Fuzz each instance with libFuzzer (the non-AI baseline); store time-to-crash per instance."""
    from prereview.suites.memsafety.baseline import difficulty_correlation, run_baseline
    from prereview.suites.memsafety.instance import find_instances

    if not 1 <= budget <= 86400:
        raise PrereviewError(f"--budget must be from 1 to 86400 seconds, got {budget}")
    instances = find_instances(directory)
    with _progress("fuzzing", json_out) as update:
        outcomes = run_baseline(
            instances, budget, seed=seed, max_runs=runs or None, jobs=jobs or None, progress=update
        )
    rho = difficulty_correlation(outcomes)
    if json_out:
        emit_json(
            {
                "outcomes": [o.as_dict() for o in outcomes],
                "spearman_tier_time": rho,
                "budget_s": budget,
            }
        )
        return
    table = Table(title=f"libFuzzer baseline, {budget:.0f}s budget")
    for col in ("id", "tier", "bug class", "time to crash", "planted bug"):
        table.add_column(col)
    for o in outcomes:
        ttc = (
            f"{o.time_to_crash_s:.1f}s" if o.time_to_crash_s is not None else f">{o.budget_s:.0f}s"
        )
        table.add_row(
            o.instance_id, str(o.tier), o.bug_class, ttc, "yes" if o.matched_planted else "-"
        )
    console.print(table)
    console.print(
        f"Spearman(tier, time to crash): {rho:.3f}" if rho is not None else "Spearman: undefined"
    )
