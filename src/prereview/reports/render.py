"""Renderers: one report model, three formats that say the same thing.

- HTML: one self-contained file (CSS inline, charts as inline SVG, no external fonts, scripts or
  images), readable offline on an air-gapped host.
- PDF: WeasyPrint from that same HTML; its URL fetcher refuses everything, so rendering can
  never reach the network or the file system. Markings go into every page's margins.
- Markdown: the tables and text without the charts.
"""

from __future__ import annotations

import re
import warnings
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from prereview import __version__
from prereview.errors import PrereviewError
from prereview.reports.charts import charts_for
from prereview.reports.document import CapabilityReport
from prereview.reports.formatting import (
    DASH,
    difficulty_text,
    interval_text,
    pct,
    points,
    seconds_text,
)

Format = Literal["html", "pdf", "md"]
FORMATS: tuple[Format, ...] = ("html", "pdf", "md")
SUFFIX: dict[Format, str] = {"html": ".html", "pdf": ".pdf", "md": ".md"}


class RenderError(PrereviewError):
    """A report could not be rendered in the asked format."""


def css_string(value: str) -> Markup:
    """Text as the body of a double-quoted CSS string that cannot leave its `<style>` element.

    Everything that could end the string or the element is a CSS escape, so the result is safe
    as is (HTML escaping would corrupt it: `<style>` content is raw text).
    """
    out = []
    for ch in value:
        if ch in "\"\\<>&'" or ord(ch) < 0x20:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup("".join(out))  # noqa: S704  # every character that could escape is escaped above


_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|])")


def md_text(value: object) -> str:
    """Text safe to drop into Markdown: no emphasis, links, headings or raw HTML from data."""
    text = str(value)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def md_cell(value: object) -> str:
    """`md_text` that also stays on one table row."""
    return re.sub(r"\s*[\r\n]+\s*", " ", md_text(value))


def md_code(value: object) -> str:
    """An inline code span that stays one span on one table row (backticks cannot end it)."""
    text = re.sub(r"\s+", " ", str(value)).replace("`", "'").replace("|", "\\|")
    return f"`{text}`"


def _when(value: datetime | None) -> str:
    return DASH if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _count(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f}"


def _interval(value: Any) -> str:
    return interval_text(value)


@cache
def _environment(kind: Literal["html", "md"]) -> Environment:
    env = Environment(
        loader=PackageLoader("prereview.reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=kind == "html",
        lstrip_blocks=kind == "html",
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=pct,
        interval=_interval,
        points=points,
        seconds=seconds_text,
        count=_count,
        when=_when,
        difficulty=difficulty_text,
        css_string=css_string,
        md=md_text,
        cell=md_cell,
        code=md_code,
    )
    return env


@cache
def _css() -> str:
    return (
        resources.files("prereview.reports")
        .joinpath("templates")
        .joinpath("report.css")
        .read_text("utf-8")
    )


def _context(report: CapabilityReport) -> dict[str, Any]:
    return {
        "r": report,
        "version": __version__,
        "conf": f"{100 * report.confidence:g}%",
    }


def render_html(report: CapabilityReport) -> str:
    tier_charts, comparison = charts_for(report)
    template = _environment("html").get_template("report.html.j2")
    return template.render(
        **_context(report), css=_css(), tier_charts=tier_charts, comparison_chart=comparison
    )


def render_markdown(report: CapabilityReport) -> str:
    text = _environment("md").get_template("report.md.j2").render(**_context(report))
    return re.sub(r"\n{3,}", "\n\n", text)


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise RenderError(f"a report must not load external resources (asked for {url[:80]!r})")


def html_to_pdf(html: str) -> bytes:
    """PDF bytes from report HTML; nothing outside the string is ever fetched."""
    with warnings.catch_warnings():
        # without Debian's libharfbuzz-subset0 WeasyPrint subsets fonts with fontTools (slower,
        # same output) and warns about it when first imported
        warnings.filterwarnings("ignore", message=".*HarfBuzz", category=DeprecationWarning)
        from weasyprint import HTML

        pdf = HTML(string=html, url_fetcher=_refuse_fetch, base_url=None).write_pdf()
    if not isinstance(pdf, bytes):
        raise RenderError("WeasyPrint returned no PDF")
    return pdf


def render_pdf(report: CapabilityReport) -> bytes:
    return html_to_pdf(render_html(report))


def render(report: CapabilityReport, fmt: Format) -> bytes:
    """The report in `fmt` as the bytes of a file."""
    if fmt == "html":
        return render_html(report).encode("utf-8")
    if fmt == "md":
        return render_markdown(report).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(report)
    raise RenderError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
