"""Fixtures for the vault: an initialized data dir, the vault opened on it, and submissions of
two organizations written straight into the store (no review workflow needed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from prereview.config import Settings, load_settings
from prereview.domain.lifecycle import SubmissionState
from prereview.domain.submission import Confidentiality
from prereview.home import initialize_home
from prereview.store.base import new_id, utcnow
from prereview.store.tables.review import OrganizationRow, SubmissionEventRow, SubmissionRow
from prereview.vault.policy import Operation
from prereview.vault.principals import Principal, Role
from prereview.vault.service import Vault, VaultSession
from tests.store.databases import _sqlite_template  # noqa: F401


@pytest.fixture
def settings(prereview_home: Path, _sqlite_template: Path) -> Settings:  # noqa: F811
    prereview_home.mkdir(mode=0o700)
    shutil.copyfile(_sqlite_template, prereview_home / "prereview.db")  # already migrated
    initialize_home(load_settings())
    return load_settings()  # now with the coordinator token from the config file


@pytest.fixture
def vault(settings: Settings) -> Iterator[Vault]:
    with Vault.open(settings) as v:
        yield v


def add_submission(
    vault: Vault,
    org_name: str,
    confidentiality: Confidentiality = Confidentiality.CONFIDENTIAL,
    state: SubmissionState = SubmissionState.SUBMITTED,
) -> str:
    with vault.db.session() as s:
        org = s.query(OrganizationRow).filter_by(name=org_name).one_or_none()
        if org is None:
            org = OrganizationRow(id=new_id("org"), name=org_name)
            s.add(org)
            s.flush()
        row = SubmissionRow(
            id=new_id("sub"),
            organization_id=org.id,
            model_name="m",
            model="openai/m",
            max_connections=1,
            seconds_per_request=1.0,
            release_date=date.today() + timedelta(days=30),
            submitted_on=date.today(),
            window_policy="eo-2026",
            terms_version="2026-01",
            confidentiality=confidentiality.value,
            state=state.value,
        )
        s.add(row)
        s.flush()
        s.add(
            SubmissionEventRow(
                submission_id=row.id,
                action="submit",
                from_state=None,
                to_state=state.value,
                actor="t",
                role="submitter",
                at=utcnow(),
            )
        )
        return row.id


@dataclass
class World:
    """Two developer orgs with a submission each, and one principal of every role."""

    vault: Vault
    own: str  # submission of Org A (confidential)
    other: str  # submission of Org B (share-sanitized)
    sessions: dict[str, VaultSession]
    tokens: dict[str, str]

    def principal(self, name: str) -> Principal:
        return self.sessions[name].principal


@pytest.fixture
def world(vault: Vault) -> World:
    own = add_submission(vault, "Org A")
    other = add_submission(vault, "Org B", Confidentiality.SHARE_SANITIZED)
    people = {
        "submitter": (Role.SUBMITTER, "Org A"),
        "submitter_b": (Role.SUBMITTER, "Org B"),
        "evaluator": (Role.EVALUATOR, None),
        "coordinator2": (Role.COORDINATOR, None),
        "partner": (Role.SECTOR_PARTNER, None),
        "auditor": (Role.AUDITOR, None),
    }
    tokens = {}
    for name, (role, org) in people.items():
        _, tokens[name] = vault.principals.add(name, role, org, "test")
    coordinator = vault.authenticate(tokens["coordinator2"])
    handle = coordinator.guard.authorize(Operation.REVIEW_ASSIGN, own)
    vault.principals.assign("evaluator", handle, "test")
    sessions = {name: vault.authenticate(token) for name, token in tokens.items()}
    return World(vault, own, other, sessions, tokens)
