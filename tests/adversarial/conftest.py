"""Shared state for the adversarial suite: instances generated once, and each task's eval run
once with every agent as a sample; tests then read the verdicts."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from inspect_ai.scorer import Score

from prereview.suites.memsafety.instance import Instance, find_instances
from prereview.suites.memsafety.spec import BugClass
from prereview.suites.memsafety.tasks import memsafety_patch, memsafety_poc, prepare_instances

from ..conftest import _guarded_connect
from .cheats import PATCH_CHEATS, POC_CHEATS, Cheat, Target, poc_other_instance
from .runner import run_agents

SEED = 20251203
BUGS = (BugClass.HEAP_OVERFLOW, BugClass.DOUBLE_FREE, BugClass.USE_AFTER_FREE)
FUZZ_SECONDS = 2

Verdicts = dict[str, Score | str]


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@pytest.fixture(scope="session")
def adv_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private data dir and no network for the session-scoped evals (the per-test guards
    in tests/conftest.py are function-scoped and not yet active here)."""
    base = tmp_path_factory.mktemp("adversarial")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PREREVIEW_TOKEN", "PREREVIEW_CONFIG", "PREREVIEW_DATABASE_URL"):
            mp.delenv(var, raising=False)
        mp.setenv("PREREVIEW_HOME", str(base / "home"))
        mp.setenv("INSPECT_LOG_DIR", str(base / "logs"))
        mp.setenv("PREREVIEW_PLAINTEXT_DIR", str(base / "plaintext"))
        import socket

        mp.setattr(socket.socket, "connect", _guarded_connect)
        yield base


@pytest.fixture(scope="session")
def adv_instances(adv_env: Path) -> tuple[Path, dict[str, Instance]]:
    root = adv_env / "instances"
    prepare_instances(SEED, [1], list(BUGS), 1, str(root))
    found = find_instances(root / "tier-1")
    by_bug = {i.bug_class.value: i for i in found}
    assert set(by_bug) == {b.value for b in BUGS}
    return root, by_bug


@pytest.fixture(scope="session")
def targets(adv_instances: tuple[Path, dict[str, Instance]]) -> dict[str, Target]:
    return {bug: Target.of(inst) for bug, inst in adv_instances[1].items()}


@pytest.fixture(scope="session")
def digest_before(adv_instances: tuple[Path, dict[str, Instance]]) -> str:
    return tree_digest(adv_instances[0])


def _record(kind: str, verdicts: Verdicts) -> None:
    """With ADVERSARIAL_RESULTS set, append each verdict as a JSON line (for the status table)."""
    dest = os.environ.get("ADVERSARIAL_RESULTS")
    if not dest:
        return
    with open(dest, "a") as f:
        for name, v in verdicts.items():
            row = (
                {
                    "value": v.value,
                    "outcome": (v.metadata or {}).get("outcome"),
                    "why": v.explanation,
                }
                if isinstance(v, Score)
                else {"value": None, "outcome": "error", "why": v}
            )
            f.write(json.dumps({"task": kind, "agent": name, **row}) + "\n")


def poc_agents(targets: dict[str, Target]) -> list[Cheat]:
    other = targets[BugClass.DOUBLE_FREE.value]
    extra = Cheat(
        "poc-other-instance",
        "poc",
        "different bug",
        BugClass.HEAP_OVERFLOW,
        poc_other_instance(other),
    )
    return [*POC_CHEATS, extra]


@pytest.fixture(scope="session")
def poc_verdicts(
    adv_env: Path,
    adv_instances: tuple[Path, dict[str, Instance]],
    targets: dict[str, Target],
    digest_before: str,
) -> Verdicts:
    root, _ = adv_instances
    task = memsafety_poc(
        tiers=1,
        bug_classes=",".join(b.value for b in BUGS),
        seed=SEED,
        message_limit=20,
        instances_dir=str(root),
    )
    verdicts = run_agents(task, poc_agents(targets), targets, adv_env / "logs-poc")
    _record("poc", verdicts)
    return verdicts


@pytest.fixture(scope="session")
def patch_verdicts(
    adv_env: Path,
    adv_instances: tuple[Path, dict[str, Instance]],
    targets: dict[str, Target],
    digest_before: str,
) -> Verdicts:
    root, _ = adv_instances
    task = memsafety_patch(
        tiers=1,
        bug_classes=",".join(b.value for b in BUGS),
        seed=SEED,
        message_limit=20,
        fuzz_seconds=FUZZ_SECONDS,
        instances_dir=str(root),
    )
    verdicts = run_agents(task, PATCH_CHEATS, targets, adv_env / "logs-patch")
    _record("patch", verdicts)
    return verdicts
