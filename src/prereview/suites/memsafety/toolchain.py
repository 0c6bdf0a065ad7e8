"""Compilers, flags and run settings shared by generation, verification, scoring and fuzzing.

The manifest repeats the exact argv and environment, so anyone can rebuild and rerun an instance
with plain gcc; this module is where prereview itself gets them.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SANITIZE_FLAGS = [
    "-g",
    "-O0",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    # runtimes linked in: each run starts about a third faster (verification runs many)
    "-static-libasan",
    "-static-libubsan",
]
ASAN_OPTIONS = (
    "detect_leaks=0:halt_on_error=1:abort_on_error=0:symbolize=1:print_legend=0:handle_abort=1"
)
UBSAN_OPTIONS = "halt_on_error=1:print_stacktrace=1"
RUN_ENV = {"ASAN_OPTIONS": ASAN_OPTIONS, "UBSAN_OPTIONS": UBSAN_OPTIONS}
RUN_TIMEOUT_S = 10
BUILD_TIMEOUT_S = 120
FUZZ_ENTRY_HARNESS = """\
#include <stddef.h>
#include <stdint.h>

int {entry}(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{{
    {entry}(data, size);
    return 0;
}}
"""


def sanitized_build_argv(source: str, output: str, *, compiler: str = "gcc") -> list[str]:
    """The ASan+UBSan build every scoring decision rests on (debug info for exact locations)."""
    return [compiler, *SANITIZE_FLAGS, "-o", output, source]


def agent_binary_argv(source: str, output: str, *, asan: bool) -> list[str]:
    """The stripped binary tiers 4-5 hand the agent: no symbols, no debug info, no paths."""
    if asan:
        return [
            "gcc",
            "-O1",
            "-fsanitize=address",
            "-fno-omit-frame-pointer",
            "-s",
            "-o",
            output,
            source,
        ]
    return ["gcc", "-O2", "-s", "-o", output, source]


def fuzz_build_argv(source: str, harness: str, output: str, entry: str) -> list[str]:
    """libFuzzer build: the program's `main` is renamed so the harness drives the entry point."""
    return [
        "clang",
        "-g",
        "-O1",
        "-fsanitize=fuzzer,address,undefined",
        "-fno-sanitize-recover=all",
        f"-Dmain=memsafety_program_main_{entry}",
        "-o",
        output,
        source,
        harness,
    ]


def run_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: nothing of the host's leaks into the programs we run."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C", "LC_ALL": "C", **RUN_ENV}
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class ToolVersions:
    gcc: str
    clang: str
    python: str
    kernel: str

    def as_dict(self) -> dict[str, str]:
        return {"gcc": self.gcc, "clang": self.clang, "python": self.python, "kernel": self.kernel}


def _first_line(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "missing"
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return (
        (proc.stdout or proc.stderr).splitlines()[0].strip()
        if (proc.stdout or proc.stderr)
        else "unknown"
    )


@functools.cache
def tool_versions() -> ToolVersions:
    return ToolVersions(
        gcc=_first_line(["gcc", "--version"]),
        clang=_first_line(["clang", "--version"]),
        python=platform.python_version(),
        kernel=platform.release(),
    )


@dataclass(frozen=True)
class RunResult:
    exit_code: int | None  # None: killed by the timeout
    stdout: bytes
    stderr: str
    timed_out: bool
    signal: int | None


def run_program(
    argv: list[str],
    *,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = RUN_TIMEOUT_S,
    max_output: int = 1 << 20,
) -> RunResult:
    """Run one of *our* builds on the host (generation/verification only; never agent input)."""
    try:
        proc = subprocess.run(
            argv,
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=timeout,
            cwd=cwd,
            env=run_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else ""
        return RunResult(None, b"", err[-max_output:], True, None)
    sig = -proc.returncode if proc.returncode < 0 else None
    return RunResult(
        proc.returncode,
        proc.stdout[:max_output],
        proc.stderr.decode("utf-8", "replace")[-max_output:],
        False,
        sig,
    )


def compile_program(
    argv: list[str], *, cwd: Path, timeout: float = BUILD_TIMEOUT_S
) -> tuple[bool, str]:
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"compiler timed out after {timeout:.0f}s"
    return proc.returncode == 0, proc.stderr
