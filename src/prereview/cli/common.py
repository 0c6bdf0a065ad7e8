"""What every command shares: consoles, JSON output, settings, errors turned into exit codes."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any, ClassVar

import typer
from rich.console import Console
from rich.markup import escape
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
            # the message may quote hostile input: never let it be read as markup
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(exc.exit_code) from None


class RootGroup(PrereviewGroup):
    """The `prereview` group: command groups in `lazy_groups` are imported only when used.

    The vault, findings and report groups pull in SQLAlchemy, cryptography and SciPy; importing
    them for every command would make `prereview status` take seconds to start.
    """

    lazy_groups: ClassVar[dict[str, str]] = {}  # command name -> module holding its Typer `app`

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_groups})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.lazy_groups and cmd_name not in self.commands:
            module = importlib.import_module(self.lazy_groups[cmd_name])
            command = typer.main.get_command(module.app)
            command.name = cmd_name
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


def new_app(help_text: str, cls: type[PrereviewGroup] = PrereviewGroup) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        cls=cls,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


def settings() -> Settings:
    return load_settings()


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
