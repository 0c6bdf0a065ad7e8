"""REST API v1 through the in-process ASGI client: submissions, errors as problem+json, bad
input named and nothing stored, tokens throttled, request sizes bounded, API keys sealed."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from prereview.service.context import ServiceContext
from prereview.store.tables.review import SubmissionRow
from prereview.store.tables.vault import AuditEntryRow
from tests.service.conftest import auth
from tests.service.world import World

SECRET = "sk-test-Zq8dontleak4u9f3"


def submissions(ctx: ServiceContext) -> int:
    with ctx.vault.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(SubmissionRow)) or 0)


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "organization": "Org A",
        "model": "simulated/api",
        "release_date": (date.today() + timedelta(days=20)).isoformat(),
    }
    data.update(changes)
    return data


def is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert "\n" not in problem["detail"]
    return dict(problem)


def test_health_and_openapi_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/api/v1/openapi.json").json()
    for path in (
        "/api/v1/submissions",
        "/api/v1/submissions/{ident}",
        "/api/v1/submissions/{ident}/withdraw",
        "/api/v1/submissions/{ident}/assessments",
        "/api/v1/submissions/{ident}/report",
        "/api/v1/findings/import",
        "/api/v1/findings/{ref}/triage",
        "/api/v1/advisories",
        "/api/v1/briefs",
        "/api/v1/principals",
        "/api/v1/audit",
        "/api/v1/audit/verify",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 404  # no page that loads assets from a CDN


def test_security_headers_on_every_response(client: TestClient, world: World) -> None:
    for response in (
        client.get("/healthz"),
        client.get("/api/v1/submissions", headers=auth(world, "coordinator")),
        client.get("/api/v1/submissions"),
    ):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


def test_submit_seals_the_api_key_and_never_echoes_it(
    client: TestClient, world: World, context: ServiceContext
) -> None:
    response = client.post(
        "/api/v1/submissions",
        json=body(api_key_env="LAB_KEY", api_key=SECRET, model_arg=["temperature=0.5"]),
        headers=auth(world, "submitter_own"),
    )
    assert response.status_code == 201, response.text
    record = response.json()
    assert SECRET not in response.text
    assert record["state"] == "submitted" and record["model_args"] == {"temperature": 0.5}
    session = context.vault.authenticate(world.tokens["submitter_own"])
    assert session.has_credential(record["id"])
    with context.vault.db.session() as s:
        trail = " ".join(str(r.detail) + str(r.target) for r in s.scalars(select(AuditEntryRow)))
    assert SECRET not in trail
    shown = client.get(f"/api/v1/submissions/{record['id']}", headers=auth(world, "submitter_own"))
    assert shown.status_code == 200 and SECRET not in shown.text


def test_invalid_submissions_name_the_field_and_store_nothing(
    client: TestClient, world: World, context: ServiceContext
) -> None:
    before = submissions(context)
    headers = auth(world, "submitter_own")
    cases = {
        "release date": body(release_date="next week"),
        "release_date": {k: v for k, v in body().items() if k != "release_date"},
        "organization": body(organization=""),
        "colour": body(colour="red"),
        "connections": body(connections=0),
        "--model-arg": body(model_arg=["no-equals"]),
        "window": body(release_date=(date.today() + timedelta(days=2)).isoformat()),
        "api_key_env": body(api_key=SECRET),
        "api_key": body(api_key_env="PATH"),  # never a variable of the server's environment
    }
    for field, data in cases.items():
        response = client.post("/api/v1/submissions", json=data, headers=headers)
        problem = is_problem(response, response.status_code)
        assert response.status_code in (400, 422), (field, response.text)
        assert field in problem["detail"] or field == "window", (field, problem["detail"])
        assert SECRET not in response.text
    not_json = client.post(
        "/api/v1/submissions",
        content=b"{",
        headers={**headers, "content-type": "application/json"},
    )
    is_problem(not_json, 422)
    assert submissions(context) == before


def test_another_organizations_submission_is_refused(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/submissions", json=body(organization="Org B"), headers=auth(world, "submitter_own")
    )
    problem = is_problem(response, 403)
    assert problem["detail"].startswith("access denied")
    assert problem["exit_code"] == 2


def test_missing_and_bad_tokens_are_refused_then_throttled(
    world: World, context: ServiceContext
) -> None:
    from prereview.service.app import create_app
    from prereview.service.throttle import FailedAttemptThrottle

    context.throttle = FailedAttemptThrottle(limit=3, window_s=3600)
    try:
        with TestClient(create_app(world.settings, context=context)) as c:
            none = is_problem(c.get("/api/v1/submissions"), 401)
            assert "no API token" in none["detail"]
            basic = c.get("/api/v1/submissions", headers={"Authorization": "Basic eDp5"})
            is_problem(basic, 401)
            wrong = c.get("/api/v1/submissions", headers={"Authorization": "Bearer pr_nope"})
            assert "not recognized" in is_problem(wrong, 401)["detail"]
            c.get("/api/v1/submissions", headers={"Authorization": "Bearer pr_nope2"})
            # the address is now refused before any token is looked at, even a valid one
            valid = c.get("/api/v1/submissions", headers=auth(world, "coordinator"))
            assert "too many failed" in is_problem(valid, 429)["detail"]
    finally:
        context.throttle = FailedAttemptThrottle()


def test_request_bodies_are_bounded(
    client: TestClient, world: World, context: ServiceContext
) -> None:
    before = submissions(context)
    huge = body(model_name="x" * (2 << 20))
    response = client.post("/api/v1/submissions", json=huge, headers=auth(world, "submitter_own"))
    is_problem(response, 413)

    def chunks() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 65536

    streamed = client.post(
        "/api/v1/submissions",
        content=chunks(),
        headers={**auth(world, "submitter_own"), "content-type": "application/json"},
    )
    is_problem(streamed, 413)
    assert submissions(context) == before


def test_findings_import_list_triage_and_hostile_text(client: TestClient, world: World) -> None:
    from tests.service.world import sarif_bytes

    coordinator = auth(world, "coordinator")
    response = client.post(
        f"/api/v1/findings/import?filename=agent.sarif&submission={world.submission}",
        content=sarif_bytes(),
        headers={**coordinator, "content-type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"] == 1  # a sighting of F-1, which the world imported
    listed = client.get("/api/v1/findings", headers=auth(world, "submitter_own")).json()
    assert any(f["id"] == "F-1" for f in listed)
    assert client.get("/api/v1/findings", headers=auth(world, "submitter_other")).json() == []
    triaged = client.post(
        "/api/v1/findings/F-1/triage", json={"cwe": "CWE-787"}, headers=coordinator
    )
    assert triaged.status_code == 200 and triaged.json()["cwe"] == "CWE-787"
    bad = client.post("/api/v1/findings/F-1/triage", json={"cwe": "787x"}, headers=coordinator)
    assert bad.status_code == 400 and "\n" not in bad.json()["detail"]


def test_assessment_plan_and_queue(client: TestClient, world: World) -> None:
    evaluator = auth(world, "evaluator_assigned")
    path = f"/api/v1/submissions/{world.submission}/assessments"
    plan = client.post(path, json={"plan_only": True, "suite": "calibration"}, headers=evaluator)
    assert plan.status_code == 200, plan.text
    assert plan.json()["tasks"]
    queued = client.post(path, json={}, headers=evaluator)
    assert queued.status_code == 202, queued.text
    again = client.post(path, json={}, headers=evaluator)
    assert "already has an assessment queued" in is_problem(again, 400)["detail"]
    assert client.get(path, headers=auth(world, "submitter_own")).json()[0]["status"] == "queued"
    cancelled = client.post(path + "/cancel", json={}, headers=evaluator)
    assert cancelled.json()["status"] == "cancelled"
    refused = client.post(path, json={}, headers=auth(world, "evaluator_unassigned"))
    is_problem(refused, 403)


def test_the_submitter_reads_who_touched_their_submission(client: TestClient, world: World) -> None:
    client.get(f"/api/v1/submissions/{world.submission}", headers=auth(world, "evaluator_assigned"))
    log = client.get(
        f"/api/v1/submissions/{world.submission}/access-log", headers=auth(world, "submitter_own")
    )
    assert log.status_code == 200
    who = {(e["principal"], e["role"]) for e in log.json()}
    assert ("eve", "evaluator") in who
    assert all(
        set(e) == {"seq", "at", "principal", "role", "action", "outcome"} for e in log.json()
    )
    other = client.get(
        f"/api/v1/submissions/{world.submission}/access-log", headers=auth(world, "submitter_other")
    )
    is_problem(other, 403)


def test_reports_full_and_sanitized(client: TestClient, world: World) -> None:
    path = f"/api/v1/submissions/{world.submission}/report"
    full = client.get(path, params={"format": "md"}, headers=auth(world, "submitter_own"))
    assert full.status_code == 200, full.text
    assert full.headers["content-type"].startswith("text/markdown")
    partner = client.get(
        path, params={"format": "md", "sanitized": "true"}, headers=auth(world, "sector_partner")
    )
    assert partner.status_code == 200, partner.text
    assert "simulated/service" not in partner.text
    is_problem(
        client.get(path, params={"format": "md"}, headers=auth(world, "sector_partner")), 403
    )
    is_problem(
        client.get(path, params={"format": "docx"}, headers=auth(world, "submitter_own")), 422
    )
    shared = client.get("/api/v1/shared/reports", headers=auth(world, "sector_partner")).json()
    assert [s["submission"] for s in shared] == [world.submission]


def test_findings_notify_status_and_overdue(client: TestClient, world: World) -> None:
    coordinator = auth(world, "coordinator")
    notified = client.post(
        "/api/v1/findings/F-1/notify",
        json={"vendor": "Acme", "date": "2020-01-01"},
        headers=coordinator,
    )
    assert notified.status_code == 200, notified.text
    assert notified.json()["deadline"] is not None
    bad = client.post(
        "/api/v1/findings/F-1/status", json={"status": "approved"}, headers=coordinator
    )
    is_problem(bad, 400)
    bad_date = client.post(
        "/api/v1/findings/F-1/notify", json={"date": "soon"}, headers=coordinator
    )
    assert "--date 'soon'" in is_problem(bad_date, 400)["detail"]
    late = client.get("/api/v1/findings-overdue", headers=auth(world, "submitter_own")).json()
    assert [f["id"] for f in late] == ["F-1"]
    assert (
        client.get("/api/v1/findings-overdue", headers=auth(world, "submitter_other")).json() == []
    )


def test_findings_json_is_the_clis(
    client: TestClient, world: World, context: ServiceContext
) -> None:
    from prereview.findings.repository import get_finding

    shown = client.get("/api/v1/findings/F-1", headers=auth(world, "coordinator")).json()
    cli = json.loads(json.dumps(get_finding(context.vault.db, 1).as_dict(), default=str))
    assert {k: v for k, v in shown.items() if k != "sighting_details"} == cli
