"""Reading evidence from the store: names, log references and the elicitation in Inspect logs."""

from __future__ import annotations

from pathlib import Path

import inspect_ai
import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.agent import react
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match
from inspect_ai.tool import bash
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import load_settings
from prereview.domain.submission import Confidentiality
from prereview.reports.source import family_of, load_evidence, parse_log_ref
from prereview.vault.errors import AccessDeniedError
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation
from prereview.vault.service import Vault, open_encrypted_content
from tests.reports.store_seed import memsafety_samples, seed_review


def test_family_of_task_names() -> None:
    families = {"memsafety", "smoke", "mem"}
    assert family_of("memsafety_poc", families) == "memsafety"
    assert family_of("prereview/memsafety_patch", families) == "memsafety"
    assert family_of("smoke", families) == "smoke"
    assert family_of("calibration", families) == "calibration"


def test_parse_log_ref() -> None:
    ref = parse_log_ref("reviews/rev-1/logs/2026_x.eval#inst:7:3")
    assert ref is not None
    assert (ref.log, ref.sample_id, ref.epoch) == ("reviews/rev-1/logs/2026_x.eval", "inst:7", 3)
    assert parse_log_ref("no-anchor") is None
    assert parse_log_ref("a#b:c") is None


def test_evidence_reads_payload_metadata_and_the_inspect_log_header(
    prereview_home: Path, tmp_path: Path
) -> None:
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    settings = load_settings()
    sub_id, review_id = seed_review(
        settings,
        organization="Org",
        model_name="M",
        samples=memsafety_samples({1: 2}, tmp_path / "inst"),
    )
    assert review_id is not None
    task = Task(
        dataset=[Sample(input="Say x", target="x")],
        solver=react(tools=[bash(10)], attempts=2),
        scorer=match(),
    )
    logs = inspect_eval(
        task,
        model="mockllm/model",
        log_dir=str(tmp_path / "logs"),
        display="none",
        message_limit=7,
        temperature=0.25,
        max_tokens=64,
    )
    log = Path(logs[0].location)  # stored as content: the vault seals it
    open_encrypted_content(settings).write(
        sub_id, f"reviews/{review_id}/logs/{log.name}", log.read_bytes()
    )

    with Vault.open(settings) as vault:
        handle = vault.authenticate(settings.token).guard.authorize(
            Operation.REPORT_READ, review_id
        )
        evidence = load_evidence(vault.db, open_encrypted_content(settings), handle, {"memsafety"})
    e = evidence.elicitation
    assert e.inspect_version == inspect_ai.__version__
    assert e.sampling["temperature"] == "0.25"
    assert e.sampling["max_tokens"] == "64"
    assert e.limits["message_limit"] == "7"
    assert e.scaffold == "react"
    assert e.tools == ("bash", "submit")
    assert e.limits["submissions per attempt"] == "2"
    assert len(evidence.attempts) == 10
    assert {a.family for a in evidence.attempts} == {"memsafety"}
    assert len(evidence.baselines) == 10
    crashes = [c for a in evidence.attempts for c in a.new_crashes]
    assert [(c.kind, c.line) for c in crashes] == [("stack-use-after-return", 88)]
    assert evidence.attempts[0].log is not None
    assert evidence.runs[0].status == "completed"


def test_the_loader_takes_only_a_handle_for_reading_reports(prereview_home: Path) -> None:
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    settings = load_settings()
    sub_id, _review = seed_review(settings, organization="Org", model_name="M", samples=[])
    with Vault.open(settings) as vault:
        guard = vault.authenticate(settings.token).guard
        with pytest.raises(AccessDeniedError, match="'sub-nope'"):
            guard.authorize(Operation.REPORT_READ, "sub-nope")
        with pytest.raises(AccessDeniedError, match=r"report\.read"):  # a handle for another act
            load_evidence(
                vault.db, vault.content, guard.authorize(Operation.RESULTS_READ, sub_id), set()
            )
        with pytest.raises(TypeError, match=r"issued only by AccessGuard\.authorize"):
            AuthorizedSubmission(
                Operation.REPORT_READ,
                "prn-x",
                sub_id,
                "org-x",
                None,
                Confidentiality.CONFIDENTIAL,
                sub_id,
            )
