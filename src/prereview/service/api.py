"""REST API v1: every operation of the CLI over HTTP, as the bearer token's principal.

Request bodies use the CLI's option names in snake_case (`organization` for `--org`, as the
service's clients name it). Each handler authorizes through the vault's one path
(`guard.authorize` on the id exactly as the client sent it, or `guard.require` for agency and
system resources) before it loads anything; refusals raise, are audited, and come back as
problem+json with the CLI's one-line message and exit code.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from prereview.domain.submission import (
    Confidentiality,
    InvalidSubmissionError,
    ModelAccess,
    Throughput,
    parse_model_args,
    parse_release_date,
)
from prereview.errors import PrereviewError
from prereview.review.service import SubmissionRequest, submission_resource
from prereview.service.context import ServiceContext, as_bearer, bearer_session, context_of
from prereview.service.jobs import JobQueue, cancel_job, visible_jobs
from prereview.service.problems import ServiceProblem
from prereview.service.transcripts import logs_of, transcript
from prereview.store.tables.review import SubmissionRow
from prereview.store.tables.vault import DataKeyRow, VaultKeyRow
from prereview.vault.errors import AccessDeniedError
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation, Resource
from prereview.vault.principals import Role
from prereview.vault.service import VaultSession, plaintext_base
from prereview.vault.workspace import PlaintextWindowError

router = APIRouter(prefix="/api/v1")
Session = Annotated[VaultSession, Depends(bearer_session)]

REPORT_MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "md": "text/markdown"}
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4000)


class SubmissionBody(Body):
    organization: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=300)
    release_date: str = Field(max_length=40)
    base_url: str | None = Field(None, max_length=500)
    api_key_env: str | None = Field(None, max_length=200)
    api_key: str | None = Field(
        None, max_length=4000, description="The model API key: sealed on arrival, never echoed."
    )
    policy: str | None = Field(None, max_length=100)
    model_name: str | None = Field(None, max_length=200)
    model_version: str | None = Field(None, max_length=100)
    confidentiality: Confidentiality = Confidentiality.CONFIDENTIAL
    compare_in_later_reviews: bool = True
    rpm: float | None = Field(None, gt=0)
    connections: int | None = Field(None, gt=0, le=10_000)
    latency: float | None = Field(None, gt=0)
    model_arg: list[str] = Field(default_factory=list, max_length=50)


class AssessmentBody(Body):
    suite: str | None = Field(None, max_length=100)
    limit: int | None = Field(None, ge=1, le=1_000_000)
    resume: bool = False
    plan_only: bool = False


class PrincipalBody(Body):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    org: str | None = Field(None, max_length=200)


class AssignmentBody(Body):
    evaluator: str = Field(min_length=1, max_length=200)


class ReferenceBody(Body):
    label: str = Field(min_length=1, max_length=200)


class TriageBody(Body):
    cvss: list[str] = Field(default_factory=list, max_length=4)
    cwe: str | None = Field(None, max_length=40)
    product: str | None = Field(None, max_length=500)
    evidence: str | None = Field(None, max_length=20)


class BriefBody(Body):
    sector: list[str] = Field(default_factory=list, max_length=32)
    format: Literal["md", "html"] = "md"
    tlp: str = Field("AMBER", max_length=20)


def submission_request(body: SubmissionBody) -> SubmissionRequest:
    """The request `prereview submit` would build from the same options."""
    access = ModelAccess(model=body.model, base_url=body.base_url, api_key_env=body.api_key_env)
    throughput = None
    if body.rpm is not None or body.connections is not None or body.latency is not None:
        default = Throughput.default_for(body.model)
        throughput = Throughput(
            requests_per_minute=body.rpm if body.rpm is not None else default.requests_per_minute,
            max_connections=body.connections or default.max_connections,
            seconds_per_request=body.latency or default.seconds_per_request,
        )
    return SubmissionRequest(
        organization=body.organization,
        access=access,
        release_date=parse_release_date(body.release_date),
        policy=body.policy,
        model_name=body.model_name,
        model_version=body.model_version,
        throughput=throughput,
        confidentiality=body.confidentiality,
        compare_in_later_reviews=body.compare_in_later_reviews,
        model_args=parse_model_args(body.model_arg),
    )


def encoded(data: Any) -> Any:
    """JSON-ready (dates and paths as strings), as `--json` prints it."""
    return json.loads(json.dumps(data, default=str))


def json_response(data: Any) -> Response:
    """`data` as the JSON body `encoded(data)` returned from a handler gives (dates and paths as
    strings; NaN refused), serialized once: no round trip, no `jsonable_encoder` walk."""
    body = json.dumps(data, default=str, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(body.encode(), media_type="application/json")


# -- service -------------------------------------------------------------------------------------


@router.get("/me", summary="The authenticated principal")
def me(session: Session) -> dict[str, Any]:
    p = session.principal
    return {
        "id": p.id,
        "name": p.name,
        "role": p.role.value,
        "organization": p.organization,
        "assigned_submissions": sorted(p.assigned_submissions),
    }


# -- submissions ---------------------------------------------------------------------------------


@router.get(
    "/submissions",
    summary="List the submissions the principal may see (`list`)",
    response_model=list[Any],
)
async def list_submissions(request: Request) -> Response:
    def listing(session: VaultSession) -> Response:
        service = context_of(request).review_service(session)
        return json_response([r.as_dict() for r in service.submissions()])

    return await as_bearer(request, listing)


@router.post("/submissions", status_code=201, summary="Submit a model for review (`submit`)")
def create_submission(request: Request, session: Session, body: SubmissionBody) -> Any:
    service = context_of(request).review_service(session)
    check_credential_fields(body)
    record = service.submit(submission_request(body), credential=body.api_key or None)
    return encoded(record.as_dict())


def check_credential_fields(body: SubmissionBody) -> None:
    """The key comes in the body or not at all: the service never reads a variable of its own
    environment for a remote client (that would hand the server's secrets to the model's URL)."""
    if body.api_key and not body.api_key_env:
        raise InvalidSubmissionError(
            "api_key needs api_key_env: the name under which the assessment hands it to the model"
        )
    if body.api_key_env and not body.api_key:
        raise InvalidSubmissionError(
            "api_key_env needs api_key: send the key itself (it is sealed on arrival); the "
            "service never reads its own environment for it"
        )


@router.get(
    "/submissions/{ident}",
    summary="A submission with history, plan, results (`status`)",
    response_model=Any,
)
async def get_submission(request: Request, ident: str) -> Response:
    def status(session: VaultSession) -> Response:
        return json_response(context_of(request).review_service(session).get(ident).as_dict())

    return await as_bearer(request, status)


@router.post("/submissions/{ident}/withdraw", summary="Withdraw and crypto-shred (`withdraw`)")
def withdraw(request: Request, session: Session, ident: str) -> Any:
    return encoded(context_of(request).review_service(session).withdraw(ident).as_dict())


@router.post("/submissions/{ident}/close", summary="Close a delivered review (`close`)")
def close(request: Request, session: Session, ident: str) -> Any:
    return encoded(context_of(request).review_service(session).close(ident).as_dict())


@router.get("/submissions/{ident}/results", summary="Sample results so far")
def results(request: Request, session: Session, ident: str) -> list[Any]:
    service = context_of(request).review_service(session)
    return [encoded(r.__dict__) for r in service.results(ident)]


@router.post(
    "/submissions/{ident}/assessments",
    summary="Plan (`assess --plan-only`) or queue a run for the worker (`assess [--resume]`)",
)
def assess(request: Request, session: Session, ident: str, body: AssessmentBody) -> Any:
    ctx = context_of(request)
    service = ctx.review_service(session)
    if body.plan_only:
        return encoded(service.plan(ident, suite=body.suite, limit=body.limit).to_dict())
    handle = session.guard.authorize(Operation.REVIEW_ASSESS, ident)
    session.guard.authorize(Operation.CREDENTIAL_USE, handle)  # the worker will need it
    record = service.get(handle.submission_id)
    from prereview.review.assessment import _check_can_run

    _check_can_run(record, body.resume, body.suite, body.limit)
    job = JobQueue(ctx.vault.db).enqueue(
        handle, suite=body.suite, limit=body.limit, resume=body.resume
    )
    session.guard.record(
        "review.assess.queued", "ok", submission_id=job.submission_id, target=f"job {job.id}"
    )
    return JSONResponse(encoded(job.as_dict()), status_code=202)


@router.get("/submissions/{ident}/assessments", summary="The submission's assessment jobs")
def jobs(request: Request, session: Session, ident: str) -> list[Any]:
    handle = session.guard.authorize(Operation.SUBMISSION_READ, ident)
    return [
        encoded(j.as_dict())
        for j in JobQueue(context_of(request).vault.db).jobs(handle.submission_id)
    ]


@router.post(
    "/submissions/{ident}/assessments/cancel",
    summary="Stop the running (or queued) assessment (`jobs cancel`)",
)
def cancel(request: Request, session: Session, ident: str) -> Any:
    return encoded(cancel_job(session, ident).as_dict())


@router.get(
    "/jobs", summary="Assessment jobs of the submissions the principal may see (`jobs list`)"
)
def all_jobs(session: Session) -> list[Any]:
    return [encoded(j.as_dict()) for j in visible_jobs(session)]


def progress_of(
    ctx: ServiceContext, session: VaultSession, handle: AuthorizedSubmission
) -> dict[str, Any]:
    """What a progress view shows (no model identity: the counts and states). Polled with
    the handle authorized (and audited) once when the stream opened."""
    record = ctx.review_service(session).get(handle)
    jobs = JobQueue(ctx.vault.db).jobs(handle.submission_id)
    review = record.review
    return {
        "state": record.state.value,
        "samples_done": review.samples_done if review else 0,
        "samples_planned": review.samples_planned if review else 0,
        "job": jobs[-1].status if jobs else None,
        "runs": [r.status for r in review.runs] if review else [],
    }


async def progress_stream(
    request: Request, ctx: ServiceContext, session: VaultSession, handle: AuthorizedSubmission
) -> AsyncIterator[bytes]:
    """`progress` events whenever the counts or states change, `end` once nothing runs."""
    last = None
    for _ in range(3600):  # bounded: an hour at most, then the client reconnects
        if await request.is_disconnected():
            return
        try:
            state = await asyncio.to_thread(progress_of, ctx, session, handle)
        except PrereviewError:
            return
        if state != last:
            yield f"event: progress\ndata: {json.dumps(state)}\n\n".encode()
            last = state
        if state["job"] not in ("queued", "running", "cancel_requested"):
            yield b"event: end\ndata: {}\n\n"
            return
        await asyncio.sleep(1.0)


@router.get(
    "/submissions/{ident}/events",
    summary="Live progress as server-sent events (`progress` events until nothing runs)",
)
async def events(request: Request, session: Session, ident: str) -> StreamingResponse:
    ctx = context_of(request)
    handle = await asyncio.to_thread(session.guard.authorize, Operation.SUBMISSION_READ, ident)

    return StreamingResponse(
        progress_stream(request, ctx, session, handle),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/submissions/{ident}/access-log",
    summary="Who touched this submission, from the audit trail (its submitter may read it)",
)
def access_log(request: Request, session: Session, ident: str) -> list[Any]:
    handle = session.guard.authorize(Operation.SUBMISSION_READ, ident)
    entries = context_of(request).vault.audit.entries(handle.submission_id, None, 1000)
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "principal": e.principal,
            "role": e.role,
            "action": e.action,
            "outcome": e.outcome,
        }
        for e in entries
    ]


@router.get("/submissions/{ident}/report", summary="The advisory report (`report`)")
def report(
    request: Request,
    session: Session,
    ident: str,
    format: Literal["html", "pdf", "md"] = "html",
    sanitized: bool = False,
) -> Response:
    from prereview.reports.publish import produce_report

    ctx = context_of(request)
    written = produce_report(ctx.settings, ident, fmt=format, sanitized=sanitized, session=session)
    data = written.path.read_bytes()
    name = written.path.name
    return Response(
        data,
        media_type=REPORT_MEDIA[format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": REPORT_CSP,
            "X-Prereview-Has-Results": "1" if written.has_results else "0",
        },
    )


@router.get(
    "/shared/reports",
    summary="Submissions whose sanitized report the principal may read (sector partners)",
)
def shared_reports(request: Request, session: Session) -> list[Any]:
    db = context_of(request).vault.db
    with db.session() as s:
        rows = s.scalars(select(SubmissionRow).order_by(SubmissionRow.created_at)).all()
        visible = session.guard.filter(
            Operation.REPORT_READ_SANITIZED, rows, submission_resource, target="sanitized reports"
        )
        return [
            {
                "submission": r.id,
                "review": r.review.id if r.review else None,
                "state": r.state,
                "release_date": str(r.release_date),
            }
            for r in visible
            if r.review is not None
        ]


# -- findings ------------------------------------------------------------------------------------


@router.get("/findings", summary="Findings, highest priority first (`findings list`)")
def findings(
    request: Request,
    session: Session,
    sector: str | None = None,
    min_severity: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=0, le=100_000)] = 100,
) -> list[Any]:
    from prereview.findings.access import may_see
    from prereview.findings.repository import list_findings

    db = context_of(request).vault.db
    found = list_findings(
        db, sector=sector, min_severity=min_severity, status=status, limit=limit or None
    )
    found = [f for f in found if may_see(session.guard, db, f.id, Operation.FINDINGS_READ)]
    session.guard.record(
        "findings.read.list", "allowed", target="findings", detail={"shown": len(found)}
    )
    return encoded([f.as_dict() for f in found])  # type: ignore[no-any-return]


@router.get("/findings/{ref}", summary="One finding and its visible sightings (`findings show`)")
def finding(request: Request, session: Session, ref: str) -> Any:
    from prereview.findings.access import authorize_finding, session_codecs, visible_sighting
    from prereview.findings.repository import get_finding, sightings

    db = context_of(request).vault.db
    fid = authorize_finding(session.guard, db, Operation.FINDINGS_READ, ref).finding_id
    f = get_finding(db, fid)
    found = sightings(db, fid, session_codecs(session))
    seen = [s for s in found if visible_sighting(session.guard, s.submission_id)]
    return encoded({**f.as_dict(), "sighting_details": [s.as_dict() for s in seen]})


@router.post(
    "/findings/import",
    summary="Import a findings file sent as the request body (`findings import`)",
)
async def import_findings_file(
    request: Request,
    session: Session,
    filename: Annotated[str, Query(min_length=1, max_length=200)] = "upload.sarif",
    submission: str | None = None,
    source: str | None = None,
    format: str | None = None,
) -> Any:
    ctx = context_of(request)
    data = await request.body()
    return await asyncio.to_thread(
        _import, ctx, session, data, Path(filename).name, submission, source, format
    )


def _import(
    ctx: ServiceContext,
    session: VaultSession,
    data: bytes,
    filename: str,
    submission: str | None,
    source: str | None,
    format: str | None,
) -> Any:
    from prereview.findings.access import session_codecs
    from prereview.findings.ingest import import_findings
    from prereview.findings.sectors import load_catalog
    from prereview.findings.triage import Triage

    target = {"import": filename}
    handle = (
        session.guard.authorize(Operation.FINDINGS_WRITE, submission, detail=target)
        if submission is not None
        else None
    )
    if handle is None:
        session.guard.require(
            Operation.FINDINGS_WRITE, Resource.agency(), target=f"findings import {filename}"
        )
    base = plaintext_base(ctx.settings)  # the upload is staged where plaintext may live
    if base is None:
        raise PlaintextWindowError()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix="upload-") as tmp:
        path = Path(tmp) / (filename or "upload")
        path.write_bytes(data)
        summary = import_findings(
            ctx.vault.db,
            path,
            codecs=session_codecs(session),
            submission=handle,
            source=source,
            format=format,
            triage=Triage(load_catalog(ctx.settings)),
        )
    return encoded(summary.as_dict())


@router.post("/findings/{ref}/triage", summary="Record CVSS, CWE, product (`findings triage`)")
def triage(request: Request, session: Session, ref: str, body: TriageBody) -> Any:
    from prereview.findings.access import authorize_finding
    from prereview.findings.repository import triage_finding
    from prereview.findings.sectors import load_catalog
    from prereview.findings.triage import Triage

    ctx = context_of(request)
    db = ctx.vault.db
    fid = authorize_finding(session.guard, db, Operation.FINDINGS_WRITE, ref).finding_id
    f = triage_finding(
        db,
        fid,
        cvss=body.cvss,
        cwe=body.cwe,
        product=body.product,
        evidence=body.evidence,
        triage=Triage(load_catalog(ctx.settings)),
    )
    return encoded(f.as_dict())


class NotifyBody(Body):
    vendor: str | None = Field(None, max_length=200)
    date: str | None = Field(None, max_length=40)
    policy: str | None = Field(None, max_length=100)
    contact: str | None = Field(None, max_length=300)


class StatusBody(Body):
    status: str = Field(min_length=1, max_length=40)
    date: str | None = Field(None, max_length=40)
    remediation: str | None = Field(None, max_length=2000)


def _day(value: str | None, what: str) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PrereviewError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


@router.post("/findings/{ref}/notify", summary="Record the vendor notification")
def notify(request: Request, session: Session, ref: str, body: NotifyBody) -> Any:
    from prereview.findings.access import authorize_finding
    from prereview.findings.disclosure import DEFAULT_POLICY
    from prereview.findings.repository import notify_vendor

    db = context_of(request).vault.db
    fid = authorize_finding(session.guard, db, Operation.FINDINGS_WRITE, ref).finding_id
    f = notify_vendor(
        db,
        fid,
        vendor=body.vendor,
        notified_on=_day(body.date, "--date"),
        contact=body.contact,
        policy_name=body.policy or DEFAULT_POLICY,
    )
    return encoded(f.as_dict())


@router.post("/findings/{ref}/status", summary="Advance a finding's disclosure status")
def finding_status(request: Request, session: Session, ref: str, body: StatusBody) -> Any:
    from prereview.findings.access import authorize_finding
    from prereview.findings.repository import advance_status

    db = context_of(request).vault.db
    fid = authorize_finding(session.guard, db, Operation.FINDINGS_WRITE, ref).finding_id
    f = advance_status(
        db, fid, body.status, on=_day(body.date, "--date"), remediation=body.remediation
    )
    return encoded(f.as_dict())


@router.get("/findings-overdue", summary="Findings past their publication deadline")
def overdue(request: Request, session: Session, today: str | None = None) -> list[Any]:
    from prereview.findings.access import may_see
    from prereview.findings.repository import overdue_findings

    ref = _day(today, "--today")
    db = context_of(request).vault.db
    late = [
        f
        for f in overdue_findings(db, ref)
        if may_see(session.guard, db, f.id, Operation.FINDINGS_READ)
    ]
    session.guard.record(
        "findings.read.list", "allowed", target="overdue findings", detail={"shown": len(late)}
    )
    return [
        encoded({**f.as_dict(), "days_overdue": (ref - f.deadline).days})
        for f in late
        if f.deadline
    ]


# -- advisories and briefs -----------------------------------------------------------------------


def _documents(folder: Path, suffixes: tuple[str, ...]) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    return [
        {"name": p.name, "bytes": p.stat().st_size}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix in suffixes and not p.name.startswith(".")
    ]


def _document(folder: Path, name: str, suffixes: tuple[str, ...]) -> Path:
    """A document of `folder` named exactly (no path, no hidden file), else refused."""
    path = folder / name
    if (
        Path(name).name != name
        or name.startswith(".")
        or path.suffix not in suffixes
        or not path.is_file()
    ):
        raise ServiceProblem(404, f"no document {name[:80]!r}")
    return path


def _advisories_dir(ctx: ServiceContext) -> Path:
    return ctx.settings.home / "advisories"


def _briefs_dir(ctx: ServiceContext) -> Path:
    return ctx.settings.reports_dir / "briefs"


@router.get("/advisories", summary="CSAF advisories exported so far (shareable findings only)")
def advisories(request: Request, session: Session) -> list[Any]:
    session.guard.require(Operation.ADVISORY_READ_SANITIZED, Resource.agency(), target="advisories")
    return _documents(_advisories_dir(context_of(request)), (".json",))


@router.get("/advisories/{name}", summary="One CSAF advisory")
def advisory(request: Request, session: Session, name: str) -> Response:
    session.guard.require(
        Operation.ADVISORY_READ_SANITIZED, Resource.agency(), target=f"advisory {name[:80]}"
    )
    path = _document(_advisories_dir(context_of(request)), name, (".json",))
    return Response(path.read_bytes(), media_type="application/json")


@router.post("/advisories/export", summary="Export CSAF advisories (`advisories export`)")
def export_advisories(request: Request, session: Session) -> Any:
    from prereview.advisories.csaf import CsafExporter
    from prereview.advisories.interface import Publisher
    from prereview.advisories.tracking import export_advisories as export

    ctx = context_of(request)
    target = _advisories_dir(ctx)
    session.guard.require(
        Operation.ADVISORY_EXPORT, Resource.agency(), target=f"CSAF advisories to {target}"
    )
    result = export(
        ctx.vault.db,
        target,
        exporter=CsafExporter("2.0"),
        publisher=Publisher.from_settings(ctx.settings),
        tlp="AMBER",
    )
    return {
        "out": str(target),  # the server's folder, as `advisories export` names it
        "new_versions": result.new_versions,
        "withheld": result.withheld,
        "advisories": [
            {
                "tracking_id": d.tracking_id,
                "name": d.file_name,
                "version": d.version,
                "findings": d.findings,
            }
            for d in result.documents
        ],
    }


@router.get("/briefs", summary="Sector readiness briefs written so far")
def briefs(request: Request, session: Session) -> list[Any]:
    session.guard.require(Operation.ADVISORY_READ_SANITIZED, Resource.agency(), target="briefs")
    return _documents(_briefs_dir(context_of(request)), (".md", ".html"))


@router.get("/briefs/{name}", summary="One sector readiness brief")
def brief(request: Request, session: Session, name: str) -> Response:
    session.guard.require(
        Operation.ADVISORY_READ_SANITIZED, Resource.agency(), target=f"brief {name[:80]}"
    )
    path = _document(_briefs_dir(context_of(request)), name, (".md", ".html"))
    media = "text/html; charset=utf-8" if path.suffix == ".html" else "text/markdown"
    return Response(
        path.read_bytes(), media_type=media, headers={"Content-Security-Policy": REPORT_CSP}
    )


@router.post("/briefs", summary="Write sector readiness briefs (`advisories brief`)")
def write_briefs(request: Request, session: Session, body: BriefBody) -> list[Any]:
    from prereview.advisories.readiness import produce_briefs

    if body.tlp.upper() not in ("CLEAR", "WHITE", "GREEN", "AMBER", "AMBER+STRICT", "RED"):
        raise PrereviewError(f"unknown TLP label {body.tlp!r}")
    ctx = context_of(request)
    session.guard.require(
        Operation.ADVISORY_EXPORT, Resource.agency(), target="sector readiness briefs"
    )
    written = produce_briefs(
        ctx.settings,
        session=session,
        sector_codes=body.sector or None,
        fmt=body.format,
        tlp=body.tlp.upper(),
    )
    return [
        {
            "sector": w.sector,
            "name": w.path.name,
            "file": str(w.path),
            "findings": w.findings,
            "reviews": w.reviews,
        }
        for w in written
    ]


# -- principals, assignments, references, keys ---------------------------------------------------


def _coordinator(session: VaultSession) -> None:
    session.guard.require(Operation.PRINCIPALS_MANAGE, Resource.system())


@router.get("/principals", summary="Principals, never their tokens (`principals list`)")
def principals(session: Session) -> list[Any]:
    _coordinator(session)
    return [encoded(i.as_dict()) for i in session.vault.principals.list()]


@router.post("/principals", status_code=201, summary="Add a principal; its token, once")
def add_principal(session: Session, body: PrincipalBody) -> Any:
    _coordinator(session)
    principal, token = session.vault.principals.add(
        body.name, body.role, body.org, session.principal.name
    )
    session.guard.record(
        "principals.add",
        "ok",
        target=f"principal {principal.name}",
        detail={
            "principal_id": principal.id,
            "role": body.role.value,
            "organization_id": principal.organization_id,
        },
    )
    return {
        "principal": {
            "id": principal.id,
            "name": principal.name,
            "role": principal.role.value,
            "organization": principal.organization,
        },
        "token": token,
    }


@router.post("/principals/{name}/revoke", summary="Revoke a principal (`principals revoke`)")
def revoke_principal(session: Session, name: str) -> Any:
    _coordinator(session)
    principal = session.vault.principals.revoke(name, session.principal.name)
    session.guard.record(
        "principals.revoke",
        "ok",
        target=f"principal {principal.name}",
        detail={"principal_id": principal.id, "role": principal.role.value},
    )
    return {"revoked": principal.name, "id": principal.id}


def _assignment(session: VaultSession, evaluator: str, ident: str, assign: bool) -> Any:
    handle = session.guard.authorize(Operation.REVIEW_ASSIGN, ident)
    registry = session.vault.principals
    principal = (
        registry.assign(evaluator, handle, session.principal.name)
        if assign
        else registry.unassign(evaluator, handle)
    )
    session.guard.record(
        "review.assigned" if assign else "review.unassigned",
        "ok",
        submission_id=handle.submission_id,
        target=f"principal {principal.name}",
        detail={"principal_id": principal.id},
    )
    return {
        "evaluator": principal.name,
        "submission_id": handle.submission_id,
        "assigned": sorted(principal.assigned_submissions),
    }


@router.post("/submissions/{ident}/assignments", summary="Assign an evaluator")
def assign(session: Session, ident: str, body: AssignmentBody) -> Any:
    return _assignment(session, body.evaluator, ident, True)


@router.delete("/submissions/{ident}/assignments/{evaluator}", summary="Unassign an evaluator")
def unassign(session: Session, ident: str, evaluator: str) -> Any:
    return _assignment(session, evaluator, ident, False)


@router.get("/references", summary="Reference runs (`references list`)")
def references(session: Session) -> list[Any]:
    from prereview.reports.references import list_references

    session.guard.require(Operation.REFERENCES_MANAGE, Resource.system())
    return [encoded(r.as_dict()) for r in list_references(session.vault.db)]


@router.put("/submissions/{ident}/reference", summary="Designate a reference run")
def add_reference(session: Session, ident: str, body: ReferenceBody) -> Any:
    from prereview.reports.references import designate_reference

    handle = session.guard.authorize(Operation.REFERENCES_MANAGE, ident)
    record = designate_reference(session.vault.db, handle, body.label, session.principal.name)
    return encoded(record.as_dict())


@router.delete("/submissions/{ident}/reference", summary="Stop using a reference run")
def remove_reference(session: Session, ident: str) -> Any:
    from prereview.reports.references import remove_reference as remove

    handle = session.guard.authorize(Operation.REFERENCES_MANAGE, ident)
    return {"removed": remove(session.vault.db, handle)}


@router.get("/keys", summary="Key ids and what they wrap, never key material (`keys list`)")
def keys(session: Session) -> list[Any]:
    session.guard.require(Operation.KEYS_MANAGE, Resource.system())
    with session.vault.db.session() as s:
        counts = dict(
            s.execute(
                select(DataKeyRow.kek_id, func.count())
                .where(DataKeyRow.wrapped_key.is_not(None))
                .group_by(DataKeyRow.kek_id)
            ).all()
        )
        return [
            {
                "key_id": k.key_id,
                "kind": k.kind,
                "provider": k.provider,
                "status": "retired" if k.retired_at else "active",
                "created_at": k.created_at.isoformat(),
                "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                "data_keys": counts.get(k.key_id, 0) if k.kind == "kek" else None,
            }
            for k in s.scalars(select(VaultKeyRow).order_by(VaultKeyRow.created_at))
        ]


@router.post("/keys/rotate", summary="Rotate the key-encryption key (`keys rotate`)")
def rotate_keys(session: Session) -> Any:
    session.guard.require(Operation.KEYS_MANAGE, Resource.system())
    result = session.vault.rotate_kek()
    session.guard.record(
        "keys.rotate",
        "ok",
        target=f"key-encryption key {result.new_kek_id}",
        detail=result.as_dict(),
    )
    return encoded(result.as_dict())


# -- the install: task families, doctor ----------------------------------------------------------


@router.get("/tasks", summary="Installed task families, tasks, tiers, suites (`tasks list`)")
def tasks(session: Session) -> list[Any]:
    from prereview.suites.listing import family_listing

    session.guard.record("tasks.list", "ok", target="task families")
    return encoded(family_listing())  # type: ignore[no-any-return]


@router.get("/doctor", summary="The agency host's requirement checks, for coordinators (`doctor`)")
def doctor(request: Request, session: Session) -> Any:
    from prereview.doctor import run_checks

    session.guard.require(Operation.PRINCIPALS_MANAGE, Resource.system(), target="doctor")
    results = run_checks(context_of(request).settings)
    failed = [r for r in results if r.required and not r.ok]
    return encoded({"ok": not failed, "checks": [r.as_dict() for r in results]})


# -- transcripts ---------------------------------------------------------------------------------


@router.get("/submissions/{ident}/logs", summary="The review's sealed Inspect logs (`logs list`)")
def logs(session: Session, ident: str) -> Any:
    found = logs_of(session, ident)
    return encoded(
        {
            "review_id": found.review_id,
            "submission_id": found.submission_id,
            "logs": [log.as_dict() for log in found.logs],
        }
    )


@router.get(
    "/submissions/{ident}/transcripts/{sample}",
    summary="One sample's transcript from the sealed logs (`logs view --sample`)",
)
def sample_transcript(
    session: Session,
    ident: str,
    sample: str,
    task: Annotated[str | None, Query(max_length=200)] = None,
    epoch: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Any:
    return encoded(transcript(session, ident, sample, task, epoch).as_dict())


class ExportBody(Body):
    recipient: str = Field(
        min_length=1, max_length=4000, description="The receiving host's host-transfer.pub."
    )


@router.post(
    "/submissions/{ident}/logs/export",
    summary="The review's logs sealed to another cleared host's key (`logs export`)",
)
def export_logs_bundle(session: Session, ident: str, body: ExportBody) -> Any:
    """The bundle comes back base64-encoded in the answer: sealed to the recipient, signed by
    this install; no plaintext leaves the server and nothing stays behind."""
    import base64

    from prereview.transcripts.transfer import export_logs

    handle = session.guard.authorize(Operation.LOGS_EXPORT, ident)
    with tempfile.TemporaryDirectory(prefix="prereview-export-") as tmp:
        recipient, out = Path(tmp) / "recipient.pub", Path(tmp) / "bundle"
        recipient.write_text(body.recipient, encoding="ascii", errors="replace")
        done = export_logs(session, handle, recipient, out).as_dict()
        blob = out.read_bytes()
    done.pop("path")
    return {**encoded(done), "bundle": base64.b64encode(blob).decode()}


# -- audit ---------------------------------------------------------------------------------------


@router.get("/audit", summary="Audit entries, oldest first (`audit show`)")
def audit(
    session: Session,
    submission: str | None = None,
    principal: str | None = None,
    limit: Annotated[int, Query(ge=0, le=100_000)] = 200,
) -> list[Any]:
    session.guard.require(
        Operation.AUDIT_READ,
        Resource.system(),
        detail={"submission": submission, "principal": principal},
    )
    entries = session.vault.audit.entries(submission, principal, limit or None)
    return [e.as_dict() for e in entries]


@router.post("/audit/verify", summary="Verify the trail; checkpoint when intact (`audit verify`)")
def audit_verify(session: Session) -> Any:
    session.guard.require(Operation.AUDIT_VERIFY, Resource.system())
    report = session.vault.audit.verify()
    if report.ok:
        session.vault.audit.checkpoint()
    return report.as_dict()


__all__ = ["AccessDeniedError", "router"]
