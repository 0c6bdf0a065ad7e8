"""The CLI as a client of the agency service: with `PREREVIEW_URL` (or `--server`) set, the
commands of `REMOTE_COMMANDS` talk to the REST API instead of the local store.

`RemoteReviewService` stands in for `ReviewService` in the review commands (their one dispatch
point is `prereview.cli.review._service`); the other groups' commands ask `api_call` for the
records their local path builds in the API's JSON shape, so one formatter prints both and
output and exit codes are unchanged. A refusal comes back as problem+json and is raised as one
`PrereviewError` line with the server's exit code; a subcommand with no endpoint is refused by
`check_remote_subcommand` as its group resolves it.

- Plain HTTP is refused to anything but loopback: the token and API keys cross the connection.
- The API key named by `--api-key-env` is read here, from the submitter's own environment,
  and sent once in the body, where the server seals it.
- A CA file for a private certificate: `PREREVIEW_CA_FILE`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from prereview.config import Settings
from prereview.domain.lifecycle import SubmissionState
from prereview.errors import PrereviewError
from prereview.planning.planner import AssessmentPlan
from prereview.review.errors import CredentialMissingError
from prereview.review.service import ReviewService, SubmissionReference, SubmissionRequest
from prereview.review.views import (
    ReviewRecord,
    RunRecord,
    SampleResult,
    StateChange,
    SubmissionRecord,
    TaskProgress,
)
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation

URL_VARIABLE = "PREREVIEW_URL"
_ALL: frozenset[str] = frozenset()
REMOTE_COMMANDS: dict[str, frozenset[str]] = {
    **{
        name: _ALL for name in ("submit", "status", "list", "withdraw", "close", "report", "assess")
    },
    "findings": frozenset(
        {"import", "list", "show", "triage", "notify", "status", "overdue", "sectors"}
    ),
    "principals": frozenset({"add", "list", "revoke", "assign", "unassign"}),
    "references": frozenset({"add", "list", "remove"}),
    "audit": frozenset({"show", "verify"}),
    "keys": frozenset({"list", "rotate"}),
    "advisories": frozenset({"export", "brief"}),
    "jobs": frozenset({"list", "cancel"}),
    "logs": frozenset({"list", "view", "export"}),
    "tasks": frozenset({"list"}),
    "doctor": _ALL,
}
"""Commands that work against a server (a group: the subcommands named); every other one
refuses while a server is set (it would otherwise act on a local store the user did not mean)."""


class RemoteError(PrereviewError):
    """A refusal or failure reported by the server (its one line and exit code)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


_option: str | None = None  # `--server`, set for each invocation by the root command


def use_server(url: str | None) -> None:
    """The `--server` option of this invocation (None: PREREVIEW_URL decides)."""
    global _option
    _option = url or None


def server_url() -> str | None:
    return _option or os.environ.get(URL_VARIABLE) or None


def check_remote_subcommand(group: str | None, command: str | None) -> None:
    """Refuse, in one line, a subcommand of `group` that has no endpoint while a server is set
    (called by every command group as it resolves its subcommand)."""
    if server_url() is None or group not in REMOTE_COMMANDS or command is None:
        return
    allowed = REMOTE_COMMANDS[group]
    if allowed and command not in allowed:
        raise RemoteError(
            f"`prereview {group} {command}` runs on the agency host, not against a server: "
            f"unset {URL_VARIABLE} (remote: {', '.join(sorted(allowed))})"
        )


