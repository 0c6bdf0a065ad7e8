"""`prereview demo` runs for a coordinator (or in a data dir of its own) and acts for its
submitter only through the token that principal was issued: never as someone it has no token of.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import load_settings
from prereview.demo import DEMO_ORGANIZATION, DEMO_SUBMITTER, run_demo
from prereview.store.tables.review import SubmissionEventRow, SubmissionRow
from prereview.vault.principals import PrincipalInfo, Role
from prereview.vault.service import Vault

runner = CliRunner()


def _principals() -> list[PrincipalInfo]:
    with Vault.open(load_settings()) as vault:
        return vault.principals.list()


def _submissions() -> int:
    with Vault.open(load_settings()) as vault, vault.db.session() as s:
        return len(s.scalars(select(SubmissionRow.id)).all())


@pytest.mark.parametrize("role", [Role.SUBMITTER, Role.EVALUATOR, Role.AUDITOR])
def test_demo_is_refused_for_anyone_but_a_coordinator_and_writes_nothing(
    prereview_home: Path, role: Role
) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    org = "Some Lab" if role is Role.SUBMITTER else None
    args = ["principals", "add", "someone", "--role", role.value, "--json"]
    added = runner.invoke(app, args + (["--org", org] if org else []))
    assert added.exit_code == 0, added.stderr
    token = json.loads(added.stdout)["token"]
    before = [p.name for p in _principals()]

    result = runner.invoke(
        app, ["demo", "--model", "simulated/demo"], env={"PREREVIEW_TOKEN": token}
    )

    assert result.exit_code == 2
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1
    assert f"access denied: {role.value} 'someone' may not principals.manage" in err
    assert [p.name for p in _principals()] == before  # no demo submitter
    assert _submissions() == 0
    assert not (prereview_home / "reports").exists() or not any(
        (prereview_home / "reports").iterdir()
    )
    with Vault.open(load_settings()) as vault:
        denied = [e for e in vault.audit.entries(principal="someone") if e.outcome == "denied"]
    assert [e.action for e in denied] == ["principals.manage"]


def test_demo_acts_for_its_submitter_only_with_the_token_it_was_issued(
    prereview_home: Path,
) -> None:
    quiet = Console(file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the test
    try:
        # a data dir of its own: the demo initializes it and runs as its first coordinator
        first = run_demo(load_settings(), "simulated/demo", quiet, suite="smoke")
        # again, as that coordinator: the first demo submitter's token is gone, so a new one
        second = run_demo(load_settings(), "simulated/demo", quiet, suite="smoke")
    finally:
        quiet.file.close()
    assert first.is_file() and second.is_file()

    people = {p.name: p for p in _principals()}
    submitters = [p for p in people.values() if p.role is Role.SUBMITTER]
    assert len(submitters) == 2
    assert submitters[0].name == DEMO_SUBMITTER
    assert submitters[1].name.startswith(DEMO_SUBMITTER + "-")
    assert all(p.organization == DEMO_ORGANIZATION for p in submitters)
    assert all(p.revoked_at is not None for p in submitters)  # the tokens lived in the demo only
    assert {p.role for p in people.values()} == {Role.COORDINATOR, Role.SUBMITTER}

    with Vault.open(load_settings()) as vault:
        with vault.db.session() as s:
            submits = s.scalars(
                select(SubmissionEventRow.actor)
                .where(SubmissionEventRow.action == "submit")
                .order_by(SubmissionEventRow.id)
            ).all()
        audit = vault.audit.entries()
        assert vault.audit.verify().ok
    assert submits == [p.name for p in submitters]  # each run submitted as its own submitter
    submitted_by = [e.principal for e in audit if e.action == "submission.submit"]
    assert submitted_by == [p.name for p in submitters]
    assert not any(e.outcome == "denied" for e in audit)
