"""What every command shares: consoles, JSON output, settings, errors turned into exit codes."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from prereview.config import Settings, load_settings
from prereview.errors import PrereviewError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of text.")


class PrereviewGroup(TyperGroup):
    """Turns every PrereviewError raised by any subcommand into one line on stderr and its code."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except PrereviewError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(exc.exit_code) from None


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        cls=PrereviewGroup,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


def settings() -> Settings:
    return load_settings()


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
