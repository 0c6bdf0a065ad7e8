"""Rungs 2 and 3: AFL++ with CmpLog, and AFL++ with the structure-aware custom mutator.

Both build the vulnerable source with afl-clang-fast (ASan and UBSan, the libFuzzer entry
harness driven by AFL++'s driver) and fuzz for the budget, stopping at the first crash. Time to
crash is the `time:` AFL++ records in the crash's file name: milliseconds of fuzzing, not
counting the build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from prereview.suites.interface import (
    RUNG_CENSORED,
    RUNG_ERROR,
    RUNG_FOUND,
    RUNG_UNAVAILABLE,
    RungResult,
)
from prereview.suites.memsafety.instance import Instance
from prereview.suites.memsafety.ladder.format import describe, example_genotypes
from prereview.suites.memsafety.model import Message
from prereview.suites.memsafety.toolchain import FUZZ_ENTRY_HARNESS

AFL_CC, AFL_FUZZ = "afl-clang-fast", "afl-fuzz"
CMPLOG, STRUCTURE = "afl-cmplog", "afl-structure"
_CRASH_TIME = re.compile(r"time:(\d+)")
_CRASH_EXECS = re.compile(r"execs:(\d+)")


def afl_missing() -> str | None:
    """Why AFL++ cannot run here (None: it can): both tools on PATH and a program builds."""
    missing = [t for t in (AFL_CC, AFL_FUZZ) if shutil.which(t) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH (apt-get install afl++)"
    with tempfile.TemporaryDirectory(prefix="msafl-") as tmp:
        src = Path(tmp, "t.c")
        src.write_text(
            "#include <stddef.h>\n#include <stdint.h>\n"
            "int LLVMFuzzerTestOneInput(const uint8_t*d,size_t n){return 0;}\n"
        )
        built = _compile([str(src)], Path(tmp, "t"), Path(tmp))
    return None if built is None else f"afl-clang-fast cannot build a harness: {built[-200:]}"


def _compile(
    sources: list[str], out: Path, cwd: Path, env_extra: dict[str, str] | None = None
) -> str | None:
    cc = shutil.which(AFL_CC) or AFL_CC
    argv = [
        cc,
        "-g",
        "-O1",
        "-fsanitize=fuzzer,address,undefined",
        "-fno-sanitize-recover=all",
        "-Dmain=memsafety_program_main",
        "-o",
        str(out),
        *sources,
    ]
    env = {**os.environ, "AFL_QUIET": "1", **(env_extra or {})}
    try:
        proc = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if proc.returncode == 0 and out.is_file() else (proc.stderr or "failed")


def _python_path() -> str:
    """What afl-fuzz's embedded interpreter needs to import the format description."""
    here = Path(__file__).resolve().parent
    src = here.parents[3]
    return os.pathsep.join([str(here), str(src), sysconfig.get_paths()["purelib"], *sys.path])


