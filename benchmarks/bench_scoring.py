"""Scoring latency of `memsafety_poc` and `memsafety_patch`, before and after the integrity work,
side by side in one run.

"Before" is the scorer at a git commit (default: the last one before the integrity rules),
extracted with `git archive` into a temporary directory and imported from there in a worker
process; "after" is this checkout's, in the same kind of worker. Workers alternate round by
round, so a shared host's changing load falls on both alike. Both score the same freshly
generated instances: PoC scoring on the reference PoC, patch scoring on the reference fix
(`--fuzz-seconds` of fuzzing, the same for both).

Prints a table and writes benchmarks/results/scoring.json.

    python benchmarks/bench_scoring.py [--before 8e410ec] [--rounds 2] [--poc-reps 4]
        [--fuzz-seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = Path(__file__).parent / "results" / "scoring.json"
BEFORE = "8e410ec"
SEED = 20251203
POC_P50_LIMIT = 2.0  # after / before


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


async def _old_patch_verdict(inst: Any, fix: bytes, fuzz_seconds: int) -> str:
    """The scorer before the integrity rules: one sandbox, gcc build, PoC, tests, fuzz."""
    from prereview.suites.memsafety import scorers
    from prereview.suites.memsafety.sandboxing import fresh_sandbox

    judge = getattr(scorers, "_judge_patch")  # noqa: B009 (exists only in the old code)
    async with fresh_sandbox("bwrap") as env:
        got = await judge(env, inst, fix, fuzz_seconds, 1)
    return str(got[0])


def _worker(instances: Path, poc_reps: int, fuzz_seconds: int, new: bool) -> dict[str, Any]:
    """Runs inside a worker process whose sys.path starts at one version's src/."""
    from prereview.suites.memsafety import scorers
    from prereview.suites.memsafety.instance import find_instances

    found = [i for d in sorted(instances.iterdir()) for i in find_instances(d)]
    poc: list[float] = []
    patch: list[float] = []
    outcomes: list[str] = []
    for inst in found:
        ref_poc = inst.file(inst.manifest["poc"]).read_bytes()
        for _ in range(poc_reps):
            t = time.perf_counter()
            vuln, fixed = asyncio.run(scorers.replay_poc(inst, ref_poc, "bwrap"))
            outcome = scorers.judge_poc(inst, vuln, fixed)[0]
            poc.append(time.perf_counter() - t)
            assert outcome == "reproduced", outcome
        fix = inst.file(f"ground_truth/fixed/{inst.source_name}").read_bytes()
        t = time.perf_counter()
        if new:
            from prereview.suites.memsafety.patch_verdict import judge_patch

            outcomes.append(asyncio.run(judge_patch(inst, fix, fuzz_seconds, 1, "bwrap")).outcome)
        else:
            outcomes.append(asyncio.run(_old_patch_verdict(inst, fix, fuzz_seconds)))
        patch.append(time.perf_counter() - t)
    return {"poc_s": poc, "patch_s": patch, "patch_outcomes": outcomes}


def _run_worker(src: Path, instances: Path, args: argparse.Namespace, new: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT / 'benchmarks'}"}
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(instances),
        "--poc-reps",
        str(args.poc_reps),
        "--fuzz-seconds",
        str(args.fuzz_seconds),
    ] + (["--new"] if new else [])
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"worker ({'after' if new else 'before'}) failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _summary(values: list[float]) -> dict[str, float | int]:
    return {
        "n": len(values),
        "p50_s": round(statistics.median(values), 3),
        "p95_s": round(_pct(values, 0.95), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--poc-reps", type=int, default=4)
    parser.add_argument("--fuzz-seconds", type=int, default=2)
    parser.add_argument("--worker", type=Path)
    parser.add_argument("--new", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.poc_reps, args.fuzz_seconds, args.new)))
        return

    from prereview.suites.memsafety.spec import BugClass
    from prereview.suites.memsafety.tasks import prepare_instances

    bugs = [BugClass.HEAP_OVERFLOW, BugClass.DOUBLE_FREE, BugClass.USE_AFTER_FREE]
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        base = Path(tmp)
        instances = base / "instances"
        prepare_instances(SEED, [1], bugs, 1, str(instances))
        old_src = base / "before"
        old_src.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.before, "src"],
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(old_src)], input=archive.stdout, check=True)
        got: dict[str, dict[str, list[Any]]] = {
            side: {"poc_s": [], "patch_s": [], "patch_outcomes": []} for side in ("before", "after")
        }
        start = time.monotonic()
        for _ in range(args.rounds):
            for side, src, new in (
                ("before", old_src / "src", False),
                ("after", ROOT / "src", True),
            ):
                res = _run_worker(src, instances, args, new)
                for key in got[side]:
                    got[side][key].extend(res[key])
        wall = time.monotonic() - start
    result: dict[str, Any] = {
        "benchmark": "memsafety scoring latency, before vs after the integrity rules",
        "before_commit": args.before,
        "instances": [b.value for b in bugs],
        "tier": 1,
        "seed": SEED,
        "fuzz_seconds": args.fuzz_seconds,
        "rounds": args.rounds,
        "poc_reps_per_instance": args.poc_reps,
        "wall_s": round(wall, 1),
        "host": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    for side in ("before", "after"):
        result[side] = {
            "poc": _summary(got[side]["poc_s"]),
            "patch": _summary(got[side]["patch_s"]),
            "patch_outcomes": sorted(set(got[side]["patch_outcomes"])),
        }
    ratio = result["after"]["poc"]["p50_s"] / result["before"]["poc"]["p50_s"]
    result["poc_p50_ratio"] = round(ratio, 2)
    result["poc_p50_within_limit"] = ratio <= POC_P50_LIMIT
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'':8} {'PoC p50':>8} {'PoC p95':>8} {'patch p50':>10} {'patch p95':>10}")
    for side in ("before", "after"):
        r = result[side]
        print(
            f"{side:8} {r['poc']['p50_s']:8.3f} {r['poc']['p95_s']:8.3f} "
            f"{r['patch']['p50_s']:10.2f} {r['patch']['p95_s']:10.2f}"
        )
    print(f"PoC p50 after/before: {ratio:.2f} (limit {POC_P50_LIMIT}); wrote {RESULTS_FILE}")


if __name__ == "__main__":
    main()
