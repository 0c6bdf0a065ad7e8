"""Executors side by side: `local` vs `ray` with one and two worker nodes, on a CPU-bound
memory-safety suite, plus a capacity model for five concurrent reviews in a 30-day window.

Prints a table and writes benchmarks/results/executors.json.

Each mode runs the same fresh review (suite `memsafety-quick`: PoC and patch tasks, tiers 1-2;
patch scoring fuzzes) end to end through `run_assessment`. The agent is a JSON-scripted one
(`scripted` provider) with the oracle's tool calls: write the PoC (here the first example
input) or the patched file, and submit it. The test-suite oracle reads ground truth through
Python callables, which a stored submission cannot carry to a worker; the sandbox work and the
scoring (both sanitizer builds in a fresh sandbox, the patch fuzzed) cost the same.
The Ray cluster is real: a head (no CPUs) and N worker nodes, each declaring this host's cores
(Ray's own default for `ray start`; `--node-cpus`) and each its own
`ray start` on this host, sharing the data dir (as nodes sharing a file system would) so
generated instances are built once.

    ratio      = local wall time / ray wall time (>1: ray is faster); ray's wall time is the run
                 after its preflight
    per-unit   = (ray with one node - local) / units: what the executor adds per unit
    preflight  = connect + every node's readiness checks (`doctor --node`): the first run's, and
                 later runs' (a node that passed holds for 10 min in the head process)
    phases     = where a unit's time goes (medians over the ray runs' units): on the worker
                 (imports, model, task build, Inspect eval, sealing, wiping), in between (dispatch:
                 from handed out, or from the node's previous unit's end, to the unit's start;
                 return: from its end to the head seeing it) and on the head (fetch, opening the
                 sealed log, recording); `outside` = a run's wall time not inside any unit

    python benchmarks/bench_executors.py [--suite memsafety --limit 2] [--unit-samples 4]
        [--node-cpus N] [--rounds 3]

Both executors run as `prereview assess` would: local runs up to the review's connection limit
(4) of a task's samples at once; ray cuts units of `--unit-samples` (its default, 4) and a node
runs as many units at once as it declares CPUs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

RESULTS_FILE = Path(__file__).parent / "results" / "executors.json"
SUITE = "memsafety-quick"
OVERHEAD_TARGET = 0.10


def _script(path: Path) -> Path:
    turns = [
        {
            "tool_calls": [
                {
                    "function": "bash",
                    "arguments": {
                        "command": 'cp "$(ls examples/* 2>/dev/null | head -1)" poc.bin '
                        "2>/dev/null || printf 'A' > poc.bin; ls src/*.c 2>/dev/null | head -1 "
                        "> which.txt; true"
                    },
                }
            ]
        },
        {"tool_calls": [{"function": "submit", "arguments": {"answer": "poc.bin"}}]},
    ]
    path.write_text(json.dumps(turns))
    return path


PHASES = ("import", "model", "task", "eval", "seal", "wipe", "get", "ingest", "record")


def _phases(timings: list[dict[str, float]], wall_s: float, serial: bool) -> dict[str, float]:
    """Phase seconds of one ray run summed over its units (see the module docstring);
    `outside` is the run's time in no unit at all, the dispatch gaps only when units ran one
    after another (one node of one CPU)."""
    out = {p: sum(t.get(p, 0.0) for t in timings) for p in PHASES}
    last_end = dispatch = back = inside = 0.0
    for t in sorted(timings, key=lambda t: t["started"]):
        dispatch += t["started"] - max(t["submitted"], last_end)
        inside += max(0.0, t["ended"] - max(t["started"], last_end))  # the union of units
        last_end = max(last_end, t["ended"])
        back += t["ready"] - t["ended"]
    out.update(back=back, units=float(len(timings)), outside=wall_s - inside)
    if serial:
        out.update(dispatch=dispatch)
    return out


def _planned(reviewer: Any, submitter: Any, script: Path, suite: str, limit: int | None) -> Any:
    """A fresh submission driven by the scripted agent, its plan stored (instances are built by
    the run)."""
    from prereview.domain.submission import ModelAccess, Throughput
    from prereview.review.service import SubmissionRequest

    record = submitter.submit(
        SubmissionRequest(
            organization="Bench Labs",
            access=ModelAccess("scripted/oracle-calls"),
            release_date=date.today() + timedelta(days=28),
            throughput=Throughput(None, 4, 0.01),
            model_args={"script": str(script)},
        )
    )
    reviewer.plan(record.id, suite=suite, limit=limit)
    return record


def _run(
    reviewer: Any,
    submitter: Any,
    script: Path,
    executor: Any,
    label: str,
    preflight: list[float] | None = None,
    suite: str = SUITE,
    limit: int | None = None,
    serial: bool = False,
) -> dict[str, Any]:
    from prereview.review.assessment import run_assessment

    record = _planned(reviewer, submitter, script, suite, limit)
    if preflight is not None:  # timed apart: once per run, whatever the run's size
        started = time.perf_counter()
        executor.preflight(reviewer.get(record.id))
        preflight.append(time.perf_counter() - started)
    t0 = time.time()
    started = time.perf_counter()
    outcome = run_assessment(reviewer, record.id, executor=executor)
    wall = time.perf_counter() - started
    results = reviewer.results(record.id)
    by_task: dict[str, list[float]] = {}
    for r in results:
        by_task.setdefault(r.task_key.split("/")[0], []).append(r.total_time_s or 0.0)
    print(f"  {label}: {outcome.status}, {outcome.samples_done} samples, {wall:.1f} s", flush=True)
    row: dict[str, Any] = {
        "mode": label,
        "status": outcome.status,
        "samples": outcome.samples_done,
        "wall_s": wall,
        "sample_time_s": {k: sum(v) / len(v) for k, v in by_task.items()},
    }
    row["timeline_s"] = {**{k: v - t0 for k, v in executor.timeline.items()}, "run_end": wall}
    if label != "local":
        row["phases_s"] = _phases(executor.timings, wall, serial)
        row["units_per_node"] = sorted(executor.ran_on.values())
    return row


def _run_cli(
    reviewer: Any,
    submitter: Any,
    script: Path,
    label: str,
    address: str | None,
    suite: str,
    limit: int | None,
) -> dict[str, Any]:
    """The same review as `_run`, run as a user runs it: `prereview assess ID` in a fresh
    process (imports, the model's build, on ray the preflight: everything a user waits for)."""
    import subprocess

    record = _planned(reviewer, submitter, script, suite, limit)
    command = [str(Path(sys.executable).parent / "prereview"), "assess", record.id]
    if address is not None:
        command += ["--executor", "ray", "--address", address]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    wall = time.perf_counter() - started
    samples = len(reviewer.results(record.id))
    status = "completed" if done.returncode == 0 else f"exit {done.returncode}"
    print(f"  {label} (cli): {status}, {samples} samples, {wall:.1f} s", flush=True)
    if done.returncode != 0:
        print("    " + (done.stderr.strip().splitlines() or [""])[-1][:300], flush=True)
    return {"mode": label, "cli": True, "status": status, "samples": samples, "wall_s": wall}


def _later_end_to_end(pairs: list[tuple[float, float]], preflight: list[float]) -> float:
    """Median of a ray run plus its own preflight, the first round's (cold nodes) left out."""
    both = [r + f for (_, r), f in zip(pairs, preflight, strict=True)]
    return statistics.median(both[1:] or both)


def _capacity(
    measured: dict[str, float], sample_overhead_s: float, measured_on: str
) -> dict[str, Any]:
    """Nodes for five concurrent reviews of the full memory-safety and range suites in 30 days."""
    from prereview.planning.catalog import available_suites, get_suite

    reviews, window_days, utilization, cores = 5, 30, 0.5, 16
    seconds_per_request = 6.0
    assumptions = [
        f"{reviews} concurrent reviews, each running every suite below once, inside "
        f"{window_days} days",
        f"nodes of {cores} cores; one sample holds one core while its sandbox works; "
        f"{utilization:.0%} average utilization (queues, retries, maintenance)",
        f"a remote model answers in {seconds_per_request:.0f} s per request; the agent's wait "
        "for the model holds no core (the node runs other samples meanwhile)",
        f"sandbox CPU per sample: the larger of the time measured here ({measured_on}) and the "
        "family's cost model (the full suites fuzz longer)",
        f"executor overhead {sample_overhead_s:.2f} s per sample (one node's per-unit "
        "overhead over a unit's samples; a negative median counted as 0)",
    ]
    rows: list[dict[str, Any]] = []
    total_core_s = 0.0
    for name in available_suites():
        full = name == "memsafety" or name.startswith(("range", "webexploit", "ics"))
        if not full or name.endswith("-quick"):
            continue
        suite = get_suite(name)
        samples = sum(t.samples for t in suite.tasks)
        core_s = 0.0
        model_s = 0.0
        for t in suite.tasks:
            kind = t.key.split("/")[0]
            modelled = t.sandbox_cpu_s_per_sample + t.overhead_s_per_sample
            cpu = max(measured.get(kind, 0.0), modelled)
            core_s += t.samples * (cpu + sample_overhead_s)
            model_s += t.samples * t.requests_per_sample * seconds_per_request
        rows.append(
            {
                "suite": name,
                "samples": samples,
                "core_hours": core_s / 3600,
                "model_hours": model_s / 3600,
            }
        )
        total_core_s += core_s * reviews
    if not any(str(r["suite"]).startswith(("range", "webexploit", "ics")) for r in rows):
        hosts, cpu_s, samples = 4, 120.0, 200
        assumptions.append(
            f"range suites: no range family is installed on this host; assumed {samples} "
            f"samples per review, {hosts} hosts per sample, {cpu_s:.0f} core-s per host"
        )
        core_s = samples * (hosts * cpu_s + sample_overhead_s)
        rows.append(
            {
                "suite": "ranges (assumed)",
                "samples": samples,
                "core_hours": core_s / 3600,
                "model_hours": samples * 40 * seconds_per_request / 3600,
            }
        )
        total_core_s += core_s * reviews
    available_core_s = window_days * 86400 * cores * utilization
    nodes = max(1, math.ceil(total_core_s / available_core_s))
    return {
        "assumptions": assumptions,
        "suites": rows,
        "core_hours": total_core_s / 3600,
        "nodes": nodes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--unit-samples", type=int, default=4)
    parser.add_argument("--node-cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--nodes", type=int, choices=(1, 2), default=2, help="up to N nodes")
    parser.add_argument(
        "--cli",
        action="store_true",
        help="also time `prereview assess` end to end in a fresh process, local and ray",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--suite", default=SUITE, help="a memory-safety suite")
    parser.add_argument("--limit", type=int, default=None, help="at most N samples per task")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    home = root / "home"
    os.environ["PREREVIEW_HOME"] = str(home)
    os.environ["PREREVIEW_PLAINTEXT_DIR"] = str(root / "plaintext-head")
    for var in ("PREREVIEW_TOKEN", "PREREVIEW_CONFIG", "PREREVIEW_DATABASE_URL", "PREREVIEW_URL"):
        os.environ.pop(var, None)

    from prereview.config import load_settings
    from prereview.executors.local import LocalExecutor
    from prereview.executors.localcluster import LocalRayCluster
    from prereview.executors.ray import RayExecutor
    from prereview.home import initialize_home
    from prereview.review.service import ReviewService
    from prereview.vault.principals import Role

    initialize_home(load_settings())
    reviewer = ReviewService.open(load_settings())
    vault = reviewer.access.vault
    principal, _ = vault.principals.add("bench", Role.SUBMITTER, "Bench Labs", "bench")
    submitter = reviewer.acting_as(vault.session(principal))
    script = _script(root / "agent.json")
    chosen = (args.suite, args.limit)

    runs: list[dict[str, Any]] = []
    preflight: dict[str, list[float]] = {}
    pairs: dict[str, list[tuple[float, float]]] = {}  # mode -> (local, ray) of the same round
    cli_pairs: dict[str, list[tuple[float, float]]] = {}  # the same, `prereview assess` timed
    cluster = LocalRayCluster(root / "cluster", 26400)
    try:
        cluster.start_head({"PREREVIEW_HOME": str(home)})
        for workers in range(1, args.nodes + 1):
            cluster.add_worker(
                f"w{workers}",
                {
                    "PREREVIEW_HOME": str(home),
                    "PREREVIEW_PLAINTEXT_DIR": str(root / f"plaintext-w{workers}"),
                },
                num_cpus=args.node_cpus,
            )
            cluster.wait_for_nodes(workers)
            mode = f"ray-{workers}"
            for round_no in range(args.rounds):  # alternating: a shared host's load hits both
                local = _run(reviewer, submitter, script, LocalExecutor(), "local", None, *chosen)
                executor = RayExecutor(cluster.address, unit_samples=args.unit_samples)
                ray_run = _run(
                    reviewer,
                    submitter,
                    script,
                    executor,
                    mode,
                    preflight.setdefault(mode, []),
                    *chosen,
                    serial=workers == 1 and args.node_cpus == 1,
                )
                local["round"] = ray_run["round"] = round_no
                runs += [local, ray_run]
                pairs.setdefault(mode, []).append((local["wall_s"], ray_run["wall_s"]))
                if args.cli:
                    both = [
                        _run_cli(reviewer, submitter, script, "local", None, *chosen),
                        _run_cli(reviewer, submitter, script, mode, cluster.address, *chosen),
                    ]
                    runs += both
                    cli_pairs.setdefault(mode, []).append((both[0]["wall_s"], both[1]["wall_s"]))
    finally:
        cluster.stop()
    reviewer.dispose()

    samples = runs[0]["samples"]
    units = int(
        statistics.median(
            r["phases_s"]["units"] for r in runs if r["mode"] == "ray-1" and not r.get("cli")
        )
    )
    summary = {
        mode: {
            "local_wall_s": statistics.median(lo for lo, _ in p),
            "ray_wall_s": statistics.median(r for _, r in p),
            "ratio_local_over_ray": statistics.median(lo / r for lo, r in p),
            "overhead_vs_local": statistics.median((r - lo) / lo for lo, r in p),
            "per_unit_overhead_s": statistics.median((r - lo) / units for lo, r in p),
            "preflight_first_s": preflight[mode][0],
            "preflight_later_s": statistics.median(preflight[mode][1:] or preflight[mode]),
            "ray_plus_later_preflight_s": _later_end_to_end(p, preflight[mode]),
            "end_to_end_overhead_vs_local": statistics.median(
                (r + f - lo) / lo for (lo, r), f in zip(p, preflight[mode], strict=True)
            ),
        }
        for mode, p in pairs.items()
    }
    overhead = summary["ray-1"]["overhead_vs_local"]
    end_to_end = summary["ray-1"]["end_to_end_overhead_vs_local"]
    per_unit = summary["ray-1"]["per_unit_overhead_s"]
    measured: dict[str, float] = {}
    for r in runs:
        for kind, t in r.get("sample_time_s", {}).items():
            measured.setdefault(kind, t)
    capacity = _capacity(measured, max(per_unit, 0.0) / args.unit_samples, args.suite)

    limited = "" if args.limit is None else f" (limit {args.limit})"
    print(
        f"\nexecutors on {args.suite}{limited} ({samples} samples, {units} units; "
        f"{args.rounds} alternating "
        f"rounds; {os.cpu_count()} cores on this host; medians)"
    )
    print(
        f"{'mode':6} {'local s':>8} {'ray s':>8} {'local/ray':>10} {'per unit s':>11} "
        f"{'preflight s (first, later)':>27} {'ray+preflight s':>16}"
    )
    for mode, row in summary.items():
        print(
            f"{mode:6} {row['local_wall_s']:8.1f} {row['ray_wall_s']:8.1f} "
            f"{row['ratio_local_over_ray']:10.2f} {row['per_unit_overhead_s']:+11.2f} "
            f"{row['preflight_first_s']:18.1f} {row['preflight_later_s']:8.1f} "
            f"{row['ray_plus_later_preflight_s']:16.1f}"
        )
    phase_rows = [r["phases_s"] for r in runs if r["mode"] == "ray-1" and not r.get("cli")]
    phases = {
        p: statistics.median(r[p] / max(r["units"], 1.0) for r in phase_rows)
        for p in (*PHASES, "dispatch", "back")
        if all(p in r for r in phase_rows)
    }
    phases["outside (per run)"] = statistics.median(r["outside"] for r in phase_rows)
    print("where a ray-1 unit's time goes (median seconds per unit):")
    print("  " + "  ".join(f"{p} {v:.2f}" for p, v in phases.items()))
    print("the head's timeline (median seconds from the run's start; connect and readiness are")
    print("the preflight's, before it; local marks only its executor's start and end):")
    timeline: dict[str, dict[str, float]] = {}
    for mode in ("local", *summary):
        rows = [r["timeline_s"] for r in runs if r["mode"] == mode and not r.get("cli")]
        marks = {k for r in rows for k in r}
        timeline[mode] = {
            k: statistics.median(r[k] for r in rows if k in r)
            for k in sorted(marks, key=lambda k: statistics.median(r.get(k, 0.0) for r in rows))
        }
        print(f"  {mode:6} " + "  ".join(f"{k} {v:+.2f}" for k, v in timeline[mode].items()))
    verdict = "met" if overhead <= OVERHEAD_TARGET else "NOT met"
    print(
        f"ray with one node vs local: {overhead:+.1%} wall time, {per_unit:+.2f} s per unit "
        f"(goal <= {OVERHEAD_TARGET:.0%}: {verdict}; preflight not counted)"
    )
    verdict = "met" if end_to_end <= OVERHEAD_TARGET else "NOT met"
    print(
        f"  end to end, each round's preflight counted (connect, readiness, warm-up; the first "
        f"round's cold): {end_to_end:+.1%} (goal <= {OVERHEAD_TARGET:.0%}: {verdict})"
    )
    cli = {
        mode: {
            "local_wall_s": statistics.median(lo for lo, _ in p),
            "ray_wall_s": statistics.median(r for _, r in p),
            "overhead_vs_local": statistics.median((r - lo) / lo for lo, r in p),
        }
        for mode, p in cli_pairs.items()
    }
    if cli:
        print("`prereview assess` in a fresh process, end to end (medians):")
        for mode, row in cli.items():
            verdict = "met" if row["overhead_vs_local"] <= OVERHEAD_TARGET else "NOT met"
            print(
                f"  {mode:6} local {row['local_wall_s']:.1f} s, ray {row['ray_wall_s']:.1f} s: "
                f"{row['overhead_vs_local']:+.1%}"
                + (f" (goal <= {OVERHEAD_TARGET:.0%}: {verdict})" if mode == "ray-1" else "")
            )
    print("\ncapacity model (assumptions):")
    for a in capacity["assumptions"]:
        print(f"  - {a}")
    for row in capacity["suites"]:
        print(
            f"  {row['suite']:20} {row['samples']:6} samples/review  "
            f"{row['core_hours']:8.1f} core-h  {row['model_hours']:8.1f} model-h"
        )
    print(
        f"  model-bound wall time per review at 4 connections: "
        f"{sum(r['model_hours'] for r in capacity['suites']) / 4:.1f} h (no node count changes it)"
    )
    print(
        f"  => {capacity['core_hours']:.0f} core-hours for five reviews: "
        f"{capacity['nodes']} node(s) of 16 cores in 30 days"
    )
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "suite": args.suite,
                "limit": args.limit,
                "unit_samples": args.unit_samples,
                "node_cpus": args.node_cpus,
                "rounds": args.rounds,
                "summary": summary,
                "runs": runs,
                "preflight_s": preflight,
                "phases_per_unit_s": phases,
                "timeline_s": timeline,
                "overhead_vs_local": overhead,
                "end_to_end_overhead_vs_local": end_to_end,
                "cli": cli,
                "per_unit_overhead_s": per_unit,
                "overhead_target": OVERHEAD_TARGET,
                "capacity": capacity,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if all(r["status"] == "completed" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
