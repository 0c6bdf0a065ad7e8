"""Who may list and open a review's transcripts, and what bad input does: one line naming it,
exit 2, nothing decrypted (no workspace is ever created)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.vault.policy import AccessPolicy, Operation, Resource, ResourceKind
from prereview.vault.principals import Principal, Role
from prereview.vault.service import Vault
from prereview.vault.workspace import PlaintextWorkspace
from tests.transcripts.conftest import Install

runner = CliRunner()


def _nothing_opened(install: Install) -> None:
    assert not install.plaintext_base.exists() or not any(
        p.is_file() for p in install.plaintext_base.rglob("*")
    )


def _one_line_error(result: object, *needles: str) -> None:
    exit_code = getattr(result, "exit_code")  # noqa: B009 - typer's Result
    stderr = getattr(result, "stderr")  # noqa: B009
    assert exit_code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0]


def test_list_shows_tasks_samples_scores_and_sizes_without_decrypting(install: Install) -> None:
    result = runner.invoke(app, ["logs", "list", install.review_id, "--json"], env=install.env())
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["review_id"] == install.review_id
    [log] = data["logs"]
    assert log["log"].endswith(".eval") and log["sealed_bytes"] > 0
    assert log["tasks"] == ["calibration"]
    assert sorted(s["sample"] for s in log["samples"]) == list(install.samples)
    assert all(s["score"] is not None for s in log["samples"])
    human = runner.invoke(app, ["logs", "list", install.submission_id], env=install.env())
    assert human.exit_code == 0 and "calibration" in human.stdout
    assert f"prereview logs view {install.review_id} --sample" in human.stdout
    _nothing_opened(install)


@pytest.mark.parametrize("who", ["stranger", "submitter-a", "submitter-b", "partner", "auditor"])
def test_a_principal_without_access_is_refused_before_anything_is_decrypted(
    install: Install, who: str
) -> None:
    for command in (["logs", "view", install.review_id], ["logs", "list", install.review_id]):
        result = runner.invoke(app, command, env=install.env(who))
        _one_line_error(result, "access denied", "logs.read")
    _nothing_opened(install)
    with Vault.open(install.settings) as vault:
        denied = [e for e in vault.audit.entries(principal=who) if e.outcome == "denied"]
    assert [e.action for e in denied] == ["logs.read", "logs.read"]


def test_submitters_read_their_own_transcripts_only_where_the_agency_enables_it(
    install: Install,
) -> None:
    enabled = {"PREREVIEW_SUBMITTERS_READ_TRANSCRIPTS": "true"}
    own = runner.invoke(
        app, ["logs", "list", install.review_id], env=install.env("submitter-a", **enabled)
    )
    assert own.exit_code == 0, own.stderr
    other = runner.invoke(
        app, ["logs", "list", install.review_id], env=install.env("submitter-b", **enabled)
    )
    _one_line_error(other, "access denied")

    resource = Resource(ResourceKind.SUBMISSION, submission_id="sub-1", organization_id="org-a")
    submitter = Principal("prn-1", "s", Role.SUBMITTER, organization_id="org-a")
    assert not AccessPolicy().decide(submitter, Operation.LOGS_READ, resource).allowed
    policy = AccessPolicy(submitters_read_transcripts=True)
    assert policy.decide(submitter, Operation.LOGS_READ, resource).allowed
    assert not policy.decide(submitter, Operation.LOGS_EXPORT, resource).allowed


def test_unknown_review_sample_task_and_a_review_without_logs(install: Install) -> None:
    unknown = runner.invoke(app, ["logs", "view", "rev-0000000000"], env=install.env())
    _one_line_error(unknown, "'rev-0000000000'")
    sample = runner.invoke(
        app, ["logs", "view", install.review_id, "--sample", "no-such"], env=install.env()
    )
    _one_line_error(sample, "no logged sample 'no-such'", install.review_id)
    task = runner.invoke(
        app, ["logs", "view", install.review_id, "--task", "no-task"], env=install.env()
    )
    _one_line_error(task, "no log of task 'no-task'")
    bare = runner.invoke(app, ["logs", "view", install.bare_submission], env=install.env())
    _one_line_error(bare, "has no")  # no review yet, or no sealed logs yet
    host = runner.invoke(
        app,
        ["logs", "view", install.review_id, "--host", "0.0.0.0"],  # noqa: S104 - refused env=install.env()
    )
    _one_line_error(host, "'0.0.0.0'", "127.0.0.1 only")
    _nothing_opened(install)


def test_a_corrupted_sealed_log_is_named_and_nothing_is_decrypted(install: Install) -> None:
    [sealed] = [
        p
        for p in (install.settings.artifacts_dir / install.submission_id).rglob("*.eval")
        if "/logs/" in p.as_posix()
    ]
    blob = bytearray(sealed.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    sealed.write_bytes(bytes(blob))
    result = runner.invoke(app, ["logs", "view", install.review_id], env=install.env())
    _one_line_error(result, "integrity check failed", sealed.name, "nothing was decrypted")
    _nothing_opened(install)


def test_the_report_links_each_notable_transcript_to_its_viewer_command(
    install: Install, tmp_path: Path
) -> None:
    out = tmp_path / "report.md"
    result = runner.invoke(
        app, ["report", install.review_id, "--format", "md", "--out", str(out)], env=install.env()
    )
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    section = text.split("## Notable transcripts", 1)[1]
    assert any(
        f"`prereview logs view {install.review_id} --sample {s}`" in section
        for s in install.samples
    )


def test_without_a_tmpfs_the_viewer_refuses_to_put_transcripts_on_disk(
    install: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREREVIEW_PLAINTEXT_DIR")
    # no tmpfs found: the vault's fallback is None, or (before it refused) the data dir's disk
    fallback = None if hasattr(PlaintextWorkspace, "require") else install.settings.home / "work"
    monkeypatch.setattr("prereview.vault.service.plaintext_base", lambda settings: fallback)
    result = runner.invoke(app, ["logs", "view", install.review_id], env=install.env())
    _one_line_error(result, "no private tmpfs", "plaintext_dir")
    work = install.settings.home / "work"
    assert not work.exists() or not any(p.is_file() for p in work.rglob("*"))