def run_afl(inst: Instance, rung: str, budget_s: float, *, seed: int = 1) -> RungResult:
    """One AFL++ rung on one instance: `afl-cmplog` from the agent's examples, `afl-structure`
    from seeds made from the format description alone."""
    why = afl_missing()
    if why:
        return RungResult(rung, RUNG_UNAVAILABLE, None, float(budget_s), detail=why)
    entry = str(inst.manifest["program"]["entry"])
    with tempfile.TemporaryDirectory(prefix="msafl-") as tmp:
        work = Path(tmp)
        shutil.copyfile(inst.file(f"ground_truth/vulnerable/{inst.source_name}"), work / "p.c")
        (work / "h.c").write_text(FUZZ_ENTRY_HARNESS.format(entry=entry))
        corpus = work / "in"
        corpus.mkdir()
        env = {
            "AFL_SKIP_CPUFREQ": "1",
            "AFL_NO_AFFINITY": "1",
            "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES": "1",
            "AFL_NO_UI": "1",
            "AFL_BENCH_UNTIL_CRASH": "1",
            "AFL_SKIP_CRASHES": "1",
        }
        argv = [shutil.which(AFL_FUZZ) or AFL_FUZZ, "-i", str(corpus), "-o", str(work / "out")]
        argv += ["-V", str(max(1, round(budget_s))), "-s", str(seed), "-m", "none"]
        if rung == CMPLOG:
            err = _compile(["p.c", "h.c"], work / "fz", work) or _compile(
                ["p.c", "h.c"], work / "fz.cmplog", work, {"AFL_LLVM_CMPLOG": "1"}
            )
            examples = sorted((inst.path / "agent" / "examples").glob("*"))
            for example in examples:
                shutil.copyfile(example, corpus / example.name)
            if not examples:
                (corpus / "empty").write_bytes(bytes(16))
            argv += ["-c", str(work / "fz.cmplog")]
        elif rung == STRUCTURE:
            m = inst.manifest
            desc = describe(int(m["seed"]), inst.tier, str(m["bug_class"]), int(m["index"]))
            err = _compile(
                ["p.c", "h.c"], work / "fz", work, {"AFL_LLVM_DICT2FILE": str(work / "cmp.dict")}
            ) or _compile(["p.c", "h.c"], work / "fz.cmplog", work, {"AFL_LLVM_CMPLOG": "1"})
            argv += ["-c", str(work / "fz.cmplog")]
            files = [p.read_bytes() for p in sorted((inst.path / "agent" / "examples").glob("*"))]
            parsed = example_genotypes(desc, _example_messages(inst), files)
            desc.examples = tuple(parsed)
            desc.save(work / "format.pickle")
            for n, genotype in enumerate(desc.seeds()):
                (corpus / f"seed-{n}").write_bytes(desc.serialize(genotype))
            env.update(
                {
                    "AFL_PYTHON_MODULE": "afl_post",
                    "AFL_CUSTOM_MUTATOR_ONLY": "1",
                    "AFL_DISABLE_TRIM": "1",
                    "PYTHONPATH": _python_path(),
                    "PREREVIEW_FORMAT": str(work / "format.pickle"),
                    "PREREVIEW_DICT": str(work / "cmp.dict"),
                }
            )
        else:
            raise ValueError(f"not an AFL++ rung: {rung!r}")
        if err:
            return RungResult(rung, RUNG_ERROR, None, float(budget_s), detail=err[-300:])
        argv += ["--", str(work / "fz")]
        try:
            proc = subprocess.run(
                argv,
                cwd=work,
                capture_output=True,
                text=True,
                errors="replace",
                env={**os.environ, **env},
                timeout=budget_s + 120,
                check=False,
            )
            log = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired:
            log = "afl-fuzz overran its budget"
        crashes = sorted((work / "out" / "default" / "crashes").glob("id:*"))
        stats = _stats(work / "out" / "default" / "fuzzer_stats")
    execs = int(stats.get("execs_done", "0") or 0)
    if not crashes:
        if not stats:
            return RungResult(rung, RUNG_ERROR, None, float(budget_s), detail=log[-300:])
        return RungResult(rung, RUNG_CENSORED, None, float(budget_s), executions=execs)
    name = crashes[0].name
    t = _CRASH_TIME.search(name)
    e = _CRASH_EXECS.search(name)
    seconds = min(float(budget_s), int(t.group(1)) / 1000) if t else float(budget_s)
    return RungResult(
        rung,
        RUNG_FOUND,
        round(seconds, 3),
        float(budget_s),
        executions=int(e.group(1)) if e else execs,
    )


def _example_messages(inst: Instance) -> list[list[Message]]:
    """The message lists the generator framed into the agent's example files (regenerated from
    the instance's seed); `example_genotypes` keeps only those that reproduce a file exactly."""
    from prereview.suites.memsafety.generator import build_program
    from prereview.suites.memsafety.spec import BugClass

    m = inst.manifest
    program = build_program(
        int(m["seed"]), inst.tier, BugClass(str(m["bug_class"])), int(m["index"])
    )
    return program.sample_messages


def _stats(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
