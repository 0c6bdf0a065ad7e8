"""Rung 4: symbolic execution with KLEE, where a packaged build runs on this host.

Debian 12 packages no KLEE, so on the reference host this rung is `unavailable` (reported by
`prereview doctor`, in results and in reports, never dropped). Where `klee` and `clang` are on
PATH, the program is compiled to LLVM bitcode with a driver that makes a fixed-size input
symbolic, and KLEE runs for the budget, stopping at the first memory error.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from prereview.suites.interface import (
    RUNG_CENSORED,
    RUNG_ERROR,
    RUNG_FOUND,
    RUNG_UNAVAILABLE,
    RungResult,
)
from prereview.suites.memsafety.instance import Instance

SYMBOLIC = "symbolic"
KLEE = "klee"
SYMBOLIC_BYTES = 256
_DRIVER = """\
#include <stddef.h>
#include <stdint.h>
#include <klee/klee.h>
int {entry}(const uint8_t *data, size_t size);
int main(void) {{
    static uint8_t buf[{n}];
    klee_make_symbolic(buf, sizeof buf, "input");
    {entry}(buf, sizeof buf);
    return 0;
}}
"""


def klee_missing() -> str | None:
    """Why KLEE cannot run here (None: it can): `klee --version` must answer."""
    klee = shutil.which(KLEE)
    if klee is None:
        return "klee not found on PATH (not packaged in Debian 12; build it from klee.github.io)"
    if shutil.which("clang") is None:
        return "clang not found on PATH (KLEE needs LLVM bitcode)"
    try:
        proc = subprocess.run([klee, "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"klee does not run: {exc}"
    return None if proc.returncode == 0 else "klee --version failed"


def run_klee(inst: Instance, budget_s: float) -> RungResult:
    why = klee_missing()
    if why:
        return RungResult(SYMBOLIC, RUNG_UNAVAILABLE, None, float(budget_s), detail=why)
    entry = str(inst.manifest["program"]["entry"])
    with tempfile.TemporaryDirectory(prefix="msklee-") as tmp:
        work = Path(tmp)
        shutil.copyfile(inst.file(f"ground_truth/vulnerable/{inst.source_name}"), work / "p.c")
        (work / "d.c").write_text(_DRIVER.format(entry=entry, n=SYMBOLIC_BYTES))
        clang = shutil.which("clang") or "clang"
        for src in ("p.c", "d.c"):
            argv = [clang, "-emit-llvm", "-c", "-g", "-O0", "-Xclang", "-disable-O0-optnone"]
            argv += ["-Dmain=memsafety_program_main", src, "-o", f"{src}.bc"]
            if src == "d.c":
                argv.remove("-Dmain=memsafety_program_main")
            built = subprocess.run(argv, cwd=work, capture_output=True, text=True, check=False)
            if built.returncode != 0:
                return RungResult(SYMBOLIC, RUNG_ERROR, None, float(budget_s), detail=built.stderr)
        linked = subprocess.run(
            ["llvm-link", "p.c.bc", "d.c.bc", "-o", "all.bc"], cwd=work, capture_output=True
        )
        if linked.returncode != 0:
            return RungResult(SYMBOLIC, RUNG_ERROR, None, float(budget_s), detail="llvm-link")
        start = time.monotonic()
        subprocess.run(
            [
                shutil.which(KLEE) or KLEE,
                f"--max-time={max(1, round(budget_s))}s",
                "--exit-on-error-type=Ptr",
                "--exit-on-error-type=Free",
                "--libc=uclibc",
                "--output-dir=klee-out",
                "all.bc",
            ],
            cwd=work,
            capture_output=True,
            timeout=budget_s + 120,
            check=False,
        )
        elapsed = time.monotonic() - start
        errors = list((work / "klee-out").glob("*.ptr.err")) + list(
            (work / "klee-out").glob("*.free.err")
        )
    if errors:
        return RungResult(SYMBOLIC, RUNG_FOUND, round(min(elapsed, budget_s), 3), float(budget_s))
    return RungResult(SYMBOLIC, RUNG_CENSORED, None, float(budget_s))
