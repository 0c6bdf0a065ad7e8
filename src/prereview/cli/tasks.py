"""`prereview tasks`: list task families, generate instances, verify them, run the baseline.

Thin commands over the installed task families (`prereview.suites.registry`); each takes
`--json`. A family that failed to load is listed with the reason; the others keep working.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prereview.cli.common import JsonOption, console, emit_json, err_console, new_app
from prereview.errors import PrereviewError
from prereview.suites.interface import CommandResult, InstanceTools
from prereview.suites.registry import installed_families

app = new_app(
    "Task families: list them, generate fresh instances, verify them, measure a baseline."
)


def _tools(name: str | None) -> InstanceTools:
    """The generate/verify/baseline tools of family `name` (None: the one family that has
    them, when there is only one)."""
    families = installed_families()
    if name is not None:
        tools = families.get(name).instance_tools()
        if tools is None:
            raise PrereviewError(f"task family {name!r} has no generated instances")
        return tools
    with_tools = [f for f in families.families.values() if f.instance_tools() is not None]
    if len(with_tools) != 1:
        names = ", ".join(f.name for f in with_tools) or "none"
        raise PrereviewError(f"name the task family with --family ({names})")
    tools = with_tools[0].instance_tools()
    assert tools is not None
    return tools


def _show(result: CommandResult, json_out: bool) -> None:
    if json_out:
        emit_json(dict(result.data))
    else:
        table = Table(title=result.table.title)
        for header, _ in result.table.columns:
            table.add_column(header, overflow="fold")
        for row in result.table.rows:
            table.add_row(*(str(row[key]) for _, key in result.table.columns))
        console.print(table)
        for note in result.notes:
            console.print(note)
        for warning in result.warnings:
            err_console.print(f"[yellow]{warning}[/]")
    if not result.ok:
        raise typer.Exit(1)


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
    """Task families, their Inspect tasks, tiers and suites; broken ones with the reason."""
    from prereview.cli.common import api, remote
    from prereview.suites.listing import family_listing

    data: list[dict[str, Any]] = api("GET", "/api/v1/tasks") if remote() else family_listing()
    if json_out:
        emit_json(data)
        return
    table = Table(title="task families")
    for col in ("family", "inspect tasks", "tiers", "suites", "status"):
        table.add_column(col, overflow="fold")
    for row in data:
        table.add_row(
            row["family"],
            "\n".join(row.get("inspect_tasks", [])),
            "\n".join(f"{t} {n}" for t, n in row.get("tiers", {}).items()),
            "\n".join(row.get("suites", [])),
            f"[red]{row['problem']}[/]" if row["problem"] else "ok",
        )
    console.print(table)


@app.command()
def generate(
    family: str = typer.Argument(..., help="Task family (see `prereview tasks list`)."),
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
    ladder_budget: float = typer.Option(
        0,
        "--ladder-budget",
        help="Tier placement: run the family's baseline ladder this many seconds a rung on each "
        "verified instance and regenerate the ones whose measured difficulty contradicts the "
        "tier (0: no placement).",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Generate verified instances; one failing verification is deleted and replaced."""
    tools = _tools(family)
    options: dict[str, list[str]] = {"bug_class": bug_class}
    if ladder_budget:
        if not tools.placement:
            raise PrereviewError(f"--ladder-budget: family {family} has no tier placement")
        options["ladder_budget"] = [f"{ladder_budget:g}"]
    with _progress(f"{family} tier {tier}", json_out) as update:
        result = tools.generate(
            out,
            seed=seed,
            tier=tier,
            count=count,
            options=options,
            jobs=jobs or None,
            progress=update,
        )
    _show(result, json_out)


FamilyOption = typer.Option(
    None,
    "--family",
    help="Task family (default: the family named in the instances' manifests).",
)
_MANIFEST_LIMIT = 1 << 20


def _tools_for(family: str | None, directory: Path) -> InstanceTools:
    """The tools of `family`, or of the one family the manifests under `directory` name
    (`instance.json` files carry a `family` field), so `tasks verify DIR` needs no option."""
    if not directory.exists():
        raise PrereviewError(f"instance directory {directory} does not exist")
    if family is None:
        named = _manifest_families(directory)
        if len(named) == 1:
            family = named.pop()
    return _tools(family)


def _manifest_families(directory: Path) -> set[str]:
    candidates = [directory / "instance.json", *directory.glob("*/instance.json")]
    candidates += sorted(directory.glob("*.json")) if directory.is_dir() else []
    named: set[str] = set()
    for path in candidates[:1000]:
        try:
            if not path.is_file() or path.stat().st_size > _MANIFEST_LIMIT:
                continue
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("family"), str):
            named.add(data["family"])
    return named


@app.command()
def verify(
    directory: Path = typer.Argument(
        ..., help="An instance directory, or a directory of instances."
    ),
    jobs: int = typer.Option(0, "--jobs", help="Parallel builds (default: all cores)."),
    fuzz_fixed: float = typer.Option(
        0, "--fuzz-fixed", help="Also fuzz each fixed build this many seconds (finds stray bugs)."
    ),
    family: str | None = FamilyOption,
    json_out: bool = JsonOption,
) -> None:
    """Rebuild and re-check instances from their manifests; exit 1 if any fails."""
    tools = _tools_for(family, directory)
    with _progress("verifying", json_out) as update:
        result = tools.verify(directory, jobs=jobs or None, fuzz_s=fuzz_fixed, progress=update)
    _show(result, json_out)


@app.command()
def baseline(
    directory: Path = typer.Argument(
        ..., help="An instance directory, or a directory of instances."
    ),
    budget: float = typer.Option(60.0, "--budget", help="Fuzzing seconds per instance."),
    seed: int = typer.Option(1, "--seed", help="Baseline solver seed."),
    runs: int = typer.Option(0, "--runs", help="Also stop after this many executions (0: no cap)."),
    jobs: int = typer.Option(0, "--jobs", help="Parallel solvers (default: all cores)."),
    family: str | None = FamilyOption,
    json_out: bool = JsonOption,
) -> None:
    """Run the family's non-AI baseline on each instance (e.g. a fuzzer)."""
    tools = _tools_for(family, directory)
    with _progress("baseline", json_out) as update:
        result = tools.baseline(
            directory,
            budget_s=budget,
            seed=seed,
            max_runs=runs or None,
            jobs=jobs or None,
            progress=update,
        )
    _show(result, json_out)
