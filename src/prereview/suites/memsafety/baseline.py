"""The non-AI baseline: coverage-guided libFuzzer on each instance, with a fixed budget.

It measures how hard an instance is for a machine that does not reason: time (and executions)
to the first crash, censored at the budget. libFuzzer gets the same example inputs the agent
gets and, being a grey-box tool, the source (instrumented build) even at binary-only tiers, so
it is an upper bound on what blind fuzzing achieves. Difficulty should rise with the tier; the
Spearman correlation between tier and censored time-to-crash says how well it does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prereview.suites.memsafety.instance import Instance
from prereview.suites.memsafety.sanitizer import parse_report
from prereview.suites.memsafety.toolchain import (
    FUZZ_ENTRY_HARNESS,
    compile_program,
    fuzz_build_argv,
    run_env,
)

BASELINE_FILE = "baseline_fuzz.json"


@dataclass(frozen=True)
class FuzzOutcome:
    """One fuzzing run on one instance."""

    instance_id: str
    tier: int
    bug_class: str
    budget_s: float
    seed: int
    max_runs: int | None
    crashed: bool
    time_to_crash_s: float | None  # wall clock from start to the first crash; None if none found
    executions: int
    matched_planted: bool  # the crash is at the planted bug (function and line)
    report: dict[str, Any] | None

    @property
    def censored_time_s(self) -> float:
        """Time to crash, or the budget when none was found (right-censored)."""
        return self.time_to_crash_s if self.time_to_crash_s is not None else self.budget_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "censored_time_s": self.censored_time_s}


def fuzz_instance(
    inst: Instance,
    budget_s: float,
    *,
    seed: int = 1,
    max_runs: int | None = None,
    build: str = "vulnerable",
    store: bool = True,
) -> FuzzOutcome:
    """Build the vulnerable program for libFuzzer and fuzz it from the agent's examples.

    The budget is `budget_s` seconds and, when given, `max_runs` executions: with a fixed seed,
    whether a run crashes within `max_runs` executions does not depend on the host's load.
    `build="fixed"` fuzzes the fixed source instead: any crash there is a bug we did not plant."""
    entry = str(inst.manifest["program"]["entry"])
    with tempfile.TemporaryDirectory(prefix="msfuzz-") as tmp:
        work = Path(tmp)
        shutil.copyfile(
            inst.file(f"ground_truth/{build}/{inst.source_name}"), work / inst.source_name
        )
        (work / "harness.c").write_text(FUZZ_ENTRY_HARNESS.format(entry=entry))
        ok, err = compile_program(
            fuzz_build_argv(inst.source_name, "harness.c", "fuzz", entry), cwd=work
        )
        if not ok:
            raise RuntimeError(f"{inst.id}: building the fuzzer failed: {err[-1000:]}")
        corpus = work / "corpus"
        corpus.mkdir()
        for example in sorted((inst.path / "agent" / "examples").glob("*")):
            shutil.copyfile(example, corpus / example.name)
        argv = [
            str(work / "fuzz"),
            f"-max_total_time={max(1, round(budget_s))}",
            f"-seed={seed}",
            "-close_fd_mask=1",
            "-timeout=5",
            "-rss_limit_mb=2048",
            "-max_len=4096",
            "-print_final_stats=1",
            f"-artifact_prefix={work}/",
            *([f"-runs={max_runs}"] if max_runs else []),
            str(corpus),
        ]
        start = time.monotonic()
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                errors="replace",
                cwd=work,
                env=run_env(),
                timeout=budget_s + 120,
                check=False,
            )
            log, code = proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            log, code = str(exc.stderr or ""), 0
        elapsed = time.monotonic() - start
    report = parse_report(log, inst.source_name)
    crashed = code != 0 and report is not None
    expected = inst.crash
    # the same place: clang may name the fault differently from gcc (its UBSan bounds check can
    # fire before ASan on the same statement)
    matched = bool(
        report and report.function == expected["function"] and report.line == expected["line"]
    )
    execs = next(
        (ln.split(":")[-1].strip() for ln in log.splitlines() if "number_of_executed_units" in ln),
        "0",
    )
    outcome = FuzzOutcome(
        instance_id=inst.id,
        tier=inst.tier,
        bug_class=inst.bug_class.value,
        budget_s=float(budget_s),
        seed=seed,
        max_runs=max_runs,
        crashed=crashed,
        time_to_crash_s=round(min(elapsed, budget_s), 3) if crashed else None,
        executions=int(execs) if execs.isdigit() else 0,
        matched_planted=matched,
        report=report.as_dict() if report else None,
    )
    if store and build == "vulnerable":
        inst.build_dir.mkdir(exist_ok=True)
        (inst.build_dir / BASELINE_FILE).write_text(json.dumps(outcome.as_dict(), indent=2) + "\n")
    return outcome


def run_baseline(
    instances: list[Instance],
    budget_s: float,
    *,
    seed: int = 1,
    max_runs: int | None = None,
    jobs: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[FuzzOutcome]:
    """Fuzz every instance (`jobs` at a time, one core each)."""
    jobs = max(1, jobs or os.cpu_count() or 1)
    out: dict[str, FuzzOutcome] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [
            pool.submit(fuzz_instance, inst, budget_s, seed=seed, max_runs=max_runs)
            for inst in instances
        ]
        for n, fut in enumerate(as_completed(futures), 1):
            result = fut.result()
            out[result.instance_id] = result
            if progress:
                progress(n, len(instances), result.instance_id)
    return [out[i.id] for i in instances]


def difficulty_correlation(outcomes: list[FuzzOutcome], *, by: str = "time") -> float | None:
    """Spearman's rho between tier and the fuzzer's effort (None when undefined).

    `by="time"`: seconds to the first crash, censored at the budget (what the issue asks for).
    `by="executions"`: executions to the first crash, censored runs ranked above every crash;
    unlike seconds, it does not depend on how loaded the host was.
    """
    from scipy.stats import spearmanr

    if by == "time":
        effort = [o.censored_time_s for o in outcomes]
    elif by == "executions":
        top = max((o.executions for o in outcomes), default=0) + 1
        effort = [float(o.executions if o.crashed else top) for o in outcomes]
    else:
        raise ValueError(f"by must be 'time' or 'executions', not {by!r}")
    if len({o.tier for o in outcomes}) < 2 or len(set(effort)) < 2:
        return None
    return float(spearmanr([o.tier for o in outcomes], effort).statistic)
