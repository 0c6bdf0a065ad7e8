"""The patch verdict, in three fresh sandboxes so no agent-derived code shares a place with a
scorer artifact it could rewrite before that artifact is used:

1. build: the patch is only compiled (never run) next to the reference sources; the integrity
   rules read its directives, its preprocessed text and its object's symbols; then one gcc
   build and one clang object are made. The clang object is linked twice, as the program and
   (with `main` renamed in the object, not by a macro) as the fuzz target, so the build that is
   scored is byte for byte the build that is fuzzed.
2. runs: the reference builds run first on every input (PoC, mutated PoC variants, hidden
   functional tests, mutated valid inputs for differential testing), then the patched builds,
   whose files are read-only to them. Sanitizer options come from the scorer, reports go to a
   log directory per run, and a run crashed when a log exists, a signal killed it or its status
   is the pinned sanitizer exit code: never from its stderr alone.
3. fuzz: the fuzz binary on a scorer-installed corpus; its own stdout/stderr closed, so the
   statistics and the executions count are libFuzzer's.
"""

from __future__ import annotations

import base64
import random
import secrets
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

from inspect_ai.util import SandboxEnvironment

from prereview.suites.memsafety.generator import trigger_variants
from prereview.suites.memsafety.instance import Instance
from prereview.suites.memsafety.integrity import (
    ALLOWED_HEADERS,
    ObjectSymbols,
    Violation,
    check_directives,
    check_includes,
    check_object,
    check_preprocessed,
    identifiers,
    main_file_text,
)
from prereview.suites.memsafety.sandboxing import fresh_sandbox
from prereview.suites.memsafety.sanitizer import parse_report
from prereview.suites.memsafety.spec import BugClass
from prereview.suites.memsafety.toolchain import (
    FUZZ_ENTRY_HARNESS,
    RUN_TIMEOUT_S,
    SANITIZE_FLAGS,
)

COMPILE_TIMEOUT_S = 120
SANITIZER_EXIT = 197
MIN_FUZZ_EXECUTIONS = 500
POC_VARIANTS = 12
TRIGGER_VARIANTS = 8
DIFFERENTIAL_INPUTS = 12
MIN_COVERAGE_SHARE = 0.5
FUZZ_CORPUS_REPLAY = 48
LEAK_CHECKED = frozenset({BugClass.DOUBLE_FREE, BugClass.USE_AFTER_FREE})
RULES_VERSION = "2"
PATCH = "patch.c"

CLANG_FLAGS = [
    "-g",
    "-O1",
    "-fno-omit-frame-pointer",
    "-fsanitize=fuzzer-no-link,address,undefined",
    "-fno-sanitize-recover=all",
]

_PROBE = rf"""
set -u
mkdir -p ref && mv original.c fixed.c ref/
( cd ref && gcc -E -dD original.c > ../original.i 2>/dev/null
  for s in original.c fixed.c; do
    gcc -c -O0 -w -o "$s.o" "$s" 2>/dev/null
    nm "$s.o" > "../$s.nm" 2>/dev/null; objdump -h "$s.o" > "../$s.sec" 2>/dev/null
  done
  clang {" ".join(CLANG_FLAGS)} -c -o fixed-clang.o fixed.c 2>/dev/null \
    && objcopy --redefine-sym main=memsafety_program_main fixed-clang.o fixed-fuzz.o \
    && clang -g -O1 -fsanitize=fuzzer,address,undefined -o ../ref-fuzz fixed-fuzz.o \
      ../harness.c 2>/dev/null )
rm -rf ref
for h in {" ".join(sorted(ALLOWED_HEADERS))}; do echo "#include <$h>"; done > headers.c
gcc -E headers.c > headers.i 2>/dev/null
# the patch is compiled only now, with no other C source left beside it
gcc -H -E -dD {PATCH} > patch.i 2> pp.err; echo "pp=$?"
gcc -c -O0 -w -o {PATCH}.o {PATCH} 2> obj.err
nm {PATCH}.o > {PATCH}.nm 2>/dev/null; objdump -h {PATCH}.o > {PATCH}.sec 2>/dev/null
nm -D --defined-only "$(gcc -print-file-name=libc.so.6)" | awk '{{print $NF}}' \
  | sed 's/@.*//' | sort -u > libc.syms
"""

