"""The web portal: server-rendered pages for every role, over the same services as the API.

- Sign in with an API token, exchanged for a session cookie (see `sessions`); every form
  carries the session's CSRF token; sign-out ends the session.
- Jinja2 with autoescaping everywhere: model names, SARIF messages and every other stored
  string are text, never markup. No inline script (the CSP forbids it): the one script,
  live progress, is a static file.
- An expired session on a form post leads to sign-in carrying the form's non-secret fields,
  which the form shows again after sign-in (never the API key, token or CSRF token).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from prereview.errors import PrereviewError
from prereview.service import api
from prereview.service.context import ServiceContext, client_address, context_of
from prereview.service.jobs import JobQueue
from prereview.service.problems import status_of, validation_message
from prereview.service.sessions import COOKIE, PRE_COOKIE, PortalSession, SessionStore, csrf_ok
from prereview.service.transcripts import logs_of, transcript
from prereview.vault.policy import Operation, Resource
from prereview.vault.principals import PrincipalError, Role
from prereview.vault.service import VaultSession

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=PackageLoader("prereview.service", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
SECRET_FIELDS = {"api_key", "token", "csrf"}
SUBMIT_FIELDS = (
    "organization", "model", "release_date", "model_name", "model_version", "base_url",
    "api_key_env", "confidentiality", "policy",
)  # fmt: skip


class User:
    """The signed-in principal of a request, with its portal session."""

    def __init__(self, vault_session: VaultSession, portal: PortalSession) -> None:
        self.session = vault_session
        self.portal = portal
        self.principal = vault_session.principal

    @property
    def role(self) -> str:
        return self.principal.role.value


def sessions_of(request: Request) -> SessionStore:
    store = request.app.state.portal_sessions
    assert isinstance(store, SessionStore)
    return store


def current_user(request: Request) -> User | None:
    portal = sessions_of(request).get(request.cookies.get(COOKIE))
    if portal is None:
        return None
    ctx = context_of(request)
    try:
        principal = ctx.vault.principals.get(portal.principal_id)
    except PrincipalError:
        principal = None
    if principal is None or principal.revoked:
        sessions_of(request).end(portal.id)
        return None
    return User(ctx.vault.session(principal), portal)


def page(
    request: Request, name: str, user: User | None, status: int = 200, **values: Any
) -> HTMLResponse:
    html = templates.get_template(name).render(
        user=user, csrf=user.portal.csrf if user else "", path=request.url.path, **values
    )
    return HTMLResponse(html, status_code=status)


def to_signin(request: Request, carry: dict[str, str] | None = None) -> Response:
    """Sign-in page (for a form post: keeping the form's non-secret fields)."""
    target = request.url.path
    if carry is None:
        query = {"next": target}
        return RedirectResponse("/signin?" + urlencode(query), status_code=303)
    return signin_page(request, next_path=target, carry=carry, status=401, expired=True)


def signin_page(
    request: Request,
    *,
    next_path: str = "/",
    carry: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
    expired: bool = False,
) -> HTMLResponse:
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    response = page(
        request,
        "signin.html",
        None,
        status,
        next_path=next_path if _local(next_path) else "/",
        carry=carry or {},
        error=error,
        expired=expired,
        pre=pre,
    )
    _cookie(request, response, PRE_COOKIE, pre, max_age=3600)
    return response


def _local(path: str) -> bool:
    return path.startswith("/") and not path.startswith("//") and "\\" not in path


def _cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=context_of(request).tls,
        path="/",
    )


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def posted(request: Request) -> tuple[User | None, dict[str, str], Response | None]:
    """The user and form of a POST; a response instead when signed out or the CSRF fails."""
    fields = await form_of(request)
    user = current_user(request)
    if user is None:
        carry = {k: v for k, v in fields.items() if k not in SECRET_FIELDS}
        return None, fields, to_signin(request, carry)
    if not csrf_ok(user.portal.csrf, fields.get("csrf")):
        return user, fields, page(request, "error.html", user, 403, error="invalid CSRF token")
    return user, fields, None


def failure(request: Request, user: User | None, exc: PrereviewError) -> HTMLResponse:
    return page(request, "error.html", user, status_of(exc), error=str(exc))


Loaded = dict[str, Any] | Response


def signed_in(request: Request, template: str, load: Callable[[User], Loaded]) -> Response:
    """A GET page: sign-in when signed out; `load`'s values rendered into `template` (or its
    own response: a download); its refusal as the error page."""
    user = current_user(request)
    if user is None:
        return to_signin(request)
    try:
        values = load(user)
    except PrereviewError as exc:
        return failure(request, user, exc)
    if isinstance(values, Response):
        return values
    return page(request, template, user, **values)


