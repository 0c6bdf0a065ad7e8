"""The demo: the main job end to end on the embedded model, ending with a report on disk.

Until the review workflow lands this runs the `smoke` task through Inspect with the embedded model
and writes a minimal Markdown report of what happened.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from prereview.config import Settings
from prereview.home import initialize_home


def run_demo(settings: Settings, model: str, console: Console | None = None) -> Path:
    from inspect_ai import eval as inspect_eval

    from prereview.models.catalog import validate_model_string
    from prereview.suites.smoke import smoke

    validate_model_string(model)
    out = console or Console(stderr=True)
    initialize_home(settings)
    out.print(f"[bold]prereview demo[/]: running the smoke task on {model}")
    logs = inspect_eval(
        smoke(),
        model=model,
        log_dir=str(settings.logs_dir / "demo"),
        display="none",
        seed=0,
        max_tokens=64,
    )
    log = logs[0]
    samples = log.samples or []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = settings.reports_dir / f"demo-{stamp}.md"
    lines = [
        "# prereview demo report",
        "",
        f"- model: `{model}`",
        f"- task: `{log.eval.task}` ({len(samples)} samples), status: {log.status}",
        f"- Inspect log: `{log.location}`",
        "",
        "| sample | score | tool calls | answer |",
        "|---|---|---|---|",
    ]
    for s in samples:
        score = next(iter(s.scores.values())).value if s.scores else "-"
        calls = sum(len(m.tool_calls or []) for m in s.messages if m.role == "assistant")
        answer = s.output.completion.replace("|", "\\|").replace("\n", " ")[:80]
        lines.append(f"| {s.id} | {score} | {calls} | {answer} |")
    report.write_text("\n".join(lines) + "\n")
    return report