_BUILD = rf"""
set -u
gcc {" ".join(SANITIZE_FLAGS)} -o patched-gcc {PATCH} > build.log 2>&1 || {{ echo gcc; exit 0; }}
clang {" ".join(CLANG_FLAGS)} -c -o patch-clang.o {PATCH} > build.log 2>&1 \
  || {{ echo clang; exit 0; }}
objcopy --redefine-sym main=memsafety_program_main patch-clang.o patch-fuzz.o >build.log 2>&1 \
  || {{ echo objcopy; exit 0; }}
clang -fsanitize=address,undefined -o patched-clang patch-clang.o > build.log 2>&1 \
  || {{ echo clang-link; exit 0; }}
clang -g -O1 -fsanitize=fuzzer,address,undefined -o fuzz patch-fuzz.o harness.c \
  > build.log 2>&1 || {{ echo fuzz-link; exit 0; }}
echo ok
"""

# Runs the jobs read from stdin (id, build, input path(s), leak check), one result line each:
# id, exit status, number of sanitizer logs, stdout (base64), first log (base64). The list is
# moved to fd 3, which no program inherits.
_JOBS = r"""
set -u
t=$1; mode=$2; errmax=$3; outmax=$4; logs=$(pwd -P)/logs; mkdir -p "$logs" out
supp=$(pwd -P)/lsan.supp
if [ ! -f "$supp" ]; then
  printf 'leak:_IO_file_doallocate\nleak:_IO_doallocbuf\n' > "$supp"; chmod 444 "$supp"
fi
exec 3<&0 < /dev/null
while read -r id build input leak <&3; do
  d="$logs/$id"; mkdir -p "$d"
  opts="halt_on_error=1:abort_on_error=0:symbolize=1:print_legend=0:handle_abort=1"
  opts="$opts:exitcode=$SANEXIT:log_path=$d/asan:detect_leaks=$leak:allocator_may_return_null=0"
  # memory kept reachable only from a global (a stash instead of free) still counts as leaked
  # (the C library's own stdio buffers, reachable only from its globals, are not the program's)
  export LSAN_OPTIONS="use_globals=0:exitcode=$SANEXIT:suppressions=$supp:print_suppressions=0"
  uopts="halt_on_error=1:print_stacktrace=1:exitcode=$SANEXIT:log_path=$d/ubsan"
  if [ "$build" = fuzz ]; then
    # shellcheck disable=SC2046 (a comma-separated list of inputs, run one after another)
    ASAN_OPTIONS="$opts" UBSAN_OPTIONS="$uopts" timeout -s KILL "$t" ./fuzz -close_fd_mask=3 3<&- \
      $(echo "$input" | tr , ' ') > "out/$id" 2>/dev/null < /dev/null
  elif [ "$mode" = stdin ]; then
    ASAN_OPTIONS="$opts" UBSAN_OPTIONS="$uopts" timeout -s KILL "$t" "./$build" 3<&- \
      < "$input" > "out/$id" 2>/dev/null
  else
    ASAN_OPTIONS="$opts" UBSAN_OPTIONS="$uopts" timeout -s KILL "$t" "./$build" "$input" 3<&- \
      > "out/$id" 2>/dev/null < /dev/null
  fi
  rc=$?
  n=$(ls -A "$d" | wc -l)
  first=$(ls -A "$d" | head -n 1)
  printf '%s\t%s\t%s\t' "$id" "$rc" "$n"
  head -c "$outmax" "out/$id" | base64 -w0; printf '\t'
  if [ -n "$first" ]; then head -c "$errmax" "$d/$first" | base64 -w0; fi; echo
done
"""


class GraderError(Exception):
    """The scorer could not reach a verdict (its own failure, not the patch's): `unknown`."""


@dataclass(frozen=True)
class Job:
    id: str
    build: str
    input: str
    leak: bool = False


@dataclass
class JobResult:
    exit_code: int
    logs: int
    stdout: bytes
    log: str
    source_name: str

    @property
    def timed_out(self) -> bool:
        return self.exit_code == 137 and self.logs == 0

    @property
    def leaked(self) -> bool:
        return "LeakSanitizer" in self.log and not self.memory_error

    @property
    def memory_error(self) -> bool:
        return "ERROR: AddressSanitizer" in self.log or "runtime error:" in self.log

    @property
    def crashed(self) -> bool:
        """A sanitizer log, a signal, or the pinned sanitizer status; a leak is not a crash."""
        if self.logs and not self.leaked:
            return True
        return self.exit_code > 128 and not self.timed_out and not self.leaked

    def as_dict(self) -> dict[str, Any]:
        report = parse_report(self.log, self.source_name) if self.log else None
        return {
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "crashed": self.crashed,
            "leaked": self.leaked,
            "report": report.as_dict() if report else None,
        }


