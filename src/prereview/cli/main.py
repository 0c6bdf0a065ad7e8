"""`prereview` top-level command: wires the command groups together."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from prereview import __version__
from prereview.cli.common import JsonOption, RootGroup, console, emit_json, new_app, settings
from prereview.cli.report import register_report_commands
from prereview.cli.review import register_review_commands
from prereview.home import initialize_home

app = new_app(
    "prereview: voluntary pre-release reviews of frontier AI models' cyber capabilities.\n\n"
    "Reviews inform; they never approve, deny or block a release.",
    cls=RootGroup,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"prereview {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    server: str | None = typer.Option(
        None,
        "--server",
        help="Talk to the agency service at this URL (as PREREVIEW_URL does): https, or http "
        "on loopback only.",
    ),
) -> None:
    """prereview command line."""
    import os
    import sys

    loaded = sys.modules.get("prereview.service.client")
    if loaded is not None:  # an earlier invocation in this process chose its own server
        loaded.use_server(None)
    if server or os.environ.get("PREREVIEW_URL"):
        from prereview.service.client import (
            REMOTE_COMMANDS,
            RemoteError,
            check_url,
            server_url,
            use_server,
        )

        use_server(server)
        url = server_url()
        assert url is not None
        check_url(url)
        if ctx.invoked_subcommand is not None and ctx.invoked_subcommand not in REMOTE_COMMANDS:
            raise RemoteError(
                f"`prereview {ctx.invoked_subcommand}` runs on the agency host, not against a "
                f"server: unset PREREVIEW_URL (remote: {', '.join(sorted(REMOTE_COMMANDS))})"
            )


@app.command()
def init(
    save_token: bool = typer.Option(
        True,
        "--save-token/--no-save-token",
        help="Also write the first coordinator's token to the config file (0600).",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Create the data dir (database, logs, artifacts, keys) and the first coordinator, whose
    API token is printed once. Safe to run again."""
    result = initialize_home(settings(), save_token=save_token)
    if json_out:
        emit_json(result)
    else:
        verb = "created" if result["created"] else "already initialized"
        console.print(f"{verb}: {result['home']}")
        console.print(f"database: {result['database']} (schema {', '.join(result['schema'])})")
        if result["token"]:
            where = (
                f"; saved to {result['token_saved_to']} (0600) for this CLI"
                if result["token_saved_to"]
                else "; set it as PREREVIEW_TOKEN"
            )
            console.print(
                f"coordinator {result['coordinator']!r} created. Its API token is shown only "
                f"now{where}:"
            )
            console.print(result["token"], highlight=False, soft_wrap=True)


@app.command()
def doctor(
    node: bool = typer.Option(
        False,
        "--node",
        help="Check a worker node of a cluster (sandbox, families' tools, plaintext window; no "
        "data dir) and sweep what killed units left in its plaintext window.",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Check every requirement of this host and say how to fix what fails."""
    from prereview.cli.common import api, remote
    from prereview.doctor import run_checks, run_node_checks

    if remote():  # the agency host's checks, for its coordinators
        if node:
            from prereview.service.client import RemoteError

            raise RemoteError("`prereview doctor --node` checks this machine: unset PREREVIEW_URL")
        checks: list[dict[str, Any]] = api("GET", "/api/v1/doctor")["checks"]
    else:
        if node:
            from prereview.executors.node import sweep

            sweep()
        results = run_node_checks(settings()) if node else run_checks(settings())
        checks = [r.as_dict() for r in results]
    failed = [r for r in checks if r["required"] and not r["ok"]]
    if json_out:
        emit_json({"ok": not failed, "checks": checks})
    else:
        table = Table(title="prereview doctor --node" if node else "prereview doctor")
        for col in ("check", "status", "detail", "fix"):
            table.add_column(col, overflow="fold")
        for r in checks:
            status = (
                "[green]pass[/]"
                if r["ok"]
                else ("[red]FAIL[/]" if r["required"] else "[yellow]warn[/]")
            )
            table.add_row(r["name"], status, r["detail"], "" if r["ok"] else r["fix"])
        console.print(table)
    if failed:
        raise typer.Exit(1)


@app.command()
def demo(
    model: str = typer.Option("local/smollm2", help="Inspect model string to review."),
    json_out: bool = JsonOption,
) -> None:
    """Run the main job end to end on the embedded model and print the report path."""
    from prereview.cli.review import RichProgress, plan_table
    from prereview.demo import run_demo

    report = run_demo(settings(), model=model, plan_view=plan_table, progress=RichProgress())
    if json_out:
        emit_json({"report": str(report)})
    else:
        console.print(f"report: {report}", soft_wrap=True, highlight=False)


register_review_commands(app)
RootGroup.lazy_groups = {
    name: f"prereview.cli.{name}"
    for name in (
        "principals",
        "keys",
        "audit",
        "findings",
        "advisories",
        "sandbox",
        "tasks",
        "logs",
        "serve",
        "worker",
        "jobs",
    )
}
register_report_commands(app)


def main() -> None:
    app()
