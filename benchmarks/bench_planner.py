"""Planner benchmark: predicted vs actual wall time, and the largest suite a window holds.

1. Predicted vs actual: for a simulated model endpoint (fixed latency per call, optionally a rate
   limit, a number of connections) a review of the `calibration` suite is submitted, planned and
   assessed through the real workflow (Inspect `eval_set`, per-sample recording) in a scratch data
   dir. The plan's predicted time is compared with the wall time of the assessment.
2. Capacity: with the planner alone, the largest full memory-safety suite (tiers 1-5, six bug
   classes, PoC and patch, N instances each) whose every task fits a 30-day window at 30
   requests per minute.

Prints a table; writes benchmarks/results/planner.json.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Endpoint:
    name: str
    latency: float
    rpm: float | None
    connections: int
    samples: int
    turns: int = 2


ENDPOINTS = [
    Endpoint("latency-bound, 1 conn", latency=0.2, rpm=None, connections=1, samples=10),
    Endpoint("latency-bound, 1 conn, long", latency=0.2, rpm=None, connections=1, samples=60),
    Endpoint("latency-bound, 4 conns", latency=0.5, rpm=None, connections=4, samples=40),
    Endpoint("rate-limited 120/min", latency=0.05, rpm=120, connections=4, samples=30),
    Endpoint("rate-limited 60/min", latency=0.2, rpm=60, connections=2, samples=15),
]


def measure(endpoint: Endpoint, workdir: Path) -> dict[str, Any]:
    """Submit, plan and assess one simulated endpoint in a fresh data dir."""
    from prereview.config import load_settings
    from prereview.domain.submission import ModelAccess, Throughput
    from prereview.home import initialize_home
    from prereview.review.assessment import run_assessment
    from prereview.review.service import ReviewService, SubmissionRequest
    from prereview.vault.principals import Role

    home = workdir / endpoint.name.replace(" ", "_").replace(",", "").replace("/", "-")
    os.environ["PREREVIEW_HOME"] = str(home)
    os.environ.pop("PREREVIEW_DATABASE_URL", None)
    os.environ.pop("PREREVIEW_TOKEN", None)
    initialize_home(load_settings())
    settings = load_settings()
    args: dict[str, Any] = {"latency": endpoint.latency, "connections": endpoint.connections}
    if endpoint.rpm:
        args["rpm"] = endpoint.rpm
    with ReviewService.open(settings) as coordinator:
        vault = coordinator.access.vault
        principal, _ = vault.principals.add("bench", Role.SUBMITTER, "Bench Labs", "bench")
        submitter = coordinator.acting_as(vault.session(principal))
        record = submitter.submit(
            SubmissionRequest(
                organization="Bench Labs",
                access=ModelAccess(f"simulated/{endpoint.name.split(',')[0].replace(' ', '-')}"),
                release_date=date.today() + timedelta(days=21),
                throughput=Throughput(endpoint.rpm, endpoint.connections, endpoint.latency),
                model_args=args,
            )
        )
        plan = coordinator.plan(record.id, suite="calibration", limit=endpoint.samples)
        started = time.monotonic()
        outcome = run_assessment(coordinator, record.id)
        actual = time.monotonic() - started
    assert outcome.status == "completed", outcome
    task = plan.tasks[0]
    return {
        "endpoint": endpoint.name,
        "latency_s": endpoint.latency,
        "rpm": endpoint.rpm,
        "connections": endpoint.connections,
        "samples": task.samples,
        "requests": task.requests,
        "predicted_s": round(plan.predicted_s, 2),
        "actual_s": round(actual, 2),
        "error_pct": round(100 * (actual - plan.predicted_s) / plan.predicted_s, 1),
    }


def capacity(window_days: int = 30, rpm: float = 30.0) -> dict[str, Any]:
    """The most instances per (tier, bug class) of the full memory-safety suite that fit."""
    from prereview.domain.submission import Throughput
    from prereview.planning.catalog import SUITES, Suite
    from prereview.planning.planner import plan_assessment

    base = SUITES["memsafety"]
    throughput = Throughput(requests_per_minute=rpm, max_connections=8, seconds_per_request=20.0)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    release = (now + timedelta(days=window_days)).date()

    def scaled(count: int) -> Suite:
        from dataclasses import replace

        return replace(
            base,
            tasks=tuple(replace(t, samples=count * t.sample_unit) for t in base.tasks),
        )

    def fits(count: int) -> bool:
        """Every task planned whole: nothing dropped, nothing shrunk."""
        plan = plan_assessment(scaled(count), throughput, release, now, seed=0)
        return not plan.dropped and all(t.samples == t.samples_wanted for t in plan.tasks)

    low, high = 0, 1
    while fits(high):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    plan = plan_assessment(scaled(low), throughput, release, now, seed=0)
    over = plan_assessment(scaled(low + 1), throughput, release, now, seed=0)
    return {
        "window_days": window_days,
        "rpm": rpm,
        "connections": throughput.max_connections,
        "seconds_per_request": throughput.seconds_per_request,
        "budget_days": round(plan.budget_s / 86400, 2),
        "instances_per_tier_and_class": low,
        "samples": plan.total_samples,
        "requests": sum(t.requests for t in plan.tasks),
        "predicted_days": round(plan.predicted_s / 86400, 2),
        "requests_per_sample": {t.key: t.requests / t.samples for t in plan.tasks[:2]},
        "one_more_drops_or_shrinks": [d.key for d in over.dropped]
        + [t.key for t in over.tasks if t.samples < t.samples_wanted],
    }


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-planner-") as tmp:
        for endpoint in ENDPOINTS:
            rows.append(measure(endpoint, Path(tmp)))
            r = rows[-1]
            print(
                f"{r['endpoint']:<24} {r['samples']:>4} samples {r['requests']:>5.0f} requests  "
                f"predicted {r['predicted_s']:>6.1f} s  actual {r['actual_s']:>6.1f} s  "
                f"({r['error_pct']:+.1f}%)",
                flush=True,
            )
    cap = capacity()
    print(
        f"\n30-day window at {cap['rpm']:g} requests/min ({cap['connections']} connections, "
        f"{cap['seconds_per_request']:g} s/request): budget {cap['budget_days']} days; the full "
        f"memory-safety suite fits with {cap['instances_per_tier_and_class']} instances per tier "
        f"and bug class = {cap['samples']} samples, {cap['requests']:.0f} requests, predicted "
        f"{cap['predicted_days']} days (one more would cut "
        f"{len(cap['one_more_drops_or_shrinks'])} tasks)"
    )
    result = {
        "benchmark": "planner",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "note": "actual = wall time of run_assessment (Inspect eval_set with the simulated "
        "provider), including task start-up; predicted = the stored plan's estimate",
        "predicted_vs_actual": rows,
        "capacity_30_days_30_rpm": cap,
    }
    out = HERE / "results" / "planner.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
