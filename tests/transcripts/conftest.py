"""One real assessment (the `simulated` provider replaying a script) sealed into an install once
for the package; every test gets its own copy of that install as its PREREVIEW_HOME.

Principals: the config file holds the coordinator's token; `Install.tokens` has the others
(an assigned and an unassigned evaluator, the submitter of ORG, a submitter of another
organization, a sector partner, an auditor).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from prereview.config import Settings, load_settings
from prereview.home import initialize_home
from prereview.review.assessment import run_assessment
from prereview.vault.policy import Operation
from prereview.vault.principals import Role
from tests.review.conftest import open_services, simulated_request

PRERREVIEW = str(Path(sys.executable).parent / "prereview")
CANARY = "CANARY-transcript-7f3a9c"
"""What the scripted model answers: it is in the plaintext logs and must be nowhere else."""


@dataclass(frozen=True)
class Template:
    home: Path
    submission_id: str
    review_id: str
    samples: tuple[str, ...]
    bare_submission: str
    tokens: dict[str, str]


@dataclass(frozen=True)
class Install:
    settings: Settings
    submission_id: str
    review_id: str
    samples: tuple[str, ...]
    bare_submission: str
    tokens: dict[str, str]

    @property
    def plaintext_base(self) -> Path:
        assert self.settings.plaintext_dir is not None
        return self.settings.plaintext_dir

    def env(self, who: str | None = None, **extra: str) -> dict[str, str]:
        """The environment of a CLI call as `who` (None: the coordinator of the config file)."""
        env = {k: v for k, v in os.environ.items() if k != "PREREVIEW_TOKEN"}
        if who is not None:
            env["PREREVIEW_TOKEN"] = self.tokens[who]
        env.update(extra)
        return env


@pytest.fixture(scope="package")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    base = tmp_path_factory.mktemp("transcripts-template")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PREREVIEW_TOKEN", "PREREVIEW_CONFIG", "PREREVIEW_DATABASE_URL"):
            mp.delenv(var, raising=False)
        mp.setenv("PREREVIEW_HOME", str(base / "home"))
        mp.setenv("PREREVIEW_PLAINTEXT_DIR", str(base / "plaintext"))
        mp.setenv("INSPECT_LOG_DIR", str(base / "inspect-logs"))
        initialize_home(load_settings())
        submitter, reviewer = open_services(load_settings())
        try:
            record = submitter.submit(simulated_request(after_script=CANARY))
            outcome = run_assessment(reviewer, record.id, suite="calibration", limit=2)
            assert outcome.status == "completed"
            bare = submitter.submit(simulated_request())
            vault = reviewer.access.vault
            tokens: dict[str, str] = {}
            for name, role, org in (
                ("evaluator", Role.EVALUATOR, None),
                ("stranger", Role.EVALUATOR, None),
                ("submitter-a", Role.SUBMITTER, "Example Labs"),
                ("submitter-b", Role.SUBMITTER, "Other Labs"),
                ("partner", Role.SECTOR_PARTNER, "Water Co"),
                ("auditor", Role.AUDITOR, None),
            ):
                tokens[name] = vault.principals.add(name, role, org, "tests")[1]
            handle = reviewer.access.guard.authorize(Operation.REVIEW_ASSIGN, record.id)
            vault.principals.assign("evaluator", handle, "tests")
            samples = tuple(sorted(r.sample_id for r in reviewer.results(record.id)))
        finally:
            reviewer.dispose()
    return Template(base / "home", record.id, outcome.review_id, samples, bare.id, tokens)


@pytest.fixture
def install(template: Template, prereview_home: Path) -> Install:
    """A private copy of the template install (keys, database, sealed logs)."""
    shutil.copytree(template.home, prereview_home)
    return Install(
        load_settings(),
        template.submission_id,
        template.review_id,
        template.samples,
        template.bare_submission,
        template.tokens,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class RunningViewer:
    process: subprocess.Popen[str]
    urls: list[str]

    @property
    def base(self) -> str:
        return self.urls[0].split("?", 1)[0]

    @property
    def token(self) -> str:
        return self.urls[0].split("token=", 1)[1].split("#", 1)[0]


def start_viewer(
    install: Install, *args: str, who: str | None = None, tmp: Path, **env: str
) -> RunningViewer:
    """`prereview logs view REVIEW ARGS` as `who`, once it prints its URLs (TMPDIR=`tmp`)."""
    process = subprocess.Popen(
        [PRERREVIEW, "logs", "view", install.review_id, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=install.env(who, TMPDIR=str(tmp), **env),
        preexec_fn=_default_sigint,
    )
    assert process.stdout is not None
    urls: list[str] = []
    deadline = time.monotonic() + 180  # a hang guard, not a timing assertion
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("http://127.0.0.1:"):
            urls.append(line.strip())
            break
    if not urls:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"the viewer did not start: {err}")
    return RunningViewer(process, urls)
