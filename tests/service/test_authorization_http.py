"""The authorization matrix over HTTP: every API endpoint × every role × every spelling of an
id → zero unauthorized successes; every refusal is problem+json with one line that names what
was refused (not why), leaves a `denied` entry in the audit trail, and writes nothing.

Routes are enumerated from the application: an endpoint missing from `ENDPOINTS` fails
`test_every_endpoint_is_in_the_matrix`. Expected outcomes come from the policy written out in
tests/security/world.py, not from the code under test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from prereview.service.context import ServiceContext
from prereview.store.base import Base
from prereview.store.tables.vault import AuditEntryRow
from prereview.vault.policy import Operation as Op
from tests.security.world import EVERYONE, NAMES, ROLES, by_op, roles
from tests.service.conftest import auth
from tests.service.world import World


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # "{ref}" is each spelling of the submission (or finding) id
    allowed: frozenset[str]
    json: dict[str, Any] | None = None
    finding: bool = False
    mutates: bool = False  # allowed exact cases change state: not run here


SUB = "/api/v1/submissions/{ref}"
SOON = (date.today() + timedelta(days=20)).isoformat()
AGENCY_ADVISORIES = roles(
    "coordinator", "evaluator_assigned", "evaluator_unassigned", "sector_partner"
)
"""Agency-wide advisories and briefs (shareable findings only): every role but submitters
(theirs are per submission) and auditors."""
ENDPOINTS: dict[str, Endpoint] = {
    "GET /api/v1/submissions/{ident}": Endpoint("GET", SUB, by_op(Op.SUBMISSION_READ)),
    "POST /api/v1/submissions/{ident}/withdraw": Endpoint(
        "POST", SUB + "/withdraw", by_op(Op.SUBMISSION_WITHDRAW), mutates=True
    ),
    "POST /api/v1/submissions/{ident}/close": Endpoint(
        "POST", SUB + "/close", by_op(Op.REVIEW_CLOSE), mutates=True
    ),
    "GET /api/v1/submissions/{ident}/results": Endpoint(
        "GET", SUB + "/results", by_op(Op.RESULTS_READ)
    ),
    "POST /api/v1/submissions/{ident}/assessments": Endpoint(
        "POST", SUB + "/assessments", by_op(Op.REVIEW_ASSESS), {"plan_only": True}, mutates=True
    ),
    "GET /api/v1/submissions/{ident}/assessments": Endpoint(
        "GET", SUB + "/assessments", by_op(Op.SUBMISSION_READ)
    ),
    "POST /api/v1/submissions/{ident}/assessments/cancel": Endpoint(
        "POST", SUB + "/assessments/cancel", by_op(Op.REVIEW_ASSESS), mutates=True
    ),
    "GET /api/v1/submissions/{ident}/events": Endpoint(
        "GET",
        SUB + "/events",
        by_op(Op.SUBMISSION_READ),
        mutates=True,  # a stream
    ),
    "GET /api/v1/submissions/{ident}/access-log": Endpoint(
        "GET", SUB + "/access-log", by_op(Op.SUBMISSION_READ)
    ),
    "GET /api/v1/submissions/{ident}/report": Endpoint(
        "GET", SUB + "/report?format=md", by_op(Op.REPORT_READ)
    ),
    "GET /api/v1/submissions/{ident}/report sanitized": Endpoint(
        "GET", SUB + "/report?format=md&sanitized=true", by_op(Op.REPORT_READ_SANITIZED)
    ),
    "POST /api/v1/submissions/{ident}/assignments": Endpoint(
        "POST",
        SUB + "/assignments",
        by_op(Op.REVIEW_ASSIGN),
        {"evaluator": NAMES["evaluator_unassigned"]},
        mutates=True,
    ),
    "DELETE /api/v1/submissions/{ident}/assignments/{evaluator}": Endpoint(
        "DELETE",
        SUB + "/assignments/" + NAMES["evaluator_assigned"],
        by_op(Op.REVIEW_ASSIGN),
        mutates=True,
    ),
    "PUT /api/v1/submissions/{ident}/reference": Endpoint(
        "PUT", SUB + "/reference", by_op(Op.REFERENCES_MANAGE), {"label": "y"}, mutates=True
    ),
    "DELETE /api/v1/submissions/{ident}/reference": Endpoint(
        "DELETE", SUB + "/reference", by_op(Op.REFERENCES_MANAGE), mutates=True
    ),
    "GET /api/v1/submissions/{ident}/logs": Endpoint("GET", SUB + "/logs", by_op(Op.LOGS_READ)),
    "POST /api/v1/submissions/{ident}/logs/export": Endpoint(
        "POST",
        SUB + "/logs/export",
        by_op(Op.LOGS_EXPORT),
        {"recipient": "prereview-host-x25519-v1 AAAA"},
        mutates=True,  # allowed: this world has no logs (tests/service/test_transcripts.py)
    ),
    "GET /api/v1/submissions/{ident}/transcripts/{sample}": Endpoint(
        "GET",
        SUB + "/transcripts/s1",
        by_op(Op.LOGS_READ),
        mutates=True,  # allowed: this world has no logs (tests/service/test_transcripts.py)
    ),
    "GET /api/v1/findings/{ref}": Endpoint(
        "GET", "/api/v1/findings/{ref}", by_op(Op.FINDINGS_READ), finding=True
    ),
    "POST /api/v1/findings/{ref}/triage": Endpoint(
        "POST",
        "/api/v1/findings/{ref}/triage",
        by_op(Op.FINDINGS_WRITE),
        {"cwe": "CWE-787"},
        finding=True,
        mutates=True,
    ),
    "POST /api/v1/findings/{ref}/notify": Endpoint(
        "POST",
        "/api/v1/findings/{ref}/notify",
        by_op(Op.FINDINGS_WRITE),
        {"vendor": "V"},
        finding=True,
        mutates=True,
    ),
    "POST /api/v1/findings/{ref}/status": Endpoint(
        "POST",
        "/api/v1/findings/{ref}/status",
        by_op(Op.FINDINGS_WRITE),
        {"status": "published"},
        finding=True,
        mutates=True,
    ),
    "GET /api/v1/findings-overdue": Endpoint("GET", "/api/v1/findings-overdue", EVERYONE),
    "POST /api/v1/findings/import": Endpoint(
        "POST", "/api/v1/findings/import?submission={ref}", by_op(Op.FINDINGS_WRITE), mutates=True
    ),
    # without an id: the role decides as a whole (listings are filtered; checked elsewhere)
    "GET /api/v1/me": Endpoint("GET", "/api/v1/me", EVERYONE),
    "GET /api/v1/jobs": Endpoint("GET", "/api/v1/jobs", EVERYONE),
    "GET /api/v1/submissions": Endpoint("GET", "/api/v1/submissions", EVERYONE),
    "POST /api/v1/submissions": Endpoint(
        "POST",
        "/api/v1/submissions",
        roles("submitter_own"),
        {"organization": "Org A", "model": "simulated/x", "release_date": SOON},
        mutates=True,
    ),
    "GET /api/v1/shared/reports": Endpoint("GET", "/api/v1/shared/reports", EVERYONE),
    "GET /api/v1/findings": Endpoint("GET", "/api/v1/findings", EVERYONE),
    "GET /api/v1/advisories": Endpoint("GET", "/api/v1/advisories", AGENCY_ADVISORIES),
    "GET /api/v1/advisories/{name}": Endpoint(
        "GET",
        "/api/v1/advisories/test.json",
        AGENCY_ADVISORIES,
    ),
    "POST /api/v1/advisories/export": Endpoint(
        "POST", "/api/v1/advisories/export", roles("coordinator"), mutates=True
    ),
    "GET /api/v1/briefs": Endpoint("GET", "/api/v1/briefs", AGENCY_ADVISORIES),
    "GET /api/v1/briefs/{name}": Endpoint("GET", "/api/v1/briefs/test.md", AGENCY_ADVISORIES),
    "POST /api/v1/briefs": Endpoint(
        "POST", "/api/v1/briefs", roles("coordinator"), {}, mutates=True
    ),
    "GET /api/v1/principals": Endpoint("GET", "/api/v1/principals", roles("coordinator")),
    "POST /api/v1/principals": Endpoint(
        "POST",
        "/api/v1/principals",
        roles("coordinator"),
        {"name": "intruder", "role": "coordinator"},
        mutates=True,
    ),
    "POST /api/v1/principals/{name}/revoke": Endpoint(
        "POST", "/api/v1/principals/aud/revoke", roles("coordinator"), mutates=True
    ),
    "GET /api/v1/references": Endpoint("GET", "/api/v1/references", roles("coordinator")),
    "GET /api/v1/keys": Endpoint("GET", "/api/v1/keys", roles("coordinator")),
    "POST /api/v1/keys/rotate": Endpoint(
        "POST", "/api/v1/keys/rotate", roles("coordinator"), mutates=True
    ),
    "GET /api/v1/tasks": Endpoint("GET", "/api/v1/tasks", EVERYONE),
    "GET /api/v1/doctor": Endpoint("GET", "/api/v1/doctor", roles("coordinator")),
    "GET /api/v1/audit": Endpoint("GET", "/api/v1/audit?limit=5", roles("coordinator", "auditor")),
    "POST /api/v1/audit/verify": Endpoint(
        "POST", "/api/v1/audit/verify", roles("coordinator", "auditor")
    ),
}
UNPROTECTED = {"GET /healthz"}

VARIANTS = {
    "padded": " {id} ",
    "tab": "{id}\t",
    "newline": "{id}\n",
    "zero width": "\u200b{id}",
    "upper": "{upper}",
    "cyrillic": "\u0455{tail}",
    "prefix": "{prefix}",
    "unknown": "{unknown}",
}


FEW = ("exact", "padded", "unknown")
"""What every role tries; the coordinator (allowed the exact id nearly everywhere, so only the
spelling can refuse) tries every spelling."""


def spellings(ident: str, finding: bool) -> dict[str, str]:
    unknown = "F-999999" if finding else "sub-0000000000"
    out = {"exact": ident}
    for name, pattern in VARIANTS.items():
        out[name] = pattern.format(
            id=ident, upper=ident.upper(), tail=ident[1:], prefix=ident[:-2], unknown=unknown
        )
    if finding:
        out["lower"] = ident.lower()
    return {k: v for k, v in out.items() if k == "exact" or v != ident}  # F-1 has no case


def test_every_endpoint_is_in_the_matrix(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    routes = {f"{method.upper()} {path}" for path, ops in paths.items() for method in ops}
    rows = {name.removesuffix(" sanitized") for name in ENDPOINTS}
    assert routes - rows - UNPROTECTED == set(), "add these endpoints to ENDPOINTS"
    assert rows - routes == set(), "these rows name no endpoint any more"


def snapshot(context: ServiceContext) -> str:
    digest = hashlib.sha256()
    with context.vault.db.session() as s:
        for table in Base.metadata.sorted_tables:
            if "audit" in table.name:
                continue
            rows = sorted(repr(tuple(r)) for r in s.execute(select(table)).all())
            digest.update(repr((table.name, rows)).encode())
    return digest.hexdigest()


def denied(context: ServiceContext, role: str) -> int:
    with context.vault.db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditEntryRow)
                .where(AuditEntryRow.outcome == "denied", AuditEntryRow.principal == NAMES[role])
            )
            or 0
        )


REASONS = ("another organization", "no such", "assigned", "elected", "revoked")


def test_no_endpoint_lets_an_unauthorized_role_or_spelling_through(
    client: TestClient, world: World, context: ServiceContext
) -> None:
    unauthorized: list[str] = []
    problems: list[str] = []
    refusals = dict.fromkeys(ROLES, 0)
    before_denied = {role: denied(context, role) for role in ROLES}
    before = snapshot(context)
    for name, spec in ENDPOINTS.items():
        ident = world.finding if spec.finding else world.submission
        ids = spellings(ident, spec.finding) if "{ref}" in spec.path else {"exact": ""}
        for role in ROLES:
            for variant, ref in ids.items():
                if role != "coordinator" and variant not in FEW:
                    continue
                allowed = variant == "exact" and role in spec.allowed
                if allowed and spec.mutates:
                    continue
                path = spec.path.replace("{ref}", quote(ref, safe=""))
                kwargs: dict[str, Any] = {"headers": auth(world, role)}
                if spec.json is not None:
                    kwargs["json"] = spec.json
                response = client.request(spec.method, path, **kwargs)
                label = f"{role}: {name} [{variant}]"
                if allowed:
                    if response.status_code >= 400:
                        problems.append(f"{label}: refused though allowed: {response.text[:200]}")
                    continue
                refusals[role] += 1
                if response.status_code < 400:
                    unauthorized.append(label)
                    continue
                detail = response.json().get("detail", "")
                if response.status_code != 403 or "access denied" not in detail:
                    problems.append(f"{label}: {response.status_code} {detail[:200]!r}")
                if "\n" in detail or any(reason in detail for reason in REASONS):
                    problems.append(f"{label}: the refusal says why: {detail!r}")
    assert unauthorized == []
    assert problems == [], "\n".join(problems[:40])
    assert sum(refusals.values()) > 300
    # every refusal left its own denied entry
    assert {r: denied(context, r) - before_denied[r] for r in ROLES} == refusals
    assert snapshot(context) == before, "a refused request wrote something"
    assert context.vault.audit.verify().ok
