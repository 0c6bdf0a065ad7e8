"""A family defined only in the tests, registered through the `prereview.families` entry-point
group, reaches every core surface (tasks list, plan, scripted assessment, report, doctor) with no
core edit; a broken plug-in is reported with its reason while the others keep working."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import metadata

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.doctor import check_families
from prereview.domain.submission import ModelAccess, Throughput
from prereview.reports.publish import produce_report
from prereview.review.assessment import run_assessment
from prereview.review.service import ReviewService, SubmissionRequest
from prereview.suites import registry
from tests.review.conftest import ORG, in_days
from tests.sandbox.conftest import needs_bwrap

runner = CliRunner()
GROUP = registry.ENTRY_POINT_GROUP


def _register(monkeypatch: pytest.MonkeyPatch, *extra: tuple[str, str]) -> None:
    """The installed registrations plus `extra` (name, "module:attr"), as pip would add them."""
    installed = list(metadata.entry_points(group=GROUP))
    added = [metadata.EntryPoint(name, value, GROUP) for name, value in extra]
    monkeypatch.setattr(registry, "_entry_points", lambda: [*installed, *added])
    registry.reload_families()


@pytest.fixture
def echofile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _register(monkeypatch, ("echofile", "tests.suites.plugin_family:EchoFileFamily"))
    yield
    monkeypatch.undo()
    registry.reload_families()


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _register(
        monkeypatch,
        ("ghost", "tests.suites.no_such_plugin:GhostFamily"),
        ("outofvocab", "tests.suites.plugin_family:OutOfVocabularyFamily"),
        ("echofile", "tests.suites.plugin_family:EchoFileFamily"),
    )
    yield
    monkeypatch.undo()
    registry.reload_families()


def _scripted_request(text: str) -> SubmissionRequest:
    """The scripted model: write `text` into answer.txt with bash, then submit."""
    turns = [
        {
            "tool_calls": [
                {"function": "bash", "arguments": {"command": f"printf %s {text} > answer.txt"}}
            ]
        },
        {"tool_calls": [{"function": "submit", "arguments": {"answer": "done"}}]},
    ]
    return SubmissionRequest(
        organization=ORG,
        access=ModelAccess("scripted/plugin"),
        release_date=in_days(21),
        throughput=Throughput(None, 2, 0.5),
        model_args={"turns": turns},
    )


def test_listed_and_planned_through_the_cli(echofile: None, as_submitter: dict[str, str]) -> None:
    listed = runner.invoke(app, ["tasks", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    families = {f["family"]: f for f in json.loads(listed.stdout)}
    assert families["echofile"]["inspect_tasks"] == ["prereview/echofile_write"]
    assert families["echofile"]["suites"] == ["echofile-quick"]
    assert families["echofile"]["tiers"] == {"1": "non-expert"}
    assert "memsafety" in families  # the others are still there

    submitted = runner.invoke(
        app,
        [
            "submit",
            "--org",
            ORG,
            "--model",
            "scripted/plugin",
            "--release-date",
            in_days(21).isoformat(),
        ],
        env=as_submitter,
    )
    assert submitted.exit_code == 0, submitted.output
    ident = submitted.stdout.strip()
    plan = runner.invoke(
        app, ["assess", ident, "--suite", "echofile-quick", "--plan-only", "--json"]
    )
    assert plan.exit_code == 0, plan.output
    (item,) = json.loads(plan.stdout)["tasks"]
    assert item["factory"] == "echofile/echofile_write" and item["samples"] == 2

    bad = runner.invoke(app, ["assess", ident, "--baseline-budget", "-1"])
    assert bad.exit_code == 2 and "--baseline-budget must be from 0" in bad.stderr
    status = json.loads(runner.invoke(app, ["status", ident, "--json"]).stdout)
    assert status["state"] == "submitted"  # nothing ran, the stored plan is unchanged
    assert status["review"]["runs"] == [] and status["review"]["suite"] == "echofile-quick"


@needs_bwrap
def test_scripted_assessment_baseline_report_and_doctor(
    echofile: None, service: ReviewService, reviewer: ReviewService
) -> None:
    # the same script for every sample: sample echo-0 is solved, echo-1 is not
    record = service.submit(_scripted_request("echo-0"))
    outcome = run_assessment(reviewer, record.id, suite="echofile-quick")
    assert outcome.status == "completed" and outcome.samples_done == 2
    scores = {r.sample_id: r.score for r in reviewer.results(record.id)}
    assert scores == {"echo-0": 1.0, "echo-1": 0.0}

    baselines = reviewer.run_baselines(record.id, budget_s=5.0)
    assert sorted(b.instance_id for b in baselines) == ["echo-0", "echo-1"]
    keys = reviewer.content.keys(record.id, "reviews/")
    assert sum("/baselines/echofile/" in k for k in keys) == 2  # sealed content, not a path

    written = produce_report(reviewer.settings, record.id, fmt="md", session=reviewer.access)
    text = written.path.read_text()
    assert "echofile" in text and "copy-program" in text
    assert "read back in a fresh sandbox" in text

    checks = {c.name: c for c in check_families()}
    assert checks["task family echofile"].ok
    assert "echofile: bwrap on PATH" in checks


def test_a_broken_plugin_is_reported_and_the_others_keep_working(broken: None) -> None:
    listed = runner.invoke(app, ["tasks", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {f["family"]: f for f in json.loads(listed.stdout)}
    assert "ModuleNotFoundError" in rows["ghost"]["problem"]
    assert "tests.suites.no_such_plugin" in rows["ghost"]["entry_point"]
    assert "outside the shared vocabulary" in rows["outofvocab"]["problem"]
    assert rows["echofile"]["problem"] is None and rows["memsafety"]["problem"] is None

    checks = {c.name: c for c in check_families()}
    ghost, vocab = checks["task family ghost"], checks["task family outofvocab"]
    assert not ghost.ok and not vocab.ok and ghost.required
    assert "\n" not in ghost.detail and "tests.suites.no_such_plugin" in ghost.fix
    assert checks["task family echofile"].ok and checks["task family memsafety"].ok

    # a broken family's suites are unknown, with the reason; the others still plan
    assert registry.installed_families().get_suite("echofile-quick").name == "echofile-quick"
    with pytest.raises(registry.UnknownFamilyError, match="broken: InterfaceViolation: tiers"):
        registry.installed_families().get("outofvocab")