def api_call(method: str, path: str, **kwargs: Any) -> Any:
    """One request to the server this invocation talks to: its JSON answer (refusals raised as
    the server's one line and exit code)."""
    from prereview.config import load_settings

    url = server_url()
    assert url is not None
    client = ApiClient(url, load_settings().token)
    try:
        return client.json(method, path, **kwargs)
    finally:
        client.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """The base URL, if it is one the CLI may send a token to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(f"{URL_VARIABLE} {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise RemoteError(
            f"refusing plain HTTP to {parts.hostname}: the token and API keys would cross the "
            f"network in the clear; use https://{parts.netloc}"
        )
    return url.rstrip("/")


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def record_from_dict(d: dict[str, Any]) -> SubmissionRecord:
    """A `SubmissionRecord` from its `as_dict()` JSON (what the API returns)."""
    review = None
    if d.get("review"):
        r = d["review"]
        review = ReviewRecord(
            id=r["id"],
            suite=r["suite"],
            plan=AssessmentPlan.from_dict(r["plan"]) if r.get("plan") else None,
            planned_at=_parse(r.get("planned_at")),
            report_key=r.get("report_key"),
            runs=[
                RunRecord(
                    x["id"],
                    x["number"],
                    x["status"],
                    x["resumed"],
                    x["host"],
                    x["pid"],
                    datetime.fromisoformat(x["started_at"]),
                    _parse(x.get("ended_at")),
                    x.get("detail"),
                )
                for x in r["runs"]
            ],
            progress=[TaskProgress(**p) for p in r["progress"]],
        )
    return SubmissionRecord(
        id=d["id"],
        organization=d["organization"],
        model_name=d["model_name"],
        model_version=d["model_version"],
        model=d["model"],
        base_url=d["base_url"],
        api_key_env=d["api_key_env"],
        model_args=d["model_args"],
        requests_per_minute=d["requests_per_minute"],
        max_connections=d["max_connections"],
        seconds_per_request=d["seconds_per_request"],
        release_date=date.fromisoformat(d["release_date"]),
        submitted_on=date.fromisoformat(d["submitted_on"]),
        window_policy=d["window_policy"],
        terms_version=d["terms_version"],
        confidentiality=d["confidentiality"],
        compare_in_later_reviews=d["compare_in_later_reviews"],
        state=SubmissionState(d["state"]),
        created_at=datetime.fromisoformat(d["created_at"]),
        history=[
            StateChange(
                h["action"],
                h["from_state"],
                h["to_state"],
                h["actor"],
                h["role"],
                datetime.fromisoformat(h["at"]),
            )
            for h in d.get("history", [])
        ],
        review=review,
    )


class ApiClient:
    """Bearer-token requests to one server; errors raised as the server's one line."""

    def __init__(self, url: str, token: str | None, transport: httpx.BaseTransport | None = None):
        self.url = check_url(url)
        if not token:
            raise RemoteError(
                "no API token: set PREREVIEW_TOKEN (the token the agency gave you) to use "
                f"{URL_VARIABLE}"
            )
        ca = os.environ.get("PREREVIEW_CA_FILE")
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else True
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "prereview-cli"},
            verify=verify,
            timeout=httpx.Timeout(300.0, connect=10.0),
            transport=transport,
            follow_redirects=False,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach {self.url}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
                message, code = str(problem["detail"]), int(problem.get("exit_code", 2))
            except (ValueError, KeyError, TypeError):
                message, code = f"{self.url} answered HTTP {response.status_code}", 2
            raise RemoteError(" ".join(message.split()), code)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def close(self) -> None:
        self.http.close()


def _ref(ident: SubmissionReference) -> str:
    text = ident.submission_id if isinstance(ident, AuthorizedSubmission) else ident
    return quote(text, safe="")


