"""The review commands through the CLI: output shapes, exit codes, and bad input storing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import Settings
from prereview.review.service import ReviewService
from prereview.vault.principals import Role
from tests.review.conftest import ORG, in_days, row_counts

runner = CliRunner()


def submitter_env(settings: Settings, name: str = "cli-submitter") -> dict[str, str]:
    """PREREVIEW_TOKEN of a new submitter of ORG (the config file holds the coordinator's)."""
    with ReviewService.open(settings) as coordinator:
        _, token = coordinator.access.vault.principals.add(name, Role.SUBMITTER, ORG, "tests")
    return {"PREREVIEW_TOKEN": token}


def submit_args(*extra: str, release: str | None = None) -> list[str]:
    return [
        "submit",
        "--org",
        "Example Labs",
        "--model",
        "simulated/cli",
        "-M",
        "latency=0.01",
        "--connections",
        "4",
        "--latency",
        "0.01",
        "--release-date",
        release or in_days(21).isoformat(),
        *extra,
    ]


def test_submit_prints_the_id_then_status_list_and_json(as_submitter: dict[str, str]) -> None:
    result = runner.invoke(app, submit_args("--model-version", "1.0"), env=as_submitter)
    assert result.exit_code == 0, result.output
    ident = result.stdout.strip()
    assert ident.startswith("sub-") and "\n" not in ident

    status = runner.invoke(app, ["status", ident, "--json"])
    data = json.loads(status.stdout)
    assert data["id"] == ident and data["state"] == "submitted"
    assert data["model_version"] == "1.0" and data["model_args"] == {"latency": 0.01}
    assert data["lead_days"] == 21 and data["window_policy"] == "eo-2026"

    human = runner.invoke(app, ["status", ident])
    assert human.exit_code == 0 and ident in human.stdout and "submitted" in human.stdout

    listed = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert [s["id"] for s in listed] == [ident]


def test_submitter_chooses_whether_later_reviews_compare_with_this_one(
    as_submitter: dict[str, str],
) -> None:
    default = runner.invoke(app, submit_args(), env=as_submitter).stdout.strip()
    declined = runner.invoke(
        app, submit_args("--no-compare-in-later-reviews"), env=as_submitter
    ).stdout.strip()
    assert json.loads(runner.invoke(app, ["status", default, "--json"]).stdout)[
        "compare_in_later_reviews"
    ]
    data = json.loads(runner.invoke(app, ["status", declined, "--json"]).stdout)
    assert data["compare_in_later_reviews"] is False
    assert "not compared in later reviews" in runner.invoke(app, ["status", declined]).stdout


def test_assess_plan_only_then_run_then_withdraw_and_close_refused(
    as_submitter: dict[str, str],
) -> None:
    ident = runner.invoke(app, submit_args(), env=as_submitter).stdout.strip()
    plan = runner.invoke(
        app, ["assess", ident, "--suite", "calibration", "--limit", "3", "--plan-only", "--json"]
    )
    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.stdout)["tasks"][0]["samples"] == 3

    run = runner.invoke(app, ["assess", ident, "--json"])  # runs the plan as shown
    assert run.exit_code == 0, run.output
    outcome = json.loads(run.stdout)
    assert outcome["status"] == "completed" and outcome["samples_done"] == 3

    closed = runner.invoke(app, ["close", ident])
    assert closed.exit_code == 2 and "in_review" in closed.stderr

    withdrawn = runner.invoke(app, ["withdraw", ident, "--json"], env=as_submitter)
    assert json.loads(withdrawn.stdout)["state"] == "withdrawn"
    again = runner.invoke(app, ["assess", ident, "--resume"])
    assert again.exit_code == 2 and "withdrawn" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (submit_args(release=in_days(-2).isoformat()), "release-date-not-past"),
        (submit_args(release=in_days(45).isoformat()), "max-lead-days"),
        (submit_args(release="next friday"), "YYYY-MM-DD"),
        (submit_args("--policy", "nope"), "unknown window policy"),
        (submit_args("--api-key-env", "sk-live-SECRET123"), "NAME of an environment variable"),
        (submit_args("-M", "novalue"), "KEY=VALUE"),
    ],
)
def test_bad_submissions_exit_2_with_one_line_and_store_nothing(
    service: ReviewService, as_submitter: dict[str, str], args: list[str], message: str
) -> None:
    result = runner.invoke(app, args, env=as_submitter)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert "SECRET123" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 3  # one message, wrapped by the console
    assert sum(row_counts(service).values()) == 1  # ORG itself: its submitter principal's


OPERATION = {
    "status": "submission.read",
    "assess": "review.assess",
    "withdraw": "submission.withdraw",
    "close": "review.close",
}


@pytest.mark.parametrize("command", ["status", "assess", "withdraw", "close"])
def test_unknown_id_exits_2(install: Settings, command: str) -> None:
    result = runner.invoke(app, [command, "sub-0000000000"])
    assert result.exit_code == 2
    assert f"may not {OPERATION[command]} on 'sub-0000000000'" in result.stderr


def test_commands_say_to_run_init_first(prereview_home: Path) -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 2 and "prereview init" in result.stderr
    assert not prereview_home.exists()


def test_a_local_model_that_does_not_exist_is_refused_and_nothing_stored(
    install: Settings, service: ReviewService, tmp_path: Path
) -> None:
    before = row_counts(service)
    for model in ("local/gpt-17", f"local/{tmp_path / 'missing.gguf'}"):
        args = ["submit", "--org", ORG, "--model", model, "--release-date", in_days(20).isoformat()]
        result = runner.invoke(app, args, env=submitter_env(install, f"s-{len(model)}"))
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "gpt-17" in result.stderr or "does not exist" in result.stderr
    assert row_counts(service) == before
