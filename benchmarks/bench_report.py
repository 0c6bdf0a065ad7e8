"""Report building and rendering at growing review sizes, from the store to each format.

For reviews of 300, 3,000 and 12,000 scored attempts (two memsafety tasks, tiers 1-5, three
attempts per instance) it measures: reading the evidence from a SQLite store (rows + one
result payload per attempt), building the report model (Wilson intervals, pass@k, two
50%-success fits with 2,000 bootstrap resamples each, rubric), and rendering Markdown, HTML and
PDF. Prints a table and writes benchmarks/results/report.json.

    python benchmarks/bench_report.py [--sizes 300,3000,12000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS_FILE = Path(__file__).parent / "results" / "report.json"


def _seed_store(home: Path, attempts: int) -> str:
    """A migrated store with one review holding `attempts` scored sample-epochs."""
    os.environ["PREREVIEW_HOME"] = str(home)
    from prereview.config import load_settings
    from prereview.home import initialize_home
    from prereview.store import Database, migrate
    from prereview.store.content import open_content
    from prereview.store.tables.review import (
        AssessmentRunRow,
        OrganizationRow,
        ReviewRow,
        SampleResultRow,
        SubmissionRow,
    )

    settings = load_settings()
    initialize_home(settings)
    migrate(settings)
    content = open_content(settings)
    rng = random.Random(0)
    now = datetime.now(UTC)
    per_instance = 3
    instances = attempts // per_instance
    writes: list[tuple[str, bytes]] = []
    with Database(settings.database_url) as db, db.session() as s:
        s.add(OrganizationRow(id="org-bench", name="Bench Org", created_at=now))
        s.flush()
        s.add(
            SubmissionRow(
                id="sub-bench",
                organization_id="org-bench",
                model_name="Bench",
                model_version="1",
                model="openai-api/bench",
                base_url=None,
                api_key_env=None,
                model_args={},
                requests_per_minute=60.0,
                max_connections=4,
                seconds_per_request=10.0,
                release_date=date.today() + timedelta(days=21),
                submitted_on=date.today(),
                window_policy="eo-2026",
                terms_version="2026-01",
                confidentiality="share-sanitized",
                state="in_review",
                created_at=now,
                updated_at=now,
            )
        )
        s.flush()
        s.add(ReviewRow(id="rev-bench", submission_id="sub-bench", created_at=now))
        s.flush()
        s.add(
            AssessmentRunRow(
                id="run-bench",
                review_id="rev-bench",
                number=1,
                status="completed",
                host="bench",
                pid=1,
                started_at=now,
            )
        )
        s.flush()
        for i in range(instances):
            task = "memsafety_poc" if i % 2 == 0 else "memsafety_patch"
            tier = 1 + (i // 2) % 5
            p = 1.0 / (1.0 + math.exp(1.6 * (tier - 3.0)))
            sid = f"inst-{i:06d}"
            for epoch in range(1, per_instance + 1):
                key = f"reviews/rev-bench/results/{task}/{sid}.{epoch}.json"
                score = 1.0 if rng.random() < p else 0.0
                payload = {
                    "metadata": {"family": "memsafety", "instance_id": sid, "tier": tier},
                    "scores": {"s": {"value": score, "metadata": {"possible_new_finding": None}}},
                }
                writes.append((key, json.dumps(payload).encode()))
                s.add(
                    SampleResultRow(
                        review_id="rev-bench",
                        run_id="run-bench",
                        task_key=f"{task}/tier{tier}",
                        task=task,
                        tier=tier,
                        sample_id=sid,
                        epoch=epoch,
                        score=score,
                        score_value=str(score),
                        input_tokens=1000,
                        output_tokens=100,
                        total_tokens=1100,
                        total_time_s=rng.uniform(10, 600),
                        working_time_s=None,
                        error=None,
                        log_ref=f"reviews/rev-bench/logs/x.eval#{sid}:{epoch}",
                        payload_key=key,
                        completed_at=now,
                    )
                )
    # content after the rows' transaction: sealing may create the submission's data key
    for key, data in writes:
        content.write("sub-bench", key, data)
    return "rev-bench"


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def measure(attempts: int) -> dict[str, Any]:
    from prereview.config import load_settings
    from prereview.reports.builder import build_report
    from prereview.reports.render import render_html, render_markdown, render_pdf
    from prereview.reports.rubric import known_families, load_rubric
    from prereview.reports.source import load_evidence
    from prereview.store.content import open_content
    from prereview.vault.policy import Operation
    from prereview.vault.service import Vault

    with tempfile.TemporaryDirectory() as tmp:
        review, seed_s = _timed(lambda: _seed_store(Path(tmp) / "home", attempts))
        settings = load_settings()
        families = known_families()
        rubric = load_rubric(None, families)
        with Vault.open(settings) as vault:
            guard = vault.authenticate(settings.token).guard
            handle = guard.authorize(Operation.REPORT_READ, review)
            evidence, load_s = _timed(
                lambda: load_evidence(vault.db, open_content(settings), handle, families)
            )
        report, build_s = _timed(lambda: build_report(evidence, rubric=rubric, seed=0))
        md, md_s = _timed(lambda: render_markdown(report))
        html, html_s = _timed(lambda: render_html(report))
        pdf, pdf_s = _timed(lambda: render_pdf(report))
    return {
        "attempts": len(evidence.attempts),
        "seed_store_s": round(seed_s, 2),
        "load_evidence_s": round(load_s, 3),
        "build_s": round(build_s, 3),
        "markdown_s": round(md_s, 3),
        "html_s": round(html_s, 3),
        "pdf_s": round(pdf_s, 3),
        "html_bytes": len(html),
        "pdf_bytes": len(pdf),
        "markdown_bytes": len(md),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="300,3000,12000")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    rows = [measure(n) for n in sizes]
    cols = ["attempts", "load_evidence_s", "build_s", "markdown_s", "html_s", "pdf_s", "pdf_bytes"]
    print(" ".join(f"{c:>16}" for c in cols))
    for row in rows:
        print(" ".join(f"{row[c]:>16}" for c in cols))
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "benchmark": "report",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_average_at_end": os.getloadavg()[0],
                "bootstrap_replicates": 2000,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
