"""What every command shares: consoles, JSON output, settings, errors turned into exit codes."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterable
from typing import Any, ClassVar

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.segment import Segment
from rich.text import Text
from typer.core import TyperGroup

from prereview.config import Settings, load_settings
from prereview.domain.display import CONTROL_AND_BIDI, terminal_text
from prereview.errors import PrereviewError


class SafeConsole(Console):
    """A console that never passes an escape sequence, control character or bidi override from
    what it prints to the terminal: strings are cleaned before layout (so tables still line up),
    and every segment of text once more on the way out (Text objects, anything else), which
    also loses any hyperlink. Its own styling is not text and is untouched."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(terminal_text(text), **kwargs)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None:
                text = terminal_text(segment.text)
                style = segment.style
                if style is not None and style.link:  # no OSC 8 hyperlink, whatever asked for it
                    style = style.update_link(None)
                if text != segment.text or style is not segment.style:
                    segment = Segment(text, style)
            yield segment


def shown(value: object) -> str:
    """A stored or user-supplied value for a console string or table cell: read as text, never
    as markup, and without escape sequences or controls (the console strips those anyway)."""
    return escape(terminal_text(str(value)))


console = SafeConsole()
err_console = SafeConsole(stderr=True, soft_wrap=True)

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

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        client = sys.modules.get("prereview.service.client")  # loaded only with a server set
        if client is not None and ctx.parent is not None:
            client.check_remote_subcommand(ctx.info_name, name)
        return name, command, rest


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


def remote() -> bool:
    """Whether this invocation talks to a server (PREREVIEW_URL/--server): the command then
    asks the API (`prereview.service.client.api_call`) for the records it prints."""
    client = sys.modules.get("prereview.service.client")  # imported by the root command then
    return client is not None and client.server_url() is not None


def api(method: str, path: str, **kwargs: Any) -> Any:
    """The server's JSON answer to one request of this invocation (see `remote`)."""
    from prereview.service.client import api_call

    return api_call(method, path, **kwargs)


def part(text: str) -> str:
    """`text` as one segment of an API path."""
    from urllib.parse import quote

    return quote(text, safe="")


def plain(data: Any) -> Any:
    """Records as the API sends them (dates and paths as strings), so the local path formats
    exactly what a remote call returns."""
    return json.loads(json.dumps(data, default=str))


# JSON escapes C0 controls itself; C1 controls and bidi overrides are written as \u escapes too,
# so the document is unchanged for a parser and inert on a terminal.
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in CONTROL_AND_BIDI if c >= 0x7F}


def emit_json(data: Any) -> None:
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write(text.translate(_JSON_ESCAPES) + "\n")