async def acted(
    request: Request, act: Callable[[User, dict[str, str]], Response | None], then: str
) -> Response:
    """A form POST: signed in with a valid CSRF token, `act` runs (its refusal as the error
    page), then a redirect to `then` unless `act` answered itself."""
    user, fields, refused = await posted(request)
    if refused is not None or user is None:
        return refused or to_signin(request)
    try:
        answered = act(user, fields)
    except PrereviewError as exc:
        return failure(request, user, exc)
    return answered or RedirectResponse(then, status_code=303)


# -- sign in / out -------------------------------------------------------------------------------


@router.get("/signin")
def signin_form(request: Request, next: str = "/") -> Response:
    return signin_page(request, next_path=next)


@router.post("/signin")
async def signin(request: Request) -> Response:
    fields = await form_of(request)
    next_path = fields.get("next", "/")
    carry = {k.removeprefix("carry."): v for k, v in fields.items() if k.startswith("carry.")}
    carry = {k: v for k, v in carry.items() if k not in SECRET_FIELDS}
    pre = request.cookies.get(PRE_COOKIE)
    if not pre or not csrf_ok(pre, fields.get("csrf")):
        return signin_page(request, next_path=next_path, carry=carry, status=403,
                           error="the sign-in form expired: sign in again")  # fmt: skip
    ctx = context_of(request)
    try:
        vault_session = ctx.authenticate(
            fields.get("token", "").strip() or None, client_address(request), "the sign-in form"
        )
    except PrereviewError as exc:
        return signin_page(
            request, next_path=next_path, carry=carry, status=status_of(exc), error=str(exc)
        )
    portal = sessions_of(request).create(vault_session.principal.id)
    target = next_path if _local(next_path) else "/"
    if carry:
        target += "?" + urlencode(carry)
    response = RedirectResponse(target, status_code=303)
    _cookie(request, response, COOKIE, portal.id)
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    user, _fields, refused = await posted(request)
    if user is not None and refused is None:
        sessions_of(request).end(user.portal.id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- home and submissions ------------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    return signed_in(request, "home.html", lambda user: {})


@router.get("/submissions")
def submissions(request: Request) -> Response:
    ctx = context_of(request)
    return signed_in(
        request,
        "submissions.html",
        lambda user: {"records": ctx.review_service(user.session).submissions()},
    )


def _window(ctx: ServiceContext) -> tuple[str, str]:
    """The first and last release dates the default window policy accepts today, for the
    date field's min and max (the browser then checks them as the user types; the server
    checks again)."""
    from prereview.domain.window import load_policies

    policy = load_policies(ctx.settings.extra.get("window_policies")).get(None)
    today = date.today()
    accepted = []
    for days in range(0, 731):
        try:
            policy.check(today, today + timedelta(days=days))
        except PrereviewError:
            continue
        accepted.append(today + timedelta(days=days))
    if not accepted:
        return today.isoformat(), today.isoformat()
    return accepted[0].isoformat(), accepted[-1].isoformat()


@router.get("/submit")
def submit_form(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return to_signin(request)
    values = {k: v for k, v in request.query_params.items() if k in SUBMIT_FIELDS}
    values.setdefault("organization", user.principal.organization or "")
    low, high = _window(context_of(request))
    return page(request, "submit.html", user, values=values, errors={}, low=low, high=high)


def _field_of(message: str) -> str:
    for field in ("release date", "organization", "model-arg", "api_key_env", "api_key", "model"):
        if field in message:
            return (
                "api_key" if field == "api_key_env" else field.replace(" ", "_").replace("-", "_")
            )
    return "release_date" if "window" in message or "release" in message else "form"


@router.post("/submit")
async def submit(request: Request) -> Response:
    user, fields, refused = await posted(request)
    if refused is not None or user is None:
        return refused or to_signin(request)
    values = {k: v for k, v in fields.items() if k in SUBMIT_FIELDS}
    low, high = _window(context_of(request))
    data: dict[str, Any] = {k: v for k, v in values.items() if v.strip()}
    data["compare_in_later_reviews"] = fields.get("compare_in_later_reviews") == "on"
    if fields.get("api_key"):
        data["api_key"] = fields["api_key"]
    try:
        body = api.SubmissionBody(**data)
        service = context_of(request).review_service(user.session)
        api.check_credential_fields(body)
        record = service.submit(api.submission_request(body), credential=body.api_key or None)
    except ValidationError as exc:
        message = validation_message(exc.errors())
        field = message.split(":")[0].removeprefix("invalid ").strip()
        return page(request, "submit.html", user, 422, values=values,
                    errors={field: message}, low=low, high=high)  # fmt: skip
    except PrereviewError as exc:
        return page(request, "submit.html", user, status_of(exc), values=values,
                    errors={_field_of(str(exc)): str(exc)}, low=low, high=high)  # fmt: skip
    return RedirectResponse(f"/submissions/{record.id}", status_code=303)


@router.get("/submissions/{ident}")
def submission(request: Request, ident: str) -> Response:
    user = current_user(request)
    if user is None:
        return to_signin(request)
    ctx = context_of(request)
    try:
        record = ctx.review_service(user.session).get(ident)
        jobs = JobQueue(ctx.vault.db).jobs(record.id)
    except PrereviewError as exc:
        return failure(request, user, exc)
    policy = ctx.vault.policy
    can = {
        op.value: policy.decide(
            user.principal, op, ctx.vault.resolver.submission(record.id)
        ).allowed
        for op in (
            Operation.SUBMISSION_WITHDRAW,
            Operation.REVIEW_ASSESS,
            Operation.REVIEW_ASSIGN,
            Operation.REPORT_READ,
            Operation.RESULTS_READ,
            Operation.LOGS_READ,
        )
    }
    results = []
    if can["results.read"]:
        results = ctx.review_service(user.session).results(record.id)
    return page(request, "submission.html", user, record=record, jobs=jobs, can=can,
                results=results)  # fmt: skip


@router.get("/submissions/{ident}/withdraw")
def withdraw_confirm(request: Request, ident: str) -> Response:
    ctx = context_of(request)
    return signed_in(
        request,
        "withdraw.html",
        lambda user: {"record": ctx.review_service(user.session).get(ident)},
    )


@router.post("/submissions/{ident}/withdraw")
async def withdraw(request: Request, ident: str) -> Response:
    def act(user: User, fields: dict[str, str]) -> Response | None:
        if fields.get("confirm") != ident:
            return page(request, "error.html", user, 400,
                        error="type the submission id to confirm the withdrawal")  # fmt: skip
        context_of(request).review_service(user.session).withdraw(ident)
        return None

    return await acted(request, act, f"/submissions/{ident}")


@router.post("/submissions/{ident}/assess")
async def assess(request: Request, ident: str) -> Response:
    user, fields, refused = await posted(request)
    if refused is not None or user is None:
        return refused or to_signin(request)
    try:
        limit = int(fields["limit"]) if fields.get("limit", "").strip() else None
        body = api.AssessmentBody(
            suite=fields.get("suite") or None,
            limit=limit,
            resume=fields.get("action") == "resume",
            plan_only=fields.get("action") == "plan",
        )
    except (ValueError, ValidationError):
        return page(request, "error.html", user, 422, error="invalid limit: a whole number ≥ 1")
    try:
        api.assess(request, user.session, ident, body)
    except PrereviewError as exc:
        return failure(request, user, exc)
    return RedirectResponse(f"/submissions/{ident}", status_code=303)


@router.post("/submissions/{ident}/cancel")
async def cancel(request: Request, ident: str) -> Response:
    def act(user: User, _fields: dict[str, str]) -> None:
        api.cancel(request, user.session, ident)

    return await acted(request, act, f"/submissions/{ident}")


@router.post("/submissions/{ident}/assign")
async def assign(request: Request, ident: str) -> Response:
    def act(user: User, fields: dict[str, str]) -> None:
        api._assignment(user.session, fields.get("evaluator", ""), ident, True)

    return await acted(request, act, f"/submissions/{ident}")


@router.get("/submissions/{ident}/access-log")
def access_log(request: Request, ident: str) -> Response:
    return signed_in(
        request,
        "access_log.html",
        lambda user: {"ident": ident, "entries": api.access_log(request, user.session, ident)},
    )


@router.get("/submissions/{ident}/transcripts")
def transcripts(request: Request, ident: str) -> Response:
    """The review's sealed logs and their samples (`logs list`'s authorization)."""
    return signed_in(
        request, "transcripts.html", lambda user: {"logs": logs_of(user.session, ident)}
    )


@router.get("/submissions/{ident}/transcripts/{sample}")
def sample_transcript(
    request: Request, ident: str, sample: str, task: str | None = None, epoch: str = "1"
) -> Response:
    """One sample's transcript (`logs view`'s authorization), every message escaped."""

    def load(user: User) -> Loaded:
        if not epoch.isdigit() or not 1 <= int(epoch) <= 10_000:
            return page(request, "error.html", user, 422, error="invalid epoch: a whole number ≥ 1")
        return {"t": transcript(user.session, ident, sample, task or None, int(epoch))}

    return signed_in(request, "transcript.html", load)


@router.get("/submissions/{ident}/report")
def report(request: Request, ident: str, format: str = "html", sanitized: bool = False) -> Response:
    def load(user: User) -> Loaded:
        if format not in api.REPORT_MEDIA:
            return page(request, "error.html", user, 422, error="invalid format: html, pdf or md")
        return api.report(request, user.session, ident, format, sanitized)  # type: ignore[arg-type]

    return signed_in(request, "error.html", load)


@router.get("/submissions/{ident}/events")
async def events(request: Request, ident: str) -> Response:
    user = current_user(request)
    if user is None:
        return Response(status_code=401)
    try:
        return await api.events(request, user.session, ident)
    except PrereviewError as exc:
        return Response(str(exc), status_code=status_of(exc), media_type="text/plain")


@router.get("/findings")
def findings(request: Request) -> Response:
    return signed_in(
        request,
        "findings.html",
        lambda user: {"findings": api.findings(request, user.session, None, None, None, 200)},
    )


@router.get("/findings/{ref}")
def finding(request: Request, ref: str) -> Response:
    return signed_in(
        request, "finding.html", lambda user: {"f": api.finding(request, user.session, ref)}
    )


# -- coordinator ---------------------------------------------------------------------------------


@router.get("/principals")
def principals(request: Request, token: str | None = None) -> Response:
    return signed_in(
        request,
        "principals.html",
        lambda user: {"principals": api.principals(user.session), "roles": list(Role)},
    )


@router.post("/principals")
async def add_principal(request: Request) -> Response:
    user, fields, refused = await posted(request)
    if refused is not None or user is None:
        return refused or to_signin(request)
    try:
        body = api.PrincipalBody.model_validate(
            {"name": fields.get("name", ""), "role": fields.get("role", ""),
             "org": fields.get("org") or None}
        )  # fmt: skip
        added = api.add_principal(user.session, body)
        infos = api.principals(user.session)
    except ValidationError as exc:
        return page(request, "error.html", user, 422, error=validation_message(exc.errors()))
    except PrereviewError as exc:
        return failure(request, user, exc)
    return page(request, "principals.html", user, principals=infos, roles=list(Role),
                added=added)  # fmt: skip


@router.post("/principals/{name}/revoke")
async def revoke_principal(request: Request, name: str) -> Response:
    def act(user: User, _fields: dict[str, str]) -> None:
        api.revoke_principal(user.session, name)

    return await acted(request, act, "/principals")


@router.get("/references")
def references(request: Request) -> Response:
    return signed_in(
        request, "references.html", lambda user: {"references": api.references(user.session)}
    )


@router.get("/keys")
def keys(request: Request) -> Response:
    return signed_in(request, "keys.html", lambda user: {"keys": api.keys(user.session)})


# -- auditor and coordinator ---------------------------------------------------------------------


@router.get("/audit")
def audit(request: Request, submission: str | None = None) -> Response:
    return signed_in(
        request,
        "audit.html",
        lambda user: {
            "entries": api.audit(user.session, submission or None, None, 200),
            "verified": None,
        },
    )


@router.post("/audit/verify")
async def audit_verify(request: Request) -> Response:
    def act(user: User, _fields: dict[str, str]) -> Response:
        verified = api.audit_verify(user.session)
        entries = api.audit(user.session, None, None, 200)
        return page(request, "audit.html", user, entries=entries, verified=verified)

    return await acted(request, act, "/audit")


# -- sector partners -----------------------------------------------------------------------------


@router.get("/shared")
def shared(request: Request) -> Response:
    def load(user: User) -> Loaded:
        reports = api.shared_reports(request, user.session)
        user.session.guard.require(
            Operation.ADVISORY_READ_SANITIZED, Resource.agency(), target="advisories and briefs"
        )
        ctx = context_of(request)
        return {
            "reports": reports,
            "advisories": api._documents(api._advisories_dir(ctx), (".json",)),
            "briefs": api._documents(api._briefs_dir(ctx), (".md", ".html")),
        }

    return signed_in(request, "shared.html", load)


@router.get("/shared/briefs/{name}")
def brief(request: Request, name: str) -> Response:
    return signed_in(request, "error.html", lambda user: api.brief(request, user.session, name))


@router.get("/shared/advisories/{name}")
def advisory(request: Request, name: str) -> Response:
    return signed_in(request, "error.html", lambda user: api.advisory(request, user.session, name))


def mount_portal(app: FastAPI, sessions: SessionStore | None = None) -> None:
    app.state.portal_sessions = sessions or SessionStore()
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")


__all__ = ["mount_portal", "router"]
