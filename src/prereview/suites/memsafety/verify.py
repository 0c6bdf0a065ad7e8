"""Verification: an instance is served only if its ground truth is demonstrably right.

Using nothing but the manifest (the same steps anyone can repeat with gcc): build both programs
with ASan+UBSan, check that the reference PoC crashes the vulnerable build with the expected
report at the expected function/file/line and does not crash the fixed build, that every
functional test gives the expected output and exit status on both builds, that the files match
their recorded hashes, and that nothing the agent sees points at the ground truth.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prereview.suites.memsafety.baseline import fuzz_instance
from prereview.suites.memsafety.instance import Instance, manifest_digest, write_instance
from prereview.suites.memsafety.sanitizer import crashed, parse_report, redact_paths
from prereview.suites.memsafety.spec import BugClass, rotate
from prereview.suites.memsafety.toolchain import (
    RunResult,
    compile_program,
    run_program,
    tool_versions,
)

Progress = Callable[[int, int, str], None]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Verification:
    instance_id: str
    verified: bool
    checks: list[Check] = field(default_factory=list)
    crash: dict[str, Any] | None = None
    duration_s: float = 0.0
    tools: dict[str, str] = field(default_factory=dict)
    manifest_sha256: str = ""

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_build(inst: Instance, build: str, input_rel: str) -> RunResult:
    """Run ./build/<build> on an instance file the way the manifest says (argument or stdin)."""
    binary = str(inst.build_dir / build)
    if inst.input_mode == "stdin":
        return run_program([binary], stdin=inst.file(input_rel).read_bytes(), cwd=inst.path)
    return run_program([binary, input_rel], cwd=inst.path)


def _leak_checks(inst: Instance) -> Iterator[Check]:
    agent = inst.path / "agent"
    needles = [b"ground_truth", str(inst.path.resolve()).encode(), b"msbuild-", b"/fixed/"]
    for p in sorted(agent.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes()
        hits = [n.decode() for n in needles if n in data]
        if data[:4] == b"\x7fELF" and b".debug_" in data:
            hits.append("debug sections")
        yield Check(f"agent file {p.relative_to(agent)} reveals nothing", not hits, ", ".join(hits))
    src = agent / "src" / inst.source_name
    if src.exists():
        same = (
            src.read_bytes()
            == inst.file(f"ground_truth/vulnerable/{inst.source_name}").read_bytes()
        )
        yield Check("agent source is the vulnerable source", same)


def verify_instance(inst: Instance, *, fuzz_fixed_s: float = 0) -> Verification:
    """Build, run and check one instance; writes build/verification.json either way.

    With `fuzz_fixed_s`, libFuzzer also runs that long on the fixed source: a crash there is a
    second, unplanted bug, and fails the instance."""
    start = time.monotonic()
    m = inst.manifest
    result = Verification(
        inst.id, False, tools=tool_versions().as_dict(), manifest_sha256=manifest_digest(inst.path)
    )
    checks = result.checks
    for rel, digest in sorted(m.get("sha256", {}).items()):
        p = inst.path / rel
        ok = p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == digest
        if not ok:
            checks.append(Check(f"{rel} matches its recorded hash", False))
    checks.append(Check("files match their recorded hashes", not checks))
    checks.extend(_leak_checks(inst))

    inst.build_dir.mkdir(exist_ok=True)
    for build in ("vulnerable", "fixed"):
        (inst.build_dir / build).unlink(missing_ok=True)
        ok, err = compile_program(list(m["build"][build]), cwd=inst.path)
        checks.append(Check(f"{build} build compiles", ok, err[-2000:] if not ok else ""))
    if all(c.ok for c in checks if c.name.endswith("compiles")):
        _run_checks(inst, result)
    if fuzz_fixed_s > 0 and all(c.ok for c in checks):
        fuzz = fuzz_instance(inst, fuzz_fixed_s, build="fixed")
        detail = json.dumps(fuzz.report) if fuzz.crashed else f"{fuzz.executions} executions"
        checks.append(Check("fuzzing the fixed build finds no crash", not fuzz.crashed, detail))
    result.verified = all(c.ok for c in checks)
    result.duration_s = round(time.monotonic() - start, 3)
    inst.verification_path.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    return result


RUN_CONCURRENCY = 4  # runs are short and latency-bound: overlap them


def _run_checks(inst: Instance, result: Verification) -> None:
    checks = result.checks
    poc = str(inst.manifest["poc"])
    tests = inst.manifest["functional_tests"]
    jobs = [("vulnerable", poc), ("fixed", poc)]
    jobs += [(build, t["input"]) for t in tests for build in ("vulnerable", "fixed")]
    with ThreadPoolExecutor(max_workers=RUN_CONCURRENCY) as pool:
        runs = list(pool.map(lambda job: run_build(inst, *job), jobs))
    vuln, fixed = runs[0], runs[1]
    report = parse_report(vuln.stderr, inst.source_name)
    result.crash = report.as_dict() if report else None
    expected = inst.crash
    ok = report is not None and report.matches(expected)
    got = report.as_dict() if report else "no sanitizer report"
    detail = "" if ok else f"expected {expected}, got {got}"
    checks.append(Check("PoC crashes the vulnerable build at the planted bug", ok, detail))
    if report is not None:
        (inst.build_dir / "crash_report.txt").write_text(redact_paths(vuln.stderr))
    bad = crashed(fixed.stderr, fixed.signal) or fixed.timed_out
    checks.append(
        Check("PoC does not crash the fixed build", not bad, fixed.stderr[-1000:] if bad else "")
    )
    for k, test in enumerate(tests):
        want = inst.file(test["expected_stdout"]).read_bytes()
        for b, build in enumerate(("vulnerable", "fixed")):
            run = runs[2 + 2 * k + b]
            ok = (
                run.stdout == want
                and run.exit_code == test["expected_exit"]
                and not crashed(run.stderr, run.signal)
            )
            detail = "" if ok else _diff(want, run)
            checks.append(Check(f"functional test {test['name']} passes on {build}", ok, detail))


def _diff(want: bytes, got: RunResult) -> str:
    w, g = (
        want.decode(errors="replace").splitlines(),
        got.stdout.decode(errors="replace").splitlines(),
    )
    for i, (a, b) in enumerate(zip(w, g, strict=False)):
        if a != b:
            return (
                f"line {i + 1}: expected {a!r}, got {b!r} (exit {got.exit_code}) "
                + got.stderr[-300:]
            )
    return f"expected {len(w)} lines, got {len(g)} (exit {got.exit_code}) {got.stderr[-300:]}"


@dataclass
class GenerationReport:
    instances: list[Instance]
    rejected: list[dict[str, Any]]
    duration_s: float


def generate_slot(
    out_dir: Path,
    seed: int,
    tier: int,
    bug: BugClass,
    slot: int,
    stride: int,
    *,
    attempts: int = 3,
) -> tuple[Instance | None, list[dict[str, Any]]]:
    """One verified instance for `slot`, trying indices slot, slot+stride, ...; a failing one is
    deleted (never served) and recorded with its reasons."""
    rejected: list[dict[str, Any]] = []
    for attempt in range(attempts):
        index = slot + attempt * stride
        record: dict[str, Any] = {"slot": slot, "index": index, "bug_class": bug.value}
        try:
            inst = write_instance(out_dir, seed, tier, bug, index)
        except Exception as exc:  # a generator defect must not stop the batch: record it
            rejected.append({**record, "reason": f"generation: {exc}"})
            continue
        v = verify_instance(inst)
        if v.verified:
            return inst, rejected
        reason = "; ".join(f"{c.name}: {c.detail}" for c in v.failures)[:2000]
        rejected.append({**record, "id": inst.id, "reason": reason})
        shutil.rmtree(inst.path, ignore_errors=True)
    return None, rejected


def generate(
    out_dir: Path,
    seed: int,
    tier: int,
    count: int,
    bug_classes: list[BugClass],
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
    attempts: int = 3,
) -> GenerationReport:
    """Write `count` verified instances, bug classes in turn; an instance failing verification is
    deleted and replaced by the next index of the same bug class (`attempts` tries per slot)."""
    start = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = max(1, jobs or os.cpu_count() or 1)
    rejected: list[dict[str, Any]] = []
    done: dict[int, Instance] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(
                generate_slot,
                out_dir,
                seed,
                tier,
                rotate(bug_classes, slot),
                slot,
                count,
                attempts=attempts,
            ): slot
            for slot in range(count)
        }
        for n, fut in enumerate(as_completed(futures), 1):
            slot = futures[fut]
            inst, rejects = fut.result()
            rejected.extend(rejects)
            if inst is not None:
                done[slot] = inst
            if progress:
                progress(n, count, inst.id if inst else f"slot {slot} rejected")
    instances = [done[s] for s in sorted(done)]
    return GenerationReport(instances, rejected, round(time.monotonic() - start, 3))


def verify_many(
    instances: list[Instance],
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
    fuzz_fixed_s: float = 0,
) -> list[Verification]:
    jobs = max(1, jobs or os.cpu_count() or 1)
    results: dict[str, Verification] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(verify_instance, inst, fuzz_fixed_s=fuzz_fixed_s): inst
            for inst in instances
        }
        for n, fut in enumerate(as_completed(futures), 1):
            v = fut.result()
            results[v.instance_id] = v
            if progress:
                progress(n, len(instances), v.instance_id)
    return [results[i.id] for i in instances]