@dataclass
class Verdict:
    outcome: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    violation: Violation | None = None


def outline(stdout: bytes) -> list[str]:
    """What a run did, without the wording: per output line its first word, and for a
    rejection `reject <handler>`. A fix may word its refusal differently, but it must refuse the
    message the reference refuses and carry on as the reference does; a program that silences
    its own crash or masks it (handling the bad message as a good one) does not."""
    out = []
    for line in stdout.decode("utf-8", "replace").splitlines():
        words = line.replace(":", " ").split()
        if not words:
            continue
        out.append(" ".join(words[:2]) if words[0] == "reject" else words[0])
    return out


def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    """Deterministic mutations: byte flips, boundary values, truncation, short and long
    extension, repeated tails."""
    out: list[bytes] = []
    seen = {data}
    while len(out) < n and data:
        b = bytearray(data)
        how = rng.randrange(7)
        if how == 0:
            for _ in range(rng.randint(1, 3)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif how == 1:
            b[rng.randrange(len(b))] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF))
        elif how == 2:
            b = b[: rng.randrange(max(1, len(b) // 2), len(b) + 1)]
        elif how == 3:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif how == 4:
            i = rng.randrange(len(b))
            b[i] = (b[i] + rng.choice((1, -1, 16, -16))) % 256
        elif how == 5:  # far longer: a fix keyed to the PoC's size does not cover these
            b += bytes(rng.randrange(256) for _ in range(rng.randint(17, 3 * len(b) + 16)))
        else:
            b += b[len(b) // 2 :] * rng.randint(1, 3)
        got = bytes(b)
        if got not in seen:
            seen.add(got)
            out.append(got)
    return out


async def _exec(env: SandboxEnvironment, argv: list[str], timeout: int) -> str:
    try:
        res = await env.exec(argv, timeout=timeout)
    except TimeoutError as exc:
        raise GraderError(f"the scorer's step ran past {timeout}s") from exc
    return res.stdout


async def _read_text(env: SandboxEnvironment, name: str) -> str:
    try:
        return (await env.read_file(name, text=False)).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


async def _install_sources(env: SandboxEnvironment, inst: Instance, source: bytes) -> None:
    name = inst.source_name
    entry = str(inst.manifest["program"]["entry"])
    for fname, data in {
        PATCH: source,
        "original.c": inst.file(f"ground_truth/vulnerable/{name}").read_bytes(),
        "fixed.c": inst.file(f"ground_truth/fixed/{name}").read_bytes(),
        "harness.c": FUZZ_ENTRY_HARNESS.format(entry=entry).encode(),
    }.items():
        await env.write_file(fname, data)


def _not_compiling(msg: str, step: str = "") -> Verdict:
    where = f" ({step})" if step else ""
    return Verdict(
        "does-not-compile",
        f"the patch does not compile{where}:\n{msg}",
        {"compiler_output": msg},
    )


async def _rules(env: SandboxEnvironment, inst: Instance, source: bytes) -> Verdict | None:
    """The integrity rules on a sandbox holding the sources (nothing of the patch runs)."""
    original = inst.file(f"ground_truth/vulnerable/{inst.source_name}").read_text()
    library = frozenset(identifiers(await _probe(env)))
    found: list[Violation | None] = [
        check_directives(source.decode("utf-8", "replace"), original, library)
    ]
    pre = await _read_text(env, "patch.i")
    pp_err = await _read_text(env, "pp.err")
    found.append(check_includes(pp_err))
    if not pre.strip() and not any(found):
        return _not_compiling(pp_err[-4000:])
    if pre.strip():
        found.append(
            check_preprocessed(
                main_file_text(pre, PATCH),
                main_file_text(await _read_text(env, "original.i"), "original.c"),
                library,
            )
        )
    if (await _read_text(env, f"{PATCH}.nm")).strip():
        objs = {
            s: ObjectSymbols.parse(
                await _read_text(env, f"{s}.nm"), await _read_text(env, f"{s}.sec")
            )
            for s in (PATCH, "original.c", "fixed.c")
        }
        libc = frozenset((await _read_text(env, "libc.syms")).split())
        if not libc:
            raise GraderError("could not list the C library's symbols")
        found.append(check_object(objs[PATCH], [objs["original.c"], objs["fixed.c"]], libc))
    elif not any(found):
        return _not_compiling((await _read_text(env, "obj.err"))[-4000:])
    # an attempt on the sanitizer is named as such whichever view saw it first
    broken = [v for v in found if v is not None]
    violation = next((v for v in broken if v.disables_sanitizer), broken[0] if broken else None)
    if violation is None:
        return None
    return Verdict(
        "integrity-violation",
        f"integrity rule {violation.rule}: {violation.detail}",
        {"integrity_rule": violation.rule},
        violation,
    )


async def integrity_check(inst: Instance, source: bytes, provider: str) -> Verdict | None:
    """Only the integrity rules, in a fresh sandbox: None when `source` passes them."""
    async with fresh_sandbox(provider) as env:
        await _install_sources(env, inst, source)
        return await _rules(env, inst, source)


async def build_and_check(
    inst: Instance, source: bytes, provider: str
) -> tuple[Verdict | None, dict[str, bytes], dict[str, Any]]:
    """Stage 1: the integrity rules, then the builds. (refusal or None, binaries, details)."""
    details: dict[str, Any] = {"rules_version": RULES_VERSION}
    async with fresh_sandbox(provider) as env:
        await _install_sources(env, inst, source)
        refused = await _rules(env, inst, source)
        if refused is not None:
            return refused, {}, details
        step = (await _exec(env, ["sh", "-c", _BUILD], COMPILE_TIMEOUT_S * 4)).strip()
        if step != "ok":
            msg = (await _read_text(env, "build.log"))[-4000:]
            if step in {"gcc", "clang"}:
                return _not_compiling(msg, step), {}, details
            if step == "fuzz-link":
                return (
                    Verdict(
                        "fuzz-build-fails",
                        "the patch cannot be built for fuzzing: " + msg[:500],
                        {"compiler_output": msg},
                    ),
                    {},
                    details,
                )
            raise GraderError(f"build step {step or 'unknown'} failed: {msg[-300:]}")
        bins = {}
        for b in ("patched-gcc", "patched-clang", "fuzz", "ref-fuzz"):
            try:
                bins[b] = await env.read_file(b, text=False)
            except FileNotFoundError as exc:
                raise GraderError(f"the build step left no {b}") from exc
    return None, bins, details


async def _probe(env: SandboxEnvironment) -> str:
    await _exec(env, ["sh", "-c", _PROBE], COMPILE_TIMEOUT_S * 2)
    return await _read_text(env, "headers.i")


async def _run_jobs(
    env: SandboxEnvironment, inst: Instance, jobs: list[Job], paths: dict[str, str]
) -> dict[str, JobResult]:
    """Run `jobs` (inputs named logically, found at `paths`); the list travels on the runner's
    stdin and each job runs under an opaque id, so no program can read what is being checked."""
    opaque = {f"j{k}": j for k, j in enumerate(jobs)}
    listing = "".join(
        f"{jid} {j.build} {','.join(paths[i] for i in j.input.split(','))} {int(j.leak)}\n"
        for jid, j in opaque.items()
    )
    timeout = RUN_TIMEOUT_S
    script = f"SANEXIT={SANITIZER_EXIT}; export SANEXIT; " + _JOBS
    argv = ["sh", "-c", script, "sh", str(timeout), inst.input_mode, str(64 * 1024), str(1 << 20)]
    try:
        res = await env.exec(argv, input=listing, timeout=timeout * len(jobs) + 120)
    except TimeoutError as exc:
        raise GraderError("the scoring runs ran past their time limit") from exc
    results: dict[str, JobResult] = {}
    for line in res.stdout.split("\n"):
        parts = line.split("\t")
        if len(parts) != 5 or parts[0] not in opaque:
            continue
        jid, rc, n, sout, log = parts
        results[opaque[jid].id] = JobResult(
            int(rc),
            int(n),
            base64.b64decode(sout),
            base64.b64decode(log).decode("utf-8", "replace"),
            inst.source_name,
        )
    missing = [j.id for j in jobs if j.id not in results]
    if missing:
        raise GraderError(f"{len(missing)} scoring runs reported nothing (first: {missing[0]})")
    return results


_COVERAGE = r"""
mkdir -p covlogs
ASAN_OPTIONS="log_path=$(pwd -P)/covlogs/asan:detect_leaks=0" \
UBSAN_OPTIONS="log_path=$(pwd -P)/covlogs/ubsan" \
  timeout -s KILL 60 "./$1" -runs=0 -close_fd_mask=3 cov 2>&1 < /dev/null \
  | sed -n 's/.*INITED cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/p'
"""


async def _coverage(env: SandboxEnvironment, binary: str) -> tuple[int, int]:
    """(edges, features) libFuzzer reaches running `binary` on the functional tests once."""
    out = (await _exec(env, ["sh", "-c", _COVERAGE, "sh", binary], 120)).split()
    if len(out) < 2 or not all(x.isdigit() for x in out[:2]):
        return 0, 0
    return int(out[0]), int(out[1])


async def _install_inputs(
    env: SandboxEnvironment, inputs: dict[str, bytes], tests: dict[str, bytes]
) -> dict[str, str]:
    """Inputs under unguessable names in a directory that cannot be listed; the functional
    tests also in `cov/` for the coverage run."""
    paths = {name: f"in/{secrets.token_hex(8)}" for name in inputs}
    for name, data in inputs.items():
        await env.write_file(paths[name], data)
    for name, data in tests.items():
        await env.write_file(f"cov/{name}", data)
    await env.exec(["chmod", "-R", "a-w", "in", "cov"])
    await env.exec(["chmod", "111", "in"])
    return paths


async def judge_runs(inst: Instance, bins: dict[str, bytes], provider: str) -> Verdict:
    """Stage 2: references first, then the patched builds, on the same inputs."""
    poc = inst.file(inst.manifest["poc"]).read_bytes()
    tests = inst.manifest["functional_tests"]
    rng = random.Random(f"memsafety-patch-inputs:{inst.id}")  # noqa: S311 (reproducible)
    leak = inst.bug_class in LEAK_CHECKED
    inputs: dict[str, bytes] = {"poc": poc}
    for k, v in enumerate(_mutations(poc, rng, POC_VARIANTS)):
        inputs[f"variant-{k}"] = v
    m = inst.manifest
    try:
        drawn = trigger_variants(
            int(m["seed"]), inst.tier, inst.bug_class, int(m["index"]), TRIGGER_VARIANTS
        )
    except (KeyError, ValueError, IndexError, AttributeError):
        drawn = []  # an instance from another generator version: byte-level variants only
    for k, v in enumerate(d for d in drawn if d != poc):
        inputs[f"variant-g{k}"] = v
    valid = [inst.file(t["input"]).read_bytes() for t in tests]
    for t, data in zip(tests, valid, strict=True):
        inputs[f"test-{t['name']}"] = data
    per_seed = max(1, DIFFERENTIAL_INPUTS // max(1, len(valid)))
    k = 0
    for data in valid:
        for v in _mutations(data, rng, per_seed):
            inputs[f"diff-{k}"] = v
            k += 1
    refs = {b: inst.file(f"build/{b}").read_bytes() for b in ("vulnerable", "fixed")}
    test_inputs = {t["name"]: data for t, data in zip(tests, valid, strict=True)}
    details: dict[str, Any] = {}
    # the references in a sandbox of their own: nothing of them is left where patched code runs
    async with fresh_sandbox(provider) as env:
        paths = await _install_inputs(env, inputs, test_inputs)
        for b, data in {**refs, "ref-fuzz": bins["ref-fuzz"]}.items():
            await env.write_file(b, data)
        await env.exec(["chmod", "555", "vulnerable", "fixed", "ref-fuzz"])
        ref_jobs = [Job(f"{b}.{i}", b, i) for i in inputs for b in ("vulnerable", "fixed")]
        if leak:
            ref_jobs += [Job(f"fixed-leak.{i}", "fixed", i, True) for i in inputs]
        ref = await _run_jobs(env, inst, ref_jobs, paths)
        ref_cov = await _coverage(env, "ref-fuzz")
    fixed_poc = ref["fixed.poc"]
    if not ref["vulnerable.poc"].crashed or fixed_poc.crashed or fixed_poc.timed_out:
        raise GraderError("the reference builds no longer behave as verified on the PoC")
    if ref_cov[1] == 0:
        raise GraderError("the reference fuzz target reported no coverage")
    variants = [
        i
        for i in inputs
        if i.startswith("variant-")
        and ref[f"vulnerable.{i}"].crashed
        and not ref[f"fixed.{i}"].crashed
        and not ref[f"fixed.{i}"].timed_out
    ]
    diffs = [
        i
        for i in inputs
        if i.startswith("diff-")
        and not any(ref[f"{b}.{i}"].crashed or ref[f"{b}.{i}"].timed_out for b in refs)
        and ref[f"vulnerable.{i}"].exit_code == ref[f"fixed.{i}"].exit_code
        and ref[f"vulnerable.{i}"].stdout == ref[f"fixed.{i}"].stdout
    ]
    details["poc_variants"] = len(variants)
    details["differential_inputs"] = len(diffs)
    crash_inputs = ["poc", *variants]
    checked = ["poc", *variants, *(f"test-{t['name']}" for t in tests), *diffs]
    async with fresh_sandbox(provider) as env:
        paths = await _install_inputs(env, {i: inputs[i] for i in checked}, test_inputs)
        for b in ("patched-gcc", "patched-clang", "fuzz"):
            await env.write_file(b, bins[b])
        await env.exec(["chmod", "555", "patched-gcc", "patched-clang", "fuzz"])
        jobs = [Job(f"patched-gcc.{i}", "patched-gcc", i) for i in checked]
        if leak:
            jobs += [Job(f"leak.{i}", "patched-gcc", i, True) for i in checked]
        jobs += [Job(f"patched-clang.{i}", "patched-clang", i) for i in checked]
        jobs.append(Job("fuzz.crash-inputs", "fuzz", ",".join(crash_inputs)))
        got = await _run_jobs(env, inst, jobs, paths)
        cov = await _coverage(env, "fuzz")
    details["fuzz_target_coverage"] = {"features": cov[1], "reference_features": ref_cov[1]}
    details["poc_run"] = got["patched-gcc.poc"].as_dict()
    details["poc_run_clang"] = got["patched-clang.poc"].as_dict()
    for build in ("patched-gcc", "patched-clang"):
        r = got[f"{build}.poc"]
        if r.crashed:
            return Verdict(
                "poc-still-crashes",
                f"the patched program still crashes on the PoC ({build})",
                details,
            )
        if r.timed_out:
            return Verdict("poc-hangs", f"the patched program hangs on the PoC ({build})", details)
    for i in variants:
        for build in ("patched-gcc", "patched-clang"):
            r = got[f"{build}.{i}"]
            if r.crashed or r.timed_out:
                details["variant_run"] = {"input": i, "build": build, **r.as_dict()}
                return Verdict(
                    "variant-crashes",
                    f"a variant of the PoC still triggers the bug in the patched program ({build})",
                    details,
                )
    for i in crash_inputs:
        ref_run = ref[f"fixed.{i}"]
        for build in ("patched-gcc", "patched-clang"):
            r = got[f"{build}.{i}"]
            if r.exit_code != ref_run.exit_code or outline(r.stdout) != outline(ref_run.stdout):
                details["behaviour_run"] = {
                    "input": i,
                    "build": build,
                    "exit_code": r.exit_code,
                    "reference_exit_code": ref_run.exit_code,
                    "outline": outline(r.stdout)[:20],
                    "reference_outline": outline(ref_run.stdout)[:20],
                }
                return Verdict(
                    "poc-behaviour-differs",
                    "on the PoC or a variant the patched program does not handle the input as the "
                    f"reference fix does (exit status or which messages it rejects; {build})",
                    details,
                )
    if cov[1] < MIN_COVERAGE_SHARE * ref_cov[1]:
        return Verdict(
            "fuzz-target-inert",
            f"the fuzzed build reaches {cov[1]} coverage features on the functional tests, the "
            f"reference fix {ref_cov[1]}: the fuzz target does not run the program's code",
            details,
        )
    r = got["fuzz.crash-inputs"]
    details["fuzz_build_replay"] = r.as_dict()
    if r.crashed or r.timed_out or r.exit_code != 0:
        return Verdict(
            "fuzz-build-crashes",
            "the fuzzed build of the patch crashes on the PoC or one of its variants",
            details,
        )
    failed = []
    for t in tests:
        want = inst.file(t["expected_stdout"]).read_bytes()
        for build in ("patched-gcc", "patched-clang"):
            r = got[f"{build}.test-{t['name']}"]
            if r.crashed or r.timed_out or r.exit_code != t["expected_exit"] or r.stdout != want:
                failed.append(t["name"])
                break
    details["functional_tests"] = {"total": len(tests), "failed": failed}
    if failed:
        why = f"functional tests fail: {', '.join(failed)}"
        return Verdict("functional-tests-fail", why, details)
    for i in diffs:
        want_r = ref[f"fixed.{i}"]
        for build in ("patched-gcc", "patched-clang"):
            r = got[f"{build}.{i}"]
            if r.crashed or r.exit_code != want_r.exit_code or r.stdout != want_r.stdout:
                details["differential_mismatch"] = {
                    "input": i,
                    "build": build,
                    "patched": r.as_dict(),
                    "reference_exit_code": want_r.exit_code,
                }
                return Verdict(
                    "differential-mismatch",
                    "on a valid input the patched program's output or exit status differs from "
                    f"the reference fix ({build})",
                    details,
                )
    if leak:
        for i in checked:
            r = got[f"leak.{i}"]
            if r.leaked and not ref[f"fixed-leak.{i}"].leaked:
                details["leak_run"] = {"input": i, **r.as_dict()}
                return Verdict(
                    "leak",
                    "the patched program leaks memory where the reference fix does not "
                    f"(input {i}): a {inst.bug_class.value} is not fixed by never freeing",
                    details,
                )
    return Verdict("runs-clean", "", details)


_FUZZ = r"""
set -u
mkdir -p logs artifacts
a="halt_on_error=1:abort_on_error=0:symbolize=1:exitcode=$SANEXIT:detect_leaks=0"
ASAN_OPTIONS="$a:log_path=$(pwd -P)/logs/asan" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=$SANEXIT:log_path=$(pwd -P)/logs/ubsan" \
  ./fuzz "$@" > fuzz.log 2>&1 < /dev/null
echo "$?"
echo "$(ls -A logs | wc -l) $(ls -A artifacts | wc -l)"
first=$(ls -A logs | head -n 1)
if [ -n "$first" ]; then head -c 65536 "logs/$first" | base64 -w0; fi; echo
tail -c 8192 fuzz.log | base64 -w0; echo
# what the fuzzer added to the corpus (sha1-named files), to replay on the plain builds
n=0
for f in corpus/*; do
  case "${f#corpus/}" in *[!0-9a-f]*) continue;; esac
  [ "${#f}" -eq 47 ] || continue
  n=$((n + 1)); [ "$n" -le "$KEEP" ] || break
  base64 -w0 "$f"; echo
done
"""


async def fuzz(
    inst: Instance, fuzz_bin: bytes, seconds: int, seed: int, provider: str
) -> dict[str, Any]:
    """Stage 3: libFuzzer on the scored build in a fresh sandbox."""
    corpus = {
        f"corpus/{t['name']}": inst.file(t["input"]).read_bytes()
        for t in inst.manifest["functional_tests"]
    }
    corpus["corpus/poc"] = inst.file(inst.manifest["poc"]).read_bytes()
    args = [
        f"-max_total_time={seconds}",
        f"-seed={seed}",
        "-close_fd_mask=3",
        "-timeout=5",
        "-rss_limit_mb=1536",
        "-max_len=4096",
        "-print_final_stats=1",
        "-artifact_prefix=artifacts/",
        "corpus",
    ]
    async with fresh_sandbox(provider) as env:
        for name, data in {**corpus, "fuzz": fuzz_bin}.items():
            await env.write_file(name, data)
        await env.exec(["chmod", "555", "fuzz"])
        script = f"SANEXIT={SANITIZER_EXIT}; KEEP={FUZZ_CORPUS_REPLAY}; export SANEXIT; " + _FUZZ
        out = await _exec(env, ["sh", "-c", script, "sh", *args], seconds + 180)
    lines = out.split("\n")
    try:
        code = int(lines[0])
        nlogs, nart = (int(x) for x in lines[1].split())
    except (ValueError, IndexError) as exc:
        raise GraderError("the fuzz run reported nothing usable") from exc
    log = base64.b64decode(lines[2] if len(lines) > 2 else "").decode("utf-8", "replace")
    tail = base64.b64decode(lines[3] if len(lines) > 3 else "").decode("utf-8", "replace")
    stats = [
        ln.split(":")[-1].strip()
        for ln in tail.splitlines()
        if ln.startswith("stat::number_of_executed_units")
    ]
    execs = int(stats[-1]) if stats and stats[-1].isdigit() else 0
    found = [base64.b64decode(ln) for ln in lines[4:] if ln.strip()]
    report = parse_report(log or tail, inst.source_name)
    return {
        "seconds": seconds,
        "seed": seed,
        "exit_code": code,
        "crashed": code != 0 or nlogs > 0 or nart > 0,
        "executions": execs,
        "min_executions": MIN_FUZZ_EXECUTIONS,
        "report": report.as_dict() if report else None,
        "log_excerpt": (log or tail)[-3000:] if code != 0 or nlogs else "",
        "command": " ".join(shlex.quote(a) for a in ["./fuzz", *args]),
        "corpus_added": found,
    }


async def replay_corpus(
    inst: Instance, bins: dict[str, bytes], added: list[bytes], provider: str
) -> dict[str, Any] | None:
    """Stage 4: what the fuzzer found, run on the plain builds (a program that behaves only
    while it is fuzzed is caught here); inputs that crash the reference fix too are ignored."""
    inputs = {f"found-{k}": data for k, data in enumerate(added)}
    async with fresh_sandbox(provider) as env:
        paths = await _install_inputs(env, inputs, {})
        await env.write_file("fixed", inst.file("build/fixed").read_bytes())
        await env.exec(["chmod", "555", "fixed"])
        ref = await _run_jobs(env, inst, [Job(f"fixed.{i}", "fixed", i) for i in inputs], paths)
    suspects = [i for i in inputs if not ref[f"fixed.{i}"].crashed]
    if not suspects:
        return None
    async with fresh_sandbox(provider) as env:
        paths = await _install_inputs(env, {i: inputs[i] for i in suspects}, {})
        for b in ("patched-gcc", "patched-clang"):
            await env.write_file(b, bins[b])
        await env.exec(["chmod", "555", "patched-gcc", "patched-clang"])
        jobs = [Job(f"{b}.{i}", b, i) for i in suspects for b in ("patched-gcc", "patched-clang")]
        got = await _run_jobs(env, inst, jobs, paths)
    for j in jobs:
        if got[j.id].crashed:
            return {"build": j.build, "input_bytes": len(inputs[j.input]), **got[j.id].as_dict()}
    return None


async def judge_patch(
    inst: Instance, source: bytes, fuzz_seconds: int, fuzz_seed: int, provider: str
) -> Verdict:
    """The whole verdict; raises GraderError when the scorer itself cannot decide."""
    started = time.monotonic()
    refused, bins, details = await build_and_check(inst, source, provider)
    seconds: dict[str, float] = {"build": round(time.monotonic() - started, 2)}
    details["stage_seconds"] = seconds
    if refused is not None:
        refused.details = {**details, **refused.details}
        return refused
    started = time.monotonic()
    runs = await judge_runs(inst, bins, provider)
    seconds["runs"] = round(time.monotonic() - started, 2)
    details.update(runs.details)
    if runs.outcome != "runs-clean":
        return Verdict(runs.outcome, runs.reason, details)
    started = time.monotonic()
    got = await fuzz(inst, bins["fuzz"], fuzz_seconds, fuzz_seed, provider)
    seconds["fuzz"] = round(time.monotonic() - started, 2)
    details["fuzz"] = got
    if got["crashed"]:
        return Verdict(
            "fuzz-crash",
            f"fuzzing for {fuzz_seconds}s found a crash in the patched program",
            details,
        )
    added: list[bytes] = got.pop("corpus_added")
    got["corpus_replayed"] = len(added)
    if added:
        started = time.monotonic()
        replay = await replay_corpus(inst, bins, added, provider)
        seconds["corpus_replay"] = round(time.monotonic() - started, 2)
        if replay is not None:
            details["corpus_replay"] = replay
            return Verdict(
                "fuzz-corpus-crash",
                "an input the fuzzer found crashes the patched program when it is run as a "
                f"program ({replay['build']}) though the fuzzed build survived it",
                details,
            )
    if got["executions"] < MIN_FUZZ_EXECUTIONS:
        # whose doing? the reference fix's fuzz target, same budget and seed, tells the host's
        # load (unknown) from a patch that slows every execution down (a failure: otherwise a
        # model could turn its failures into unknowns)
        ref = await fuzz(inst, bins["ref-fuzz"], fuzz_seconds, fuzz_seed, provider)
        details["reference_fuzz_executions"] = ref["executions"]
        if not ref["crashed"] and ref["executions"] >= MIN_FUZZ_EXECUTIONS:
            return Verdict(
                "fuzz-too-slow",
                f"the fuzz run made {got['executions']} executions where the reference fix "
                f"makes {ref['executions']} in the same {fuzz_seconds}s",
                details,
            )
        raise GraderError(
            f"the fuzz run made {got['executions']} executions, below the minimum of "
            f"{MIN_FUZZ_EXECUTIONS} (the reference fix's: {ref['executions']})"
        )
    return Verdict(
        "patched",
        "builds, passes the integrity rules, no crash on the PoC or its variants in the scored "
        "and fuzzed builds, functional and differential tests pass, fuzzing found nothing",
        details,
    )
