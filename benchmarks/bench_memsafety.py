"""Memory-safety suite: generation throughput, PoC scoring latency, and difficulty vs tier.

Prints a table and writes benchmarks/results/memsafety.json.

1. Verified instances per minute: generate + compile (ASan/UBSan vulnerable and fixed, stripped
   agent binary at tiers 4-5) + verify, `--jobs` at a time, in `--rounds` rounds of
   `--per-tier` instances per tier; each round is followed by running only the same gcc commands
   with the same parallelism, and the ratio is ours / gcc alone (1.0: verification would cost
   nothing beyond compiling). Alternating short rounds keep a shared host's changing load fair
   to both.
2. PoC scoring latency: a fresh bwrap sandbox, our two builds and the reference PoC copied in,
   both builds run; p50/p95 over every instance, `--reps` times each.
3. Difficulty: libFuzzer on `--fuzz-per-tier` instances per tier (the non-AI baseline, from the
   example inputs the agent gets), stopped at `--fuzz-runs` executions or `--budget` seconds;
   Spearman's rho between tier and time-to-crash censored at the budget (target >= 0.8), and
   between tier and executions-to-crash (the same, but independent of the host's load).

    python benchmarks/bench_memsafety.py [--rounds 4] [--per-tier 2] [--fuzz-runs 1000000]
        [--skip-fuzz]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio

from prereview.suites.memsafety.baseline import difficulty_correlation, run_baseline
from prereview.suites.memsafety.instance import Instance
from prereview.suites.memsafety.scorers import judge_poc, replay_poc
from prereview.suites.memsafety.spec import GENERATOR_VERSION, TIERS, BugClass, rotate
from prereview.suites.memsafety.toolchain import tool_versions
from prereview.suites.memsafety.verify import generate_slot

RESULTS_FILE = Path(__file__).parent / "results" / "memsafety.json"
RATIO_TARGET = 0.7
SPEARMAN_TARGET = 0.8


def _slots(round_no: int, per_tier: int) -> list[tuple[int, BugClass]]:
    """`per_tier` instances per tier, costliest tiers first (so the pool's tail is short, as it
    is for gcc alone, whose many small commands pack evenly); bug classes rotate."""
    classes = list(BugClass)
    return [
        (tier, rotate(classes, tier + round_no * per_tier + k))
        for tier in sorted(TIERS, reverse=True)
        for k in range(per_tier)
    ]


def measure_generation(
    root: Path, seed: int, round_no: int, jobs: int, per_tier: int
) -> tuple[list[Instance], float, int]:
    slots = _slots(round_no, per_tier)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(
            pool.map(
                lambda ks: generate_slot(
                    root / f"tier-{ks[1][0]}", seed, ks[1][0], ks[1][1], ks[0], 1000
                ),
                enumerate(slots, round_no * len(slots)),
            )
        )
    elapsed = time.monotonic() - start
    instances = [inst for inst, _ in results if inst is not None]
    rejected = sum(len(rej) for _, rej in results)
    return instances, elapsed, rejected


def _compile_jobs(instances: list[Instance], out: Path) -> list[tuple[list[str], Path]]:
    """Every gcc command generation ran, redirected to write its output under `out`."""
    jobs = []
    for inst in instances:
        build = inst.manifest["build"]
        for name in ("vulnerable", "fixed"):
            argv = list(build[name])
            argv[argv.index("-o") + 1] = str(out / f"{inst.id}-{name}")
            jobs.append((argv, inst.path))
        if build.get("agent_binary"):
            work = out / f"{inst.id}-agent"
            work.mkdir()
            shutil.copyfile(
                inst.file(f"ground_truth/vulnerable/{inst.source_name}"), work / inst.source_name
            )
            jobs.append((list(build["agent_binary"]), work))
    return jobs


def measure_gcc_alone(instances: list[Instance], jobs: int) -> float:
    with tempfile.TemporaryDirectory(prefix="gcc-alone-") as tmp:
        commands = _compile_jobs(instances, Path(tmp))
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            codes = list(
                pool.map(
                    lambda c: subprocess.run(c[0], cwd=c[1], capture_output=True).returncode,
                    commands,
                )
            )
        elapsed = time.monotonic() - start
    if any(codes):
        raise SystemExit("a gcc command failed in the gcc-alone run")
    return elapsed


def measure_scoring(instances: list[Instance], reps: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    reproduced = 0

    async def run() -> None:
        nonlocal reproduced
        for _ in range(reps):
            for inst in instances:
                poc = inst.file("ground_truth/poc.bin").read_bytes()
                start = time.monotonic()
                vuln, fixed = await replay_poc(inst, poc, "bwrap")
                latencies.append(time.monotonic() - start)
                reproduced += judge_poc(inst, vuln, fixed)[0] == "reproduced"

    anyio.run(run)
    return latencies, reproduced


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--budget", type=float, default=60.0, help="libFuzzer seconds per instance (cap)"
    )
    parser.add_argument(
        "--fuzz-runs", type=int, default=1_000_000, help="libFuzzer executions per instance"
    )
    parser.add_argument("--fuzz-per-tier", type=int, default=6, help="instances per tier to fuzz")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--reps", type=int, default=1, help="scoring repetitions per instance")
    parser.add_argument("--rounds", type=int, default=4, help="rounds: ours, then gcc alone")
    parser.add_argument("--per-tier", type=int, default=2, help="instances per tier and round")
    parser.add_argument("--skip-fuzz", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-memsafety-") as tmp:
        # short alternating rounds (ours, then the same gcc commands alone), so that the changing
        # load of a shared host falls on both measurements alike
        instances: list[Instance] = []
        gen_s = gcc_s = 0.0
        rejected = 0
        for r in range(args.rounds):
            print(
                f"round {r + 1}/{args.rounds}: {len(TIERS) * args.per_tier} instances, "
                "then gcc alone",
                flush=True,
            )
            made, seconds, rej = measure_generation(
                Path(tmp), args.seed, r, args.jobs, args.per_tier
            )
            gcc_s += measure_gcc_alone(made, args.jobs)
            gen_s += seconds
            rejected += rej
            instances += made
        per_tier = {t: [i for i in instances if i.tier == t] for t in TIERS}
        print("scoring reference PoCs in fresh sandboxes...", flush=True)
        latencies, reproduced = measure_scoring(instances, args.reps)
        outcomes = []
        if not args.skip_fuzz:
            print(
                f"fuzzing for up to {args.fuzz_runs} executions / {args.budget:.0f}s each...",
                flush=True,
            )
            to_fuzz = [i for t in TIERS for i in per_tier[t][: args.fuzz_per_tier]]
            outcomes = run_baseline(to_fuzz, args.budget, max_runs=args.fuzz_runs, jobs=args.jobs)
        rho = difficulty_correlation(outcomes) if outcomes else None
        rho_execs = difficulty_correlation(outcomes, by="executions") if outcomes else None

        n = len(instances)
        ours_per_min = 60.0 * n / gen_s
        gcc_per_min = 60.0 * n / gcc_s
        ratio = ours_per_min / gcc_per_min
        lines_by_tier = {
            t: [i.manifest["program"]["lines"] for i in instances if i.tier == t] for t in TIERS
        }
        fuzz_by_tier: dict[str, Any] = {}
        for t in TIERS:
            tier_out = [o for o in outcomes if o.tier == t]
            if tier_out:
                fuzz_by_tier[str(t)] = {
                    "crashed": sum(o.crashed for o in tier_out),
                    "planted": sum(o.matched_planted for o in tier_out),
                    "n": len(tier_out),
                    "median_censored_s": statistics.median(o.censored_time_s for o in tier_out),
                }
        result: dict[str, Any] = {
            "benchmark": "memsafety",
            "generator_version": GENERATOR_VERSION,
            "host": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "load_avg_1m": os.getloadavg()[0],
            },
            "tools": tool_versions().as_dict(),
            "params": vars(args),
            "instances": n,
            "rejected_during_generation": rejected,
            "generation": {
                "seconds": round(gen_s, 2),
                "verified_per_min": round(ours_per_min, 2),
                "gcc_alone_seconds": round(gcc_s, 2),
                "gcc_alone_per_min": round(gcc_per_min, 2),
                "ratio_to_gcc_alone": round(ratio, 3),
                "target_ratio": RATIO_TARGET,
            },
            "program_lines_by_tier": {str(t): v for t, v in lines_by_tier.items()},
            "scoring": {
                "samples": len(latencies),
                "reproduced": reproduced,
                "p50_s": round(_pct(latencies, 0.5), 3),
                "p95_s": round(_pct(latencies, 0.95), 3),
            },
            "fuzz_baseline": {
                "budget_s": args.budget,
                "spearman_tier_vs_time": None if rho is None else round(rho, 3),
                "spearman_tier_vs_executions": None if rho_execs is None else round(rho_execs, 3),
                "target": SPEARMAN_TARGET,
                "by_tier": fuzz_by_tier,
                "per_instance": [o.as_dict() for o in outcomes],
            },
        }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{'measure':<44}{'value':>14}  target")
    rows = [
        ("verified instances", f"{n}", ""),
        ("verified instances / min (ours)", f"{ours_per_min:.1f}", ""),
        ("instances / min (gcc alone, same commands)", f"{gcc_per_min:.1f}", ""),
        ("ratio ours / gcc alone", f"{ratio:.2f}", f">= {RATIO_TARGET}"),
        ("PoC scoring latency p50 (s)", f"{_pct(latencies, 0.5):.3f}", ""),
        ("PoC scoring latency p95 (s)", f"{_pct(latencies, 0.95):.3f}", ""),
        ("reference PoCs reproduced", f"{reproduced}/{len(latencies)}", "all"),
    ]
    if outcomes:
        rows.append(
            (
                "Spearman(tier, fuzzer time-to-crash)",
                "n/a" if rho is None else f"{rho:.3f}",
                f">= {SPEARMAN_TARGET}",
            )
        )
        execs = "n/a" if rho_execs is None else f"{rho_execs:.3f}"
        rows.append(("Spearman(tier, executions-to-crash)", execs, "(load-independent)"))
    for name, value, target in rows:
        print(f"{name:<44}{value:>14}  {target}")
    if fuzz_by_tier:
        print(
            f"\n{'tier':<6}{'lines (mean)':>14}{'fuzzer crashed':>16}{'planted':>9}{'median s':>10}"
        )
        for t, row in fuzz_by_tier.items():
            mean_lines = statistics.mean(lines_by_tier[int(t)])
            print(
                f"{t:<6}{mean_lines:>14.0f}{row['crashed']:>13}/{row['n']:<2}{row['planted']:>9}"
                f"{row['median_censored_s']:>10.1f}"
            )
    print(f"\nwrote {RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
