"""The hot read path (status and listing, one worker-thread hop, Core reads): every read still
authenticates its token fresh, resolves and authorizes through the guard and appends its own
audit entry; the bodies keep the `--json` shape of the records."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from prereview.domain.lifecycle import SubmissionState
from prereview.review.views import (
    ReviewRecord,
    RunRecord,
    StateChange,
    SubmissionRecord,
    TaskProgress,
)
from prereview.service.context import ServiceContext
from prereview.store.tables.vault import AuditEntryRow
from prereview.vault.principals import Role
from tests.service.conftest import auth
from tests.service.world import World


def audit_rows(ctx: ServiceContext, action: str) -> list[tuple[str, str | None, str | None]]:
    """(outcome, principal, submission id) of every entry of `action`, in order."""
    with ctx.vault.db.session() as s:
        rows = s.execute(
            select(AuditEntryRow.outcome, AuditEntryRow.principal, AuditEntryRow.submission_id)
            .where(AuditEntryRow.action == action)
            .order_by(AuditEntryRow.seq)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def trail_length(ctx: ServiceContext) -> int:
    with ctx.vault.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntryRow)) or 0)


def test_each_status_read_and_listing_is_authorized_and_audited(
    client: TestClient, world: World, context: ServiceContext
) -> None:
    path = f"/api/v1/submissions/{world.submission}"
    before = audit_rows(context, "submission.read")
    for _ in range(3):
        assert client.get(path, headers=auth(world, "submitter_own")).status_code == 200
    added = audit_rows(context, "submission.read")[len(before) :]
    assert added == [("allowed", "ann", world.submission)] * 3

    listed = audit_rows(context, "submission.read.list")
    listing = client.get("/api/v1/submissions", headers=auth(world, "submitter_own"))
    assert listing.status_code == 200
    assert audit_rows(context, "submission.read.list")[len(listed) :] == [("allowed", "ann", None)]

    # another organization's submission, and a non-canonical spelling of one's own: refused
    # with the same line, each refusal recorded with its principal
    for ident, recorded in ((world.other, world.other), (world.submission.upper(), None)):
        seen = audit_rows(context, "submission.read")
        refused = client.get(f"/api/v1/submissions/{ident}", headers=auth(world, "submitter_own"))
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith("access denied: submitter 'ann' may not")
        assert audit_rows(context, "submission.read")[len(seen) :] == [("denied", "ann", recorded)]


def test_a_revoked_token_is_refused_at_the_next_read(
    client: TestClient, world: World, context: ServiceContext
) -> None:
    vault = context.vault
    _, token = vault.principals.add("lab-revoked", Role.SUBMITTER, "Org A", "test")
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/submissions/{world.submission}"
    assert client.get(path, headers=headers).status_code == 200
    assert client.get("/api/v1/submissions", headers=headers).status_code == 200
    vault.principals.revoke("lab-revoked", "test")
    length, reads = trail_length(context), audit_rows(context, "submission.read")
    for url in (path, "/api/v1/submissions"):
        refused = client.get(url, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "is not recognized" in refused.json()["detail"]
    # two refusals recorded (unknown token), and no read of the submission after them
    assert trail_length(context) == length + 2
    assert audit_rows(context, "submission.read") == reads
    assert audit_rows(context, "auth")[-2:] == [("denied", "unknown token", None)] * 2


def test_a_new_assignment_takes_effect_at_the_next_read(
    client: TestClient, world: World, context: ServiceContext
) -> None:
    """Nothing about the principal is cached between requests: assigned and unassigned, the
    evaluator's very next status read follows."""
    path = f"/api/v1/submissions/{world.submission}"
    headers = auth(world, "evaluator_unassigned")
    coordinator = auth(world, "coordinator")
    assert client.get(path, headers=headers).status_code == 403
    assigned = client.post(
        f"/api/v1/submissions/{world.submission}/assignments",
        json={"evaluator": "ed"},
        headers=coordinator,
    )
    assert assigned.status_code == 200, assigned.text
    assert client.get(path, headers=headers).status_code == 200
    removed = client.delete(
        f"/api/v1/submissions/{world.submission}/assignments/ed", headers=coordinator
    )
    assert removed.status_code == 200, removed.text
    assert client.get(path, headers=headers).status_code == 403


def test_status_and_listing_carry_the_records_json(client: TestClient, world: World) -> None:
    headers = auth(world, "submitter_own")
    status = client.get(f"/api/v1/submissions/{world.submission}", headers=headers)
    assert status.headers["content-type"] == "application/json"
    record = status.json()
    names = [f.name for f in fields(SubmissionRecord)]
    assert list(record) == [*names, "lead_days"]
    assert [e["action"] for e in record["history"]] == ["create", "submit"]
    review = record["review"]
    assert review["id"] == world.review and review["plan"]["tasks"]
    assert review["samples_planned"] == sum(p["planned"] for p in review["progress"]) > 0
    listing = client.get("/api/v1/submissions", headers=headers).json()
    assert [s["id"] for s in listing] == [world.submission]  # Org B's is not listed
    assert listing[0] == {**record, "history": []}


def old_as_dict(record: SubmissionRecord) -> dict[str, Any]:
    """`SubmissionRecord.as_dict` as it was written over `dataclasses.asdict`."""
    data = asdict(record)
    data["state"] = record.state.value
    data["lead_days"] = record.lead_days
    if record.review is not None:
        review = data["review"]
        review["plan"] = record.review.plan.to_dict() if record.review.plan else None
        review["samples_planned"] = record.review.samples_planned
        review["samples_done"] = record.review.samples_done
    return data


def test_as_dict_is_asdicts_shape_without_shared_containers() -> None:
    now = datetime.now(UTC)
    review = ReviewRecord(
        "rev-1",
        "calibration",
        None,
        now,
        "reports/x",
        [RunRecord("run-1", 1, "finished", False, "host", 7, now, now, None)],
        [TaskProgress("task", 1, 3, 2, 1, 0.5, 10, 1.5)],
    )
    for attached in (None, review):
        record = SubmissionRecord(
            "sub-1",
            "Org A",
            "model",
            None,
            "simulated/x",
            None,
            None,
            {"temperature": [0.1, {"nested": True}]},
            None,
            2,
            0.01,
            now.date(),
            now.date(),
            "eo-2026",
            "2026-01",
            "confidential",
            True,
            SubmissionState.SUBMITTED,
            now,
            [StateChange("submit", "draft", "submitted", "ann", "submitter", now)],
            attached,
        )
        data = record.as_dict()
        assert data == old_as_dict(record)
        assert list(data) == list(old_as_dict(record))
        if attached is not None:
            assert list(data["review"]) == list(old_as_dict(record)["review"])
        # a caller may change what it got without touching the record
        data["model_args"]["temperature"][1]["nested"] = False
        data["history"].clear()
        assert record.model_args == {"temperature": [0.1, {"nested": True}]}
        assert len(record.history) == 1
