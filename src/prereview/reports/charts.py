"""Charts as inline SVG, written directly: no plotting library, no fonts or scripts to fetch.

Each chart is a self-contained `<svg>` with a `<title>` and `<desc>` for screen readers, the
same numbers as the tables beside it, and only system font names (DejaVu Sans ships with the
WeasyPrint dependencies), so the HTML stays one offline file and the PDF renders identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import escape

from prereview.reports.document import CapabilityReport, Rate, TaskResults
from prereview.reports.formatting import interval_text, pct, tiers_text

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
MODEL_COLOUR = "#1f4e79"
BASELINE_COLOUR = "#b35900"
REFERENCE_COLOUR = "#5b5b5b"
RUNG_COLOURS = ("#b35900", "#7a3e9d", "#2e7d32", "#8b0000", "#00838f", "#6d4c41")
"""The baseline ladder's rungs, weakest first (the first is the single baseline's colour)."""
GRID = "#d9d9d9"


def _num(value: float) -> str:
    return f"{value:.1f}"


def _text(
    x: float, y: float, body: str, *, size: int = 11, anchor: str = "start", **attrs: str
) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" text-anchor="{anchor}"'
        f"{extra}>{escape(body)}</text>"
    )


def _svg(width: int, height: int, title: str, desc: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" font-family="{FONT}">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>" + "".join(body) + "</svg>"
    )


def _error_bar(x: float, y_low: float, y_high: float, colour: str, cap: float = 4.0) -> str:
    return (
        f'<path d="M{_num(x)} {_num(y_low)}V{_num(y_high)}'
        f"M{_num(x - cap)} {_num(y_low)}H{_num(x + cap)}"
        f'M{_num(x - cap)} {_num(y_high)}H{_num(x + cap)}" '
        f'stroke="{colour}" stroke-width="1.5" fill="none"/>'
    )


def _h_error_bar(y: float, x_low: float, x_high: float, colour: str, cap: float = 4.0) -> str:
    return (
        f'<path d="M{_num(x_low)} {_num(y)}H{_num(x_high)}'
        f"M{_num(x_low)} {_num(y - cap)}V{_num(y + cap)}"
        f'M{_num(x_high)} {_num(y - cap)}V{_num(y + cap)}" '
        f'stroke="{colour}" stroke-width="1.5" fill="none"/>'
    )


def _diamond(x: float, y: float, colour: str, r: float = 5.0) -> str:
    return (
        f'<path d="M{_num(x)} {_num(y - r)}L{_num(x + r)} {_num(y)}L{_num(x)} {_num(y + r)}'
        f'L{_num(x - r)} {_num(y)}Z" fill="#ffffff" stroke="{colour}" stroke-width="1.5"/>'
    )


def tier_chart(task: TaskResults) -> str | None:
    """Success by tier with intervals for one task, the fuzzer baseline beside it, or every
    rung of the family's baseline ladder when it has one (a rung unavailable on the host is
    named in the legend as such, never left out).

    None when no tier has a completed attempt (there is nothing to draw).
    """
    tiers = [t for t in task.tiers if t.tier is not None and t.rate.n > 0]
    if not tiers:
        return None
    rungs = [r.rung for r in task.rungs]
    width, height = 560, 250 + (16 if rungs else 0)
    left, right, top, bottom = 52, 16, 34 + (16 if rungs else 0), 46
    plot_w, plot_h = width - left - right, height - top - bottom
    lo = min(t.tier for t in tiers if t.tier is not None) - 0.5
    hi = max(t.tier for t in tiers if t.tier is not None) + 0.5

    def sx(tier: float) -> float:
        return left + (tier - lo) / (hi - lo) * plot_w

    def sy(rate: float) -> float:
        return top + (1.0 - rate) * plot_h

    body: list[str] = []
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = sy(frac)
        dash = ' stroke-dasharray="4 3"' if frac == 0.5 else ""
        body.append(
            f'<line x1="{left}" y1="{_num(y)}" x2="{width - right}" y2="{_num(y)}" '
            f'stroke="{GRID}"{dash}/>'
        )
        body.append(_text(left - 6, y + 4, pct(frac), anchor="end", fill="#444444"))
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888888"/>')
    est = task.difficulty_by_tier
    if est.status == "estimated" and est.x50 is not None and lo < est.x50 < hi:
        x50 = sx(est.x50)
        if est.low is not None and est.high is not None:
            band_lo = sx(max(lo, est.low)) if math.isfinite(est.low) else sx(lo)
            band_hi = sx(min(hi, est.high)) if math.isfinite(est.high) else sx(hi)
            body.append(
                f'<rect x="{_num(band_lo)}" y="{top}" width="{_num(max(0.0, band_hi - band_lo))}" '
                f'height="{plot_h}" fill="{MODEL_COLOUR}" fill-opacity="0.07"/>'
            )
        body.append(
            f'<line x1="{_num(x50)}" y1="{top}" x2="{_num(x50)}" y2="{top + plot_h}" '
            f'stroke="{MODEL_COLOUR}" stroke-dasharray="2 3"/>'
        )
    has_baseline = False
    for t in tiers:
        assert t.tier is not None
        x = sx(t.tier)
        iv = t.rate.interval
        drawn = [r for r in t.rungs if r.rate is not None and r.rate.n > 0] if rungs else []
        offset = -6.0 * len(drawn) if rungs else (-7.0 if t.baseline is not None else 0.0)
        body.append(_error_bar(x + offset, sy(iv.low), sy(iv.high), MODEL_COLOUR))
        body.append(
            f'<circle cx="{_num(x + offset)}" cy="{_num(sy(iv.estimate or 0.0))}" r="4.5" '
            f'fill="{MODEL_COLOUR}"/>'
        )
        for k, r in enumerate(drawn):
            assert r.rate is not None
            colour = RUNG_COLOURS[rungs.index(r.rung) % len(RUNG_COLOURS)]
            rx = x + offset + 12.0 * (k + 1)
            ri = r.rate.interval
            body.append(_error_bar(rx, sy(ri.low), sy(ri.high), colour))
            body.append(_diamond(rx, sy(ri.estimate or 0.0), colour, 4.0))
        if t.baseline is not None and not rungs:
            has_baseline = True
            b = t.baseline.rate.interval
            body.append(_error_bar(x + 7, sy(b.low), sy(b.high), BASELINE_COLOUR))
            body.append(_diamond(x + 7, sy(b.estimate or 0.0), BASELINE_COLOUR))
        body.append(_text(x, top + plot_h + 16, f"tier {t.tier}", anchor="middle"))
        body.append(
            _text(x, top + plot_h + 30, f"n={t.rate.n}", size=10, anchor="middle", fill="#555555")
        )
    # legend
    lx = left
    body.append(f'<circle cx="{lx + 5}" cy="14" r="4.5" fill="{MODEL_COLOUR}"/>')
    body.append(_text(lx + 14, 18, f"model, {100 * task.overall.interval.confidence:g}% CI"))
    lx += 140
    if has_baseline:
        body.append(_diamond(lx + 5, 14, BASELINE_COLOUR))
        body.append(_text(lx + 14, 18, f"{task.baseline_solver or 'fuzzer'} baseline"))
        lx += 150
    rx = float(left)
    for r in task.rungs:
        colour = RUNG_COLOURS[rungs.index(r.rung) % len(RUNG_COLOURS)]
        label = f"{r.rung} (unavailable)" if r.unavailable else r.rung
        if not r.unavailable:
            body.append(_diamond(rx + 5, 30, colour, 4.0))
        body.append(_text(rx + (14 if not r.unavailable else 0), 34, label, size=10))
        rx += 14 + 6.2 * len(label) + 10
    if est.status == "estimated":
        body.append(
            f'<line x1="{lx}" y1="14" x2="{lx + 14}" y2="14" stroke="{MODEL_COLOUR}" '
            'stroke-dasharray="2 3"/>'
        )
        body.append(_text(lx + 18, 18, "50%-success tier"))
    desc = "; ".join(
        f"tier {t.tier}: {t.rate.successes}/{t.rate.n} solved ({pct(t.rate.interval.estimate)}, "
        f"CI {interval_text(t.rate.interval)})"
        + (
            f", baseline {t.baseline.rate.successes}/{t.baseline.rate.n}"
            if t.baseline is not None and not rungs
            else ""
        )
        + "".join(
            f", {r.rung} unavailable"
            if r.unavailable
            else f", {r.rung} {r.rate.successes}/{r.rate.n}"
            if r.rate is not None
            else f", {r.rung} not run"
            for r in t.rungs
        )
        for t in tiers
    )
    return _svg(width, height, f"{task.task}: success by tier", desc, body)


@dataclass(frozen=True)
class _Row:
    label: str
    rate: Rate
    colour: str
    baseline: bool = False


def comparison_chart(report: CapabilityReport) -> str | None:
    """Per task: the model, each reference run and the fuzzer baseline, rates with intervals."""
    groups: list[tuple[str, list[_Row]]] = []
    for task in report.tasks:
        if task.overall.n == 0:
            continue
        rows = [_Row("model under review", task.overall, MODEL_COLOUR)]
        for c in report.comparisons:
            if c.task == task.task:
                rows.append(
                    _Row(
                        f"{c.reference_label} ({tiers_text(c.tiers)})",
                        c.reference,
                        REFERENCE_COLOUR,
                    )
                )
        if task.baseline is not None:
            rows.append(
                _Row(f"{task.baseline.solver} baseline", task.baseline.rate, BASELINE_COLOUR, True)
            )
        if len(rows) > 1:
            groups.append((task.task, rows))
    if not groups:
        return None
    width, label_w, right, row_h = 620, 250, 20, 22
    height = 40 + sum(22 + row_h * len(rows) for _, rows in groups)
    plot_w = width - label_w - right

    def sx(rate: float) -> float:
        return label_w + rate * plot_w

    body: list[str] = []
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = sx(frac)
        body.append(
            f'<line x1="{_num(x)}" y1="26" x2="{_num(x)}" y2="{height - 6}" stroke="{GRID}"/>'
        )
        body.append(_text(x, 18, pct(frac), anchor="middle", fill="#444444"))
    y = 40.0
    lines: list[str] = []
    for task_name, rows in groups:
        body.append(_text(8, y + 8, task_name, size=12, font_weight="bold"))
        y += 22
        for row in rows:
            iv = row.rate.interval
            cy = y + row_h / 2 - 4
            body.append(_text(14, cy + 4, row.label))
            body.append(_h_error_bar(cy, sx(iv.low), sx(iv.high), row.colour))
            if row.baseline:
                body.append(_diamond(sx(iv.estimate or 0.0), cy, row.colour))
            else:
                body.append(
                    f'<circle cx="{_num(sx(iv.estimate or 0.0))}" cy="{_num(cy)}" r="4.5" '
                    f'fill="{row.colour}"/>'
                )
            lines.append(
                f"{task_name}, {row.label}: {row.rate.successes}/{row.rate.n} "
                f"({pct(iv.estimate)}, CI {interval_text(iv)})"
            )
            y += row_h
    return _svg(
        width,
        height,
        "The model against reference runs and the non-AI baseline",
        "; ".join(lines),
        body,
    )


def charts_for(report: CapabilityReport) -> tuple[dict[str, str], str | None]:
    """The tier chart of every task (by task name) and the comparison chart."""
    tiers: dict[str, str] = {}
    for task in report.tasks:
        svg = tier_chart(task)
        if svg is not None:
            tiers[task.task] = svg
    return tiers, comparison_chart(report)