class RemoteReviewService(ReviewService):
    """`ReviewService`'s commands over the API (see the module docstring)."""

    def __init__(self, client: ApiClient) -> None:  # no local store, vault or session
        self.client = client

    @classmethod
    def connect(cls, settings: Settings, url: str) -> RemoteReviewService:
        return cls(ApiClient(url, settings.token))

    def dispose(self) -> None:
        self.client.close()

    def submit(
        self, request: SubmissionRequest, actor: Any = None, *, credential: str | None = None
    ) -> SubmissionRecord:
        body: dict[str, Any] = {
            "organization": request.organization,
            "model": request.access.model,
            "release_date": request.release_date.isoformat(),
            "base_url": request.access.base_url,
            "api_key_env": request.access.api_key_env,
            "policy": request.policy,
            "model_name": request.model_name,
            "model_version": request.model_version,
            "confidentiality": request.confidentiality.value,
            "compare_in_later_reviews": request.compare_in_later_reviews,
            "model_arg": [f"{k}={v}" for k, v in request.model_args.items()],
        }
        if request.throughput is not None:
            body["rpm"] = request.throughput.requests_per_minute
            body["connections"] = request.throughput.max_connections
            body["latency"] = request.throughput.seconds_per_request
        name = request.access.api_key_env
        if name is not None:
            value = credential or os.environ.get(name)
            if not value:
                raise CredentialMissingError(
                    f"environment variable {name} (the API key to submit) is not set: the key "
                    "is read once, at submit, and stored encrypted"
                )
            body["api_key"] = value
        body = {k: v for k, v in body.items() if v is not None}
        return record_from_dict(self.client.json("POST", "/api/v1/submissions", json=body))

    def get(self, ident: SubmissionReference) -> SubmissionRecord:
        return record_from_dict(self.client.json("GET", f"/api/v1/submissions/{_ref(ident)}"))

    def submissions(self) -> list[SubmissionRecord]:
        return [record_from_dict(d) for d in self.client.json("GET", "/api/v1/submissions")]

    def withdraw(self, ident: SubmissionReference, actor: Any = None) -> SubmissionRecord:
        path = f"/api/v1/submissions/{_ref(ident)}/withdraw"
        return record_from_dict(self.client.json("POST", path))

    def close(self, ident: SubmissionReference, actor: Any = None) -> SubmissionRecord:
        path = f"/api/v1/submissions/{_ref(ident)}/close"
        return record_from_dict(self.client.json("POST", path))

    def plan(
        self,
        ident: SubmissionReference,
        suite: str | None = None,
        limit: int | None = None,
        policy: Any = None,
    ) -> AssessmentPlan:
        body = {"plan_only": True, "suite": suite, "limit": limit}
        path = f"/api/v1/submissions/{_ref(ident)}/assessments"
        return AssessmentPlan.from_dict(self.client.json("POST", path, json=body))

    def results(self, ident: SubmissionReference) -> list[SampleResult]:
        rows = self.client.json("GET", f"/api/v1/submissions/{_ref(ident)}/results")
        return [
            SampleResult(**{**r, "completed_at": datetime.fromisoformat(r["completed_at"])})
            for r in rows
        ]

    def queue(
        self, ident: SubmissionReference, suite: str | None, limit: int | None, resume: bool
    ) -> dict[str, Any]:
        """Queue the assessment on the server's worker: the job as the API returns it."""
        body = {"suite": suite, "limit": limit, "resume": resume}
        path = f"/api/v1/submissions/{_ref(ident)}/assessments"
        job: dict[str, Any] = self.client.json("POST", path, json=body)
        return job

    def require(self, ident: SubmissionReference, operation: Operation) -> AuthorizedSubmission:
        raise RemoteError(
            f"with {URL_VARIABLE} set, the agency's worker runs assessments: `assess` queues "
            "them there (this operation has no endpoint)"
        )


def remote_report(
    settings: Settings, url: str, ident: str, fmt: str, sanitized: bool, out: Path | None
) -> tuple[Path, bool, int]:
    """Download the report into `out` (a file or directory; default the current directory):
    the path, whether it has results, its size."""
    client = ApiClient(url, settings.token)
    try:
        response = client.request(
            "GET",
            f"/api/v1/submissions/{quote(ident, safe='')}/report",
            params={"format": fmt, "sanitized": "true" if sanitized else "false"},
        )
    finally:
        client.close()
    match = re.search(r'filename="([^"/\\]+)"', response.headers.get("content-disposition", ""))
    name = match.group(1) if match else f"report.{fmt}"
    target = out or Path.cwd()
    if target.is_dir():
        target = target / name
    from prereview.files import write_private_atomic

    target.parent.mkdir(parents=True, exist_ok=True)
    write_private_atomic(target, response.content)
    return (
        target.absolute(),
        response.headers.get("x-prereview-has-results") == "1",
        len(response.content),
    )
